"""The archive on disk (SPEC §6, §7, §13): run folders and their records, the content
store, the record cache and queries, and what keeps an archive (notes and tags, removal,
gc and fsck, push and pull).

Owns: records (`record`: the `run.json` document, pure; `run.schema.json`), run folders,
ids and atomic writes (`archive`), content-addressed objects (`objects`) and storing a
folder into them (`storing`), annotations (`annotation`), a sweep's hypothesis and
observations derived into its points' records (`sweepref`), the files a record names
with their hashes (`runfiles`), the trash (`trash`), gc and fsck (`collect`), push and
pull (`sync`), the record cache (`index`: on disk, by segment; `signature`: what a cached
value depends on), the records in memory by column (`recordtable`) and JMESPath over
records (`query`).

Imports: the expfile's model and the bottom of the house. It knows nothing of how a run
is executed, observed or shown: the runner, sweeps, the report and the command line call
it, never the other way round.
"""
