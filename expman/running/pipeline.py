"""The stage graph: a `Config` turned into doit task dicts. Pure: no I/O, no doit import.

    _expman (hidden) -> pre-run:a -> pre-run:b -> run -> post-run
                     \\-> fetch (no dependency on the others: it runs after a failure too)

`_expman` opens the attempt (snapshot) and, as its teardown, closes it: doit runs
teardowns once every selected task has finished, failed or been interrupted. Tasks are
selected in stage order, and doit runs them in that order, so `fetch` comes last.
Pre-run steps are skipped by doit when `file_dep` contents, `targets` existence and the
step's definition (`DefinitionUnchanged`) are unchanged; every other stage always runs.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from expman.expfile.model import Config, Step
from expman.running.state import DOIT_DB

BEGIN_TASK = "_expman"
DEFINITION_KEY = "expman:definition"


class Actions(Protocol):
    """What the tasks call: the run session, or a stand-in that only lists tasks."""

    def begin(self) -> None: ...

    def finish(self) -> None: ...

    def execute(self, step: Step) -> bool: ...


class DefinitionUnchanged:
    """doit `uptodate` check: true while the step's definition and environment are as saved.

    Works like `doit.tools.config_changed` (one per task, saved under its own key), but
    compares a digest computed here, so that this module needs no doit import.
    """

    def __init__(self, digest: str) -> None:
        self.digest = digest

    def configure_task(self, task: Any) -> None:
        """Called by doit when the task is created: save the digest after a success."""
        task.value_savers.append(lambda: {DEFINITION_KEY: self.digest})

    def __call__(self, task: Any, values: Mapping[str, Any]) -> bool:
        return values.get(DEFINITION_KEY) == self.digest


def feeds(pattern: str, target: str) -> bool:
    """Whether a dependency pattern takes in (part of) what a target names."""
    return (
        pattern == target
        or target.startswith(pattern + "/")
        or pattern.startswith(target + "/")
        or fnmatch.fnmatchcase(target, pattern)
    )


def upstream(config: Config) -> dict[str, list[str]]:
    """For each pre-run step, the earlier steps whose targets it depends on."""
    found: dict[str, list[str]] = {}
    earlier: list[Step] = []
    for step in config.steps_of("pre-run"):
        found[step.task_name] = [
            before.task_name
            for before in earlier
            if any(feeds(dep, target) for dep in step.deps for target in before.targets)
        ]
        earlier.append(step)
    return found


def definition_digest(config: Config, step: Step) -> str:
    """What besides files decides whether a pre-run step re-runs: its command and env.

    The per-run `EXPMAN_RUN_*` variables are left out: they change every run.
    """
    seen = {
        "step": step.definition,
        "env": {**config.exported_env(step), **step.env, "EXPMAN_EXPERIMENT": config.name},
    }
    text = json.dumps(seen, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def tasks(
    config: Config,
    deps: Mapping[str, Sequence[str]],
    actions: Actions,
    only: str | None = None,
) -> list[dict[str, Any]]:
    """The doit task dicts of `config`; `deps` holds each pre-run step's expanded files.

    With `only`, stages do not wait on each other, so that one stage runs alone.
    """
    result: list[dict[str, Any]] = [
        {
            "basename": BEGIN_TASK,
            "doc": "open the run's attempt (expman)",
            "actions": [actions.begin],
            "teardown": [actions.finish],
            "uptodate": [False],
            "verbosity": 2,
        }
    ]
    previous = BEGIN_TASK
    for step in config.steps:
        task = _task(step, actions)
        if step.stage == "fetch" or (only is not None and step.stage != "pre-run"):
            task["task_dep"] = [BEGIN_TASK]
        else:
            task["task_dep"] = [previous]
        if step.stage == "pre-run":
            task["file_dep"] = list(deps.get(step.task_name, ()))
            task["targets"] = list(step.targets)
            task["uptodate"] = [DefinitionUnchanged(definition_digest(config, step))]
        else:
            task["uptodate"] = [False]
        previous = step.task_name
        result.append(task)
    return result


def task_name(task: Mapping[str, Any]) -> str:
    """The doit name of a task dict: `basename`, or `basename:name`."""
    return f"{task['basename']}:{task['name']}" if "name" in task else str(task["basename"])


def _task(step: Step, actions: Actions) -> dict[str, Any]:
    task: dict[str, Any] = {
        "basename": step.stage,
        "doc": step.description or _describe(step),
        "actions": [(actions.execute, [step], {})],
        "verbosity": 2,
        "meta": {"expman_step": step.task_name},
    }
    if step.name != step.stage:
        task["name"] = step.name
    return task


def _describe(step: Step) -> str:
    return step.cmd if step.cmd is not None else " ".join([step.script or "", *step.args])


def selection(config: Config, only: str | None = None) -> list[str]:
    """The task names to run, in stage order (one stage with `only`)."""
    return [s.task_name for s in config.steps if only is None or s.stage == only]


def doit_config(config: Config, reporter: Any) -> dict[str, Any]:
    """DOIT_CONFIG: expman's settings, which doit ranks above any doit.cfg or pyproject.toml."""
    return {
        "default_tasks": selection(config),
        "continue": True,  # so that fetch runs after a failure; dependents are not run
        "backend": "sqlite3",  # the one backend that does not lose updates (shared notes §3)
        "dep_file": DOIT_DB,
        "check_file_uptodate": "md5",
        "verbosity": 2,
        "reporter": reporter,
        "num_process": 0,
    }
