"""Storing a folder: big files are read as few times as the store's rules allow, and the
guess of which work comes first never changes what is stored."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from expman.store import objects
from expman.store.objects import ObjectStore
from expman.store.storing import archive_tree

SIZE = 8 << 20  # a big file: stored on the thread pool


def _io() -> dict[str, int]:
    """This process's bytes passed to read and write calls, all threads included."""
    lines = Path("/proc/self/io").read_text().splitlines()
    return {key: int(value) for key, value in (line.split(": ") for line in lines)}


def _archived(
    store: ObjectStore, source: Path, run: Path, earlier: list[Path] | None = None
) -> tuple[list[objects.Stored], int, int]:
    """archive_tree's answer, and the bytes it read and wrote."""
    before = _io()
    stored = archive_tree(store, source, run, earlier=earlier or [])
    after = _io()
    return stored, after["rchar"] - before["rchar"], after["wchar"] - before["wchar"]


def _objects(store: ObjectStore) -> set[Path]:
    return {p for p in store.root.rglob("*") if p.is_file() and p.parent != store.root}


def _outputs(folder: Path, data: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.ckpt").write_bytes(data)
    return folder


def test_a_big_new_file_is_read_once(tmp_path: Path) -> None:
    """A checkpoint written anew every run: copied into the store and hashed as written,
    one read of its bytes (it was hashed first and read again to copy: two)."""
    store = ObjectStore(tmp_path / ".objects")
    data = os.urandom(SIZE)
    source = _outputs(tmp_path / "outputs", data)
    stored, read, written = _archived(store, source, tmp_path / "run")
    assert stored[0].sha256 == hashlib.sha256(data).hexdigest()
    assert store.path(stored[0].sha256).read_bytes() == data
    assert SIZE <= read < 1.2 * SIZE
    assert SIZE <= written < 1.2 * SIZE


def test_a_big_file_like_an_earlier_runs_is_hashed_and_not_copied(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / ".objects")
    data = os.urandom(SIZE)
    first, _, _ = _archived(store, _outputs(tmp_path / "o1", data), tmp_path / "run1")
    again, read, written = _archived(
        store, _outputs(tmp_path / "o2", data), tmp_path / "run2", [tmp_path / "run1"]
    )
    assert again == first
    assert SIZE <= read < 1.2 * SIZE
    assert written < SIZE // 100  # nothing copied
    shown = tmp_path / "run2" / "model.ckpt"
    assert shown.stat().st_ino == store.path(first[0].sha256 or "").stat().st_ino


def test_content_guessed_new_but_stored_already_is_stored_once(tmp_path: Path) -> None:
    """No earlier run has it at that place (it moved): the copy made first is dropped,
    and the run shows the object the store had."""
    store = ObjectStore(tmp_path / ".objects")
    data = os.urandom(SIZE)
    first, _, _ = _archived(store, _outputs(tmp_path / "o1", data), tmp_path / "run1")
    objects_before = _objects(store)
    moved = tmp_path / "o2" / "elsewhere"
    moved.mkdir(parents=True)
    (moved / "renamed.ckpt").write_bytes(data)
    again, _, _ = _archived(store, tmp_path / "o2", tmp_path / "run2", [tmp_path / "run1"])
    assert again[0].sha256 == first[0].sha256
    assert _objects(store) == objects_before
    assert [p.name for p in store.root.iterdir() if p.is_file()] == []  # no copy left
    shown = tmp_path / "run2" / "elsewhere" / "renamed.ckpt"
    assert shown.stat().st_ino == store.path(first[0].sha256 or "").stat().st_ino


def test_a_file_that_only_looks_like_an_earlier_one_is_stored_as_it_is(tmp_path: Path) -> None:
    """Same size, same bytes where they are compared, different elsewhere: the hash
    decides, and the new content is stored under its own name."""
    store = ObjectStore(tmp_path / ".objects")
    data = bytearray(os.urandom(SIZE))
    _archived(store, _outputs(tmp_path / "o1", bytes(data)), tmp_path / "run1")
    data[SIZE // 2 + 12345] ^= 0xFF  # between two of the places compared
    changed = bytes(data)
    stored, _, _ = _archived(
        store, _outputs(tmp_path / "o2", changed), tmp_path / "run2", [tmp_path / "run1"]
    )
    assert stored[0].sha256 == hashlib.sha256(changed).hexdigest()
    assert (tmp_path / "run2" / "model.ckpt").read_bytes() == changed
    assert objects.hash_file(store.path(stored[0].sha256 or "")) == stored[0].sha256


def test_what_an_earlier_run_holds_at_the_place_is_never_followed_nor_waited_on(
    tmp_path: Path,
) -> None:
    """An earlier run's outputs may hold a link (to anything) or a pipe where the new
    file is: comparing never opens what a link points to and never waits for a writer."""
    store = ObjectStore(tmp_path / ".objects")
    piped, linked = tmp_path / "run1", tmp_path / "run2"
    piped.mkdir()
    linked.mkdir()
    os.mkfifo(piped / "model.ckpt")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (linked / "model.ckpt").symlink_to(fifo)
    data = os.urandom(SIZE)
    done: list[list[objects.Stored]] = []
    worker = threading.Thread(
        target=lambda: done.append(
            archive_tree(
                store, _outputs(tmp_path / "o", data), tmp_path / "run3", earlier=[linked, piped]
            )
        ),
        daemon=True,
    )
    worker.start()
    worker.join(30)
    assert done, "archiving waited on a pipe of an earlier run"
    assert done[0][0].sha256 == hashlib.sha256(data).hexdigest()


def test_a_folder_link_in_an_earlier_run_is_not_followed_to_compare(tmp_path: Path) -> None:
    """An earlier run (one pulled from elsewhere) may hold an output that is a link to a
    folder anywhere: the new `sub/model.ckpt` is not compared with what lies there (had it
    been, the guess "stored already" would have spared copying it: nothing written)."""
    store = ObjectStore(tmp_path / ".objects")
    data = os.urandom(SIZE)
    _archived(store, _outputs(tmp_path / "o0", data), tmp_path / "elsewhere")
    (tmp_path / "run1").mkdir()
    (tmp_path / "run1" / "sub").symlink_to(tmp_path / "elsewhere")
    source = tmp_path / "o2"
    _outputs(source / "sub", data)
    stored, _, written = _archived(store, source, tmp_path / "run2", [tmp_path / "run1"])
    assert stored[-1].sha256 == hashlib.sha256(data).hexdigest()
    assert written >= SIZE, "it was compared with a file through the link"


def test_runs_before_are_found_without_listing_the_archive(tmp_path: Path) -> None:
    from expman.store.archive import Archive

    archive = Archive(tmp_path / "runs")
    for run_id in ("0001", "0003", "0004", "0009"):
        archive.run_dir(run_id).mkdir(parents=True)
    assert archive.before("0009", 8) == ["0004", "0003", "0001"]
    assert archive.before("0004", 1) == ["0003"]
    assert archive.before("0001", 8) == []


def test_a_pipe_where_a_big_file_was_is_refused_without_blocking(tmp_path: Path) -> None:
    """Replaced by a pipe after the folder was listed: copying it must not wait for a
    writer that never comes, and no partial object is left."""
    store = ObjectStore(tmp_path / ".objects")
    pipe = tmp_path / "model.ckpt"
    os.mkfifo(pipe)
    raised: list[BaseException] = []

    def copy() -> None:
        try:
            store.add_copy(pipe)
        except OSError as e:
            raised.append(e)

    worker = threading.Thread(target=copy, daemon=True)
    worker.start()
    worker.join(30)
    assert raised, "copying waited on a pipe"
    assert "not a regular file" in str(raised[0])
    assert [p.name for p in store.root.iterdir() if p.is_file()] == []
