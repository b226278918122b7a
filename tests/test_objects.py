"""The content store: stored once, read-only, links, and the copy fallback."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

from expman import objects
from expman.objects import ObjectStore, archive_tree


def test_same_content_is_stored_once(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / ".objects")
    first = store.add_bytes(b"hello\n")
    second = store.add_bytes(b"hello\n")
    assert first == second == hashlib.sha256(b"hello\n").hexdigest()
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert files == [store.path(first)]
    assert not (store.path(first).stat().st_mode & 0o222)


def test_adopting_links_the_file_itself(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path / ".objects")
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(1000))
    digest = objects.hash_file(source)
    store.add_file(source, digest, adopt=True)
    assert store.path(digest).stat().st_ino == source.stat().st_ino


def test_a_file_with_other_links_is_copied(tmp_path: Path) -> None:
    """Adopting a hard-linked file would let its other name change the archive."""
    store = ObjectStore(tmp_path / ".objects")
    source = tmp_path / "shared.bin"
    source.write_bytes(b"data")
    os.link(source, tmp_path / "elsewhere.bin")
    digest = objects.hash_file(source)
    store.add_file(source, digest, adopt=True)
    assert store.path(digest).stat().st_ino != source.stat().st_ino
    assert source.stat().st_mode & 0o200, "the user's file keeps its mode"


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
    stored = archive_tree(ObjectStore(tmp_path / ".objects"), source, tmp_path / "run", True)
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
    stored = archive_tree(ObjectStore(tmp_path / ".objects"), source, tmp_path / "run", True)
    assert [s.path for s in stored] == ["a.txt"]
    assert (tmp_path / "run" / "a.txt").read_text() == "a"
    assert (source / "a.txt").read_text() == "a"
