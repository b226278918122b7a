"""`expman show RUN`: one run, readable (or its record with --json)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from expman import formats
from expman.cli.commands.logs import open_log
from expman.output import printable, style, write_line
from expman.store import sweepref
from expman.store.archive import Archive


def show(*, archive: Path, name: str, as_json: bool, out: TextIO) -> int:
    """Print the run named `name` (an id, `last` or `last~N`)."""
    store = Archive(archive)
    run_id = store.resolve(name)
    if as_json:
        record = store.read(run_id)
        out.write(formats.json_text(record, pretty=True))
        return 0
    record = sweepref.derive(store.root, store.read_valid(run_id))
    for line in summary(record, store.run_dir(run_id), out):
        write_line(out, line)
    return 0


def summary(record: Mapping[str, Any], folder: Path, out: TextIO) -> list[str]:
    """The lines `show` prints; what comes from the record or its files `printable`."""
    head = f"run {record.get('id')}  {record.get('status')}  ({record.get('experiment')})"
    lines = [style(printable(head), "bold", out)]
    lines += [_text(key, record.get(key)) for key in ("hypothesis", "observations")]
    when = f"started {str(record.get('started'))[:19].replace('T', ' ')}"
    if record.get("ended"):
        when += f", ended {str(record['ended'])[:19].replace('T', ' ')}"
        when += f" (open {formats.duration(record.get('duration'))}"
        when += f", stages {formats.duration(record.get('stages_duration'))})"
    else:
        when += ", still open"
    when += f", {len(record.get('attempts') or [])} attempt(s)"
    lines.append(printable(f"  {'time:':<14}{when}"))
    lines.append(printable(f"  {'code:':<14}{_code(record.get('code'))}"))
    lines += [printable(f"  {key + ':':<14}{text}") for key, text in _attempt(record)]
    host = record.get("host") or {}
    if host:
        lines.append(
            printable(
                f"  {'host:':<14}{host.get('name')}, {host.get('platform')}, "
                f"Python {host.get('python')}"
            )
        )
    overrides = record.get("overrides") or {}
    rows = [
        [k, formats.cell(v), "(-s)" if k in overrides else ""]
        for k, v in (record.get("vars") or {}).items()
    ]
    lines += _sweep(record.get("sweep"), out)
    lines += _section("vars", rows, out)
    stages = [
        [
            s.get("name", "?"),
            s.get("status") or "?",
            "" if s.get("exit_code") is None else f"exit {s['exit_code']}",
            "" if s.get("duration") is None else f"{s['duration']:.1f}s",
        ]
        for s in record.get("stages") or []
    ]
    lines += _section("stages", stages, out)
    lines += _failures(record, folder, out)
    metrics = record.get("metrics")
    if isinstance(metrics, dict):
        lines += _section(
            "metrics", [[k, formats.short(v)] for k, v in flatten(metrics).items()], out
        )
    elif metrics is not None:
        lines += [style("metrics", "bold", out), printable(f"  {formats.cell(metrics)}")]
    lines += _section("series", _series_rows(record.get("series")), out)
    lines += _section("resources", _resource_rows(record.get("resources")), out)
    lines += _section("environment", _environment_rows(record.get("environment")), out)
    outputs = record.get("outputs") or []
    size = sum(o.get("size") or 0 for o in outputs)
    lines.append(style("outputs", "bold", out) + f"  {len(outputs)} files, {size / 1e6:.1f} MB")
    lines.append(style("folder", "bold", out) + printable(f"   {folder}"))
    return lines


def _attempt(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Where the latest attempt ran when that was a Slurm job, and why it stopped when it
    did not succeed: the attempt's reason (a time limit, a cancel), its note (its runner
    died) or its job's problem."""
    attempts = record.get("attempts") or [{}]
    attempt = attempts[-1] if isinstance(attempts[-1], dict) else {}
    backend = attempt.get("backend") or record.get("backend") or {}
    found: list[tuple[str, str]] = []
    if isinstance(backend, dict) and backend.get("name") == "slurm":
        job = backend.get("job_id") or "(not yet known)"
        if backend.get("array_job_id") is not None:
            job += f" (array {backend['array_job_id']}_{backend.get('array_index')})"
        where = f" on node {backend['node']}" if backend.get("node") else ""
        found.append(("ran as", f"Slurm job {job}{where}"))
    status = attempt.get("status")
    why = [attempt.get(k) for k in ("reason", "note") if attempt.get(k)]
    if isinstance(backend, dict) and backend.get("problem"):
        why.append(backend["problem"])
    if status in ("failed", "interrupted") and why:
        found.append(("stopped", f"{status}: " + "; ".join(str(w) for w in why)))
    return found


def outcome(record: dict[str, Any]) -> str:
    """A run's result in one line: its metrics (`acc=0.94 loss=0.1`), or with none its
    series' summaries (`loss last 0.2 min 0.1 max 1`)."""
    metrics = record.get("metrics")
    if isinstance(metrics, dict) and metrics:
        return " ".join(f"{k}={formats.short(v)}" for k, v in flatten(metrics).items())
    if metrics is not None:
        return formats.short(metrics)
    return ", ".join(" ".join(row[:4]) for row in _series_rows(record.get("series")))


def _series_rows(series: Any) -> list[list[str]]:
    """One row per metric series: its last, min and max values, and how many points."""
    if not isinstance(series, dict):
        return []
    rows = []
    for name, summary in series.items():
        if isinstance(summary, dict):
            values = [f"{k} {formats.short(summary.get(k))}" for k in ("last", "min", "max")]
            rows.append([str(name), *values, f"{summary.get('count')} points"])
    return rows


def _resource_rows(used: Any) -> list[list[str]]:
    """What the last attempt's processes used: CPU, memory, storage, each GPU, and why
    sampling stopped when it did."""
    if not isinstance(used, dict):
        return []
    rows = [["cpu", f"{_number(used.get('cpu_seconds'))} s"]]
    if used.get("cpu_util_mean") is not None:
        rows[0][1] += f", mean {_number(used['cpu_util_mean'])}% of a core"
    memory = f"peak {_number(used.get('rss_peak_mb'))} MiB"
    if used.get("swap_peak_mb"):
        memory += f", swap peak {_number(used['swap_peak_mb'])} MiB"
    rows.append(["memory", memory])
    storage = f"read {_bytes(used.get('read_bytes'))}, written {_bytes(used.get('write_bytes'))}"
    rows.append(["storage", storage])
    for gpu in used.get("gpu") or []:
        if isinstance(gpu, dict):
            rows.append(
                [
                    f"gpu {_one_line(gpu.get('index'))}",
                    f"memory peak {_number(gpu.get('memory_peak_mb'))} MiB, "
                    f"mean {_number(gpu.get('util_mean'))}%",
                ]
            )
    if used.get("error"):
        rows.append(["error", _one_line(used["error"])])
    return rows


def _environment_rows(environment: Any) -> list[list[str]]:
    """The environment beyond the Python packages: only the parts the attempt had."""
    if not isinstance(environment, dict):
        return []
    rows: list[list[str]] = []
    conda = environment.get("conda")
    if isinstance(conda, dict):
        rows.append(["conda", f"{_one_line(conda.get('name'))}, {conda.get('packages')} packages"])
    container = environment.get("container")
    if isinstance(container, dict):
        parts = [container.get(k) for k in ("runtime", "image", "digest") if container.get(k)]
        rows.append(["container", ", ".join(_one_line(p) for p in parts) or "yes"])
    gpu = environment.get("gpu")
    if isinstance(gpu, dict) and not gpu.get("absent"):
        models = ", ".join(_one_line(d) for d in gpu.get("devices") or [])
        rows.append(
            [
                "gpu",
                f"driver {_one_line(gpu.get('driver'))}, "
                f"CUDA {_one_line(gpu.get('cuda_driver'))}: {models or 'no devices'}",
            ]
        )
    if environment.get("cuda_runtime"):
        rows.append(["cuda runtime", _one_line(environment["cuda_runtime"])])
    if environment.get("modules"):
        rows.append(["modules", " ".join(_one_line(m) for m in environment["modules"])])
    if isinstance(environment.get("lock_files"), dict) and environment["lock_files"]:
        rows.append(["lock files", ", ".join(_one_line(f) for f in environment["lock_files"])])
    if environment.get("error"):
        rows.append(["error", _one_line(environment["error"])])
    return rows


def _number(value: Any) -> str:
    return formats.short(float(value)) if isinstance(value, int | float) else "-"


def _bytes(value: Any) -> str:
    return f"{value / 1e6:.1f} MB" if isinstance(value, int | float) else "-"


def _one_line(value: Any) -> str:
    """A value from the record on one line (its newlines as `\\n`)."""
    return printable(formats.cell(value)).replace("\n", "\\n")


def _text(key: str, value: Any) -> str:
    """A line of text (`hypothesis:`, ...), its lines under each other."""
    text = (value if isinstance(value, str) and value.strip() else "-").strip()
    return printable(f"  {key + ':':<14}" + text.replace("\n", "\n" + " " * 16))


def _sweep(tag: Any, out: TextIO) -> list[str]:
    """The sweep a point belongs to, with its hypothesis and observations."""
    if not isinstance(tag, dict):
        return []
    head = f"sweep {tag.get('id')}, point {tag.get('index')}"
    head += f" ({tag['name']})" if isinstance(tag.get("name"), str) else ""
    return [
        style(printable(head), "bold", out),
        *(_text(key, tag.get(key)) for key in ("hypothesis", "observations")),
    ]


def _failures(record: Mapping[str, Any], folder: Path, out: TextIO) -> list[str]:
    """For each step that failed or was interrupted: why, and the end of its log."""
    lines: list[str] = []
    for step in record.get("stages") or []:
        if step.get("status") not in ("failed", "interrupted"):
            continue
        lines.append(style(printable(f"{step.get('status')}: {step.get('name')}"), "red", out))
        if step.get("error") or step.get("reason"):
            lines.append(printable(f"  {step.get('error') or step.get('reason')}"))
        for log in step.get("logs") or []:
            path = folder / log
            lines.append(printable(f"  log: {_display(path)}"))
            if str(log).endswith(".err"):
                lines += [printable(f"    | {line}") for line in _tail(folder, str(log), 5)]
    if lines:
        lines.append(printable(f"  (all of it: expman logs {record.get('id')})"))
    attempts = record.get("attempts") or [{}]
    if isinstance(attempts[-1], dict) and attempts[-1].get("data_changed"):
        reason = printable(str(attempts[-1].get("reason")))
        lines.append(style(f"failed: {reason}", "red", out))
    return lines


def _tail(folder: Path, log: str, count: int) -> list[str]:
    try:
        with open_log(folder, log) as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return text.splitlines()[-count:]


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _code(code: Any) -> str:
    if not isinstance(code, dict):
        return "-"
    if code.get("error"):
        return str(code["error"])
    commit = code.get("commit")
    text = str(commit)[:10] if commit else "no commit yet"
    text += f" (branch {code['branch']})" if code.get("branch") else " (detached)"
    if code.get("dirty"):
        text += f", dirty: {code.get('patch') or 'no patch'}"
    return text


def _section(title: str, rows: list[list[str]], out: TextIO) -> list[str]:
    if not rows:
        return []
    body = formats.table([""] * len(rows[0]), rows).splitlines()[1:]
    return [style(title, "bold", out), *("  " + line for line in body)]


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        flat.update(flatten(item, name) if isinstance(item, dict) and item else {name: item})
    return flat
