"""What a workspace shows of another folder, and the check that nothing shown changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from expman.errors import UsageError
from expman.running import sharedfiles
from expman.running.sharedfiles import SharedFiles


def _tree(root: Path, outside: Path) -> None:
    for name in ("data/raw/a.csv", "data/raw/deep/b.csv", "data/clean.csv", "runs/1/x"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    outside.mkdir()
    (outside / "big.bin").write_text("outside")
    (root / "data" / "scratch").symlink_to(outside)  # a dataset linked in
    (root / "data" / "raw" / "alias.csv").symlink_to("a.csv")


def test_entries_are_files_below_real_folders_and_links_whole(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    _tree(root, tmp_path / "outside")

    def leave_out(name: str) -> bool:
        return name == "data/clean.csv" or name.startswith("runs/")

    found = sharedfiles.entries(root, ["data/", "*/*.csv", "runs", "missing/"], leave_out)
    assert found == [
        "data/raw/a.csv",
        "data/raw/alias.csv",
        "data/raw/deep/b.csv",
        "data/scratch",  # a link is shown as one link: nothing below it is walked for links
    ]


def test_shown_files_are_links_and_every_change_is_named(tmp_path: Path) -> None:
    root, inside = tmp_path / "exp", tmp_path / "workspace"
    _tree(root, tmp_path / "outside")
    (inside / "data" / "raw").mkdir(parents=True)
    (inside / "data" / "raw" / "a.csv").write_text("the code version's own")
    shared = SharedFiles()
    names = ["data/raw/a.csv", "data/raw/deep/b.csv", "data/scratch", "data/clean.csv"]
    shared.show(root, inside, names)
    assert (inside / "data" / "raw" / "a.csv").read_text() == "the code version's own"
    assert (inside / "data" / "raw" / "deep" / "b.csv").readlink() == root / "data/raw/deep/b.csv"
    assert (inside / "data" / "scratch" / "big.bin").read_text() == "outside"
    assert shared.changed() == []
    (inside / "data" / "raw" / "mine.csv").write_text("a run's own file: not shared")
    assert shared.changed() == []
    with (inside / "data" / "raw" / "deep" / "b.csv").open("a") as f:  # through the link
        f.write("more")
    (inside / "data" / "scratch" / "new.bin").write_text("into the linked folder")
    (root / "data" / "new.csv").write_text("data/clean.csv")  # same size and content
    (root / "data" / "new.csv").replace(root / "data" / "clean.csv")  # another inode
    assert shared.changed() == ["data/clean.csv", "data/raw/deep/b.csv", "data/scratch"]
    os.truncate(tmp_path / "outside" / "big.bin", 0)
    assert "data/scratch/big.bin" in shared.changed()
    (root / "data" / "raw" / "deep" / "b.csv").unlink()
    assert "data/raw/deep/b.csv" in shared.changed(), "gone is changed"


def test_a_link_in_the_workspace_is_never_written_through(tmp_path: Path) -> None:
    root, inside, elsewhere = tmp_path / "exp", tmp_path / "workspace", tmp_path / "elsewhere"
    (root / "data").mkdir(parents=True)
    (root / "data" / "x.csv").write_text("x")
    elsewhere.mkdir()
    inside.mkdir()
    (inside / "data").symlink_to(elsewhere)  # the code version holds a link there
    shared = SharedFiles()
    shared.show(root, inside, ["data/x.csv"])
    assert list(elsewhere.iterdir()) == [] and shared.noted == {}


def test_a_linked_folder_holding_a_target_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    _tree(root, tmp_path / "outside")
    sharedfiles.refuse_links_over(root, ["data/raw/a.csv"], ["data/raw/made.csv"])
    with pytest.raises(UsageError, match="'data/scratch' is a link to a folder, and a pre-run"):
        sharedfiles.refuse_links_over(root, ["data/scratch"], ["data/scratch/made.csv"])
