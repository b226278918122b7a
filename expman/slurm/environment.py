"""Where an attempt runs, as the record's `backend` says it: this machine, or a Slurm job
(read from the variables Slurm gives the job)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from expman import processes
from expman.store import record

SUBMITTED_RUN = "EXPMAN_SLURM_RUN"  # set by expman's batch script: the uid of its run


def describe() -> record.Backend:
    """`{"name": "local", "host": ...}`, or the Slurm job this process runs in: job id,
    array job and index, node, the resources granted, how often it was restarted."""
    env = os.environ
    if "SLURM_JOB_ID" not in env:
        return {"name": "local", "host": processes.host()}
    found: record.Backend = {
        "name": "slurm",
        "job_id": env.get("SLURM_JOB_ID"),
        "job_name": env.get("SLURM_JOB_NAME"),
        "array_job_id": env.get("SLURM_ARRAY_JOB_ID"),
        "array_index": _number(env.get("SLURM_ARRAY_TASK_ID")),
        "node": env.get("SLURMD_NODENAME") or processes.host(),
        "partition": env.get("SLURM_JOB_PARTITION"),
        "cluster": env.get("SLURM_CLUSTER_NAME"),
        "restarts": _number(env.get("SLURM_RESTART_COUNT")) or 0,
        "granted": {
            "cpus": _number(env.get("SLURM_CPUS_PER_TASK") or env.get("SLURM_CPUS_ON_NODE")),
            "memory_mb": _memory_mb(env),
            "gpus": env.get("SLURM_JOB_GPUS") or env.get("CUDA_VISIBLE_DEVICES"),
        },
    }
    return found


def _memory_mb(env: Mapping[str, str]) -> int | None:
    """The job's memory on its node: `--mem`'s, or `--mem-per-cpu`'s times the CPUs the job
    has there (Slurm gives each allocated CPU that much)."""
    whole = _number(env.get("SLURM_MEM_PER_NODE"))
    if whole is not None:
        return whole
    per_cpu = _number(env.get("SLURM_MEM_PER_CPU"))
    cpus = _number(env.get("SLURM_CPUS_ON_NODE")) or 1
    return None if per_cpu is None else per_cpu * cpus


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
