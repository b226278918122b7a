"""The expfile (SPEC §3): `expfile.yaml` read with positions, checked against
`expfile.schema.json` and the rules the schema cannot say, and turned into the typed
model (`Config`, `Step`) that everything else is given.

Owns: YAML with positions (`yamlnodes`), the limits on values: nesting and numbers
(`limits`), schema validation and `-s` overrides (`loading`), cross-field rules
(`rules`), the model (`model`), where the expfile and its archive are (`location`), the
field reference generated from the schema (`reference`).

Imports: only the modules at the bottom of the house (`errors`, `fsutil`, `text`, ...).
Everything above may import it; it imports nothing of the archive, the runner or the
command line.
"""
