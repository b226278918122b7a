"""The environment an attempt runs in, beyond its Python packages: conda, the container,
CUDA and the GPUs, loaded HPC modules, and the experiment's lock and requirement files.

Each probe reads what its tool exposes (documented in docs/records.md, "environment"),
never starts the tool: where no probe applies the capture costs a few stat calls. What is
slow to read is cached per environment in the user's cache folder
(`$XDG_CACHE_HOME/expman`), keyed by what changes when the environment does:
- conda: the explicit list (`conda list --explicit`'s content) is made from the
  environment's `conda-meta/*.json` records, read again only when `conda-meta/` or its
  `history` (both changed by every conda transaction) changed;
- an Apptainer/Singularity image's SHA-256 (up to 256 MiB; beyond, of its size and 16
  blocks spread over it), hashed again only when the image file's size, mtime or inode
  changed.

A record holds no absolute path: an environment or image is named by its folder's or
file's name only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from expman import fsutil
from expman.observe import gpu

LOCK_FILES = (
    "uv.lock",
    "poetry.lock",
    "Pipfile.lock",
    "pixi.lock",
    "environment.yml",
    "environment.yaml",
    "conda-lock.yml",
    "requirements*.txt",
)
IMAGE_VARIABLE = "EXPMAN_CONTAINER_IMAGE"  # what a container runtime does not expose itself
DIGEST_VARIABLE = "EXPMAN_CONTAINER_DIGEST"
_CONTAINERENV = "run/.containerenv"  # Podman (and CRI-O): key="value" lines
_DOCKERENV = ".dockerenv"  # Docker: an empty file at the container's root
WHOLE_IMAGE = 256 << 20  # bytes of an image hashed whole; beyond, sampled
_SAMPLES = 16
_BLOCK = 1 << 16
_RECORD_LIMIT = 64 << 20  # bytes of one conda-meta record (its file list included)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DOCKER_ID = re.compile(r"/docker/containers/([0-9a-f]{64})/")


def capture(
    root: Path, env: dict[str, str] | None = None, fs_root: Path = Path("/")
) -> tuple[dict[str, Any], bytes | None]:
    """The attempt's `environment`, and the conda explicit list to keep beside it (None
    outside conda). `env` and `fs_root` are the process's own unless given."""
    env = dict(os.environ) if env is None else env
    failed: list[str] = []
    conda, explicit = _probe(lambda: _conda(env), (None, None), failed)
    found: dict[str, Any] = {
        "conda": conda,
        "container": _probe(lambda: _container(env, fs_root), None, failed),
        "gpu": _probe(gpu.describe, None, failed),
        "cuda_runtime": env.get("CUDA_VERSION") or None,
        "modules": [m for m in env.get("LOADEDMODULES", "").split(":") if m],
        "lock_files": _probe(lambda: lock_files(root), {}, failed),
    }
    if failed:
        found["error"] = "; ".join(failed)
    return found, explicit


def _probe(read: Callable[[], Any], otherwise: Any, failed: list[str]) -> Any:
    """What a probe found; `otherwise` when it failed unexpectedly (a bug, a library's
    surprise), said in `failed`: a run never fails for its environment's description."""
    try:
        return read()
    except Exception as e:
        failed.append(f"{type(e).__name__}: {e}")
        return otherwise


def lock_files(root: Path) -> dict[str, str]:
    """`{name: sha256}` of the lock and requirement files at the experiment's top (regular
    files only: a link is not followed); over `WHOLE_IMAGE` bytes, `sampled-sha256:HEX`
    as for an image (a 5 GB file read whole would hold up every attempt's start)."""
    found: dict[str, str] = {}
    for pattern in LOCK_FILES:
        for path in sorted(root.glob(pattern)):
            digest = _file_digest(path, sampled=None)
            if digest is not None:
                found[path.name] = digest.removeprefix("sha256:")
    return dict(sorted(found.items()))


def _read_regular(path: Path, limit: int, whole: bool = True) -> bytes | None:
    """The bytes of a regular file, never through a link and never waiting on a FIFO or a
    device; None for anything else, or (with `whole`) when it holds more than `limit`
    bytes. Without `whole`, its first `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        if size > limit and whole:
            return None
        return b"".join(chunks)[:limit]
    except OSError:
        return None
    finally:
        os.close(fd)


def _file_digest(path: Path, sampled: bool | None = False) -> str | None:
    """`sha256:HEX` of a regular file (never through a link); with `sampled`,
    `sampled-sha256:HEX` of its size and `_SAMPLES` blocks spread over it (a 10 GB image
    hashed whole would hold up the first run of every sweep point at once); with `sampled`
    None, sampled when it holds more than `WHOLE_IMAGE` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        if sampled is None:
            sampled = size > WHOLE_IMAGE
        digest = hashlib.sha256()
        if sampled:
            digest.update(str(size).encode())
            for i in range(_SAMPLES):
                digest.update(os.pread(fd, _BLOCK, (size - _BLOCK) * i // (_SAMPLES - 1)))
            return f"sampled-sha256:{digest.hexdigest()}"
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
        return f"sha256:{digest.hexdigest()}"
    except OSError:
        return None
    finally:
        os.close(fd)


# -- conda -------------------------------------------------------------------------


def _conda(env: dict[str, str]) -> tuple[dict[str, Any] | None, bytes | None]:
    prefix = env.get("CONDA_PREFIX")
    if not prefix:
        return None, None
    meta = Path(prefix) / "conda-meta"
    try:
        key = _conda_key(meta)
    except OSError:
        return None, None
    explicit = _cached("conda", prefix, key)
    if explicit is None:
        explicit = explicit_list(meta)
        _remember("conda", prefix, key, explicit)
    data = explicit.encode()
    return {
        "name": env.get("CONDA_DEFAULT_ENV") or Path(prefix).name,
        "packages": explicit.count("\n") - 1,
        "explicit_sha256": hashlib.sha256(data).hexdigest(),
    }, data


def _conda_key(meta: Path) -> str:
    """What changes with every conda transaction: the folder of package records (a
    package added or removed) and its `history` file (appended to each time)."""
    folder = meta.stat()
    history = (meta / "history").stat() if (meta / "history").exists() else None
    parts = [folder.st_mtime_ns, folder.st_ino]
    if history is not None:
        parts += [history.st_size, history.st_mtime_ns]
    return ":".join(map(str, parts))


def explicit_list(meta: Path) -> str:
    """`conda list --explicit` of the environment whose `conda-meta` folder is `meta`:
    `@EXPLICIT`, then each package's URL with its MD5, by name."""
    lines = []
    for path in sorted(meta.glob("*.json")):
        data = _read_regular(path, _RECORD_LIMIT)
        try:
            package = json.loads(data) if data is not None else None
        except (ValueError, RecursionError):  # nested deeper than Python recurses
            continue
        if not isinstance(package, dict) or not isinstance(package.get("url"), str):
            continue
        md5 = package.get("md5")
        line = package["url"] + (f"#{md5}" if isinstance(md5, str) else "")
        if not _CONTROL.search(line):  # a line break would make two lines of one package
            lines.append(line)
    return "@EXPLICIT\n" + "".join(line + "\n" for line in sorted(lines))


# -- containers --------------------------------------------------------------------


def _container(env: dict[str, str], fs_root: Path) -> dict[str, Any] | None:
    found = _apptainer(env) or _podman(fs_root) or _docker(fs_root)
    image, digest = env.get(IMAGE_VARIABLE), env.get(DIGEST_VARIABLE)
    if found is None and image is None:
        return None
    found = found or {"runtime": None}
    if image:
        found["image"] = image
    if digest:
        found["digest"] = digest
    return found


def _apptainer(env: dict[str, str]) -> dict[str, Any] | None:
    for runtime in ("apptainer", "singularity"):
        image = env.get(f"{runtime.upper()}_CONTAINER")
        if image:
            return {
                "runtime": runtime,
                "image": env.get(f"{runtime.upper()}_NAME") or Path(image).name,
                "digest": _image_digest(Path(image)),
            }
    return None


def _image_digest(image: Path) -> str | None:
    """`sha256:...` of an image file up to `WHOLE_IMAGE` bytes, `sampled-sha256:...` of a
    bigger one (cached by its size, mtime and inode); None for a sandbox folder or what
    cannot be read."""
    try:
        info = image.stat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    key = f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"
    digest = _cached("images", str(image), key)
    if digest is None:
        digest = _file_digest(image, sampled=info.st_size > WHOLE_IMAGE)
        if digest is None:
            return None
        _remember("images", str(image), key, digest)
    return digest


def _podman(fs_root: Path) -> dict[str, Any] | None:
    data = _read_regular(fs_root / _CONTAINERENV, 1 << 16, whole=False)
    if data is None:
        return None
    text = data.decode("utf-8", errors="replace")
    values = dict(re.findall(r'^(\w+)="(.*)"$', text, re.MULTILINE))
    engine = values.get("engine", "podman").split("-")[0] or "podman"
    found: dict[str, Any] = {"runtime": engine}
    for key, name in (("image", "image"), ("imageid", "image_id"), ("id", "id")):
        if values.get(key):
            found[name] = values[key]
    return found


def _docker(fs_root: Path) -> dict[str, Any] | None:
    if not (fs_root / _DOCKERENV).exists():
        return None
    found: dict[str, Any] = {"runtime": "docker"}
    with contextlib.suppress(OSError):
        mounts = (fs_root / "proc/self/mountinfo").read_text(errors="replace")
        match = _DOCKER_ID.search(mounts)
        if match:
            found["id"] = match.group(1)
    return found


# -- the cache ---------------------------------------------------------------------


def _cache_file(kind: str, name: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    digest = hashlib.sha256(name.encode(errors="surrogateescape")).hexdigest()[:32]
    return Path(base) / "expman" / kind / f"{digest}.json"


def _cached(kind: str, name: str, key: str) -> str | None:
    """The value kept for `name` while its key is `key`; None when there is none."""
    try:
        kept = json.loads(_cache_file(kind, name).read_bytes())
    except (OSError, ValueError):
        return None
    if isinstance(kept, dict) and kept.get("key") == key and isinstance(kept.get("value"), str):
        return str(kept["value"])
    return None


def _remember(kind: str, name: str, key: str, value: str) -> None:
    """Keep a value for the next attempt (a cache: failing to write loses nothing)."""
    path = _cache_file(kind, name)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"name": name, "key": key, "value": value}).encode()
        fsutil.write_atomic(path, data, sync=False)
