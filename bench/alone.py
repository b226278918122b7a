"""A virtual environment holding one installed distribution and what it requires, alone.

A baseline run from the benchmark's own venv imports whatever else that venv holds:
Sacred, for one, imports numpy and pandas when it finds them (`sacred.optional`), which
makes a Sacred run 2 to 3 x slower in the test venv than in a venv of Sacred alone. So
the baseline is run from a venv made here (`python -m venv --without-pip`, no network)
whose site-packages holds links to the distribution's files and those of its
requirements (markers evaluated, extras left out), and pip and setuptools, which
`python -m venv` puts in every venv on Python 3.11 (Sacred 0.8 imports `pkg_resources`
without requiring setuptools); nothing else.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

# What `python -m venv` installs in a new venv (ensurepip) on the Python measured.
VENV_HOLDS = ("pip", "setuptools")


def _closure(names: list[str]) -> list[importlib.metadata.Distribution]:
    """The distributions `names` and every one they require, transitively."""
    found: dict[str, importlib.metadata.Distribution] = {}
    waiting = list(names)
    while waiting:
        key = re.sub(r"[-_.]+", "-", waiting.pop()).lower()
        if key in found:
            continue
        distribution = importlib.metadata.distribution(key)
        found[key] = distribution
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                waiting.append(requirement.name)
    return list(found.values())


def _top_level(distribution: importlib.metadata.Distribution) -> set[str]:
    """The names a distribution put in site-packages (packages, modules, its dist-info)."""
    names = set()
    for file in distribution.files or []:
        first = file.parts[0]
        if first != ".." and first != "__pycache__":
            names.add(first)
    return names


def make(folder: Path, name: str) -> Path:
    """A venv at `folder` holding `name` and its requirements alone; its interpreter."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    for distribution in _closure([name, *VENV_HOLDS]):
        source = Path(str(distribution.locate_file("")))
        for top in _top_level(distribution):
            if (source / top).exists() and not (site / top).exists():
                (site / top).symlink_to(source / top)
    return python


def distributions(python: Path) -> list[str]:
    """The distributions `python` sees installed, sorted: what a venv holds."""
    listed = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m\n"
            "print('\\n'.join(sorted(d.metadata['Name'] for d in m.distributions())))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def check_sacred(python: Path) -> None:
    """Stop the bench unless Sacred's own venv at `python` holds Sacred and none of what
    would slow it (numpy, pandas, expman, pytest), and Sacred there finds neither numpy
    nor pandas (it imports them when it finds them): its baseline would not be fair."""
    held = set(distributions(python))
    extra = {"numpy", "pandas", "expman", "pytest"} & held
    probe = "import sacred.optional as o; print(o.has_numpy, o.has_pandas)"
    found = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=True, cwd=python.parent
    ).stdout
    if "sacred" not in held or extra or found != "False False\n":
        raise SystemExit(
            f"bench: Sacred's own venv is not Sacred alone (holds {sorted(extra)}; numpy, "
            f"pandas found: {found.strip()}): its baseline would not be fair"
        )
