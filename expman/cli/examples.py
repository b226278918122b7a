"""The examples each command's `--help` shows, by command: also the names of the commands
that `arguments` builds alone when one of them is run."""

from __future__ import annotations

EXAMPLES = {
    "init": [
        "expman init step-study",
        "expman init --force   # replace expfile.yaml, keep a backup",
    ],
    "validate": ["expman validate", "expman validate other/expfile.yaml"],
    "start": ["expman start -m 'lr 0.1 converges in half the epochs'", "expman start -s LR=0.1"],
    "run": [
        "expman run",
        "expman run -s LR=1e-3 -s EPOCHS=20  # typed as YAML 1.2: numbers stay numbers",
        "expman run --only pre-run           # one stage",
        "expman run --force                  # no skipping",
        "expman run --on slurm --slurm time=4:00:00 --slurm gpus=1   # a Slurm job",
    ],
    "status": ["expman status"],
    "sweep": [
        "expman sweep -m 'lr and seed' -s LR=0.001,0.01,0.1 -s SEED=1..3 --jobs 2",
        "expman sweep -s LR='loguniform(1e-4,1e-1)' --random 20 --seed 7",
        "expman sweep --points points.csv --plan     # the points, nothing run",
        "expman sweep lr-grid                        # a sweep named in the expfile",
        "expman sweep --resume s0003                 # run what did not succeed",
        "expman sweep status                         # the last sweep's points",
        "expman sweep lr-grid --on slurm --slurm time=1:00:00   # job arrays; returns at once",
    ],
    "end": [
        "expman end -m 'converged at epoch 7; try 0.2'",
        "expman end   # observations from expfile.yaml or $EDITOR",
        "expman end --sweep s0002 -m 'lr above 0.05 diverges at every seed'",
    ],
    "doit": ["expman doit list", "expman doit forget pre-run:data   # the step runs next time"],
    "query": [
        'expman query "[?metrics.acc > \\`0.9\\`].{id: id, lr: vars.LR}" --format table',
        "expman query \"max_by([?status=='succeeded'], &metrics.acc).id\"",
        "expman query \"[?matches(hypothesis, '(?i)learning rate')].id\"",
    ],
    "list": [
        "expman list --where \"status=='failed'\"",
        "expman list --sort metrics.acc --reverse --limit 5   # the five best",
        "expman list --reverse --limit 10                     # the last ten",
        "expman list --columns vars.LR,metrics.acc            # with chosen fields",
        "expman list --tag best                               # tagged with `expman tag`",
    ],
    "show": ["expman show last", "expman show 7 --json"],
    "logs": [
        "expman logs last",
        "expman logs 7 run          # one step",
        "expman logs 7 | less -R",
        "expman logs last run -f    # follow it while it runs",
    ],
    "cancel": [
        "expman cancel 7         # the run's Slurm job: recorded interrupted (cancelled)",
        "expman cancel s0002     # every job of the sweep; --resume runs the rest later",
    ],
    "report": [
        "expman report                          # report.html, beside the expfile",
        "expman report -o study.html --where \"sweep.id=='s0002'\"",
        "expman report --watch                  # rewritten as runs progress; Ctrl-C ends",
    ],
    "watch": [
        "expman watch                 # this archive's runs in flight, until none is left",
        "expman watch --sweep last    # one sweep's points",
        "expman watch --once          # print them once",
    ],
    "diff": ["expman diff last~1 last", "expman diff 3 7"],
    "note": ["expman note 17 -m 'diverged after epoch 40: lr too high'", "expman note last -m ok"],
    "rm": [
        "expman rm 12 13          # moved aside, reversible",
        "expman rm --list",
        "expman rm --restore 12",
        "expman rm --purge        # the removed runs, for good (asks); then `expman gc`",
        "expman rm --purge 13 --yes   # remove and purge, without asking (in a script)",
    ],
    "gc": ["expman gc"],
    "rerun": [
        "expman rerun 17",
        "expman rerun 17 --check   # exit 4 when outputs or metrics differ",
    ],
    "push": ["expman push /shared/lab/runs", "expman push /media/disk/lr-study-runs"],
    "pull": ["expman pull /shared/lab/runs", "expman pull ../laptop-copy/runs"],
    "fsck": ["expman fsck", "expman fsck --repair   # quarantine corrupt objects"],
    "tag": ["expman tag 17 +best", "expman tag 12 +broken -best", "expman tag 3 5 8 +baseline"],
    "schema": [
        "expman schema > expfile.schema.json   # refresh an experiment's copy",
        "expman schema --markdown              # the field reference",
        "expman schema --record                # the schema of run.json",
    ],
}
