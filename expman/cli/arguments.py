"""The command line's grammar: every command, its options, and the examples its --help shows.

`cli` parses with it and dispatches; usage errors raise `UsageError` instead of exiting,
so that `cli.main` stays the one error boundary.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from typing import Any

from expman import __version__
from expman.errors import UsageError
from expman.expfile.model import STAGES
from expman.formats import FORMATS

_EXAMPLES = {
    "init": [
        "expman init step-study",
        "expman init --force   # replace expfile.yaml, keep a backup",
    ],
    "validate": ["expman validate", "expman validate other/expfile.yaml"],
    "start": ["expman start -m 'lr 0.1 converges in half the epochs'", "expman start -s LR=0.1"],
    "run": [
        "expman run",
        "expman run -s LR=1e-3 -s EPOCHS=20  # typed as YAML 1.2: numbers stay numbers",
        "expman run --only pre-run           # one stage",
        "expman run --force                  # no skipping",
        "expman run --on slurm --slurm time=4:00:00 --slurm gpus=1   # a Slurm job",
    ],
    "status": ["expman status"],
    "sweep": [
        "expman sweep -m 'lr and seed' -s LR=0.001,0.01,0.1 -s SEED=1..3 --jobs 2",
        "expman sweep -s LR='loguniform(1e-4,1e-1)' --random 20 --seed 7",
        "expman sweep --points points.csv --plan     # the points, nothing run",
        "expman sweep lr-grid                        # a sweep named in the expfile",
        "expman sweep --resume s0003                 # run what did not succeed",
        "expman sweep status                         # the last sweep's points",
        "expman sweep lr-grid --on slurm --slurm time=1:00:00   # job arrays; returns at once",
    ],
    "end": [
        "expman end -m 'converged at epoch 7; try 0.2'",
        "expman end   # observations from expfile.yaml or $EDITOR",
        "expman end --sweep s0002 -m 'lr above 0.05 diverges at every seed'",
    ],
    "doit": ["expman doit list", "expman doit forget pre-run:data   # the step runs next time"],
    "query": [
        'expman query "[?metrics.acc > \\`0.9\\`].{id: id, lr: vars.LR}" --format table',
        "expman query \"max_by([?status=='succeeded'], &metrics.acc).id\"",
        "expman query \"[?matches(hypothesis, '(?i)learning rate')].id\"",
    ],
    "list": [
        "expman list --where \"status=='failed'\"",
        "expman list --sort metrics.acc --reverse --limit 5   # the five best",
        "expman list --reverse --limit 10                     # the last ten",
        "expman list --columns vars.LR,metrics.acc            # with chosen fields",
        "expman list --tag best                               # tagged with `expman tag`",
    ],
    "show": ["expman show last", "expman show 7 --json"],
    "logs": [
        "expman logs last",
        "expman logs 7 run          # one step",
        "expman logs 7 | less -R",
        "expman logs last run -f    # follow it while it runs",
    ],
    "cancel": [
        "expman cancel 7         # the run's Slurm job: recorded interrupted (cancelled)",
        "expman cancel s0002     # every job of the sweep; --resume runs the rest later",
    ],
    "report": [
        "expman report                          # report.html, beside the expfile",
        "expman report -o study.html --where \"sweep.id=='s0002'\"",
        "expman report --watch                  # rewritten as runs progress; Ctrl-C ends",
    ],
    "watch": [
        "expman watch                 # this archive's runs in flight, until none is left",
        "expman watch --sweep last    # one sweep's points",
        "expman watch --once          # print them once",
    ],
    "diff": ["expman diff last~1 last", "expman diff 3 7"],
    "note": ["expman note 17 -m 'diverged after epoch 40: lr too high'", "expman note last -m ok"],
    "rm": [
        "expman rm 12 13          # moved aside, reversible",
        "expman rm --list",
        "expman rm --restore 12",
        "expman rm --purge        # the removed runs, for good (asks); then `expman gc`",
        "expman rm --purge 13 --yes   # remove and purge, without asking (in a script)",
    ],
    "gc": ["expman gc"],
    "rerun": [
        "expman rerun 17",
        "expman rerun 17 --check   # exit 4 when outputs or metrics differ",
    ],
    "push": ["expman push /shared/lab/runs", "expman push /media/disk/lr-study-runs"],
    "pull": ["expman pull /shared/lab/runs", "expman pull ../laptop-copy/runs"],
    "fsck": ["expman fsck", "expman fsck --repair   # quarantine corrupt objects"],
    "tag": ["expman tag 17 +best", "expman tag 12 +broken -best", "expman tag 3 5 8 +baseline"],
    "schema": [
        "expman schema > expfile.schema.json   # refresh an experiment's copy",
        "expman schema --markdown              # the field reference",
        "expman schema --record                # the schema of run.json",
    ],
}


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors raise instead of exiting, so `main` stays the boundary.

    A parser made `signed` (the one of `tag`) reads a word like `-best` that is none of
    its options as a positional word, and its positional words may come before, between
    and after its options.
    """

    signed = False
    _intermixing = False

    def error(self, message: str) -> None:  # type: ignore[override]
        typo = _INVALID_CHOICE.match(message)
        hint = None
        if typo:
            from expman.cli.hints import did_you_mean

            hint = did_you_mean(typo[1], re.findall(r"'([^']*)'", typo[2]))
        shown = f"{message}\n  hint: {hint}" if hint else message
        raise UsageError(f"{shown}\n{self.format_usage().rstrip()}")

    def _parse_optional(self, arg_string: str) -> Any:
        if self.signed and _is_signed_word(arg_string, self._option_string_actions):
            return None
        return super()._parse_optional(arg_string)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if not self.signed or self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True  # it calls back into this method (Python < 3.13)
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


_INVALID_CHOICE = re.compile(r"argument [^:]+: invalid choice: '(.*)' \(choose from (.*)\)$")


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


def _is_signed_word(word: str, options: Mapping[str, argparse.Action]) -> bool:
    """`-best`: one dash and no option of the parser (`--x` stays an option, or unknown)."""
    return word[:1] == "-" and word[:2] != "--" and word.split("=", 1)[0] not in options


class _RunsAndChanges(argparse.Action):
    """The words of `tag`: run names (`args.runs`) and changes, +TAG or -TAG (`args.changes`)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        words = list(values)
        namespace.runs = [w for w in words if w[:1] not in ("+", "-")]
        namespace.changes = [w for w in words if w[:1] in ("+", "-")]


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every command, its options and examples; with `only`, the top level and that one
    command alone (what `parse` needs to run it: building all of them took longer)."""
    parser = _Parser(
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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    # The options of the commands left out go here, and are forgotten.
    scratch = _Parser(add_help=False, conflict_handler="resolve")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        if only is not None and name != only:
            return scratch
        return commands.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog="examples:\n" + "\n".join("  " + line for line in _EXAMPLES[name]),
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
        "words", nargs="+", action=_RunsAndChanges, metavar="RUN|+TAG|-TAG", help="runs, changes"
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
            return word if word in _EXAMPLES and not word.startswith("-") else None
    return None
