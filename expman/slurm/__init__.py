"""Running on a Slurm cluster: each run a job, each sweep job arrays (SPEC §10).

Files are the truth and the scheduler a hint: jobs write their runs' records and
heartbeats; the submitting side asks `squeue` (one call for all) only about runs that are
queued or whose heartbeat is overdue, and records as `interrupted`, with the reason, a
job that vanished. `sacct` is never used.
"""
