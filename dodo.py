"""expman's own development tasks (not the shim that `expman init` writes into experiments).

doit list          the tasks
doit check         everything CI runs: lint, types, schema, reference, all the tests
doit test          all the tests, with coverage
doit quick         the fast subset (under two minutes): every test but the `slow` ones
doit bench         the benchmarks of bench/
doit screenshots   the report's pictures in docs/images/ (needs Chromium)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

PY = sys.executable
EDITOR_DIR = Path("tests/editor")
README = Path("README.md")
RECORDS = Path("docs/records.md")

DOIT_CONFIG: dict[str, Any] = {
    "default_tasks": ["check"],
    "verbosity": 2,
    "backend": "sqlite3",
    "dep_file": ".doit.db",
}


def _editor_deps() -> None:
    if shutil.which("npm") is None:
        # Not an error: the editor test then says it is skipped, and why (CI has npm).
        print("npm is not installed: the editor test will be skipped (`apt-get install npm`)")
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(EDITOR_DIR)], check=True
    )


def task_editor_deps() -> dict[str, Any]:
    """Install the YAML language server that the editor test drives (npm ci), if npm is here."""
    return {
        "basename": "editor-deps",
        "actions": [_editor_deps],
        "file_dep": [str(EDITOR_DIR / "package-lock.json")],
        "targets": [str(EDITOR_DIR / "node_modules" / ".package-lock.json")],
        "uptodate": [lambda: shutil.which("npm") is None],
    }


def task_lint() -> dict[str, Any]:
    """ruff: lint and formatting."""
    return {
        "actions": [
            [PY, "-m", "ruff", "check", "."],
            [PY, "-m", "ruff", "format", "--check", "."],
        ],
        "uptodate": [False],
    }


def task_typecheck() -> dict[str, Any]:
    """mypy --strict over the package, the tests and the benchmarks."""
    return {"actions": [[PY, "-m", "mypy"]], "uptodate": [False]}


def task_schema() -> dict[str, Any]:
    """check-jsonschema: the schema against its metaschema, the examples against the schema."""
    examples = sorted(str(p) for p in Path("examples").glob("*/expfile.yaml"))
    return {
        "actions": [
            [PY, "-m", "check_jsonschema", "--check-metaschema", "expfile.schema.json"],
            [PY, "-m", "check_jsonschema", "--schemafile", "expfile.schema.json", *examples],
        ],
        "file_dep": ["expfile.schema.json", *examples],
    }


def _write_reference() -> None:
    import json

    from expman.expfile import loading, reference

    table = reference.markdown(loading.schema())
    README.write_text(reference.splice(README.read_text(encoding="utf-8"), table), "utf-8")
    record = json.loads(Path("expman/store/run.schema.json").read_text(encoding="utf-8"))
    fields = reference.record_fields(record)
    text = RECORDS.read_text(encoding="utf-8")
    RECORDS.write_text(
        reference.splice(text, fields, reference.RECORD_BEGIN, reference.RECORD_END), "utf-8"
    )


def task_reference() -> dict[str, Any]:
    """Regenerate the field references of README.md and docs/records.md from the schemas."""
    return {
        "actions": [_write_reference],
        "file_dep": [
            "expfile.schema.json",
            "expman/store/run.schema.json",
            "expman/expfile/reference.py",
        ],
        "uptodate": [False],
    }


def task_test() -> dict[str, Any]:
    """pytest with branch coverage (the gate is in pyproject.toml)."""
    return {
        "actions": [[PY, "-m", "pytest", "--cov", "--cov-report=term", "-p", "no:cacheprovider"]],
        "task_dep": ["editor-deps"],
        "uptodate": [False],
    }


def task_quick() -> dict[str, Any]:
    """The fast subset for contributors: lint, types and every test not marked `slow`."""
    return {
        "actions": [[PY, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider"]],
        "task_dep": ["lint", "typecheck"],
        "uptodate": [False],
    }


def task_bench() -> dict[str, Any]:
    """The benchmarks of bench/: medians, each against a baseline measured in the same run."""
    return {"actions": [[PY, "-m", "bench"]], "uptodate": [False]}


def task_screenshots() -> dict[str, Any]:
    """docs/images/report-*.png: the report of the lr-study example's sweep, in Chromium."""
    return {
        "actions": [[PY, "scripts/report_screenshots.py", "docs/images"]],
        "file_dep": [
            "scripts/report_screenshots.py",
            *sorted(str(p) for p in Path("expman/report").rglob("*") if p.is_file()),
            *sorted(str(p) for p in Path("examples/lr-study").glob("*.*")),
        ],
        "targets": [f"docs/images/report-{view}.png" for view in _VIEWS],
    }


_VIEWS = ("runs", "scatter", "parallel", "heatmap", "curves", "diff")


def task_check() -> dict[str, Any]:
    """Everything CI runs."""
    return {"actions": None, "task_dep": ["lint", "typecheck", "schema", "test"]}
