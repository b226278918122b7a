"""`expman init`: write a working experiment into a folder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TextIO

from expman.errors import UsageError
from expman.expfile import loading, location
from expman.output import write_line

_TEMPLATE = Path(__file__).parent.parent / "templates" / "init"
_SCRIPTS = ("prepare.sh", "run.sh", "dodo.py")


def init(*, directory: Path, name: str | None, force: bool, out: TextIO) -> int:
    """Create `directory` if needed and write the example experiment into it.

    Existing files are never lost: an expfile is replaced only with `force`, and then
    kept as `expfile.yaml.bak`; existing scripts are left alone; ignore entries are
    appended to an existing `.gitignore`.
    """
    expfile = directory / location.EXPFILE
    if expfile.exists() and not force:
        raise UsageError(f"{expfile} already exists; use --force to replace it (a backup is kept)")
    directory.mkdir(parents=True, exist_ok=True)
    text = (_TEMPLATE / location.EXPFILE).read_text(encoding="utf-8")
    text = text.replace("name: NAME", f"name: {_name(name or directory.resolve().name)}")
    if expfile.exists():
        backup = _free_name(directory / (location.EXPFILE + ".bak"))
        expfile.replace(backup)
        write_line(out, f"kept the old expfile as {backup}")
    expfile.write_text(text, encoding="utf-8")
    written = [location.EXPFILE]
    shutil.copyfile(loading.schema_path(), directory / loading.SCHEMA_FILE)
    written.append(loading.SCHEMA_FILE)
    for script in _SCRIPTS:
        target = directory / script
        if target.exists():
            write_line(out, f"left the existing {target} as it is")
            continue
        target.write_text((_TEMPLATE / script).read_text(encoding="utf-8"), encoding="utf-8")
        target.chmod(0o644 if script.endswith(".py") else 0o755)
        written.append(script)
    if _append_ignores(directory / ".gitignore", (_TEMPLATE / "gitignore").read_text()):
        written.append(".gitignore")
    write_line(out, f"wrote {', '.join(written)} in {directory}")
    write_line(out, f"next: cd {directory} && expman run")
    return 0


def _name(raw: str) -> str:
    """An experiment name that is safe as a plain YAML scalar."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in raw).strip("-.")
    return cleaned or "experiment"


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def _append_ignores(gitignore: Path, template: str) -> bool:
    """Add the template's entries that `gitignore` lacks; True when it was written."""
    if not gitignore.exists():
        gitignore.write_text(template, encoding="utf-8")
        return True
    existing = gitignore.read_text(encoding="utf-8")
    present = {line.strip() for line in existing.splitlines()}
    missing = [
        line for line in template.splitlines() if line.startswith("/") and line not in present
    ]
    if not missing:
        return False
    comments = [line for line in template.splitlines() if line.startswith("#")][:1]
    prefix = "" if existing.endswith("\n") else "\n"
    with gitignore.open("a", encoding="utf-8") as f:
        f.write(prefix + "\n".join(comments + missing) + "\n")
    return True
