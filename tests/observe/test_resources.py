"""What a run used (SPEC §15): the runner samples the run's own processes from /proc,
with real processes, real doit and real sweeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from expman.observe import gpu, resources
from tests.conftest import RunCli, records, required

Experiment = Callable[..., Path]
BIN = Path(sys.executable).parent

BURN = """\
import os, time
start = time.process_time()
while time.process_time() - start < float(os.environ.get("SECONDS_OF_CPU", "2")):
    pass
"""
ALLOCATE = """\
import time
block = bytearray(500 << 20)
for i in range(0, len(block), 4096):
    block[i] = 1
time.sleep(1.5)
"""
PARENT = """\
import subprocess, sys
subprocess.run([sys.executable, "allocate.py"], check=True)
"""


def _expfile(run: str, every: float = 0.2, extra: str = "") -> str:
    return f"""\
version: 1
name: used
resources: {{every: {every}}}
vars: {{SECONDS_OF_CPU: 2}}
stages:
  run: {{cmd: "{run}"}}
  fetch: {{cmd: "true"}}
{extra}"""


@pytest.mark.slow
def test_a_stage_burning_a_core_for_2_s_is_charged_2_s(
    experiment: Experiment, run_cli: RunCli
) -> None:
    experiment(_expfile("python3 burn.py"), **{"burn.py": BURN})
    code, _, err = run_cli("run")
    assert code == 0, err
    used = records(Path.cwd())[-1]["resources"]
    assert 1.7 <= used["cpu_seconds"] <= 2.3, used
    assert used["samples"] >= 1 and used["processes_peak"] >= 1
    series = records(Path.cwd())[-1]["series"]
    assert series["sys/cpu_percent"]["max"] > 0
    assert {"sys/rss_mb", "sys/swap_mb", "sys/read_mb", "sys/write_mb", "sys/processes"} <= set(
        series
    )
    assert not any(t.name == "expman-monitor" for t in threading.enumerate()), "it stops"
    assert not (Path.cwd() / "runs" / "0001" / "live").exists()


@pytest.mark.slow
def test_a_child_allocating_500_mb_peaks_at_500_mb_or_more(
    experiment: Experiment, run_cli: RunCli
) -> None:
    experiment(_expfile("python3 parent.py"), **{"parent.py": PARENT, "allocate.py": ALLOCATE})
    code, _, err = run_cli("run")
    assert code == 0, err
    used = records(Path.cwd())[-1]["resources"]
    assert used["rss_peak_mb"] >= 500, used
    assert used["processes_peak"] >= 2, "the stage and its child, sampled together"
    assert records(Path.cwd())[-1]["series"]["sys/rss_mb"]["max"] >= 500


@pytest.mark.slow
def test_two_sweep_points_on_one_host_are_each_charged_their_own(
    experiment: Experiment,
) -> None:
    root = experiment(_expfile("python3 burn.py"), **{"burn.py": BURN})
    result = subprocess.run(
        [str(BIN / "expman"), "sweep", "-s", "SECONDS_OF_CPU=0.5,2.5", "--jobs", "2"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    charged = {r["vars"]["SECONDS_OF_CPU"]: r["resources"]["cpu_seconds"] for r in records(root)}
    assert set(charged) == {0.5, 2.5}
    assert 0.35 <= charged[0.5] <= 0.8, charged  # never the other point's 2.5 s
    assert 2.1 <= charged[2.5] <= 2.9, charged


def test_a_stage_cannot_add_to_the_runners_series_nor_crowd_them_out() -> None:
    """Even once the runner has a `sys/` series, a stage's values under it are dropped;
    a stage's 1,000 metrics leave room for the runner's."""
    from expman.observe import seriesreader

    reader = seriesreader.Reader(Path("/nonexistent"))
    reader._points([{f"m{i}": 1.0 for i in range(seriesreader.MAX_SERIES)}], [1])
    reader.add_own(0.5, {"sys/rss_mb": 10.0})
    reader._points([{"sys/rss_mb": 9999.0}], [2])
    assert reader.summary()["sys/rss_mb"]["max"] == 10.0
    assert len(reader.summary()) == seriesreader.MAX_SERIES + 1
    assert "reserved prefix sys/" in (reader.problem() or "")


def test_a_stage_cannot_write_the_runners_series(experiment: Experiment, run_cli: RunCli) -> None:
    spoof = 'echo \'{\\"sys/cpu_percent\\": 9999, \\"loss\\": 1}\' >> \\"$EXPMAN_METRICS\\"'
    experiment(_expfile(spoof))
    code, _, err = run_cli("run")
    assert code == 0, err
    run = records(Path.cwd())[-1]
    assert run["series"]["loss"]["max"] == 1
    assert run["series"].get("sys/cpu_percent", {}).get("max", 0) < 9999
    assert "reserved prefix sys/" in run["attempts"][-1]["series_error"]


def test_sampling_off_records_no_resources(experiment: Experiment, run_cli: RunCli) -> None:
    experiment(_expfile("true").replace("{every: 0.2}", "{sample: false}"))
    code, _, err = run_cli("run")
    assert code == 0, err
    run = records(Path.cwd())[-1]
    assert "resources" not in run and not any(n.startswith("sys/") for n in run["series"])


def test_a_bad_interval_is_refused_where_it_is_written(
    experiment: Experiment, run_cli: RunCli
) -> None:
    experiment(_expfile("true", every=0))
    code, _, err = run_cli("validate")
    assert code == 2
    assert "expfile.yaml:3:" in err and "$.resources.every" in err


def test_sampling_survives_processes_ending_and_proc_unreadable(tmp_path: Path) -> None:
    """A pid whose files vanish or hold garbage is passed over; no /proc gives nothing."""
    proc = tmp_path / "proc"
    marker = "EXPMAN_RUN_UID=x"
    for pid, stat in (("101", "garbage"), ("102", "102 (a) R " + "1 " * 60)):
        (proc / pid).mkdir(parents=True)
        (proc / pid / "environ").write_bytes(marker.encode() + b"\0")
        (proc / pid / "stat").write_text(stat)
    (proc / "103").mkdir()  # environ gone: ended before it was read
    sampler = resources.Sampler(marker, proc=str(proc))
    values = sampler.sample()
    assert values["sys/processes"] == 1 and sampler.error is None
    (proc / "102" / "stat").unlink()  # ends between two samples
    assert sampler.sample()["sys/processes"] == 0
    assert resources.Sampler(marker, proc=str(tmp_path / "none")).sample() == {}
    # Seen between fork and exec, a step's process has its parent's environment still.
    (proc / "104").mkdir()
    (proc / "104" / "environ").write_bytes(b"PATH=/bin\0")
    (proc / "104" / "stat").write_text("104 (b) R " + "1 " * 60)
    assert sampler.sample()["sys/processes"] == 0
    (proc / "104" / "environ").write_bytes(marker.encode() + b"\0")  # it has exec'd
    assert sampler.sample()["sys/processes"] == 1
    (proc / "105").mkdir()  # never the run's: looked at twice, then never again
    (proc / "105" / "environ").write_bytes(b"PATH=/bin\0")
    sampler.sample()
    sampler.sample()
    (proc / "105" / "environ").write_bytes(marker.encode() + b"\0")
    (proc / "105" / "stat").write_text("105 (c) R " + "1 " * 60)
    assert sampler.sample()["sys/processes"] == 1
    summary = sampler.summary()
    assert summary["processes_peak"] == 1 and "error" not in summary


def test_the_nvml_path_records_nvmls_own_no_driver_error() -> None:
    """Without a GPU the absence is recorded as NVML says it (the real library, called)."""
    required("pynvml", "the NVML bindings: pip install -e '.[test]'")
    found = gpu.read_nvml()
    if gpu.driver_present():  # a machine with a GPU: the real devices
        assert found.get("devices"), found
        return
    assert found == {"absent": "NVML: NVML Shared Library Not Found"}
    assert gpu.describe() == {"absent": gpu.NO_DRIVER}
    assert gpu.Tracker.start() is None


def test_watch_reads_the_runners_samples_beside_the_series(tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    resources.append(tmp_path, json.dumps({"step": 1, "sys/rss_mb": 3.5}).encode() + b"\n")
    from expman.observe import series, seriesreader

    assert seriesreader.tail(resources.stream(tmp_path), reserved=None) == {"sys/rss_mb": [3.5]}
    (live / "series.jsonl").write_text('{"sys/rss_mb": 1, "loss": 2}\n')
    assert seriesreader.tail(series.stream(tmp_path)) == {"loss": [2.0]}
    from expman.observe import inflight

    more = {"step": 2, "sys/cpu_percent": 99.5, "sys/rss_mb": 4.0, "sys/swap_mb": 0.0}
    resources.append(tmp_path, json.dumps(more).encode() + b"\n")
    assert inflight._trend(tmp_path) == {  # the stages' first, then the runner's telling ones
        "loss": [2.0],
        "sys/cpu_percent": [99.5],
        "sys/rss_mb": [3.5, 4.0],
    }


def test_the_samples_file_is_never_written_through_a_link_or_into_a_pipe(tmp_path: Path) -> None:
    """A stage may put anything where the runner appends its samples."""
    live = tmp_path / "live"
    live.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("kept\n")
    (live / resources.FILE).symlink_to(elsewhere)
    with pytest.raises(OSError):
        resources.append(tmp_path, b"{}\n")
    assert elsewhere.read_text() == "kept\n"
    (live / resources.FILE).unlink()
    os.mkfifo(live / resources.FILE)  # no reader: refused at once, never waited on
    with pytest.raises(OSError):
        resources.append(tmp_path, b"{}\n")
    (live / resources.FILE).unlink()
    live.rmdir()
    (tmp_path / "other").mkdir()
    live.symlink_to(tmp_path / "other")  # the folder itself a link
    with pytest.raises(OSError):
        resources.append(tmp_path, b"{}\n")
    assert not list((tmp_path / "other").iterdir())
