"""`expman diff RUN RUN`: what differs between two runs, most telling first."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from expman import formats
from expman.cli.commands.show import flatten
from expman.output import printable, style, write_line
from expman.store import environment
from expman.store.archive import Archive


def diff(*, archive: Path, names: tuple[str, str], out: TextIO) -> int:
    """Print the status, environment, vars, config, code, scripts and metrics of run A
    against run B."""
    store = Archive(archive)
    ids = [store.resolve(name) for name in names]
    a, b = (store.read_valid(run_id) for run_id in ids)
    dirs = [store.run_dir(run_id) for run_id in ids]
    write_line(out, style(f"run {ids[0]} -> run {ids[1]}", "bold", out))
    _status(a, b, out)
    _environment(environment.differences(a, dirs[0], b, dirs[1]), out)
    _values("vars", a.get("vars") or {}, b.get("vars") or {}, out)
    _files("config", [(d / "expfile.yaml") for d in dirs], "expfile.yaml", out)
    _code(a.get("code") or {}, b.get("code") or {}, dirs, out)
    scripts = sorted({s["path"] for r in (a, b) for s in r.get("scripts") or []})
    for script in scripts:
        _files(f"script {script}", [d / "scripts" / script for d in dirs], script, out)
    _values(
        "metrics",
        flatten(a.get("metrics") or {}),
        flatten(b.get("metrics") or {}),
        out,
        all_rows=True,
    )
    return 0


def _environment(differences: list[str], out: TextIO) -> None:
    """What differs in the environment (packages, conda, driver, container, modules, lock
    files), one line each, before anything else: the likeliest reason two runs differ."""
    write_line(out, style("environment", "bold", out) + ("" if differences else ": same"))
    for line in differences:
        write_line(out, "  " + printable(line))


def _status(a: Mapping[str, Any], b: Mapping[str, Any], out: TextIO) -> None:
    """The status first: when it differs, it is what the rest explains."""
    states = [printable(str(r.get("status"))) for r in (a, b)]
    if states[0] == states[1]:
        write_line(out, style("status", "bold", out) + f": same ({states[0]})")
    else:
        write_line(out, style("status", "bold", out) + f": {states[0]} -> {states[1]}")


def _values(
    title: str, a: dict[str, Any], b: dict[str, Any], out: TextIO, all_rows: bool = False
) -> None:
    keys = list(dict.fromkeys([*a, *b]))
    rows = []
    for key in keys:
        left, right = a.get(key, "(none)"), b.get(key, "(none)")
        if left == right and not all_rows:
            continue
        change = ""
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
        if numbers and left != right:
            change = f"{right - left:+.6g}"
        rows.append([key, formats.cell(left), formats.cell(right), change])
    write_line(out, style(title, "bold", out) + ("" if rows else ": same"))
    if rows:
        body = formats.table(["", "A", "B", ""], rows)
        for line in body.splitlines():
            write_line(out, "  " + line)


def _files(title: str, paths: list[Path], name: str, out: TextIO) -> None:
    texts = [p.read_text(encoding="utf-8", errors="replace") if p.exists() else "" for p in paths]
    lines = list(
        difflib.unified_diff(
            texts[0].splitlines(keepends=True),
            texts[1].splitlines(keepends=True),
            f"A/{name}",
            f"B/{name}",
        )
    )
    write_line(out, style(printable(title), "bold", out) + ("" if lines else ": same"))
    for line in lines:
        text = printable(line.rstrip("\n"))
        colour = "green" if text.startswith("+") else "red" if text.startswith("-") else None
        write_line(out, "  " + (style(text, colour, out) if colour else text))


def _code(a: Mapping[str, Any], b: Mapping[str, Any], dirs: list[Path], out: TextIO) -> None:
    # A commit by its first 10 digits; without one, why (`not a git repository`) in full.
    commits = [
        printable(str(r["commit"])[:10] if r.get("commit") else str(r.get("error") or "-"))
        for r in (a, b)
    ]
    same = commits[0] == commits[1]
    write_line(
        out,
        style("code", "bold", out)
        + (": commit " if a.get("commit") or b.get("commit") else ": ")
        + commits[0]
        + ("" if same else f" -> {commits[1]}"),
    )
    if a.get("patch") or b.get("patch"):
        _files("code.patch", [d / "code.patch" for d in dirs], "code.patch", out)
