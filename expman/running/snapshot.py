"""What a run ran with: the code version from git, the host, Python and its packages,
and the environment beyond them (`envcapture`)."""

from __future__ import annotations

import getpass
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from expman import __version__, processes
from expman.expfile import location
from expman.expfile.model import Config
from expman.running import envcapture
from expman.running.outputs import OUTPUTS
from expman.running.state import STATE_DIR
from expman.store.environment import CONDA_LIST
from expman.store.objects import ObjectStore

# Uncommitted changes go into code.patch, untracked files' content included, up to this
# size; beyond it files are left out (largest first) and a warning says so.
PATCH_LIMIT = 10 << 20
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree


class CodeVersion:
    """The git state of the experiment's repository."""

    __slots__ = ("branch", "commit", "dirty", "error", "omitted", "patch")

    def __init__(
        self,
        commit: str | None = None,
        branch: str | None = None,
        dirty: bool = False,
        patch: bytes = b"",
        omitted: list[str] | None = None,
        error: str | None = None,
    ) -> None:
        self.commit = commit
        self.branch = branch
        self.dirty = dirty
        self.patch = patch
        self.omitted: list[str] = omitted if omitted is not None else []
        self.error = error

    def __repr__(self) -> str:
        return f"CodeVersion(commit={self.commit!r}, dirty={self.dirty}, error={self.error!r})"

    def record(self, patch_name: str | None) -> dict[str, Any]:
        """The record's `code` field."""
        return {
            "commit": self.commit,
            "branch": self.branch,
            "dirty": self.dirty,
            "patch": patch_name,
            "omitted": self.omitted,
            "error": self.error,
        }


def code_version(root: Path, exclude: list[str], limit: int = PATCH_LIMIT) -> CodeVersion:
    """The commit, branch and uncommitted changes of the repository holding `root`.

    `exclude` (paths relative to `root`) are expman's own folders: never part of the code,
    and no more is the report `expman report` writes beside the expfile.
    """
    exclude = [*exclude, location.REPORT]
    try:
        found = _git(root, "rev-parse", "--show-toplevel")
    except FileNotFoundError:
        return CodeVersion(error="git is not installed")
    top = (
        Path(found.stdout.decode(errors="surrogateescape").strip())
        if found.returncode == 0
        else None
    )
    pathspec = [":(top)", *(f":(exclude){p}" for p in _inside(root, top, exclude))]
    try:
        status = _git(
            root,
            "status",
            "--porcelain=v2",
            "--branch",
            "-z",
            "--untracked-files=all",
            "--",
            *pathspec,
        )
    except FileNotFoundError:
        return CodeVersion(error="git is not installed")
    if status.returncode != 0:
        message = status.stderr.decode(errors="replace").strip().splitlines()
        not_repo = any("not a git repository" in line for line in message)
        return CodeVersion(error="not a git repository" if not_repo else " ".join(message))
    version = CodeVersion()
    untracked: list[str] = []
    for entry in status.stdout.split(b"\0"):
        text = entry.decode(errors="surrogateescape")
        if text.startswith("# branch.oid "):
            oid = text.removeprefix("# branch.oid ")
            version.commit = None if oid == "(initial)" else oid
        elif text.startswith("# branch.head "):
            head = text.removeprefix("# branch.head ")
            version.branch = None if head == "(detached)" else head
        elif text.startswith("? "):
            untracked.append(text[2:])
        elif text[:2] in ("1 ", "2 ", "u "):
            version.dirty = True
    version.dirty = version.dirty or bool(untracked)
    if version.dirty:
        base = version.commit or _EMPTY_TREE
        diff = _git(root, "diff", "--binary", base, "--", *pathspec)
        assert top is not None  # git status succeeded: this is a repository
        version.patch = diff.stdout
        version.patch += _untracked_patch(top, untracked, limit - len(diff.stdout), version)
    return version


def _inside(root: Path, top: Path | None, paths: list[str]) -> list[str]:
    """Those of `paths` (relative to `root`) inside the repository at `top`: a pathspec
    outside it (a shared archive, `archive: /shared/runs`) is an error to git."""
    if top is None:
        return paths
    real_top = top.resolve()
    return [p for p in paths if (root / p).resolve().is_relative_to(real_top)]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-c", "core.quotepath=off", *args], cwd=root, capture_output=True, check=False
    )


def _untracked_patch(top: Path, names: list[str], room: int, version: CodeVersion) -> bytes:
    """New-file diffs for untracked files (git diff leaves them out), within `room` bytes."""
    sizes = {}
    for name in names:
        try:
            sizes[name] = (top / name).stat().st_size
        except OSError:
            continue
    parts: list[bytes] = []
    for name in sorted(sizes, key=lambda n: (sizes[n], n)):  # smallest first: keep the most
        if sizes[name] > room:
            version.omitted.append(name)
            continue
        try:
            part = _new_file_diff(top, name)
        except OSError:
            version.omitted.append(name)
            continue
        room -= len(part)
        parts.append(part)
    version.omitted.sort()
    return b"".join(parts)


def _new_file_diff(top: Path, name: str) -> bytes:
    data = (top / name).read_bytes()
    if b"\0" in data[:8192]:  # binary: let git write its binary patch format
        result = _git(top, "diff", "--no-index", "--binary", "--", "/dev/null", name)
        return result.stdout
    lines = data.splitlines(keepends=True)
    mode = "100755" if (top / name).stat().st_mode & 0o111 else "100644"
    header = (
        f"diff --git a/{name} b/{name}\nnew file mode {mode}\n--- /dev/null\n+++ b/{name}\n"
    ).encode("utf-8", "surrogateescape")  # names need not be UTF-8
    if not lines:
        return header.replace(
            b"--- /dev/null\n+++ b/" + name.encode("utf-8", "surrogateescape") + b"\n", b""
        )
    body = b"".join(b"+" + line for line in lines)
    if not data.endswith(b"\n"):
        body += b"\n\\ No newline at end of file\n"
    return header + f"@@ -0,0 +1,{len(lines)} @@\n".encode() + body


def host() -> dict[str, Any]:
    """The machine, user and interpreter a run ran on."""
    return {
        "name": processes.host(),
        "user": _user(),
        "platform": _platform(),
        "python": platform.python_version(),
        # Its name only, and whether it is a virtual environment's: a record holds no
        # absolute path (the archive may be moved, or read on another machine).
        "executable": Path(sys.executable).name,
        "virtualenv": sys.prefix != sys.base_prefix,
        "expman": __version__,
    }


def _platform() -> str:
    """`platform.platform()`, without the `uname -p` it starts on Linux (a fork of the
    runner: 3 ms) for a processor name its text leaves out there anyway ("unknown", or
    the machine again)."""
    if not sys.platform.startswith("linux"):
        return platform.platform()
    uname = os.uname()
    libc, version = platform.libc_ver()
    parts = (uname.sysname, uname.release, uname.machine, "with", libc + version)
    return "-".join(part.replace(" ", "_") for part in parts if part)


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def packages() -> dict[str, str]:
    """The installed Python distributions and their versions, from their metadata.

    A `NAME-VERSION.dist-info` folder says both in its name (the standard layout), which
    spares reading every METADATA file; other layouts (egg-info) are read in full.
    """
    found: dict[str, str] = {}
    for folder in sys.path:
        try:
            entries = list(os.scandir(folder or "."))
        except OSError:
            continue
        for entry in entries:
            stem = entry.name.removesuffix(".dist-info")
            if stem != entry.name and stem.count("-") == 1:
                name, version = stem.split("-")
                found.setdefault(name.replace("_", "-"), version)
            elif entry.name.endswith(".egg-info"):
                from importlib import metadata  # rare: not worth its import time up front

                dist = metadata.PathDistribution(Path(entry.path))
                if dist.metadata["Name"]:
                    found.setdefault(dist.metadata["Name"], dist.version)
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def take(
    config: Config,
    store: ObjectStore,
    run_dir: Path,
    warn: Callable[[str], None],
    code: CodeVersion | None = None,
) -> Any:
    """Copy what an attempt runs with into the run folder (the expfile with its overrides,
    the scripts, the code patch, the packages); return it for the record, each file with
    its hash (`runfiles`). `code` is the code version when it is known (a workspace made
    from one); else git tells it."""
    root = config.root
    files: list[dict[str, Any]] = []  # the record's `snapshot`: each with its hash

    def keep(name: str, data: bytes) -> None:
        digest = store.add_bytes(data)
        store.link(digest, run_dir / name)
        files.append({"path": name, "sha256": digest, "size": len(data)})

    keep("expfile.yaml", with_overrides(config).encode())
    scripts: list[dict[str, Any]] = []
    for step in config.steps:
        if step.script is None or any(s["path"] == step.script for s in scripts):
            continue
        source = root / step.script
        digest = store.add_bytes(source.read_bytes())
        store.link(digest, run_dir / "scripts" / step.script)
        scripts.append({"path": step.script, "sha256": digest, "size": source.stat().st_size})
    if code is None:
        code = code_version(root, [config.archive, OUTPUTS, STATE_DIR])
    patch = None
    if code.patch:
        patch = "code.patch"
        keep(patch, code.patch)
    if code.omitted:
        warn(
            f"code.patch leaves out {len(code.omitted)} large untracked files "
            f"({', '.join(code.omitted[:3])}...): over {PATCH_LIMIT >> 20} MiB"
        )
    if code.error:
        warn(f"{code.error}: the code version is not recorded")
    keep("packages.json", json.dumps(packages(), indent=1).encode())
    environment, conda_list = envcapture.capture(root)
    if conda_list is not None:
        keep(CONDA_LIST, conda_list)
    return {
        "code": code.record(patch),
        "host": host(),
        "environment": environment,
        "scripts": scripts,
        "snapshot": files,
    }


def with_overrides(config: Config) -> str:
    """The expfile's text with `-s` overrides written in, every other byte as it was."""
    text = config.text
    if not config.overrides:
        return text
    from expman.expfile import yamlnodes  # only with overrides: YAML is slow to import

    for name, value in config.overrides.items():
        node = yamlnodes.compose(text)
        assert node is not None
        text = yamlnodes.replace_value(text, node, ["vars", name], value)
    return text
