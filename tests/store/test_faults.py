"""Faults while archiving: a full disk or a refused write loses nothing, and `end` again
finishes once the cause is gone. The faults are raised where the OS would raise them."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli, records

EXPFILE = """\
version: 1
name: faults
stages:
  run: {cmd: "true"}
  fetch:
    cmd: for i in 1 2 3 4 5 6; do head -c 100000 /dev/urandom > "$EXPMAN_OUTPUTS/f$i.bin"; done
"""


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _failing_after(calls: int, error: int, real: Callable[..., Any]) -> Callable[..., Any]:
    count = {"n": 0}

    def fake(*args: Any, **kwargs: Any) -> Any:
        count["n"] += 1
        if count["n"] > calls:
            raise OSError(error, os.strerror(error), str(args[-1]))
        return real(*args, **kwargs)

    return fake


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("link", errno.ENOSPC),
        ("copyfile", errno.ENOSPC),
        ("link", errno.EIO),
        ("copyfile", errno.EACCES),
    ],
)
def test_fault_while_archiving_loses_nothing(
    experiment: Callable[..., Path],
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    error: int,
) -> None:
    root = experiment(EXPFILE)
    assert run_cli("run")[0] == 0
    fetched = _digests(root / "outputs")
    real_link, real_copy = os.link, shutil.copyfile
    if where == "link":
        monkeypatch.setattr(os, "link", _failing_after(4, error, os.link))
    else:  # no hard links here: everything is copied, and copying fails
        monkeypatch.setattr(os, "link", _failing_after(0, errno.EXDEV, os.link))
        monkeypatch.setattr(shutil, "copyfile", _failing_after(2, error, shutil.copyfile))
    code, _, err = run_cli("end", "-m", "first try")
    assert code == 2
    assert os.strerror(error) in err
    assert "Nothing was lost: outputs/ is as it was and the run is still open" in err
    assert _digests(root / "outputs") == fetched
    assert records(root)[0]["ended"] is None
    assert not list((root / "runs" / ".objects").glob(".incoming-*"))
    monkeypatch.setattr(os, "link", real_link)  # the cause is gone
    monkeypatch.setattr(shutil, "copyfile", real_copy)
    code, _, err = run_cli("end", "-m", "second try")
    assert (code, err) == (0, ""), err
    assert _digests(root / "runs" / "0001" / "outputs") == fetched
    assert list((root / "outputs").iterdir()) == []
    assert records(root)[0]["observations"] == "second try"
