"""Inside a Slurm array task: `python -m expman.slurm.point LIST ROOT ARCHIVE SWEEP RETRIES`.

The task's point is the line of LIST numbered by `SLURM_ARRAY_TASK_ID` (from 0), so that
any set of points (a resume runs only some) fits in arrays whose indexes stay under the
cluster's `MaxArraySize`. Slurm's warning signal (USR2) stops the point as SIGTERM does:
its run is recorded `interrupted`, and `expman sweep --resume` runs it again.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from expman.sweeps import point


def main(argv: list[str]) -> int:
    listing, rest = Path(argv[0]), argv[1:]
    task = int(os.environ["SLURM_ARRAY_TASK_ID"])
    index = listing.read_text(encoding="utf-8").split()[task]

    def warning(signum: int, frame: object) -> None:
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGUSR2, warning)
    root, archive, sweep_id, retries = rest
    return point.main([root, archive, sweep_id, index, retries])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
