"""Dependency patterns expanded into files, and atomic writes."""

from __future__ import annotations

from pathlib import Path

from expman import fsutil


def test_expand_files_folders_and_globs(tmp_path: Path) -> None:
    for name in ("a.py", "src/b.py", "src/deep/c.py", "src/deep/d.txt", "other.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    files, missing = fsutil.expand(
        ["a.py", "src/", "**/*.txt", "./a.py", "nothing/*", "gone"], tmp_path
    )
    assert files == ["a.py", "other.txt", "src/b.py", "src/deep/c.py", "src/deep/d.txt"]
    assert missing == ["nothing/*", "gone"]


def test_write_atomic_keeps_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    fsutil.write_atomic(target, b"one", 0o600)
    fsutil.write_json_atomic(target, {"a": 1})
    assert target.read_text() == '{"a": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
