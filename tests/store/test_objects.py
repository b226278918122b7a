"""The content store: stored once, read-only, links, and the copy fallback."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
from pathlib import Path

from expman.store import objects, storing
from expman.store.objects import ObjectStore
from expman.store.storing import archive_tree


def test_same_content_is_stored_once(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / ".objects")
    first = store.add_bytes(b"hello\n")
    second = store.add_bytes(b"hello\n")
    assert first == second == hashlib.sha256(b"hello\n").hexdigest()
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert files == [store.path(first)]
    assert not (store.path(first).stat().st_mode & 0o222)


def test_an_object_is_never_the_outputs_own_inode(tmp_path: Path) -> None:
    """A process a stage left behind may still hold the output open for writing: what it
    writes after archiving must not change the object (SPEC §6)."""
    store = ObjectStore(tmp_path / ".objects")
    source = tmp_path / "outputs"
    source.mkdir()
    (source / "out.txt").write_bytes(b"original\n")
    with (source / "out.txt").open("ab") as writer:  # the leftover writer
        stored = archive_tree(store, source, tmp_path / "run")
        writer.write(b"corrupted\n")
    digest = stored[0].sha256
    assert digest is not None
    assert store.path(digest).stat().st_ino != (source / "out.txt").stat().st_ino
    assert store.path(digest).read_bytes() == b"original\n"
    assert objects.hash_file(store.path(digest)) == digest


def test_a_file_changed_between_hashing_and_copying_is_named_by_what_was_stored(
    tmp_path: Path,
) -> None:
    store = ObjectStore(tmp_path / ".objects")
    source = tmp_path / "out.bin"
    source.write_bytes(b"first")
    digest = objects.hash_file(source)
    source.write_bytes(b"second, longer")
    stored = store.add_file(source, digest)
    assert stored == hashlib.sha256(b"second, longer").hexdigest()
    assert store.path(stored).read_bytes() == b"second, longer"
    assert not store.path(digest).exists()


def test_a_hard_linked_file_is_copied_and_keeps_its_mode(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / ".objects")
    source = tmp_path / "shared.bin"
    source.write_bytes(b"data")
    os.link(source, tmp_path / "elsewhere.bin")
    digest = store.add_file(source, objects.hash_file(source))
    assert store.path(digest).stat().st_ino != source.stat().st_ino
    assert source.stat().st_mode & 0o200, "the user's file keeps its mode"


def test_temporary_files_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / ".objects")
    store.add_bytes(b"x")
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = objects._HOST
    abandoned = store.root / f".incoming-{host}-{dead.pid}-abc"
    mine = store.root / f".incoming-{host}-{os.getpid()}-def"
    elsewhere = store.root / ".incoming-otherhost-1-ghi"
    for path in (abandoned, mine, elsewhere):
        path.write_bytes(b"partial")
    assert store.remove_abandoned() == 1
    assert not abandoned.exists()
    assert mine.exists() and elsewhere.exists()


def test_names_that_are_not_utf8_are_archived_escaped(tmp_path: Path) -> None:
    source = tmp_path / "outputs"
    source.mkdir()
    (source / os.fsdecode(b"caf\xe9.txt")).write_text("bytes name")
    (source / "caf%E9.txt").write_text("a real name that the escape falls on")
    (source / "link").symlink_to(os.fsdecode(b"to-\xff"))
    stored = archive_tree(ObjectStore(tmp_path / ".objects"), source, tmp_path / "run")
    assert [(s.path, s.link) for s in stored] == [
        ("caf%E9.txt", None),
        ("caf%E9.txt~1", None),
        ("link", "to-%FF"),
    ]
    assert (tmp_path / "run" / "caf%E9.txt~1").read_text() == "bytes name"
    json.dumps([s.path for s in stored]).encode("utf-8")


def test_link_falls_back_to_a_read_only_copy(tmp_path: Path, monkeypatch) -> None:
    store = ObjectStore(tmp_path / ".objects")
    digest = store.add_bytes(b"content")

    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    store.link(digest, tmp_path / "run" / "file.txt")
    copied = tmp_path / "run" / "file.txt"
    assert copied.read_bytes() == b"content"
    assert copied.stat().st_ino != store.path(digest).stat().st_ino
    assert not (copied.stat().st_mode & 0o222)


def test_archive_tree_keeps_links_as_links_and_skips_pipes(tmp_path: Path) -> None:
    source = tmp_path / "outputs"
    (source / "deep" / "er").mkdir(parents=True)
    (source / "deep" / "er" / "a.txt").write_text("a")
    (source / "b.txt").write_text("b")
    (source / "escape").symlink_to("/etc")
    (source / "escape-file").symlink_to("../../secret.txt")
    os.mkfifo(source / "pipe")
    stored = archive_tree(ObjectStore(tmp_path / ".objects"), source, tmp_path / "run")
    assert [(s.path, s.link) for s in stored] == [
        ("b.txt", None),
        ("deep/er/a.txt", None),
        ("escape", "/etc"),
        ("escape-file", "../../secret.txt"),
    ]
    assert (tmp_path / "run" / "escape").is_symlink()
    assert not (tmp_path / "run" / "pipe").exists()
    assert not (tmp_path / "run" / "etc").exists()


def test_store_works_without_hard_links(tmp_path: Path, monkeypatch) -> None:
    """Some file systems (network shares, FAT) cannot hard-link: everything is copied."""

    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    source = tmp_path / "outputs"
    source.mkdir()
    (source / "a.txt").write_text("a")
    stored = archive_tree(ObjectStore(tmp_path / ".objects"), source, tmp_path / "run")
    assert [s.path for s in stored] == ["a.txt"]
    assert (tmp_path / "run" / "a.txt").read_text() == "a"
    assert (source / "a.txt").read_text() == "a"


def test_small_and_big_files_are_stored_once_and_shown_by_one_inode(tmp_path: Path) -> None:
    """Small files take their own path into the store (read whole, written from those
    bytes): it must leave what the big files' path leaves."""
    store = ObjectStore(tmp_path / ".objects")
    source = tmp_path / "outputs"
    (source / "deep" / "er").mkdir(parents=True)
    small, big = b"small\n", os.urandom(storing._POOLED + 7)
    for name, data in (("a.txt", small), ("deep/b.txt", small), ("deep/er/big.bin", big)):
        (source / name).write_bytes(data)
    (source / "empty").write_bytes(b"")
    stored = archive_tree(store, source, tmp_path / "run")
    assert [(s.path, s.size) for s in stored] == [
        ("a.txt", 6),
        ("deep/b.txt", 6),
        ("deep/er/big.bin", len(big)),
        ("empty", 0),
    ]
    for entry in stored:
        assert entry.sha256 is not None
        shown = tmp_path / "run" / entry.path
        assert shown.stat().st_ino == store.path(entry.sha256).stat().st_ino
        assert objects.hash_file(shown) == entry.sha256
        assert not (shown.stat().st_mode & 0o222)
    assert stored[0].sha256 == stored[1].sha256  # one object for one content
    objects_now = {p for p in store.root.rglob("*") if p.is_file() and p.parent != store.root}
    assert len(objects_now) == 3
    assert [p.name for p in store.root.iterdir() if p.is_file()] == []  # no temporary left
    # Again: everything is stored already, nothing new is written.
    again = archive_tree(store, source, tmp_path / "run2")
    assert again == stored
    assert {p for p in store.root.rglob("*") if p.is_file() and p.parent != store.root} == (
        objects_now
    )


def test_a_small_file_growing_while_read_is_stored_as_read(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / ".objects")
    source = tmp_path / "outputs"
    source.mkdir()
    (source / "log.txt").write_bytes(b"line\n")
    with (source / "log.txt").open("ab") as writer:
        stored = archive_tree(store, source, tmp_path / "run")
        writer.write(b"more\n" * 1000)
    assert stored[0].sha256 == hashlib.sha256(b"line\n").hexdigest()
    assert (tmp_path / "run" / "log.txt").read_bytes() == b"line\n"


def test_a_pipe_where_a_file_was_listed_is_refused_without_blocking(tmp_path: Path) -> None:
    """A file replaced by a pipe after the folder was listed: opening it to read must not
    wait for a writer that never comes."""
    pipe = tmp_path / "was-a-file"
    os.mkfifo(pipe)
    try:
        storing._read_small(str(pipe))
    except OSError as e:
        assert e.errno == errno.EINVAL and "not a regular file" in str(e)
    else:
        raise AssertionError("a pipe was read as a file")


def test_a_small_file_stored_meanwhile_by_another_writer_is_shown_as_theirs(
    tmp_path: Path,
) -> None:
    store = ObjectStore(tmp_path / ".objects")
    theirs = store.add_bytes(b"same\n")
    written = tmp_path / "run" / "mine.txt"
    written.parent.mkdir()
    written.write_bytes(b"same\n")  # ours, complete, about to be named
    store._name(str(written), str(store.path(theirs)), b"same\n")
    assert written.stat().st_ino == store.path(theirs).stat().st_ino
    assert written.read_bytes() == b"same\n"
