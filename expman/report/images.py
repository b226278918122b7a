"""Images among a run's outputs (PNG, JPEG, SVG), for the run's detail and the diff.

Each image is inlined as a `data:` URI while the report's budget lasts (`INLINE_MAX`
bytes for one image, `BUDGET` for all of them: the report stays one offline file of a
sensible size); past it, or when the file is not what its name says, the page links to
the archived file instead (a relative link, as the run folders are). The page shows an
image only as an `<img>`, so an SVG's script never runs (browsers run none in an image,
and the page's CSP allows none); its type is decided here from the file's first bytes,
never from the record. A link opens the file itself only when it is a PNG or JPEG by its
first bytes and not a link: an SVG opened by itself would run its script, outside the
page's policy, and a browser opens a link named `plot.png` to `page.html` as a page; any
other image's link opens the folder that holds it.

A record's output paths are untrusted: a path with an empty, `.` or `..` part is left
out, each part is percent-encoded in the link, and the file is read without following a
link and never from a pipe (`open_below`).
"""

from __future__ import annotations

import base64
import os
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from expman.store.archive import Archive
from expman.store.objects import open_below
from expman.store.recordtable import LazyRecord

INLINE_MAX = 256 * 1024  # bytes: the largest image inlined
BUDGET = 2 * 1024 * 1024  # bytes: every image inlined in one report, together
PER_RUN = 12  # images shown per run (the first by path)
TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",)}


class Budget:
    """What is left of the bytes that may still be inlined in this report."""

    def __init__(self, size: int = BUDGET) -> None:
        self.left = size


def of_run(archive: Archive, record: LazyRecord, link: str, budget: Budget) -> list[dict[str, Any]]:
    """The run's images: `{"path", "href"}`, and `"src"` (a data: URI) when inlined."""
    found: list[dict[str, Any]] = []
    for path in _image_paths(record.get("outputs"))[:PER_RUN]:
        parts = path.split("/")
        if not _plain_image(archive, record.folder, path):
            parts[-1] = ""  # the link opens the folder that holds it
        image: dict[str, Any] = {
            "path": path,
            "href": link + "outputs/" + "/".join(quote(p) for p in parts),
        }
        src = _inline(archive, record.folder, path, budget)
        if src is not None:
            image["src"] = src
        found.append(image)
    return found


def _image_paths(outputs: Any) -> list[str]:
    paths = {
        o["path"]
        for o in (outputs if isinstance(outputs, list) else [])
        if isinstance(o, dict) and isinstance(o.get("path"), str) and o.get("sha256")
    }
    return sorted(p for p in paths if _mime(p) is not None and _safe(p))


def _mime(path: str) -> str | None:
    return TYPES.get(PurePosixPath(path).suffix.lower())


def _safe(path: str) -> bool:
    parts = path.split("/")
    return "\x00" not in path and all(p not in ("", ".", "..") for p in parts)


def _inline(archive: Archive, folder: str, path: str, budget: Budget) -> str | None:
    """The image as a data: URI, or None (over the budget, unreadable, or not an image
    of its type)."""
    limit = min(INLINE_MAX, budget.left)
    if limit <= 0:
        return None
    try:
        fd = open_below(archive.run_dir(folder) / "outputs", path)
        with os.fdopen(fd, "rb") as f:
            content = f.read(limit + 1)
    except OSError:
        return None
    mime = _mime(path)
    if len(content) > limit or mime is None or not _looks_like(mime, content):
        return None
    budget.left -= len(content)
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def _plain_image(archive: Archive, folder: str, path: str) -> bool:
    """Whether a link may open the file itself: a PNG or JPEG that starts as one, not a
    link. Opened by itself, an SVG runs its script, and a browser takes a linked file's
    type from its target's name (`plot.png` linking to `page.html` is a page)."""
    mime = _mime(path)
    if mime not in _MAGIC:
        return False
    try:
        fd = open_below(archive.run_dir(folder) / "outputs", path)
        with os.fdopen(fd, "rb") as f:
            return _looks_like(mime, f.read(16))
    except OSError:
        return False


def _looks_like(mime: str, content: bytes) -> bool:
    if mime == "image/svg+xml":
        return b"<svg" in content[:4096]
    return content.startswith(_MAGIC[mime])
