"""The code version: a patch that really rebuilds the working tree from the commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from expman.running import snapshot
from tests.conftest import git


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "exp").mkdir(parents=True)
    (root / "exp" / "train.py").write_text("lr = 0.1\n")
    (root / "lib.py").write_text("x = 1\n")
    (root / "data.bin").write_bytes(b"\x00\x01\x02")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    return root


def test_clean_tree(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    version = snapshot.code_version(root / "exp", ["runs"])
    assert (version.commit, version.branch, version.dirty, version.patch) == (
        git(root, "rev-parse", "HEAD").strip(),
        "main",
        False,
        b"",
    )


def test_patch_rebuilds_the_working_tree(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / "exp" / "train.py").write_text("lr = 0.2\n")  # changed, in the experiment
    (root / "lib.py").write_text("x = 2\n")  # changed, elsewhere in the repository
    git(root, "add", "lib.py")  # staged changes count too
    (root / "data.bin").write_bytes(b"\x00\x09")  # binary change
    (root / "exp" / "new.py").write_text("print('new')")  # untracked, no final newline
    (root / "exp" / "empty.txt").write_text("")  # untracked and empty
    (root / "exp" / "blob.bin").write_bytes(b"\x00binary\xff")  # untracked binary
    (root / "exp" / "runs").mkdir()
    (root / "exp" / "runs" / "0001.json").write_text("{}")  # expman's own: excluded
    version = snapshot.code_version(root / "exp", ["runs"])
    assert version.dirty and version.omitted == []
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    patch = tmp_path / "code.patch"
    patch.write_bytes(version.patch)
    subprocess.run(["git", "apply", "--binary", str(patch)], cwd=clone, check=True)
    for name in (
        "exp/train.py",
        "lib.py",
        "data.bin",
        "exp/new.py",
        "exp/empty.txt",
        "exp/blob.bin",
    ):
        assert (clone / name).read_bytes() == (root / name).read_bytes(), name
    assert not (clone / "exp" / "runs").exists()


def test_large_untracked_files_are_left_out_and_listed(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / "exp" / "small.txt").write_text("s\n")
    (root / "exp" / "huge.csv").write_text("x" * 5000 + "\n")
    version = snapshot.code_version(root / "exp", [], limit=1000)
    assert version.omitted == ["exp/huge.csv"]
    assert b"+s" in version.patch and b"xxxx" not in version.patch


def test_not_a_repository(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "plain").mkdir()
    version = snapshot.code_version(tmp_path / "plain", [])
    assert version.error == "not a git repository" and version.commit is None


def test_packages_come_from_metadata() -> None:
    found = {name.lower(): version for name, version in snapshot.packages().items()}
    assert "doit" in found and "jsonschema" in found and found["expman"]


def test_the_platform_is_what_python_says_without_starting_uname() -> None:
    import platform

    assert snapshot.host()["platform"] == platform.platform()
