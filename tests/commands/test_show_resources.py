"""`expman show` gives what a run used (`resources`) and where it ran (`environment`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import RunCli

Experiment = Callable[..., Path]

QUICK = "version: 1\nname: quick\nstages:\n  run: {cmd: 'true'}\n"


def _edit(root: Path, **parts: object) -> None:
    path = root / "runs" / "0001" / "run.json"
    record = json.loads(path.read_text())
    record.update(parts)
    path.write_text(json.dumps(record))


def test_show_gives_the_resources_and_the_environment(
    experiment: Experiment, run_cli: RunCli
) -> None:
    root = experiment(QUICK)
    assert run_cli("run")[0] == 0
    code, out, _ = run_cli("show", "last")
    assert code == 0
    assert "\nresources\n  cpu      " in out, "a real run's sampled resources are shown"
    _edit(
        root,
        resources={
            "cpu_seconds": 12.25,
            "cpu_util_mean": 183.333333,
            "rss_peak_mb": 512.5,
            "swap_peak_mb": 0.0,
            "read_bytes": 1_200_000,
            "write_bytes": 34_000_000,
            "gpu": [{"index": 0, "memory_peak_mb": 2048, "util_mean": 73.5}],
        },
        environment={
            "conda": {"name": "torch", "packages": 212, "explicit_sha256": "ab"},
            "container": {"runtime": "apptainer", "image": "train.sif", "digest": "sha256:9f"},
            "gpu": {"driver": "550.54", "cuda_driver": "12.4", "devices": ["NVIDIA A100"]},
            "cuda_runtime": "12.1.0",
            "modules": ["gcc/12", "cuda/12.1"],
            "lock_files": {"uv.lock": "cd", "requirements.txt": "ef"},
        },
    )
    code, out, _ = run_cli("show", "last")
    assert code == 0
    assert (
        "\nresources\n"
        "  cpu      12.25 s, mean 183.3% of a core\n"
        "  memory   peak 512.5 MiB\n"
        "  storage  read 1.2 MB, written 34.0 MB\n"
        "  gpu 0    memory peak 2048 MiB, mean 73.5%\n"
        "environment\n"
        "  conda         torch, 212 packages\n"
        "  container     apptainer, train.sif, sha256:9f\n"
        "  gpu           driver 550.54, CUDA 12.4: NVIDIA A100\n"
        "  cuda runtime  12.1.0\n"
        "  modules       gcc/12 cuda/12.1\n"
        "  lock files    uv.lock, requirements.txt\n"
        "outputs  " in out
    )


def test_show_escapes_what_a_record_says_of_its_resources_and_environment(
    experiment: Experiment, run_cli: RunCli
) -> None:
    """A record is untrusted: control sequences and newlines in it are shown escaped, on
    one line."""
    root = experiment(QUICK)
    assert run_cli("run")[0] == 0
    _edit(
        root,
        resources={"cpu_seconds": 1, "gpu": [{"index": 1}], "error": "a\nb"},
        environment={
            "gpu": {"absent": "no driver"},
            "modules": ["gcc\x1b]0;owned\x07", "x\ny"],
            "error": "conda: \u202eevil",
        },
    )
    code, out, err = run_cli("show", "last")
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out
    assert (
        "\nresources\n"
        "  cpu      1 s\n"
        "  memory   peak - MiB\n"
        "  storage  read -, written -\n"
        "  gpu 1    memory peak - MiB, mean -%\n"
        "  error    a\\nb\n"
        "environment\n"
        "  modules  gcc\\x1b]0;owned\\x07 x\\ny\n"
        "  error    conda: \\u202eevil\n" in out
    )
