"""One attempt of one run (SPEC §4, §5): the stage graph run by doit, each step as a
process, the snapshot, the open run and the experiment's working state, the outputs, the
end of a run, and runs in a workspace of their own (rerun, a sweep's point).

Owns: the stage graph (`pipeline`, pure) and doit (`engine`, the only module importing
doit), the attempt (`session`), one step as a process (`execute`), the code snapshot
(`snapshot`), `.expman/` (`state`), the open run and its repair (`openrun`), `outputs/`
(`outputs`), ending a run (`ending`), workspaces (`workspace`) and what they show of the
experiment's data (`sharedfiles`), a run opened, run and ended in a workspace
(`inworkspace`, for `rerun` and a sweep's point), rerun (`rerun`), and a run submitted
to Slurm (`slurm_submit`).

Imports: Slurm's environment and scheduler, the observers, the store, the expfile and
the bottom of the house. Sweeps and the command line use it; it never imports them.
"""
