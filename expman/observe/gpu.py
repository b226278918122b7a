"""NVIDIA GPUs through NVML (`nvidia-ml-py`, an optional extra): what an attempt's
processes use of them, and the driver, CUDA version and models for the environment.

`pynvml` costs 20 ms to import, so it is imported only where the NVIDIA driver shows
itself (`/dev/nvidiactl` or `/proc/driver/nvidia`); elsewhere the absence is said
without it. Every NVML call may fail (`NVMLError`): a failure is recorded as what NVML
said, never raised into a run.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

DRIVER_SIGNS = ("/dev/nvidiactl", "/proc/driver/nvidia/version")
NO_DRIVER = "no NVIDIA driver (neither /dev/nvidiactl nor /proc/driver/nvidia)"
NO_PACKAGE = "nvidia-ml-py is not installed"


def driver_present(signs: tuple[str, ...] = DRIVER_SIGNS) -> bool:
    """Whether the NVIDIA driver shows itself on this machine (no import, no call)."""
    return any(Path(sign).exists() for sign in signs)


def _nvml() -> Any:
    """The `pynvml` module, or None when nvidia-ml-py is not installed."""
    try:
        import pynvml  # optional extra: only on a machine with the driver
    except ImportError:
        return None
    return pynvml


def describe(signs: tuple[str, ...] = DRIVER_SIGNS) -> dict[str, Any]:
    """The environment's `gpu`: the driver, CUDA driver version and each device's model,
    or `{"absent": why}`."""
    if not driver_present(signs):
        return {"absent": NO_DRIVER}
    return read_nvml()


def read_nvml() -> dict[str, Any]:
    """What NVML says of the driver and devices, or `{"absent": NVML's own error}`."""
    nvml = _nvml()
    if nvml is None:
        return {"absent": NO_PACKAGE}
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as e:
        return {"absent": f"NVML: {e}"}
    try:
        cuda = nvml.nvmlSystemGetCudaDriverVersion()
        return {
            "driver": _text(nvml.nvmlSystemGetDriverVersion()),
            "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}",
            "devices": [
                _text(nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i)))
                for i in range(nvml.nvmlDeviceGetCount())
            ],
        }
    except nvml.NVMLError as e:
        return {"absent": f"NVML: {e}"}
    finally:
        _shutdown(nvml)


class _Device:
    __slots__ = ("last_stamp", "memory_peak_mb", "util_samples", "util_total")

    def __init__(self) -> None:
        self.memory_peak_mb = 0.0
        self.util_total = 0.0
        self.util_samples = 0
        self.last_stamp = 0


class Tracker:
    """NVML open for one attempt: each device's memory and utilisation by the run's
    processes (never the whole device's: another run may share it)."""

    def __init__(self, nvml: Any, handles: list[Any], devices: list[_Device]) -> None:
        self.nvml = nvml
        self.handles = handles
        self.devices = devices

    @classmethod
    def start(cls, signs: tuple[str, ...] = DRIVER_SIGNS) -> Tracker | None:
        """NVML opened, or None (no driver, no nvidia-ml-py, no device, NVML failed)."""
        if not driver_present(signs):
            return None
        nvml = _nvml()
        if nvml is None:
            return None
        try:
            nvml.nvmlInit()
        except nvml.NVMLError:
            return None
        try:
            handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        except nvml.NVMLError:
            handles = []
        if not handles:
            _shutdown(nvml)
            return None
        return cls(nvml, handles, [_Device() for _ in handles])

    def sample(self, pids: set[int]) -> dict[str, float]:
        """Each device's memory (MiB) and utilisation (percent) by `pids` now."""
        values: dict[str, float] = {}
        for index, (handle, device) in enumerate(zip(self.handles, self.devices, strict=True)):
            memory = self._memory(handle, pids)
            if memory is not None:
                device.memory_peak_mb = max(device.memory_peak_mb, memory)
                values[f"gpu{index}_memory_mb"] = round(memory, 1)
            util = self._util(handle, device, pids)
            if util is not None:
                device.util_total += util
                device.util_samples += 1
                values[f"gpu{index}_util"] = util
        return values

    def _memory(self, handle: Any, pids: set[int]) -> float | None:
        nvml = self.nvml
        try:
            found = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            found += nvml.nvmlDeviceGetGraphicsRunningProcesses(handle)
        except nvml.NVMLError:
            return None
        used = sum(p.usedGpuMemory or 0 for p in found if p.pid in pids)
        return float(used) / (1 << 20)

    def _util(self, handle: Any, device: _Device, pids: set[int]) -> float | None:
        nvml = self.nvml
        try:
            found = nvml.nvmlDeviceGetProcessUtilization(handle, device.last_stamp)
        except nvml.NVMLError:  # also "not found": no process used it since the last
            return 0.0 if device.last_stamp else None
        latest: dict[int, Any] = {}
        for s in found:
            device.last_stamp = max(device.last_stamp, s.timeStamp)
            if s.pid in pids and s.timeStamp >= getattr(latest.get(s.pid), "timeStamp", 0):
                latest[s.pid] = s
        return float(min(100, sum(s.smUtil for s in latest.values())))

    def summary(self) -> list[dict[str, Any]]:
        """Per device: its peak memory and mean utilisation by the run's processes."""
        return [
            {
                "index": index,
                "memory_peak_mb": round(device.memory_peak_mb, 1),
                "util_mean": round(device.util_total / device.util_samples, 1)
                if device.util_samples
                else None,
            }
            for index, device in enumerate(self.devices)
        ]

    def stop(self) -> None:
        """NVML closed."""
        _shutdown(self.nvml)


def _shutdown(nvml: Any) -> None:
    with contextlib.suppress(nvml.NVMLError):
        nvml.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
