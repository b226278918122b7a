"""The report (SPEC §12): one self-contained, offline HTML page of an archive.

Owns: the page's data (`data`: records, curves on a shared grid, sweep plans; sorted, so
the same archive gives the same bytes; `images`: the images among runs' outputs, inlined
within a budget or linked), the page itself (`page`, with `static/`: the
page's script and styles and the vendored uPlot with its licence).

Imports: sweeps (their plans), the observers, the store and the bottom of the house.
Only the command line imports it.
"""
