"""How the environments of two runs differ: packages first ("torch 2.2.0 -> 2.3.1"), then
conda's, then what the record's `environment` says (driver, container, modules, lock
files). Used by `diff` and `rerun --check`.

The package lists are the runs' own snapshot files (`packages.json`, and the conda
explicit list when there is one), read below each run folder without following a link
and never more than `MAX_SIZE` bytes: an archive from elsewhere is untrusted.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from expman.store.objects import open_below

PACKAGES = "packages.json"
CONDA_LIST = "conda-explicit.txt"
MAX_SIZE = 16 << 20
_DIGEST = re.compile(r"((sampled-)?sha256:)?[0-9a-f]{64}")
NONE = "(none)"


def differences(a: Mapping[str, Any], a_dir: Path, b: Mapping[str, Any], b_dir: Path) -> list[str]:
    """One line per difference, e.g. `torch 2.2.0 -> 2.3.1`, `gpu.driver 535 -> 550`."""
    found = _changes("", packages(a_dir), packages(b_dir))
    found += _changes("conda ", conda_packages(a_dir), conda_packages(b_dir))
    recorded = [_flat(r.get("environment")) for r in (a, b)]
    for key in sorted((recorded[0].keys() | recorded[1].keys()) - _SAID):
        before, after = (values.get(key, NONE) for values in recorded)
        if before != after:
            found.append(f"{key} {before} -> {after}")
    return found


_SAID = {"conda.explicit_sha256", "conda.packages"}  # said package by package above


def _changes(prefix: str, before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [
        f"{prefix}{name} {before.get(name, NONE)} -> {after.get(name, NONE)}"
        for name in sorted(before.keys() | after.keys(), key=str.lower)
        if before.get(name) != after.get(name)
    ]


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    """`{"gpu.driver": "550", "modules": "gcc/12 cuda/12"}`: leaves as text."""
    if isinstance(value, dict):
        found: dict[str, str] = {}
        for key in sorted(value, key=str):
            found.update(_flat(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return found
    if not prefix:
        return {}
    if isinstance(value, list):
        return {prefix: " ".join(map(str, value)) or NONE}
    if isinstance(value, str) and _DIGEST.fullmatch(value):
        return {prefix: value[: value.find(":") + 13]}  # a digest: its first 12 digits say it
    return {prefix: NONE if value is None else str(value)}


def packages(run_dir: Path) -> dict[str, str]:
    """The Python packages a run's last attempt saw: `{name: version}` (none: empty)."""
    data = _read(run_dir, PACKAGES)
    try:
        found = json.loads(data) if data else {}
    except (ValueError, RecursionError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items()}


def conda_packages(run_dir: Path) -> dict[str, str]:
    """The conda packages of a run's last attempt, from its explicit list: `{name:
    version-build}` (no conda: empty)."""
    found: dict[str, str] = {}
    for line in _read(run_dir, CONDA_LIST).decode(errors="replace").splitlines():
        if line.startswith(("#", "@")) or "/" not in line:
            continue
        file = line.split("#", 1)[0].rsplit("/", 1)[1]
        stem = file.removesuffix(".conda").removesuffix(".tar.bz2")
        parts = stem.rsplit("-", 2)
        if len(parts) == 3:
            found[parts[0]] = f"{parts[1]}-{parts[2]}"
    return found


def _read(run_dir: Path, name: str) -> bytes:
    try:
        fd = open_below(run_dir, name)
    except OSError:
        return b""
    try:
        return os.read(fd, MAX_SIZE)
    except OSError:
        return b""
    finally:
        os.close(fd)
