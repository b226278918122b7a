"""The four stages of an experiment, in the order they run (SPEC §3): a module of its own
so that the command line names them without building the model's classes."""

from __future__ import annotations

STAGES = ("pre-run", "run", "post-run", "fetch")
