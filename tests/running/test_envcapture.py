"""The environment of each attempt (SPEC §15): conda, containers, CUDA and GPUs, HPC
modules, lock files; `diff` shows its differences first, `rerun --check` its drift.

No conda, Apptainer or Podman can be installed here: a conda environment is made as conda
lays one out (`conda-meta/*.json` records and `history`), and the containers are tested
through the contract each runtime documents (the variables Apptainer sets, the files
Podman and Docker put at the container's root), which is all expman reads of them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from expman.running import envcapture
from tests.conftest import RunCli, records

Experiment = Callable[..., Path]
EXPFILE = """\
version: 1
name: envy
resources: {sample: false}
stages:
  run: {cmd: "true"}
  fetch: {cmd: "true"}
"""
CHANNEL = "https://conda.anaconda.org/conda-forge/linux-64"


def _conda_env(folder: Path, packages: dict[str, str]) -> Path:
    """An environment as conda lays it out: one record per package, and the history."""
    meta = folder / "conda-meta"
    meta.mkdir(parents=True, exist_ok=True)
    for old in meta.glob("*.json"):
        old.unlink()
    for name, version in packages.items():
        file = f"{name}-{version}-h0_0.conda"
        record: dict[str, Any] = {
            "name": name,
            "version": version,
            "build": "h0_0",
            "url": f"{CHANNEL}/{file}",
        }
        record["md5"] = hashlib.md5(file.encode()).hexdigest()
        record["files"] = [f"lib/{name}.so"]
        (meta / f"{name}-{version}-h0_0.json").write_text(json.dumps(record))
    with (meta / "history").open("a") as history:
        history.write(f"==> {len(packages)} packages <==\n")
    return folder


def test_where_no_probe_applies_nothing_is_recorded_but_the_gpus_absence(
    tmp_path: Path,
) -> None:
    found, conda_list = envcapture.capture(tmp_path, env={}, fs_root=tmp_path)
    assert conda_list is None
    assert found == {
        "conda": None,
        "container": None,
        "gpu": found["gpu"],
        "cuda_runtime": None,
        "modules": [],
        "lock_files": {},
    }
    if not Path("/dev/nvidiactl").exists():
        assert "absent" in found["gpu"]


def test_a_probe_that_fails_unexpectedly_is_said_and_the_others_recorded(
    tmp_path: Path,
) -> None:
    (tmp_path / "uv.lock").write_text("lock\n")
    env = {"CONDA_PREFIX": "/opt/conda\0envs", "LOADEDMODULES": "gcc/12"}  # no path has NUL
    found, listed = envcapture.capture(tmp_path, env=env, fs_root=tmp_path)
    assert listed is None and found["conda"] is None
    assert found["error"].startswith("ValueError: ")
    assert found["modules"] == ["gcc/12"] and list(found["lock_files"]) == ["uv.lock"]


def test_a_conda_environment_is_listed_explicitly_and_cached(tmp_path: Path) -> None:
    prefix = _conda_env(tmp_path / "envs" / "study", {"numpy": "1.26.4", "python": "3.11.9"})
    env = {"CONDA_PREFIX": str(prefix), "CONDA_DEFAULT_ENV": "study"}
    found, listed = envcapture.capture(tmp_path, env=env, fs_root=tmp_path)
    assert listed is not None
    text = listed.decode()
    assert text.splitlines()[0] == "@EXPLICIT"
    assert f"{CHANNEL}/numpy-1.26.4-h0_0.conda#" in text
    assert found["conda"] == {
        "name": "study",
        "packages": 2,
        "explicit_sha256": hashlib.sha256(listed).hexdigest(),
    }
    assert str(tmp_path) not in json.dumps(found), "no absolute path in a record"
    # Unchanged environment (same conda-meta folder and history): never read again.
    meta = prefix / "conda-meta"
    stamps = meta.stat()
    (meta / "numpy-1.26.4-h0_0.json").write_text("{broken")
    os.utime(meta, ns=(stamps.st_atime_ns, stamps.st_mtime_ns))
    assert envcapture.capture(tmp_path, env=env, fs_root=tmp_path)[1] == listed
    # A conda transaction (a package replaced, the history appended): read again.
    _conda_env(prefix, {"numpy": "2.0.0", "python": "3.11.9"})
    again = envcapture.capture(tmp_path, env=env, fs_root=tmp_path)[1]
    assert again is not None and b"numpy-2.0.0" in again and b"numpy-1.26.4" not in again


def test_containers_are_recorded_from_what_each_runtime_exposes(tmp_path: Path) -> None:
    image = tmp_path / "images" / "train.sif"
    image.parent.mkdir()
    image.write_bytes(b"SIF image bytes")
    apptainer = {"APPTAINER_CONTAINER": str(image), "APPTAINER_NAME": "train.sif"}
    found = envcapture.capture(tmp_path, env=apptainer, fs_root=tmp_path)[0]["container"]
    digest = "sha256:" + hashlib.sha256(b"SIF image bytes").hexdigest()
    assert found == {"runtime": "apptainer", "image": "train.sif", "digest": digest}
    singularity = {"SINGULARITY_CONTAINER": str(tmp_path / "images")}  # a sandbox folder
    found = envcapture.capture(tmp_path, env=singularity, fs_root=tmp_path)[0]["container"]
    assert found == {"runtime": "singularity", "image": "images", "digest": None}

    big = tmp_path / "images" / "big.sif"  # sparse: 300 MiB that take no room
    with big.open("wb") as f:
        f.truncate(300 << 20)
    found = envcapture.capture(tmp_path, env={"APPTAINER_CONTAINER": str(big)}, fs_root=tmp_path)
    sampled = found[0]["container"]["digest"]
    assert sampled.startswith("sampled-sha256:"), "a big image is not read whole"
    with big.open("r+b") as f:  # rebuilt: another image at the same place
        f.write(b"SIF header of another build")
    found = envcapture.capture(tmp_path, env={"APPTAINER_CONTAINER": str(big)}, fs_root=tmp_path)
    assert found[0]["container"]["digest"] not in (sampled, None)

    podman = tmp_path / "podman"
    (podman / "run").mkdir(parents=True)
    (podman / "run" / ".containerenv").write_text(
        'engine="podman-5.0.2"\nname="trainer"\nid="abc"\n'
        'image="docker.io/library/python:3.12"\nimageid="1234abcd"\nrootless=1\n'
    )
    found = envcapture.capture(tmp_path, env={}, fs_root=podman)[0]["container"]
    assert found == {
        "runtime": "podman",
        "image": "docker.io/library/python:3.12",
        "image_id": "1234abcd",
        "id": "abc",
    }

    docker = tmp_path / "docker"
    (docker / "proc" / "self").mkdir(parents=True)
    (docker / ".dockerenv").touch()
    container_id = "f" * 64
    (docker / "proc" / "self" / "mountinfo").write_text(
        f"1 2 0:3 /var/lib/docker/containers/{container_id}/hostname /etc/hostname rw\n"
    )
    told = {
        "EXPMAN_CONTAINER_IMAGE": "pytorch/pytorch:2.3.1",
        "EXPMAN_CONTAINER_DIGEST": "sha256:9",
    }
    found = envcapture.capture(tmp_path, env=told, fs_root=docker)[0]["container"]
    assert found == {
        "runtime": "docker",
        "id": container_id,
        "image": "pytorch/pytorch:2.3.1",
        "digest": "sha256:9",
    }


def test_hostile_conda_records_and_container_markers_never_hang_the_capture(
    tmp_path: Path,
) -> None:
    """A FIFO named like a conda record or a Podman marker, a link to one, a link to a
    file outside, a record with control characters: the capture returns, reading no link."""
    prefix = _conda_env(tmp_path / "envs" / "hostile", {"numpy": "1.26.4"})
    meta = prefix / "conda-meta"
    os.mkfifo(meta / "fifo-1-h0.json")
    (meta / "link-1-h0.json").symlink_to(meta / "fifo-1-h0.json")
    (tmp_path / "outside.json").write_text(json.dumps({"url": "file:///outside"}))
    (meta / "outside-1-h0.json").symlink_to(tmp_path / "outside.json")
    (meta / "escape-1-h0.json").write_text(json.dumps({"url": "https://x/\x1b[31m\nEVIL"}))
    (meta / "deep-1-h0.json").write_text("[" * 100_000)  # deeper than Python's recursion
    podman = tmp_path / "podman"
    (podman / "run").mkdir(parents=True)
    os.mkfifo(podman / "run" / ".containerenv")
    code = (
        "import json, sys; from pathlib import Path; from expman.running import envcapture;"
        "found, listed = envcapture.capture(Path(sys.argv[1]), "
        "env={'CONDA_PREFIX': sys.argv[2]}, fs_root=Path(sys.argv[3]));"
        "print(json.dumps([found['conda'], found['container'], listed.decode()]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), str(prefix), str(podman)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    conda, container, listed = json.loads(result.stdout)
    assert conda["packages"] == 1, "only the regular record with a clean URL is listed"
    assert "outside" not in listed and "EVIL" not in listed and "\x1b" not in listed
    assert container is None, "a marker that is no regular file is not read"


def test_lock_files_modules_and_cuda_are_recorded(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text("lock\n")
    (tmp_path / "requirements-dev.txt").write_text("pytest\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    (tmp_path / "requirements-link.txt").symlink_to(tmp_path / "outside.txt")
    (tmp_path / "requirements-dir.txt").mkdir()
    env = {"LOADEDMODULES": "gcc/12.2:cuda/12.1::", "CUDA_VERSION": "12.1.1"}
    found = envcapture.capture(tmp_path, env=env, fs_root=tmp_path)[0]
    assert found["lock_files"] == {
        "requirements-dev.txt": hashlib.sha256(b"pytest\n").hexdigest(),
        "uv.lock": hashlib.sha256(b"lock\n").hexdigest(),
    }, "a link is not followed, a folder is no file"
    assert found["modules"] == ["gcc/12.2", "cuda/12.1"]
    assert found["cuda_runtime"] == "12.1.1"


def test_a_huge_lock_file_is_sampled_never_read_whole(tmp_path: Path) -> None:
    huge = tmp_path / "requirements.txt"  # sparse: 5 GiB that take no room
    with huge.open("wb") as f:
        f.truncate(5 << 30)
    started = time.monotonic()
    found = envcapture.capture(tmp_path, env={}, fs_root=tmp_path)[0]["lock_files"]
    assert time.monotonic() - started < 2, "a 5 GiB file read whole holds up every attempt"
    sampled = found["requirements.txt"]
    assert sampled.startswith("sampled-sha256:")
    with huge.open("r+b") as f:
        f.write(b"torch==2.3.1\n")
    again = envcapture.capture(tmp_path, env={}, fs_root=tmp_path)[0]["lock_files"]
    assert again["requirements.txt"] not in (sampled, None)


@pytest.mark.slow
def test_diff_shows_environment_differences_first(
    experiment: Experiment, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = experiment(EXPFILE, **{"requirements.txt": "numpy\n"})
    prefix = _conda_env(tmp_path / "envs" / "study", {"numpy": "1.26.4", "zlib": "1.3"})
    monkeypatch.setenv("CONDA_PREFIX", str(prefix))
    monkeypatch.setenv("LOADEDMODULES", "gcc/12")
    site = tmp_path / "site-packages"  # a package installed as pip lays it out
    (site / "torch-2.2.0.dist-info").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(site))
    assert run_cli("run")[0] == 0 and run_cli("end", "-m", "one")[0] == 0
    first = records(root)[0]
    assert first["environment"]["modules"] == ["gcc/12"]
    assert first["environment"]["conda"]["packages"] == 2
    assert {"path": "conda-explicit.txt"}.items() <= next(
        f for f in first["snapshot"] if f["path"] == "conda-explicit.txt"
    ).items()
    _conda_env(prefix, {"numpy": "2.0.0", "zlib": "1.3"})
    (site / "torch-2.2.0.dist-info").rename(site / "torch-2.3.1.dist-info")  # pip upgraded it
    monkeypatch.setenv("LOADEDMODULES", "gcc/13")
    (root / "requirements.txt").write_text("numpy>=2\n")
    assert run_cli("run")[0] == 0 and run_cli("end", "-m", "two")[0] == 0
    code, out, err = run_cli("diff", "1", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1:3] == ["status: same (succeeded)", "environment"]  # the status, then this
    said = lines[3 : lines.index(next(line for line in lines if line.startswith("vars")))]
    assert said[0] == "  torch 2.2.0 -> 2.3.1", "pip's packages first"
    assert "  conda numpy 1.26.4-h0_0 -> 2.0.0-h0_0" in said
    assert "  modules gcc/12 -> gcc/13" in said
    digests = [hashlib.sha256(text).hexdigest()[:12] for text in (b"numpy\n", b"numpy>=2\n")]
    assert f"  lock_files.requirements.txt {digests[0]} -> {digests[1]}" in said
    assert not any("zlib" in line for line in said), "only what differs"
    code, out, _ = run_cli("diff", "2", "2")
    assert "environment: same" in out.splitlines()[2]
    # A record from elsewhere may say anything: shown escaped, never as control sequences.
    path = root / "runs" / "0002" / "run.json"
    hostile = json.loads(path.read_text())
    hostile["environment"]["modules"] = ["gcc/13\x1b]0;owned\x07\x1b[2J"]
    path.chmod(0o644)
    path.write_text(json.dumps(hostile))
    code, out, err = run_cli("diff", "1", "2")
    assert code == 0, err
    assert "\x1b" not in out and "modules gcc/12 -> gcc/13" in out


@pytest.mark.slow
def test_rerun_check_reports_environment_drift(
    experiment: Experiment, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment(EXPFILE)
    monkeypatch.setenv("LOADEDMODULES", "cuda/12.1")
    assert run_cli("run")[0] == 0 and run_cli("end", "-m", "one")[0] == 0
    monkeypatch.setenv("LOADEDMODULES", "cuda/12.4")
    code, out, err = run_cli("rerun", "1", "--check")
    assert code == 0, err
    assert "  environment: modules cuda/12.1 -> cuda/12.4" in out
    assert "run 0002 reproduces run 0001" in out, "drift is said, outputs decide"
