"""A run while and after it runs (SPEC §11): metric series, the metrics file, the
heartbeat, and which runs are in flight.

Owns: series appended to `$EXPMAN_METRICS` and kept in the store (`series`), read as they
grow as untrusted input (`seriesreader`, `seriesvalues`), summarised and down-sampled
(`curve`); the final metrics file (`metrics`), the heartbeat thread and its file
(`heartbeat`), what a run's processes use (`resources`, `gpu`), the runs in flight of an
archive read from files alone (`inflight`).

Imports: the store (records, objects), the expfile and the bottom of the house. It never
starts or stops a run: the runner, Slurm tracking, `watch`, `status` and the report read
it.
"""
