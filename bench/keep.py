"""Keeping the archive: `expman gc` on 10,000 runs and 100,000 objects, and `expman pull` of
1,000 runs whose content is 90% present already, then the same pull again.

The archives are built directly as files (a record of a real run, cloned), since making
10,000 runs with expman would take the benchmark's whole budget. Baselines in the same
run: `find` listing the store's one-link objects (the floor of gc's own work), and `cp -r`
of the source archive (a naive copy of everything). Targets: gc under 5 s; the pull moves
only the missing bytes; the second pull under 1 s.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.common import ENV, EXPMAN, call, experiment, median, report, timed

RUNS, LINKED, ORPHANS = 10_000, 9, 10_000  # 90,000 objects in runs + 10,000 unused
PULL_RUNS = 1_000
PULL_GB = float(os.environ.get("EXPMAN_BENCH_PULL_GB", "1"))  # the figure: 10
EXPFILE = """\
version: 1
name: keep
stages:
  run: {cmd: "true"}
  fetch: {cmd: "echo x > \\"$EXPMAN_OUTPUTS/x.txt\\""}
"""


def _template(work: Path) -> dict[str, object]:
    root = experiment(work / "template", EXPFILE)
    call(EXPMAN, "run", cwd=root)
    call(EXPMAN, "end", "-m", "template", cwd=root)
    record: dict[str, object] = json.loads((root / "runs/0001/run.json").read_text())
    record["snapshot"] = []  # the clones hold only their outputs (a pull checks each named file)
    return record


def _object(store: Path, data: bytes) -> tuple[str, Path]:
    digest = hashlib.sha256(data).hexdigest()
    path = store / digest[:2] / digest[2:]
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o444)
    return digest, path


def _run(archive: Path, number: int, template: dict[str, object], files: list[Path]) -> None:
    folder = archive / f"{number:04d}"
    (folder / "outputs").mkdir(parents=True)
    outputs = []
    for index, path in enumerate(files):
        os.link(path, folder / "outputs" / f"f{index}.bin")
        outputs.append(
            {
                "path": f"f{index}.bin",
                "size": path.stat().st_size,
                "sha256": path.parent.name + path.name,
            }
        )
    record = {
        **template,
        "id": f"{number:04d}",
        "uid": hashlib.md5(str(number).encode()).hexdigest(),
    }
    record["outputs"] = outputs
    (folder / "run.json").write_text(json.dumps(record))


def _gc(work: Path, template: dict[str, object]) -> bool:
    archive = work / "gc" / "runs"
    store = archive / ".objects"
    store.mkdir(parents=True)
    serial = 0
    for number in range(1, RUNS + 1):
        files = []
        for _ in range(LINKED):
            serial += 1
            files.append(_object(store, serial.to_bytes(8, "big"))[1])
        _run(archive, number, template, files)

    def orphans() -> None:
        nonlocal serial
        for _ in range(ORPHANS):
            serial += 1
            _object(store, serial.to_bytes(8, "big"))

    times = []
    for _ in range(3):
        orphans()
        times += timed(lambda: call(EXPMAN, "gc", "--archive", str(archive), cwd=work), 1)
    listed = timed(
        lambda: subprocess.run(
            ["find", str(store), "-type", "f", "-links", "1"], capture_output=True, check=True
        ),
        3,
    )
    print(f"  {RUNS:,} runs, {RUNS * LINKED + ORPHANS:,} objects, {ORPHANS:,} of them unused")
    return report(
        "expman gc", median(times), "s", "find -links 1 (listing only)", median(listed), 5.0
    )


def _pull(work: Path, template: dict[str, object]) -> bool:
    source = work / "source" / "runs"
    store = source / ".objects"
    store.mkdir(parents=True)
    size = int(PULL_GB * 1e9 / PULL_RUNS)
    chunk = os.urandom(1 << 20)
    objects = []
    for number in range(1, PULL_RUNS + 1):
        data = (chunk * (size // len(chunk) + 1))[: size - 8] + number.to_bytes(8, "big")
        objects.append(_object(store, data)[1])
        _run(source, number, template, [objects[-1]])
    destination = work / "destination"
    dest_root = experiment(destination, EXPFILE)
    dest_store = dest_root / "runs" / ".objects"
    dest_store.mkdir(parents=True)
    for path in objects[: PULL_RUNS * 9 // 10]:  # 90% of the content is there already
        (dest_store / path.parent.name).mkdir(exist_ok=True)
        os.link(path, dest_store / path.parent.name / path.name)
    missing = sum(p.stat().st_size for p in objects[PULL_RUNS * 9 // 10 :])
    copy = work / "copy"
    naive = timed(lambda: shutil.copytree(source, copy, symlinks=True), 1)
    shutil.rmtree(copy)
    pulls: list[subprocess.CompletedProcess[str]] = []
    took = timed(
        lambda: pulls.append(
            subprocess.run(
                [EXPMAN, "pull", str(source)],
                cwd=dest_root,
                capture_output=True,
                text=True,
                env=ENV,
            )
        ),
        1,
    )
    first = pulls[0]
    report("expman pull, first", took[0], "s", "cp -r of the source", naive[0])
    print(f"  {PULL_RUNS:,} runs, {PULL_GB:g} GB; {first.stdout.strip()}")
    print(f"  the missing content: {missing / 1e6:.1f} MB")
    moved = f"{missing / 1e6:.1f} MB of new content" in first.stdout
    print(f"  only the missing bytes moved: {'met' if moved else 'MISSED'}")
    again = timed(lambda: call(EXPMAN, "pull", str(source), cwd=dest_root), 5)
    met = report(
        "expman pull again (nothing to do)",
        median(again),
        "s",
        "cp -r of the source",
        median(naive),
        1.0,
    )
    return moved and met


def main() -> bool:
    """Run both; True when every target is met."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        template = _template(work)
        return _gc(work, template) & _pull(work, template)


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
