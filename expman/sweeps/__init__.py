"""Sweeps (SPEC §9): many runs of one question. `plan` turns a definition into points."""
