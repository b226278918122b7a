"""A run while and after it runs (SPEC §11): metric series, the metrics file, the
heartbeat, and which runs are in flight.

Owns: series appended to `$EXPMAN_METRICS`, read as they grow and summarised (`series`),
the final metrics file (`metrics`), the heartbeat thread and its file (`heartbeat`), the
runs in flight of an archive read from files alone (`inflight`).

Imports: the store (records, objects), the expfile and the bottom of the house. It never
starts or stops a run: the runner, Slurm tracking, `watch`, `status` and the report read
it.
"""
