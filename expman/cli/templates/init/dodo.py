"""doit entry point of this experiment, written by `expman init`.

`doit` (or `doit run`) here runs the stages exactly as `expman run` does, skipping the
same unchanged pre-run steps and recording the run the same way; `doit list` lists the
stages. All logic lives in expman; keep this file as it is.
"""

from expman.engine import dodo_namespace

globals().update(dodo_namespace(__file__))
