"""The Slurm cluster (SPEC §10): how expman talks to it and what a job's environment says.
Files are the truth and the scheduler a hint: `sacct` is never used.

Owns: the only calls to Slurm's commands (`scheduler`), batch scripts (`script`), the
`slurm:` settings (`settings`), what a job's environment tells an attempt
(`environment`: its backend; `signals`: Slurm's warning told from SIGTERM), and re-
attaching to submitted runs from their files with one batched `squeue` (`track`).

Imports: the observers, the store, the expfile and the bottom of the house. The runner
imports it (an attempt inside a job records its job), so it imports nothing of the
runner: submitting a run is `running.slurm_submit`, a sweep's job arrays `sweeps.slurm`,
and the entry points inside jobs are `cli.slurm_job` and `sweeps.array_task`.
"""
