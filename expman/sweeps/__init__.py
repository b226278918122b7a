"""Sweeps (SPEC §9): many runs of one question, on this machine or as Slurm job arrays.

Owns: the plan (`plan`, pure: a definition becomes points, never two identical ones;
`values`: a point's values typed and compared; `inputs`: `-s`, named sweeps and points
files read as untrusted input), sweeps as files beside the runs and claims on points
(`store`), one point as its own process (`point`, and `array_task` inside a Slurm array
task), shared pre-run steps (`prerun`), the local backend (`local`, behind `backend`),
the Slurm backend (`slurm`), what a sweep shows (`view`).

Imports: the runner, Slurm, the observers, the store, the expfile and the bottom of the
house. Only the report and the command line import it.
"""
