"""Adaptive search (`expman sweep --search`): the plan as a journal of asked trials, the
ask under the sweep's lock, real Optuna end to end, resume to the budget, kills."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from expman.errors import ArchiveError, UsageError
from expman.store.archive import Archive
from expman.sweeps import (
    plan,
    search_ask,
    search_best,
    search_definition,
    search_study,
    search_trials,
)
from expman.sweeps.plan import Point
from expman.sweeps.store import PLAN, Sweeps
from tests.conftest import RunCli, git, points_alive, records, required
from tests.sweeps.bowl import BIN, BOWL, EXPFILE, SEARCH
from tests.sweeps.bowl import expman as _expman
from tests.sweeps.test_power_cut import SPY, _writes

optuna = required("optuna", "adaptive search needs Optuna: expman[search]")

Experiment = Callable[..., Path]


_HASH_0 = plan.point_hash({"X": 0.5, "Y": 1}, "g")  # points of `_new_sweep`'s graph
_HASH_1 = plan.point_hash({"X": -0.5, "Y": 3}, "g")


def _new_sweep(root: Path, trials: int) -> Archive:
    """A search sweep with no trial asked yet, made as the command makes one."""
    archive = Archive(root / "runs")
    wanted = search_definition.search_of("tpe", trials, ["metrics.loss"], [], 1)
    specs = (plan.parse_spec("X", "uniform(-1,1)"), plan.parse_spec("Y", "int(0,4)"))
    definition = plan.Definition(specs, search=wanted.as_data())
    Sweeps(archive).create({"definition": definition.as_data(), "graph": "g"}, [])
    return archive


# --- the journal and the lock -------------------------------------------------------


def test_the_plan_is_a_journal_whose_torn_last_line_is_no_point(tmp_path: Path) -> None:
    sweeps = Sweeps(_new_sweep(tmp_path, 5))
    assert sweeps.plan("s0001") == []
    first = Point(0, {"X": 0.5, "Y": 1}, _HASH_0, {"sampler": "tpe", "seed": 7})
    sweeps.append("s0001", first)
    path = sweeps.folder("s0001") / PLAN
    with path.open("ab") as f:  # a kill in the middle of the next append
        f.write(b'{"index": 1, "vars": {"X": 0.')
    assert sweeps.plan("s0001") == [first]
    second = Point(1, {"X": -0.5, "Y": 3}, _HASH_1, {"sampler": "tpe", "seed": 8})
    sweeps.append("s0001", second)  # cuts the torn line off
    assert sweeps.plan("s0001") == [first, second]
    assert path.read_text().count("\n") == 2


def test_a_plan_line_out_of_its_place_is_damage(tmp_path: Path) -> None:
    sweeps = Sweeps(_new_sweep(tmp_path, 5))
    sweeps.append("s0001", Point(0, {"X": 0.5, "Y": 1}, _HASH_0))
    sweeps.append("s0001", Point(0, {"X": 0.5, "Y": 1}, _HASH_0))  # written twice
    with pytest.raises(Exception, match=r"plan.jsonl:2: point 0 out of its place"):
        sweeps.plan("s0001")


def _asker(root: str, sweep_id: str, count: int, results: Any) -> None:
    archive = Archive(Path(root))
    got = []
    for _ in range(count):
        point = search_ask.ask(archive, sweep_id)
        got.append(None if point is None else point.index)
    results.put(got)


@pytest.mark.slow
def test_eight_askers_at_once_ask_each_trial_once_up_to_the_budget(tmp_path: Path) -> None:
    archive = _new_sweep(tmp_path, 20)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    askers = [
        context.Process(target=_asker, args=(str(archive.root), "s0001", 3, results))
        for _ in range(8)
    ]
    for process in askers:
        process.start()
    asked = [index for _ in askers for index in results.get(timeout=300)]
    for process in askers:
        process.join(timeout=60)
    given = [i for i in asked if i is not None]
    assert sorted(given) == list(range(20)), "each trial asked once, by one asker"
    assert asked.count(None) == 8 * 3 - 20, "past the budget, no trial"
    points = Sweeps(archive).plan("s0001")
    assert [p.index for p in points] == list(range(20))
    assert all(p.origin and p.origin["sampler"] == "tpe" for p in points)


_OPENER = """\
import sys
from pathlib import Path
from expman.store.archive import Archive
from expman.sweeps.store import Sweeps
archive = Archive(Path(sys.argv[1]))
for i in range(int(sys.argv[2])):
    tag = {"id": "s0001", "index": i, "point": "h"}
    run_id = archive.create({"sweep": tag, "status": "running", "tags": ["trial"]})
    Sweeps(archive).note_result("s0001", i, {"run": run_id, "status": "running"})
"""


@pytest.mark.slow
def test_a_trial_whose_run_opens_as_the_trials_are_read_is_never_taken_for_removed(
    tmp_path: Path,
) -> None:
    """A point notes its run once the run is in the archive: reading the notes before
    the records, a trial opening meanwhile is running, never a removed trial."""
    archive = _new_sweep(tmp_path, 100)
    found = search_definition.stored(Sweeps(archive).read("s0001")["definition"])
    assert found is not None
    opener = subprocess.Popen([sys.executable, "-c", _OPENER, str(archive.root), "100"])
    seen = 0
    while opener.poll() is None:
        told = search_trials.told(archive, "s0001", found)
        assert not [t for t in told.values() if t.excluded], "a trial opening is no removed one"
        seen += len(told)
    assert opener.wait() == 0 and seen > 0
    assert len(search_trials.told(archive, "s0001", found)) == 100


def test_the_study_kept_between_asks_asks_what_a_rebuilt_one_would(tmp_path: Path) -> None:
    """A process asking again tells its kept study only what changed; a study built
    afresh from the archive for every ask (a new process each time) asks the same."""
    kept, rebuilt = _new_sweep(tmp_path / "kept", 12), _new_sweep(tmp_path / "rebuilt", 12)
    first = None
    for _ in range(12):  # TPE: 10 random trials, then two told of the 11 running ones
        search_ask.ask(kept, "s0001")
        first = first or search_study._KEPT[search_study._key(kept, "s0001")].study
        search_ask.ask(rebuilt, "s0001")
        search_study._KEPT.pop(
            search_study._key(rebuilt, "s0001")
        )  # as a new process would have it
    assert [p.vars for p in Sweeps(kept).plan("s0001")] == [
        p.vars for p in Sweeps(rebuilt).plan("s0001")
    ]
    study = search_study._KEPT[search_study._key(kept, "s0001")]
    assert first is not None and study.study is first, "kept, never rebuilt"
    assert len(first.trials) == 12


@pytest.mark.slow
def test_a_sweep_asking_as_its_trials_run_builds_its_study_once(
    bowl: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --jobs 2 a trial asked is running at the next ask: the kept study is told
    only what ended, never built again from every trial (Optuna copies each one)."""
    built = []
    create_study = optuna.create_study

    def counted(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return create_study(*args, **kwargs)

    monkeypatch.setattr(optuna, "create_study", counted)
    code, _, err = run_cli("sweep", *SEARCH, "--trials", "14", "--objective", "metrics.loss",
                           "--jobs", "2")  # fmt: skip
    assert code == 0, err
    assert len(records(bowl)) == 14
    assert len(built) == 1


def test_a_samplers_state_from_the_plan_is_whole_numbers_only(tmp_path: Path) -> None:
    """A plan comes from an archive (pulled, edited): what it gives back to a sampler is
    never text, which a sampler may unpickle."""
    archive = _new_sweep(tmp_path, 3)
    hostile = {"cma:optimizer": "80049...", "NSGAIISampler:generation": 1, "x": [1]}
    Sweeps(archive).append("s0001", Point(0, {"X": 0.5, "Y": 1}, _HASH_0, {"state": hostile}))
    asked = search_ask.ask(archive, "s0001")
    assert asked is not None and asked.index == 1
    space = {"X": optuna.distributions.FloatDistribution(-1, 1)}
    frozen = search_study._frozen(optuna, space, Sweeps(archive).plan("s0001")[0], None)
    assert frozen.system_attrs == {"NSGAIISampler:generation": 1}


# --- what a search is -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("annealing", 10, ["m"], []), "not a sampler"),
        (("tpe", None, ["m"], []), "--trials None: a search needs a number of trials"),
        (("tpe", 10, [], []), "needs an objective"),
        (("tpe", 10, ["metrics.["], []), "--objective metrics.["),
        (("tpe", 10, ["a", "b"], ["minimize"] * 3), "3 directions for 2 objectives"),
        (("tpe", 10, ["a"], ["down"]), "minimize or maximize"),
        (("cmaes", 10, ["a", "b"], []), "optimises one objective"),
    ],
)
def test_a_bad_search_is_refused_saying_why(args: tuple[Any, ...], said: str) -> None:
    with pytest.raises(UsageError, match=said.replace("[", r"\[").replace(".", r"\.")):
        search_definition.search_of(args[0], args[1], args[2], args[3], None)


def test_one_direction_serves_every_objective() -> None:
    found = search_definition.search_of("nsga2", 5, ["a", "b"], ["maximize"], None)
    assert found.directions == ("maximize", "maximize")
    assert search_definition.search_of("tpe", 5, ["a"], [], 3).directions == ("minimize",)


def test_a_choice_the_sampler_cannot_take_is_refused() -> None:
    with pytest.raises(plan.PlanError, match="numbers, text and booleans"):
        search_definition.check_specs([plan.spec_of("L", [[1, 2], [3]])])


def test_the_best_and_the_pareto_front() -> None:
    one = search_definition.Search("tpe", 9, ("a",), ("minimize",))
    told = {
        0: search_trials.Told(0, (3.0,)),
        1: search_trials.Told(1, (1.0,)),
        2: search_trials.Told(2, None),
        3: search_trials.Told(3, None, running=True),
    }
    assert [t.index for t in search_best.best(one, told)] == [1]
    two = search_definition.Search("nsga2", 9, ("a", "b"), ("minimize", "maximize"))
    told = {
        0: search_trials.Told(0, (1.0, 1.0)),
        1: search_trials.Told(1, (2.0, 5.0)),
        2: search_trials.Told(2, (2.0, 0.5)),  # worse than 0 in both
        3: search_trials.Told(3, (0.5, 0.0)),
    }
    assert [t.index for t in search_best.best(two, told)] == [0, 1, 3]


def test_the_pareto_front_is_the_trials_no_other_beats_in_every_objective() -> None:
    """The front found in one pass is the front by its definition (ties, and values
    on a coarse grid so that many trials share a value in one objective)."""
    three = search_definition.Search(
        "nsga2", 9, ("a", "b", "c"), ("minimize", "maximize", "minimize")
    )
    rng = random.Random(5)
    for _ in range(30):
        told = {
            i: search_trials.Told(i, tuple(float(rng.randint(0, 4)) for _ in range(3)))
            for i in range(rng.randint(0, 40))
        }
        signed = {i: (t.values[0], -t.values[1], t.values[2]) for i, t in told.items() if t.values}
        front = [
            i
            for i, a in signed.items()
            if not any(
                all(x <= y for x, y in zip(b, a, strict=True)) and b != a for b in signed.values()
            )
        ]
        assert [t.index for t in search_best.best(three, told)] == front


def test_without_optuna_the_search_says_how_to_install_it(
    bowl: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if it were not installed
    code, _, err = run_cli("sweep", *SEARCH, "--trials", "3", "--objective", "metrics.loss")
    assert code == 2, err
    assert 'pip install "expman[search]"' in err
    assert "Traceback" not in err


def test_search_options_without_search_are_refused(bowl: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli("sweep", "-s", "X=0.1,0.2", "--objective", "metrics.loss")
    assert code == 2 and "go with --search" in err
    code, _, err = run_cli("sweep", *SEARCH, "--trials", "3", "--objective", "x", "--random", "3")
    assert code == 2 and "--random and --search" in err


@pytest.mark.slow
def test_other_commands_never_import_optuna(bowl: Path, run_cli: RunCli) -> None:
    assert run_cli("sweep", "-s", "X=0.1,0.2")[0] == 0
    probe = (
        "import sys\nfrom expman.cli.main import main\n"
        "code = main(sys.argv[1:])\nprint(code, 'optuna' in sys.modules, file=sys.stderr)\n"
    )
    for command in (["sweep", "status"], ["list"], ["sweep", "--plan", "-s", "X=1,2"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *command], cwd=bowl, capture_output=True, text=True
        )
        assert done.stderr.split()[-2:] == ["0", "False"], (command, done.stderr)


NAMED = """\
sweeps:
  bowl-search:
    hypothesis: the bowl's floor is at X=0.3, Y=2
    vars: {X: "uniform(-1,1)", Y: "int(0,4)"}
    seed: 4
    search: {sampler: random, trials: 3, objective: metrics.loss}
"""


def test_a_named_sweeps_search_block_is_checked_where_it_is_written(
    experiment: Experiment, run_cli: RunCli
) -> None:
    bad = NAMED.replace("objective: metrics.loss", "objective: 'metrics.['")
    experiment(EXPFILE + bad, **{"bowl.py": BOWL})
    code, _, err = run_cli("sweep", "bowl-search")
    assert code == 2, err
    assert "expfile.yaml:14:" in err and "$.sweeps.bowl-search.search.objective" in err
    code, _, err = run_cli("validate")
    assert code == 2 and "$.sweeps.bowl-search.search.objective" in err
    code, _, err = run_cli("sweep", "bowl-search", "--objective", "metrics.loss")
    assert code == 2, "the block is wrong whatever the command line gives in its place"


def test_a_named_sweep_searches_or_draws_at_random_never_both(
    experiment: Experiment, run_cli: RunCli
) -> None:
    experiment(EXPFILE + NAMED.replace("    seed: 4", "    random: 5"), **{"bowl.py": BOWL})
    code, _, err = run_cli("sweep", "bowl-search")
    assert code == 2 and "$.sweeps.bowl-search.search" in err and "one way" in err, err
    code, _, err = run_cli("sweep", "-s", "X=uniform(0,1)", "--search", "tpe", "--trials", "x")
    assert code == 2  # argparse: --trials takes a number


@pytest.mark.slow
def test_a_named_search_runs_and_the_command_line_wins(experiment: Experiment) -> None:
    root = experiment(EXPFILE + NAMED, **{"bowl.py": BOWL})
    done = _expman(root, "sweep", "bowl-search", "--trials", "4")
    assert done.returncode == 0, done.stderr
    runs = records(root)
    assert len(runs) == 4  # --trials 4, not the block's 3
    assert {r["sweep"]["trial"]["sampler"] for r in runs} == {"random"}
    assert all(r["sweep"]["hypothesis"] == "the bowl's floor is at X=0.3, Y=2" for r in runs)
    stored = json.loads((root / "runs" / "sweeps" / "s0001" / "sweep.json").read_text())
    assert stored["definition"]["search"] == {
        "sampler": "random",
        "trials": 4,
        "objectives": ["metrics.loss"],
        "directions": ["minimize"],
        "seed": 4,
    }


def test_intermediate_values_from_the_archive_are_read_as_untrusted(tmp_path: Path) -> None:
    sweeps = Sweeps(_new_sweep(tmp_path, 3))
    sweeps.report("s0001", 0, {"steps": [1, 2, 3], "values": [0.5, 0.4, 0.3], "attrs": {"r": 1}})
    assert sweeps.intermediate("s0001", 0) == {
        "steps": [1, 2, 3],
        "values": [0.5, 0.4, 0.3],
        "attrs": {"r": 1},
    }
    folder = sweeps.folder("s0001") / "intermediate"
    hostile = {
        "steps": [1, 2.5, "3", True, 5],
        "values": [float("nan"), 1, 2, 3, "4"],
        "attrs": {"pickle": "gASV", "ok": 2.5, "flag": True},
    }
    (folder / "1.json").write_text(json.dumps(hostile))
    assert sweeps.intermediate("s0001", 1) == {"steps": [], "values": [], "attrs": {"ok": 2.5}}
    for bad in ("[1, 2]", "{", '{"steps": [1], "values": []}', "null"):
        (folder / "2.json").write_text(bad)
        assert sweeps.intermediate("s0001", 2) == {"steps": [], "values": [], "attrs": {}}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--prune", "median"], "--prune-metric NAME"),
        (["--prune-metric", "val_loss"], "goes with --prune PRUNER"),
        (["--prune", "early", "--prune-metric", "l"], "not a pruner (median, asha, hyperband)"),
        (["--prune", "asha", "--prune-metric", "l", "--objective", "b"], "cannot prune"),
    ],
)
def test_bad_pruning_is_refused_saying_why(
    bowl: Path, run_cli: RunCli, args: list[str], said: str
) -> None:
    code, _, err = run_cli("sweep", *SEARCH, "--trials", "3", "--objective", "metrics.loss", *args)
    assert code == 2 and said in err, err


CURVES = """\
version: 1
name: curves
vars: {X: 0.0}
stages:
  run: {cmd: python3 train.py}
  fetch: {cmd: "true"}
"""
TRAIN = """\
import json, os, time
x = float(os.environ["X"])
with open(os.environ["EXPMAN_METRICS"], "a") as f:
    for step in range(1, 16):
        f.write(json.dumps({"step": step, "val_loss": x + 1.0 / step}) + "\\n")
        f.flush()
        time.sleep(0.3)
"""


@pytest.mark.slow
def test_a_pruned_trial_is_finished_with_the_step_it_stopped_at(experiment: Experiment) -> None:
    root = experiment(CURVES, **{"train.py": TRAIN})
    args = ["-s", "X=uniform(0,1)", "--search", "random", "--trials", "8"]
    args += ["--objective", "series.val_loss.last", "--prune", "median", "--prune-metric"]
    done = _expman(root, "sweep", *args, "val_loss")
    assert done.returncode == 0, done.stderr  # pruned trials are no failure
    assert "--prune-metric names" not in done.stdout, "its series was logged"
    runs = records(root)
    assert len(runs) == 8
    pruned = [r for r in runs if "pruned" in r["sweep"]]
    assert pruned, "the median pruner stopped the worst trials (seed 0)"
    folder = root / "runs" / "sweeps" / "s0001"
    for run in pruned:
        where = run["sweep"]["pruned"]
        assert run["status"] == "interrupted" and where["pruner"] == "median"
        assert 1 <= where["step"] < 15, "stopped before its end"
        assert run["attempts"][-1]["reason"].startswith(f"pruned at step {where['step']} ")
        assert f"pruned at step {where['step']}" in done.stdout
        # The median pruner's rule: above the median of the finished trials at that step.
        index = run["sweep"]["index"]
        finished = [r for r in runs if r["status"] == "succeeded" and r["sweep"]["index"] < index]
        at_step = sorted(
            dict(zip(*_reported(folder, r["sweep"]["index"]), strict=True))[where["step"]]
            for r in finished
        )
        assert len(at_step) >= 3 and where["value"] > at_step[(len(at_step) - 1) // 2]
    for run in runs:
        if run["status"] == "succeeded":  # a finished trial reported to its end
            assert _reported(folder, run["sweep"]["index"])[0][-1] == 15
    again = _expman(root, "sweep", "--resume", "s0001")
    assert again.returncode == 0 and "0 to run, 0 trials to ask" in again.stderr
    assert len(records(root)) == 8, "a pruned trial is not run again"


@pytest.mark.slow
def test_the_write_that_ends_a_pruned_trial_says_it_was_pruned(
    experiment: Experiment, tmp_path: Path
) -> None:
    """One synced write ends a pruned trial and marks it `sweep.pruned`: a trial ended
    `interrupted` first and marked in a second write was, after a kill between the two,
    taken for an interrupted trial and run again."""
    root = experiment(CURVES, **{"train.py": TRAIN})
    spy, log = tmp_path / "spy", tmp_path / "writes"
    spy.mkdir()
    log.mkdir()
    (spy / "sitecustomize.py").write_text(SPY)
    args = ["-s", "X=uniform(0,1)", "--search", "random", "--trials", "8"]
    args += ["--objective", "series.val_loss.last", "--prune", "median", "--prune-metric"]
    done = subprocess.run(
        [str(BIN / "expman"), "sweep", *args, "val_loss"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(spy), "WRITES_LOG": str(log)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    pruned = {r["id"] for r in records(root) if "pruned" in r["sweep"]}
    assert pruned, "the median pruner stopped the worst trials (seed 0)"
    ending: dict[str, list[tuple[bool, dict[str, Any]]]] = {}  # from the one that ended it
    for entry in _writes(log):
        written = json.loads(entry["data"]) if entry["path"].endswith("run.json") else {}
        if written.get("ended") and written["id"] in pruned:
            ending.setdefault(written["id"], []).append((entry["sync"], written))
    assert set(ending) == pruned
    for run_id, writes in ending.items():
        synced, first = writes[0]
        assert synced and "pruned" in first["sweep"], f"run {run_id} ended before it was marked"


def _reported(folder: Path, index: int) -> tuple[list[int], list[float]]:
    data = json.loads((folder / "intermediate" / f"{index}.json").read_text())
    return data["steps"], data["values"]


# --- end to end, with real Optuna ------------------------------------------------


@pytest.mark.slow
def test_a_search_runs_its_trials_as_runs_and_resumes_to_a_raised_budget(bowl: Path) -> None:
    objective = ("--objective", "metrics.loss")
    done = _expman(bowl, "sweep", *SEARCH, "--trials", "5", *objective, "-j", "2")
    assert done.returncode == 0, done.stderr
    runs = records(bowl)
    assert sorted(r["sweep"]["index"] for r in runs) == list(range(5))
    assert all(r["status"] == "succeeded" for r in runs)
    assert all(r["sweep"]["trial"]["sampler"] == "tpe" for r in runs)
    plan_lines = (bowl / "runs" / "sweeps" / "s0001" / PLAN).read_text().splitlines()
    assert len(plan_lines) == 5
    for run in runs:  # each run ran the values its plan line holds
        line = json.loads(plan_lines[run["sweep"]["index"]])
        assert run["vars"]["X"] == line["vars"]["X"] and run["vars"]["Y"] == line["vars"]["Y"]
        assert -1 <= line["vars"]["X"] <= 1 and line["vars"]["Y"] in range(5)
    best = min(runs, key=lambda r: r["metrics"]["loss"])
    assert f"point {best['sweep']['index']}: {best['metrics']['loss']:.6g}" in done.stdout
    assert "5 of 5 trials asked (tpe); best of metrics.loss (minimize)" in done.stdout
    said = [line for line in done.stderr.splitlines() if "trials asked (tpe); best of" in line]
    assert said and said[-1].startswith("expman: 5 of 5 trials asked"), "said as it changes"

    again = _expman(bowl, "sweep", "--resume", "s0001")
    assert again.returncode == 0 and "0 to run, 0 trials to ask" in again.stderr
    raised = _expman(bowl, "sweep", "--resume", "s0001", "--trials", "7")
    assert raised.returncode == 0, raised.stderr
    assert sorted(r["sweep"]["index"] for r in records(bowl)) == list(range(7))
    status = _expman(bowl, "sweep", "status")
    assert "7 of 7 trials asked" in status.stdout
    code = _expman(bowl, "sweep", "--resume", "s0001", "--trials", "3")
    assert code.returncode == 2 and "a budget of 7" in code.stderr


@pytest.mark.slow
def test_a_removed_or_untagged_trial_leaves_what_the_sampler_sees(bowl: Path) -> None:
    done = _expman(bowl, "sweep", *SEARCH, "--trials", "4", "--objective", "metrics.loss")
    assert done.returncode == 0, done.stderr
    runs = records(bowl)
    assert all("trial" in r["tags"] for r in runs), "every trial starts tagged `trial`"
    by_index = {r["sweep"]["index"]: r["id"] for r in runs}
    assert _expman(bowl, "tag", by_index[1], "-trial").returncode == 0
    assert _expman(bowl, "rm", by_index[2]).returncode == 0
    status = _expman(bowl, "sweep", "status").stdout
    assert status.count("excluded (removed, or tagged -trial)") == 2, status
    from expman.sweeps.search_definition import stored
    from expman.sweeps.search_trials import told

    archive = Archive(bowl / "runs")
    found = told(archive, "s0001", stored(Sweeps(archive).read("s0001")["definition"]))  # type: ignore[arg-type]
    assert {i for i, t in found.items() if t.excluded} == {1, 2}
    more = _expman(bowl, "sweep", "--resume", "s0001", "--trials", "5")
    assert more.returncode == 0, more.stderr
    assert "3 to run" not in more.stderr and "0 to run, 1 trials to ask" in more.stderr
    indexes = sorted(r["sweep"]["index"] for r in records(bowl))
    assert indexes == [0, 1, 3, 4], "neither excluded trial runs again; one trial is asked"


def _raise_budget(sweeps: Sweeps, trials: int) -> None:
    data = sweeps.read("s0001")
    found = search_definition.stored(data["definition"])
    assert found is not None
    data["definition"]["search"] = search_definition.with_trials(found, trials).as_data()
    sweeps.write(data)


def _edit_in_place(path: Path, old: str, new: str) -> None:
    """Change a file's bytes where it is (same inode; same size when `new` is as long
    as `old`), as an editor writing over a file does."""
    content = path.read_bytes()
    assert old.encode() in content, (path, old)
    with path.open("r+b") as f:
        f.write(content.replace(old.encode(), new.encode()))
        f.truncate()


@pytest.mark.slow
def test_what_an_asker_keeps_and_reads_again_equals_a_read_of_everything(
    bowl: Path, tmp_path: Path
) -> None:
    """An asking process reads again only the records and plan lines that changed since
    its last ask: it tells the sampler what a read of everything tells it, and asks what
    a new process asks, after untags, removals, resumes, a record and a plan line edited
    by hand."""
    done = _expman(
        bowl, "sweep", *SEARCH, "--trials", "6", "--objective", "metrics.loss", "-j", "2"
    )
    assert done.returncode == 0, done.stderr
    archive = Archive(bowl / "runs")
    sweeps = Sweeps(archive)
    found = search_definition.stored(sweeps.read("s0001")["definition"])
    assert found is not None
    plan_reader = sweeps.plan_reader("s0001")

    def same() -> dict[int, search_trials.Told]:
        full = search_trials.told(archive, "s0001", found)
        assert search_trials.reader(archive, "s0001", found).told() == full
        assert plan_reader.points() == Sweeps(archive).plan("s0001")
        return full

    assert len(same()) == 6
    _raise_budget(sweeps, 7)
    assert search_ask.ask(archive, "s0001") is not None  # this process keeps its study
    by_index = {r["sweep"]["index"]: r["id"] for r in records(bowl)}
    assert _expman(bowl, "tag", by_index[1], "-trial").returncode == 0
    assert same()[1].excluded
    assert _expman(bowl, "rm", by_index[2]).returncode == 0
    assert same()[2].excluded
    record_path = archive.run_dir(by_index[3]) / "run.json"
    loss = json.loads(record_path.read_text())["metrics"]["loss"]
    _edit_in_place(
        record_path, f'"loss": {loss!r}', f'"loss": {loss + 1000:.{len(repr(loss)) - 5}f}'
    )
    assert same()[3].values != (loss,)
    _edit_in_place(archive.run_dir(by_index[4]) / "run.json", '"succeeded"', '"failed"')
    assert same()[4] == search_trials.Told(4, None)

    raised = _expman(bowl, "sweep", "--resume", "s0001", "--trials", "13", "-j", "2")
    assert raised.returncode == 0, raised.stderr
    assert len(same()) == 13
    _raise_budget(sweeps, 14)
    assert search_ask.ask(archive, "s0001") is not None  # its study caught up again
    line = (sweeps.folder("s0001") / PLAN).read_text().splitlines()[5]
    x = json.loads(line)["vars"]["X"]
    _edit_in_place(sweeps.folder("s0001") / PLAN, f'"X": {x!r}', f'"X": {-x!r}')
    for read in (plan_reader.points, lambda: Sweeps(archive).plan("s0001")):
        with pytest.raises(ArchiveError, match=r"plan.jsonl:6: damaged plan line"):
            read()  # values its hash does not name: the run ran others
    _edit_in_place(sweeps.folder("s0001") / PLAN, f'"X": {-x!r}', f'"X": {x!r}')
    same()

    _raise_budget(sweeps, 15)  # ten trials complete: TPE asks from what it is told
    copy = Archive(tmp_path / "copy")  # a process that never asked: it reads everything
    shutil.copytree(archive.root, copy.root)
    kept, fresh = search_ask.ask(archive, "s0001"), search_ask.ask(copy, "s0001")
    assert kept is not None and fresh is not None and kept.index == fresh.index == 14
    assert kept.vars == fresh.vars
    same()


@pytest.mark.slow
def test_same_seed_same_history_same_trials(experiment: Experiment, tmp_path: Path) -> None:
    """With --jobs 1 each trial is asked after the one before ended: the history, and so
    the trials, are a function of the seed."""
    asked = []
    for copy in ("a", "b"):
        root = tmp_path / copy
        root.mkdir()
        (root / "expfile.yaml").write_text(EXPFILE)
        (root / "bowl.py").write_text(BOWL)
        (root / ".gitignore").write_text("/.expman/\n/outputs/\n/runs/\n")
        git(root, "init", "-q")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "start")
        done = _expman(root, "sweep", *SEARCH, "--trials", "12", "--objective", "metrics.loss")
        assert done.returncode == 0, done.stderr
        lines = (root / "runs" / "sweeps" / "s0001" / PLAN).read_text().splitlines()
        asked.append([json.loads(line)["vars"] for line in lines])
    assert asked[0] == asked[1]
    assert len({json.dumps(v, sort_keys=True) for v in asked[0]}) > 6  # it does search


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_a_search_asks_what_optuna_alone_asks_with_the_same_sampler_and_seed(
    bowl: Path, seed: int
) -> None:
    """With --jobs 1 a search asks the trials an in-process Optuna loop asks: TPE with
    Optuna's own defaults, trial i's sampler seeded with (seed, i), past the 10 random
    startup trials (a float and an int var: the objective is read back exactly)."""
    done = _expman(bowl, "sweep", *SEARCH, "--trials", "13", "--seed", str(seed), "--objective",
                   "metrics.loss")  # fmt: skip
    assert done.returncode == 0, done.stderr
    through = [(r["vars"]["X"], r["vars"]["Y"], r["metrics"]["loss"]) for r in records(bowl)]
    space = {
        "X": optuna.distributions.FloatDistribution(-1, 1),
        "Y": optuna.distributions.IntDistribution(0, 4),
    }
    study, alone = optuna.create_study(), []
    for i in range(13):
        study.sampler = optuna.samplers.TPESampler(seed=search_study.trial_seed(seed, i))
        trial = study.ask(space)
        x, y = trial.params["X"], trial.params["Y"]
        study.tell(trial, (x - 0.3) ** 2 + (y - 2) ** 2)
        alone.append((x, y, (x - 0.3) ** 2 + (y - 2) ** 2))
    assert through == alone


@pytest.mark.slow
def test_a_pareto_search_of_two_objectives(bowl: Path) -> None:
    done = _expman(
        bowl,
        "sweep",
        *SEARCH[:4],
        "--search",
        "nsga2",
        "--trials",
        "6",
        "--objective",
        "metrics.loss",
        "--objective",
        "metrics.size",
        "--direction",
        "minimize",
        "--direction",
        "maximize",
    )
    assert done.returncode == 0, done.stderr
    runs = records(bowl)
    values = {r["sweep"]["index"]: (r["metrics"]["loss"], -r["metrics"]["size"]) for r in runs}

    def dominated(v: tuple[float, float]) -> bool:
        return any(o[0] <= v[0] and o[1] <= v[1] and o != v for o in values.values())

    front = [i for i, v in values.items() if not dominated(v)]
    assert "Pareto front of metrics.loss (minimize), metrics.size (maximize)" in done.stdout
    for index in front:
        assert f"point {index}: " in done.stdout.split("Pareto front")[1]


@pytest.mark.slow
def test_a_failed_trial_is_told_as_failed_and_counts_in_the_budget(bowl: Path) -> None:
    done = _expman(
        bowl, "sweep", *SEARCH, "--trials", "3", "--objective", "metrics.nothing_like_this"
    )
    assert done.returncode == 0, done.stderr  # the runs succeeded; no objective came of them
    assert "no trial has given its objective yet" in done.stdout
    assert len(records(bowl)) == 3


@pytest.mark.slow
def test_a_search_killed_at_random_moments_loses_and_repeats_no_trial(bowl: Path) -> None:
    seed = int(os.environ.get("EXPMAN_KILL_SEED", str(int(time.time()))))
    chance = random.Random(seed)
    trials = 8
    first = [str(BIN / "expman"), "sweep", *SEARCH, "--trials", str(trials)]
    first += ["--objective", "metrics.loss", "-s", "PAUSE=0.3"]
    resume = [str(BIN / "expman"), "sweep", "--resume", "s0001"]
    created = bowl / "runs" / "sweeps" / "s0001" / "sweep.json"
    for kill in range(6):
        sig = chance.choice((signal.SIGKILL, signal.SIGTERM, signal.SIGINT))
        sweep = subprocess.Popen(
            [*(resume if created.exists() else first), "--jobs", "2"],
            cwd=bowl,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(chance.uniform(0.3, 2.5))
        sweep.send_signal(sig)
        sweep.wait(timeout=60)
        deadline = time.monotonic() + 60
        while points_alive(bowl):
            assert time.monotonic() < deadline, "a trial outlived its sweep"
            time.sleep(0.05)
        runs = records(bowl)
        assert all(r["ended"] for r in runs), f"kill {kill}, EXPMAN_KILL_SEED={seed}"
        succeeded = Counter(r["sweep"]["index"] for r in runs if r["status"] == "succeeded")
        assert all(n == 1 for n in succeeded.values()), f"a trial ran twice: {succeeded}"
    for _ in range(5):
        command = resume if created.exists() else first
        if subprocess.run([*command, "--jobs", "2"], cwd=bowl, capture_output=True).returncode == 0:
            break
    runs = records(bowl)
    succeeded = Counter(r["sweep"]["index"] for r in runs if r["status"] == "succeeded")
    assert succeeded == Counter(range(trials)), f"every trial once, EXPMAN_KILL_SEED={seed}"
    lines = (bowl / "runs" / "sweeps" / "s0001" / PLAN).read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == list(range(trials))
