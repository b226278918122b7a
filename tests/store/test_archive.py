"""The archive: run ids allocated without clashes, records read safely, run names."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path
from typing import Any

import pytest

from expman.errors import ArchiveError
from expman.store import nextid, trash
from expman.store.archive import Archive, Damaged
from tests.conftest import age
from tests.records import fake_record


def _allocate(root: str, count: int) -> list[str]:
    archive = Archive(Path(root))
    return [archive.create(fake_record(n=i)) for i in range(count)]


@pytest.mark.slow
def test_concurrent_processes_never_share_a_run_id(tmp_path: Path) -> None:
    """Many processes (as from experiments sharing one archive) allocate at once."""
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        batches = pool.starmap(_allocate, [(str(tmp_path), 10)] * 8)
    ids = [run_id for batch in batches for run_id in batch]
    assert len(ids) == len(set(ids)) == 80
    archive = Archive(tmp_path)
    assert archive.ids() == [f"{n:04d}" for n in range(1, 81)]
    assert all(isinstance(r, dict) for r in archive.records())
    assert not list(tmp_path.glob("**/.new-*")), "no staging folder is left behind"


def test_the_next_id_comes_after_every_run_however_the_archive_changed(tmp_path: Path) -> None:
    """The last id given is kept, and trusted only while the archive folder is as it was
    just after (`nextid`): a run folder made by hand, `rm` or a purge is seen."""
    archive = Archive(tmp_path)
    assert [archive.create(fake_record()) for _ in range(3)] == ["0001", "0002", "0003"]
    shutil.copytree(tmp_path / "0002", tmp_path / "0500")  # a run copied in by hand
    assert archive.create(fake_record(ended="2026-12-06T00:00:00Z", uid="a" * 32)) == "0501"
    trash.remove(archive, "0501")
    assert archive.create(fake_record()) == "0502", "a removed run's id is never given again"
    nextid.given(
        tmp_path, 900, 0, nextid.links(tmp_path) - 1
    )  # the hint is what is used while the folder is unchanged
    assert archive.create(fake_record()) == "0901"
    (tmp_path / nextid.STAGINGS / "last-id").write_text("12 garbage\n")
    assert archive.create(fake_record()) == "0902"
    (tmp_path / nextid.STAGINGS / "last-id").write_text("7 0 1 2 3\n")  # another folder's
    assert archive.create(fake_record()) == "0903"
    # Where the file system counts no links (a hint that says 1), at most `TRUSTED` ids
    # are given from hints before the archive is listed again.
    shutil.copytree(tmp_path / "0002", tmp_path / "2000")
    nextid.given(tmp_path, 903, 0, 1)
    made = [archive.create(fake_record()) for _ in range(nextid.TRUSTED + 1)]
    assert made[-1] == "2001" and made[-2] == f"{903 + nextid.TRUSTED:04d}"


def test_ids_sort_by_number_past_9999(tmp_path: Path) -> None:
    for name in ("0002", "9999", "10000", "0010", "notes"):
        (tmp_path / name).mkdir()
    assert Archive(tmp_path).ids() == ["0002", "0010", "9999", "10000"]
    assert Archive(tmp_path).create(fake_record()) == "10001"


def test_damaged_records_are_reported_and_skipped(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    first = archive.create(fake_record(ok=1))
    (tmp_path / "0002").mkdir()
    (tmp_path / "0002" / "run.json").write_text('{"id": "0002", "trunc')
    (tmp_path / "0003").mkdir()
    (tmp_path / "0003" / "run.json").write_text("[1, 2]")
    found = list(archive.records())
    assert found[0] == fake_record(id=first, ok=1)
    assert [type(f) for f in found[1:]] == [Damaged, Damaged]
    assert "damaged record" in found[1].reason  # type: ignore[union-attr]


def test_write_replaces_the_record_atomically(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    run_id = archive.create(fake_record(v=1))
    archive.write(fake_record(id=run_id, v=2))
    assert json.loads((tmp_path / run_id / "run.json").read_text()) == fake_record(id=run_id, v=2)
    assert [p.name for p in (tmp_path / run_id).iterdir()] == ["run.json"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("0002", "0002"), ("2", "0002"), ("last", "0003"), ("last~1", "0002"), ("last~2", "0001")],
)
def test_run_names(tmp_path: Path, name: str, expected: str) -> None:
    archive = Archive(tmp_path)
    for _ in range(3):
        archive.create(fake_record())
    assert archive.resolve(name) == expected


@pytest.mark.parametrize("name", ["../x", "/etc", "last~3", "0009", "٣", "latest", ""])
def test_other_names_are_refused(tmp_path: Path, name: str) -> None:
    archive = Archive(tmp_path)
    for _ in range(3):
        archive.create(fake_record())
    with pytest.raises(ArchiveError):
        archive.resolve(name)


def _experiment_runs(root: str, count: int) -> list[str]:
    import subprocess
    import sys

    expman = str(Path(sys.executable).parent / "expman")
    ids = []
    for _ in range(count):
        started = subprocess.run([expman, "start"], cwd=root, capture_output=True, text=True)
        assert started.returncode == 0, started.stderr
        ids.append(started.stdout.split()[2].rstrip(":"))
        ended = subprocess.run([expman, "end", "-m", "x"], cwd=root, capture_output=True, text=True)
        assert ended.returncode == 0, ended.stderr
    return ids


@pytest.mark.slow
def test_experiments_sharing_an_archive_never_share_a_run_id(tmp_path: Path) -> None:
    """Six experiments, one archive folder (`archive: ../shared`), all starting runs at once."""
    roots = []
    for number in range(6):
        root = tmp_path / f"exp{number}"
        root.mkdir()
        (root / "expfile.yaml").write_text(
            f"version: 1\nname: e{number}\narchive: ../shared\n"
            "stages:\n  run: {cmd: 'true'}\n  fetch: {cmd: 'true'}\n"
        )
        roots.append(str(root))
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        batches = pool.starmap(_experiment_runs, [(root, 5) for root in roots])
    ids = [run_id for batch in batches for run_id in batch]
    assert sorted(ids) == [f"{n:04d}" for n in range(1, 31)]
    found = {
        r["id"]: r["experiment"]
        for r in Archive(tmp_path / "shared").records()
        if isinstance(r, dict)
    }
    assert len(found) == 30
    for number, batch in enumerate(batches):
        assert {found[run_id] for run_id in batch} == {f"e{number}"}


def test_a_run_is_its_folder_a_record_saying_otherwise_is_damaged(tmp_path: Path) -> None:
    """A run's id is its folder's name, and a uid is checked before it is ever a path:
    every reader (records, the cache, `read`) sees such records as damaged."""
    from expman.store import index

    archive = Archive(tmp_path / "runs")
    good = archive.create(fake_record(uid="a" * 32))
    for wrong in ({"id": "/etc"}, {"id": "0001"}, {"uid": "../x"}, {"uid": 7}, {"id": None}):
        run_id = archive.create(fake_record(uid="b" * 32))
        path = archive.run_dir(run_id) / "run.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **wrong}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "run.json").write_text(json.dumps(fake_record(id="0007", uid="c" * 32)))
    (archive.root / "0007").symlink_to(elsewhere)  # a run folder that is a link: no run
    assert archive.ids() == [f"{n:04d}" for n in range(1, 7)]
    found = list(archive.records())
    assert found[0] == fake_record(id=good, uid="a" * 32)
    reasons = [f.reason for f in found[1:] if isinstance(f, Damaged)]
    assert len(reasons) == 5
    assert "its id '/etc' is not its folder's name 0002" in reasons[0]
    assert "'../x' is not a uid" in reasons[2]
    loaded, damaged = index.load(archive)
    assert [r["id"] for r in loaded] == [good] and len(damaged) == 5
    with pytest.raises(ArchiveError, match="is not its folder's name"):
        archive.read("0002")
    with pytest.raises(ArchiveError, match="not a run id"):
        archive.read("../elsewhere")


@pytest.mark.parametrize("kind", ["pipe", "link"])
def test_a_record_that_is_a_pipe_or_a_link_is_damaged_never_waited_on_nor_followed(
    tmp_path: Path, kind: str
) -> None:
    """A `run.json` replaced by a named pipe (every reader hung on it) or by a link to a
    file outside the archive (readers showed what it pointed to) is a damaged record, for
    the readers, the cache and the commands."""
    import os
    import subprocess
    import sys

    from expman.store import index

    archive = Archive(tmp_path / "runs")
    good = archive.create(fake_record(uid="a" * 32))
    run_id = archive.create(fake_record(uid="b" * 32))
    path = archive.run_dir(run_id) / "run.json"
    path.unlink()
    if kind == "pipe":
        os.mkfifo(path)
    else:
        outside = tmp_path / "outside.json"
        outside.write_text(json.dumps(fake_record(id=run_id, uid="c" * 32, hypothesis="OUTSIDE")))
        path.symlink_to(outside)
    found = list(archive.records())
    assert found[0] == fake_record(id=good, uid="a" * 32)
    assert isinstance(found[1], Damaged)
    loaded, damaged = index.load(archive)
    assert [r["id"] for r in loaded] == [good] and len(damaged) == 1
    for command in (["list"], ["query", "[].hypothesis"], ["fsck"]):
        done = subprocess.run(
            [sys.executable, "-m", "expman", *command, "--archive", str(archive.root)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "OUTSIDE" not in done.stdout, command
        assert "damaged record" in done.stderr + done.stdout, (command, done.stderr)


def test_a_huge_record_is_damaged_never_read_into_memory(tmp_path: Path) -> None:
    """A `run.json` of 2 GB (a run from elsewhere) was read whole by every reader (its
    size in memory, and more): past `MAX_RECORD` it is a damaged record, said so, and
    `list`, `query` and `fsck` run in 1 GiB of address space."""
    import os
    import subprocess
    import sys

    from expman.store.archive import MAX_RECORD

    archive = Archive(tmp_path / "runs")
    good = archive.create(fake_record(uid="a" * 32))
    run_id = archive.create(fake_record(uid="b" * 32))
    path = archive.run_dir(run_id) / "run.json"
    path.chmod(0o644)
    os.truncate(path, 2 << 30)  # sparse: no disk used
    assert MAX_RECORD < 1 << 30
    found = list(archive.records())
    assert found[0] == fake_record(id=good, uid="a" * 32)
    assert isinstance(found[1], Damaged) and "larger than" in found[1].reason
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
    code = limit + "import sys; from expman.cli.main import main; sys.exit(main(sys.argv[1:]))"
    for command in (["list"], ["query", "[].id"], ["fsck"]):
        done = subprocess.run(
            [sys.executable, "-c", code, *command, "--archive", str(archive.root)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "MemoryError" not in done.stderr, command
        assert "larger than" in done.stderr + done.stdout, (command, done.stderr)


@pytest.mark.parametrize(
    ("record", "says"),
    [
        ({"id": "0002"}, "'status' is missing"),
        ({"id": "0002", "status": 7}, "'status' is 7, not text"),
        ({"id": 2, "status": "succeeded"}, "its id 2 is not its folder's name 0002"),
    ],
)
def test_a_record_without_what_every_record_holds_is_damaged(
    tmp_path: Path, run_cli: Any, record: dict[str, Any], says: str
) -> None:
    """A `run.json` holding only `{"id": ...}` was listed as a run with a blank status:
    a record lacking `id` or `status` (or holding them in another type) is a damaged
    record, said with its file and key, by every reader (`list`, `query`, the record cache)."""
    archive = Archive(tmp_path / "runs")
    archive.create(fake_record())
    (tmp_path / "runs" / "0002").mkdir()
    path = tmp_path / "runs" / "0002" / "run.json"
    path.write_text(json.dumps(record))
    with pytest.raises(ArchiveError, match=f"{path}: damaged record: .*{says}"):
        archive.read("0002")
    for record_file in (tmp_path / "runs").glob("*/run.json"):
        age(record_file)  # old enough for the record cache: the second query reads it
    for command in (["list"], ["query", "[].id"], ["query", "[].id"]):
        code, out, err = run_cli(*command, "--archive", str(tmp_path / "runs"))
        assert code == 0, err
        assert "0001" in out and "0002" not in out, command
        assert f"skipped {path}: damaged record:" in err and says in err, command
    assert list((tmp_path / "runs" / ".cache").rglob("index.marshal")), "the cache answered"
