"""The command line's grammar: every command and its options (the examples its --help shows
are `cli/examples`).

`cli` parses with it and dispatches; usage errors raise `UsageError` instead of exiting
(`cli/argparser`), so that `cli.main` stays the one error boundary.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

from expman import __version__
from expman.cli.argparser import Parser, RunsAndChanges
from expman.cli.examples import EXAMPLES
from expman.expfile.stages import STAGES
from expman.formats import FORMATS


def _assignment(value: str) -> Callable[[str], str]:
    """`-s NAME=VALUE` as one word: `-s SEED 1,2` gets the fix, not "unrecognized 1,2"."""

    def checked(text: str) -> str:
        name, sep, _ = text.partition("=")
        if not sep or not name:
            raise argparse.ArgumentTypeError(
                f"'{text}' is no NAME={value}: write -s {name or 'NAME'}={value}, one word"
            )
        return text

    return checked


class _Forgotten(Parser):
    """A parser that drops every option given to it, unchecked (checking each one cost
    as long as building the command that is run)."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        return _NO_ACTION

    def add_mutually_exclusive_group(self, **kwargs: Any) -> Any:
        return self


_NO_ACTION = argparse.Action(option_strings=[], dest=argparse.SUPPRESS)


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every command, its options and examples; with `only`, the top level and that one
    command alone (what `parse` needs to run it: building all of them took longer)."""
    parser = Parser(
        prog="expman",
        description="Record every run of an experiment as plain files; query the history.",
        epilog="examples:\n  expman init demo && cd demo\n  expman run -s STEP=3\n"
        "  expman end -m 'STEP=3 overshoots'\n\nexit codes: 0 ok, 1 a stage failed, "
        "2 bad input, 3 internal error, 130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"expman {__version__}")
    parser.add_argument(
        "-C", dest="chdir", metavar="DIR", help="act on the experiment in DIR (default: here)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    scratch = _Forgotten(add_help=False)  # takes the options of the commands left out

    def add(name: str, help: str) -> argparse.ArgumentParser:
        if only is not None and name != only:
            return scratch
        return commands.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog="examples:\n" + "\n".join("  " + line for line in EXAMPLES[name]),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    sub = add("init", "write a working example experiment into DIR")
    sub.add_argument("directory", nargs="?", default=".", metavar="DIR")
    sub.add_argument("--name", help="the experiment's name (default: the folder's name)")
    sub.add_argument("--force", action="store_true", help="replace an existing expfile.yaml")

    sub = add("validate", "check an expfile against the schema and expman's rules")
    sub.add_argument("file", nargs="?", metavar="FILE", help="default: the experiment's expfile")

    sub = add("start", "open a new run with its hypothesis, without running it")
    sub.add_argument("-m", dest="message", metavar="HYPOTHESIS", help="default: the expfile's")
    _overrides(sub)

    sub = add("run", "run the stages as an attempt of the open run (opening one if needed)")
    _overrides(sub)
    _backend(sub)
    sub.add_argument("--force", action="store_true", help="run every pre-run step, skip none")
    sub.add_argument(
        "--only", choices=STAGES, metavar="STAGE", help="run one stage: " + ", ".join(STAGES)
    )

    add("status", "show the open run, and which pre-run steps would run and why")

    sub = add("sweep", "run the experiment over many var values, as one question")
    sub.add_argument(
        "words",
        nargs="*",
        metavar="NAME | status [SWEEP]",
        help="a sweep named in the expfile; or `status` and a sweep to show its points",
    )
    sub.add_argument("-m", dest="message", metavar="HYPOTHESIS", help="the sweep's hypothesis")
    sub.add_argument(
        "-s",
        dest="specs",
        action="append",
        default=[],
        metavar="NAME=VALUES",
        type=_assignment("VALUES"),
        help="a,b,c  A..B[..STEP]  uniform(a,b)  loguniform(a,b)  int(a,b)  choice(a,b)",
    )
    sub.add_argument("--random", type=int, metavar="N", help="N random points (seeded)")
    sub.add_argument("--seed", type=int, metavar="K", help="default: the named sweep's, or 0")
    sub.add_argument("--points", metavar="FILE", help="listed points: CSV, .jsonl or .json")
    sub.add_argument("--plan", action="store_true", help="print the points; run nothing")
    sub.add_argument("--resume", metavar="SWEEP", help="run the points without a succeeded run")
    sub.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="points at once")
    sub.add_argument(
        "--gpus", type=gpu_list, metavar="LIST", help="GPUs to hand out: 0,1,2,3 or UUIDs"
    )
    sub.add_argument("--gpus-per-run", type=int, metavar="K", help="with --gpus; default: 1")
    sub.add_argument("--retries", type=int, default=0, metavar="N", help="new attempts")
    sub.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    sub.add_argument(
        "--search",
        metavar="SAMPLER",
        help="ask trials of a sampler: tpe cmaes gp nsga2 random qmc (pip install expman[search])",
    )
    sub.add_argument("--trials", type=int, metavar="N", help="the search's budget of trials")
    sub.add_argument(
        "--objective",
        action="append",
        default=[],
        metavar="EXPR",
        help="JMESPath over the record (series.val_loss.min); several: a Pareto search",
    )
    sub.add_argument(
        "--direction",
        action="append",
        default=[],
        metavar="DIR",
        help="minimize (default) or maximize: one, or one per --objective",
    )
    sub.add_argument(
        "--prune", metavar="PRUNER", help="stop hopeless trials: median asha hyperband"
    )
    sub.add_argument("--prune-metric", metavar="NAME", help="the series the pruner watches")
    _backend(sub)

    sub = add("end", "close the open run: observations, outputs archived, next run prepared")
    sub.add_argument(
        "-m", dest="message", metavar="OBSERVATIONS", help="default: the expfile's, or $EDITOR"
    )
    sub.add_argument(
        "--sweep", metavar="SWEEP", help="record the observations on this sweep (s0001, last)"
    )

    sub = add("doit", "run a doit command (list, info, forget, ...) on the stage graph")
    sub.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")

    sub = add("query", "evaluate a JMESPath expression over all run records, oldest first")
    sub.add_argument("expression", metavar="EXPR")
    sub.add_argument("--format", choices=FORMATS, default="json", help="default: json")
    _archive_option(sub)

    sub = add("list", "one row per run: id, status, start, duration, hypothesis")
    sub.add_argument("--where", metavar="EXPR", help="a JMESPath condition on each record")
    sub.add_argument(
        "--tag",
        dest="tags",
        action="append",
        default=[],
        metavar="TAG",
        help="only runs with this tag (repeatable: all of them)",
    )
    sub.add_argument("--sort", metavar="KEY", help="order by this JMESPath expression on a record")
    sub.add_argument("--reverse", "-r", action="store_true", help="the other way round")
    sub.add_argument("--limit", type=int, metavar="N", help="at most N rows")
    sub.add_argument(
        "--columns",
        action="append",
        default=[],
        metavar="EXPR,...",
        help="more columns: JMESPath expressions on each record, comma-separated",
    )
    sub.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    _archive_option(sub)

    sub = add("show", "one run, readable")
    sub.add_argument("run", metavar="RUN", help="an id, last, or last~N")
    sub.add_argument("--json", action="store_true", help="print the record itself")
    _archive_option(sub)

    sub = add("logs", "the stage logs of a run (its latest attempt)")
    sub.add_argument("run", metavar="RUN", help="an id, last, or last~N")
    sub.add_argument("step", nargs="?", metavar="STEP", help="one step or stage (default: all)")
    sub.add_argument(
        "--follow", "-f", action="store_true", help="print what is appended while the run runs"
    )
    _archive_option(sub)

    sub = add("cancel", "stop a run or a sweep that runs on Slurm (scancel its jobs)")
    sub.add_argument("target", metavar="RUN|SWEEP", help="a run (7, last) or a sweep (s0002)")
    _archive_option(sub)

    sub = add("report", "write the runs as one offline HTML page: table, charts, curves, diff")
    sub.add_argument(
        "-o", dest="output", metavar="FILE", help="default: report.html, beside the expfile"
    )
    sub.add_argument("--where", metavar="EXPR", help="only the runs this JMESPath condition keeps")
    sub.add_argument(
        "--watch", action="store_true", help="rewrite it as runs progress (Ctrl-C ends)"
    )
    sub.add_argument(
        "--every", type=float, default=2.0, metavar="SECONDS", help="with --watch: check period"
    )
    _archive_option(sub)

    sub = add("watch", "the runs in flight, live: step, elapsed, latest metrics, heartbeat")
    sub.add_argument("--sweep", metavar="SWEEP", help="one sweep's runs (s0001, last)")
    sub.add_argument("--once", action="store_true", help="print them once and exit")
    sub.add_argument(
        "--every", type=float, default=2.0, metavar="SECONDS", help="refresh period (default: 2)"
    )
    _archive_option(sub)

    sub = add("diff", "what differs between two runs")
    sub.add_argument("runs", nargs=2, metavar="RUN", help="ids, last, or last~N")
    _archive_option(sub)

    sub = add("note", "add a note to runs, after the fact (kept with its time and author)")
    sub.add_argument("runs", nargs="+", metavar="RUN", help="ids, last, or last~N")
    sub.add_argument("-m", dest="message", metavar="TEXT", required=True, help="the note")
    _archive_option(sub)

    sub = add("tag", "add (+TAG) or remove (-TAG) tags of runs, after the fact")
    sub.signed = True  # type: ignore[attr-defined]
    sub.add_argument(
        "words", nargs="+", action=RunsAndChanges, metavar="RUN|+TAG|-TAG", help="runs, changes"
    )
    _archive_option(sub)

    sub = add("rm", "remove runs (reversibly until --purge)")
    sub.add_argument("runs", nargs="*", metavar="RUN", help="ids, last, or last~N")
    what = sub.add_mutually_exclusive_group()
    what.add_argument("--list", dest="list_removed", action="store_true", help="the removed runs")
    what.add_argument("--restore", action="store_true", help="bring removed runs back")
    what.add_argument(
        "--purge", action="store_true", help="delete removed runs (or the runs named) for good"
    )
    sub.add_argument("--yes", "-y", action="store_true", help="with --purge: do it without asking")
    _archive_option(sub)

    sub = add("push", "copy this archive's ended runs to another archive folder")
    sub.add_argument("destination", metavar="DEST", help="an archive folder (made if missing)")
    _archive_option(sub)

    sub = add("pull", "copy the ended runs of another archive folder into this one")
    sub.add_argument("source", metavar="SRC", help="an archive folder")
    _archive_option(sub)

    sub = add("rerun", "run an archived run again from its own snapshot, as a new run")
    sub.add_argument("run", metavar="RUN", help="an id, last, or last~N")
    sub.add_argument(
        "--check", action="store_true", help="compare outputs and metrics with the original"
    )

    sub = add("gc", "free the store objects that no run uses any more")
    _archive_option(sub)

    sub = add("fsck", "re-hash the store and check every run's files (exit 4: damage)")
    sub.add_argument("--repair", action="store_true", help="quarantine corrupt objects")
    _archive_option(sub)

    sub = add("schema", "print the expfile JSON schema")
    shown = sub.add_mutually_exclusive_group()
    shown.add_argument("--path", action="store_true", help="print the schema file's path instead")
    shown.add_argument("--markdown", action="store_true", help="print a Markdown field reference")
    sub.add_argument("--record", action="store_true", help="the run record's schema instead")
    return parser


_DEVICE = re.compile(r"^(?:[0-9]+|GPU-[0-9A-Fa-f-]+|MIG-[0-9A-Za-z/-]+)$")


def gpu_list(text: str) -> tuple[str, ...]:
    """`--gpus 0,1,2` (or UUIDs, as `CUDA_VISIBLE_DEVICES` takes them: `GPU-...`,
    `MIG-...`): the devices a sweep hands out, each once."""
    devices = tuple(device.strip() for device in text.split(","))
    seen: set[str] = set()
    for device in devices:
        if not _DEVICE.match(device):
            raise argparse.ArgumentTypeError(
                f"'{device}' is not a device index (0, 1, ...) or UUID (GPU-..., MIG-...)"
            )
        same = str(int(device)) if device.isdigit() else device  # 01 is device 1
        if same in seen:
            raise argparse.ArgumentTypeError(
                f"{device} is listed twice: each device is handed to one run at a time"
            )
        seen.add(same)
    return devices


def _backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--on",
        choices=("local", "slurm"),
        default="local",
        help="where: this machine (default), or Slurm jobs that run on their own",
    )
    parser.add_argument(
        "--slurm",
        dest="slurm",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --on slurm: a setting of the expfile's `slurm:` over it (time=2:00:00)",
    )


def _archive_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--archive", metavar="PATH", help="read this archive folder (default: the experiment's)"
    )


def _overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-s",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=_assignment("VALUE"),
        help="set a var for this run, typed as YAML (repeatable)",
    )


def parse(argv: list[str]) -> argparse.Namespace:
    """The arguments of `argv`, or `UsageError`."""
    return parser(_command(argv)).parse_args(argv)


def _command(argv: list[str]) -> str | None:
    """The command `argv` runs, when the top level's options before it are plain (else
    None: the whole grammar, for `--help`, `--version` and the messages about them)."""
    words = iter(argv)
    for word in words:
        if word == "-C":
            next(words, None)
        elif not word.startswith("-C"):
            return word if word in EXAMPLES and not word.startswith("-") else None
    return None
