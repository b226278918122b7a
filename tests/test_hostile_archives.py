"""Damaged archives from elsewhere: whatever a sender puts in an archive (fields replaced by
paths, links, pipes, NaN, deep nesting, wrong hashes, renamed folders), `pull`, `push`,
`fsck`, `report` and `rm` answer or say why (exit 0 or 2; `fsck` 4 when it finds damage),
never crash, and change nothing outside the two archives (a canary tree around them).

Derandomized, with a fixed budget of examples: the same archives every run (set
HYPOTHESIS_PROFILE=explore for more, and other ones).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.archives import Scene, Template, expman

EXPLORE = os.environ.get("HYPOTHESIS_PROFILE") == "explore"
EXAMPLES = int(os.environ.get("EXPMAN_ARCHIVE_EXAMPLES", "500" if EXPLORE else "40"))
settings.register_profile(
    "hostile-archives",
    derandomize=not EXPLORE,
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

CANARY = "<canary>"  # replaced by the canary's absolute path
DEEP = "<deep>"  # replaced by lists nested this many levels: `<deep>3000`
FIELDS = ["id", "uid", "ended", "outputs", "scripts", "snapshot", "attempts", "code", "origin"]
FIELDS += ["host", "sweep", "metrics", "notes", "tags", "series"]
VALUES = st.sampled_from(
    [
        CANARY,
        f"{CANARY}/.ssh",
        f"{CANARY}/secret.json",
        "../../canary/secret.json",
        "../0002",
        "/",
        "..",
        "",
        "0001",
        "s0001",
        "0" * 64,
        "../" + "a" * 62,
        "\x1b[31mred",
        None,
        7,
        True,
        [],
        {},
        float("nan"),
        float("inf"),
        [{"path": "../../canary/secret.json", "sha256": "0" * 64, "size": 1}],
        [{"path": f"{CANARY}/secret.json", "sha256": None, "link": "x"}],
        [{"path": "x", "sha256": None, "link": f"{CANARY}/.ssh"}],
        {"id": "../../canary", "index": 0},
    ]
) | st.integers(100, 3000).map(lambda depth: f"{DEEP}{depth}")
LINK_TARGETS = st.sampled_from([CANARY, f"{CANARY}/.ssh", f"{CANARY}/secret.json", "/", "../0002"])

Damage = tuple[Any, ...]
DAMAGE = st.one_of(
    st.tuples(st.just("field"), st.sampled_from(FIELDS), st.integers(0, 50), VALUES),
    st.tuples(st.just("link"), st.integers(0, 100), LINK_TARGETS),
    st.tuples(st.just("content"), st.integers(0, 100)),
    st.tuples(st.just("pipe"), st.integers(0, 100)),
    st.tuples(st.just("rename"), st.sampled_from(["0009", "0002", "0001x"])),
    st.tuples(st.just("object"), st.integers(0, 100), st.sampled_from(["bytes", "link", "pipe"])),
    st.tuples(
        st.just("truncate"),
    ),
)
DAMAGES = st.lists(
    st.tuples(
        st.sampled_from(["hostile", "home"]), st.sampled_from(["0001", "0002", "0003"]), DAMAGE
    ),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return Template.make(tmp_path_factory.mktemp("template"))


@pytest.mark.slow
@settings(settings.get_profile("hostile-archives"))
@given(DAMAGES)
def test_damaged_archives_never_crash_a_command_nor_reach_outside(
    template: Template, tmp_path: Path, damages: list[tuple[str, str, Damage]]
) -> None:
    scene = Scene.of(template, Path(tempfile.mkdtemp(dir=tmp_path)))
    page = scene.canary.root / "report.html"
    scene.canary.allowed.add(page.resolve())
    for archive, run_id, damage in damages:
        _damage(scene, scene.hostile if archive == "hostile" else scene.home, run_id, damage)
    scene.canary.before = scene.canary.snapshot()
    home, hostile = str(scene.home), str(scene.hostile)
    commands: list[tuple[list[str], set[int]]] = [
        (["pull", hostile, "--archive", home], {0, 2}),
        (["push", hostile, "--archive", home], {0, 2}),
        (["fsck", "--archive", hostile], {0, 2, 4}),
        (["fsck", "--archive", home], {0, 2, 4}),
        (["report", "--archive", hostile, "-o", str(page)], {0, 2}),
        *((["rm", n, "--archive", hostile], {0, 2}) for n in ("1", "2", "3", "4")),
        (["rm", "--list", "--archive", hostile], {0, 2}),
        (["rm", "--purge", "--yes", "--archive", hostile], {0, 2}),
    ]
    for args, allowed in commands:
        code, _, err = expman(*args)
        assert code in allowed and "internal error" not in err, (args, code, err)
    assert scene.canary.changes() == []


def _damage(scene: Scene, archive: Path, run_id: str, damage: Damage) -> None:
    """Damage `archive` as a sender could, at run `run_id` (when it is still there)."""
    kind, *how = damage
    run = archive / run_id
    if not run.is_dir() or run.is_symlink():
        return
    if kind == "field":
        _field(scene, run / "run.json", *how)
    elif kind == "link":
        path = _pick(run, how[0])
        _remove(path)
        path.symlink_to(_placed(scene, how[1]))
    elif kind == "content":
        path = _pick(run, how[0], files_only=True)
        data = path.read_bytes()
        path.unlink()
        path.write_bytes(bytes([data[0] ^ 1]) + data[1:] if data else b"x")
    elif kind == "pipe":
        path = _pick(run, how[0], files_only=True)
        path.unlink()
        os.mkfifo(path)
    elif kind == "rename":
        if not (archive / how[0]).exists():
            run.rename(archive / how[0])
    elif kind == "object":
        _object(scene, archive, *how)
    else:
        path = run / "run.json"
        text = path.read_bytes()
        path.unlink()
        path.write_bytes(text[: len(text) // 2])


def _field(scene: Scene, path: Path, name: str, depth: int, value: Any) -> None:
    """Replace the field `name` of a record, or something inside it (`depth` picks what)."""
    try:
        record = json.loads(path.read_text())
    except (ValueError, RecursionError):  # damaged already
        return
    places: list[tuple[Any, Any]] = [(record, name)]
    inner = record.get(name)
    while isinstance(inner, dict | list) and inner and len(places) <= depth % 4:
        key = list(inner)[depth % len(inner)] if isinstance(inner, dict) else depth % len(inner)
        places.append((inner, key))
        inner = inner[key]
    container, key = places[-1]
    container[key] = _placed(scene, value)
    text = json.dumps(record)
    if isinstance(value, str) and value.startswith(DEEP):
        levels = int(value[len(DEEP) :])
        text = text.replace(json.dumps(value), "[" * levels + "]" * levels)
    path.unlink()
    path.write_text(text)


def _placed(scene: Scene, value: Any) -> Any:
    """`value` with the canary's place written in."""
    if isinstance(value, str):
        return value.replace(CANARY, str(scene.canary.private))
    if isinstance(value, list):
        return [_placed(scene, v) for v in value]
    if isinstance(value, dict):
        return {k: _placed(scene, v) for k, v in value.items()}
    return value


def _pick(run: Path, number: int, files_only: bool = False) -> Path:
    """One of the things in a run folder (its record aside)."""
    found = sorted(
        p
        for p in run.rglob("*")
        if p.name != "run.json" and (not files_only or (p.is_file() and not p.is_symlink()))
    )
    return found[number % len(found)] if found else run / "new"


def _object(scene: Scene, archive: Path, number: int, how: str) -> None:
    found = sorted((archive / ".objects").glob("??/*"))
    if not found:
        return
    path = found[number % len(found)]
    path.unlink()
    if how == "bytes":
        path.write_bytes(b"not what its name says\n")
    elif how == "link":
        path.symlink_to(scene.canary.private / "secret.json")
    else:
        os.mkfifo(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
