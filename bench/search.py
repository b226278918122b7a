"""Adaptive search (`expman sweep --search`): overhead per trial, and quality.

- Overhead: TPE searches of a `true` stage (the objective is `vars.X`, a field of the
  record), `--jobs 2`, 100 and 1,000 trials: wall time per trial, asking included.
  Baselines in the same run: Optuna alone optimising the same trivial objective, in
  memory and with `JournalFileStorage`, and a grid sweep of 100 points of the same
  stage (what a point costs without a sampler); rounds alternate at 100 trials.
  Targets: at most 0.1 s per trial at 1,000 trials, and the per-trial cost at 1,000 no
  more than 1.2 times that at 100. A grid sweep of 1,000 points gives what the search
  adds to a point at 1,000 (trial minus grid point), said beside the same at 100. Also
  the sweep process's own work for one trial over 100 and over 1,000 ended trials (the
  trials' records read, the best found, the next trial asked under the lock and its
  plan line appended; the first in a process reads every record and builds the study,
  the next read what changed and keep the study), beside a TPE ask in Optuna alone.
- Quality: the 2-d Branin function written as a stage, TPE with 30 trials, `--jobs 1`,
  over 10 seeds, through expman and through Optuna alone: the median (and the spread)
  of the best value found. Branin's minimum is 0.397887. It also counts the seeds whose
  trials are, value for value, those of an in-process ask-and-tell loop seeding trial
  i's sampler as expman does (every seed, when expman asks what Optuna asks).

Run: `python -m bench.search` (`--quick`: 100 trials and 2 seeds only).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from bench.common import EXPMAN, call, experiment, load, median, report

TRIVIAL = """\
version: 1
name: trivial-search
vars: {X: 0.0}
stages:
  run: {cmd: "true"}
  fetch: {cmd: "true"}
"""
BRANIN = """\
version: 1
name: branin
vars: {X: 0.0, Y: 0.0}
stages:
  run: {cmd: "python3 branin.py"}
  fetch: {cmd: "cp result.json \\"$EXPMAN_OUTPUTS\\"/"}
metrics: outputs/result.json
"""
BRANIN_PY = """\
import json, math, os

x, y = float(os.environ["X"]), float(os.environ["Y"])
value = (y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6) ** 2
value += 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10
json.dump({"value": value}, open("result.json", "w"))
"""
QUALITY_TRIALS = 30


def branin(x: float, y: float) -> float:
    """Branin as BRANIN_PY computes it, to the last bit (the same order of additions)."""
    value = (y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6) ** 2
    value += 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10
    return value


def _seeded_as_expman(optuna: Any, seed: int) -> list[float]:
    """The values of an in-process ask-and-tell loop on Branin whose trial i's sampler
    is seeded as expman seeds it (`search_study.trial_seed`): what a search should find."""
    from expman.sweeps import search_study

    space = {
        "X": optuna.distributions.FloatDistribution(-5, 10),
        "Y": optuna.distributions.FloatDistribution(0, 15),
    }
    study, values = optuna.create_study(), []
    for i in range(QUALITY_TRIALS):
        study.sampler = optuna.samplers.TPESampler(seed=search_study.trial_seed(seed, i))
        trial = study.ask(space)
        values.append(branin(trial.params["X"], trial.params["Y"]))
        study.tell(trial, values[-1])
    return values


def _optuna() -> object:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    return optuna


def _optuna_alone(trials: int, storage: str | None) -> float:
    """Seconds per trial of Optuna alone optimising `X` (TPE), in memory or journaled."""
    optuna: object = _optuna()
    study_storage = None
    if storage is not None:
        journal = optuna.storages.journal  # type: ignore[attr-defined]
        study_storage = optuna.storages.JournalStorage(  # type: ignore[attr-defined]
            journal.JournalFileBackend(storage)
        )
    started = time.perf_counter()
    study = optuna.create_study(  # type: ignore[attr-defined]
        sampler=optuna.samplers.TPESampler(seed=1),  # type: ignore[attr-defined]
        storage=study_storage,
    )
    study.optimize(lambda t: t.suggest_float("X", 0, 1), n_trials=trials)
    return (time.perf_counter() - started) / trials


def _expman_search(root: Path, trials: int) -> float:
    """Seconds per trial of an expman search of a `true` stage, `--jobs 2`."""
    command = [EXPMAN, "sweep", "-s", "X=uniform(0,1)", "--search", "tpe"]
    command += ["--trials", str(trials), "--objective", "vars.X", "--jobs", "2"]
    started = time.perf_counter()
    call(*command, cwd=root)
    return (time.perf_counter() - started) / trials


def _ask_alone(root: Path, sweep_id: str, asks: int) -> tuple[float, float]:
    """Seconds of what the sweep's process does for one trial of a sweep whose trials
    have all ended (what the trials gave read, the best found, the next trial asked
    under the lock and appended): the first in this process (every record read, the
    study built from every trial), and the median of the next ones (what changed read
    again, the study kept)."""
    from expman.store.archive import Archive
    from expman.sweeps import search_ask, search_best, search_definition, search_trials
    from expman.sweeps.store import Sweeps

    archive = Archive(root / "runs")
    sweeps = Sweeps(archive)
    data = sweeps.read(sweep_id)
    found = search_definition.stored(data["definition"])
    assert found is not None
    data["definition"]["search"] = search_definition.with_trials(
        found, found.trials + asks
    ).as_data()
    sweeps.write(data)
    times = []
    for _ in range(asks):
        started = time.perf_counter()
        told = search_trials.reader(archive, sweep_id, found).told()
        search_best.best(found, told)
        search_ask.ask(archive, sweep_id, told)
        times.append(time.perf_counter() - started)
    return times[0], median(times[1:])


def _tpe_alone(trials: int, asks: int) -> float:
    """Seconds of one TPE ask in Optuna alone after `trials` trials (in memory), each
    with its own sampler as expman seeds it: the part of an ask that is Optuna's."""
    optuna: Any = _optuna()
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
    study.optimize(lambda t: t.suggest_float("X", 0, 1), n_trials=trials)
    space = {"X": optuna.distributions.FloatDistribution(0, 1)}
    times = []
    for i in range(asks):
        started = time.perf_counter()
        study.sampler = optuna.samplers.TPESampler(seed=i, constant_liar=True)
        trial = study.ask(space)
        times.append(time.perf_counter() - started)
        study.tell(trial, trial.params["X"])
    return median(times)


def _grid(root: Path, points: int) -> float:
    """Seconds per point of a grid sweep of the same `true` stage, `--jobs 2`."""
    started = time.perf_counter()
    call(EXPMAN, "sweep", "-s", f"X=1..{points}", "--jobs", "2", cwd=root)
    return (time.perf_counter() - started) / points


def overhead(work: Path, quick: bool) -> bool:
    print(f"  {load()}")
    rounds: dict[str, list[float]] = {"expman": [], "grid": [], "memory": [], "journal": []}
    for number in range(1 if quick else 3):  # alternating rounds, 100 trials
        root = experiment(work / f"trivial-100-{number}", TRIVIAL)
        rounds["expman"].append(_expman_search(root, 100))
        rounds["grid"].append(_grid(experiment(work / f"grid-100-{number}", TRIVIAL), 100))
        rounds["memory"].append(_optuna_alone(100, None))
        rounds["journal"].append(_optuna_alone(100, str(work / f"journal-100-{number}.log")))
    per_trial, grid = {100: median(rounds["expman"])}, {100: median(rounds["grid"])}
    print(
        f"  100 trials, --jobs 2: expman {per_trial[100]:.3f} s per trial (a grid sweep of "
        f"100 points: {grid[100]:.3f} s per point; added by the search "
        f"{per_trial[100] - grid[100]:.3f} s); Optuna alone "
        f"{median(rounds['memory']) * 1000:.1f} ms in memory, "
        f"{median(rounds['journal']) * 1000:.1f} ms journaled"
    )
    met = True
    if not quick:
        first, again = _ask_alone(work / "trivial-100-0", "s0001", 11)
        print(
            f"  a trial's work in the sweep's process over 100 ended trials: {first:.3f} s "
            f"the first in a process, {again * 1000:.1f} ms median after (TPE asked in "
            f"Optuna alone: {_tpe_alone(100, 10) * 1000:.1f} ms)"
        )
        root = experiment(work / "trivial-1000", TRIVIAL)
        per_trial[1000] = _expman_search(root, 1000)
        grid[1000] = _grid(experiment(work / "grid-1000", TRIVIAL), 1000)
        memory = _optuna_alone(1000, None)
        journaled = _optuna_alone(1000, str(work / "journal-1000.log"))
        print(
            f"  1,000 trials, --jobs 2: expman {per_trial[1000]:.3f} s per trial (a grid "
            f"sweep of 1,000 points: {grid[1000]:.3f} s per point; added by the search "
            f"{per_trial[1000] - grid[1000]:.3f} s); Optuna alone {memory * 1000:.1f} ms "
            f"in memory, {journaled * 1000:.1f} ms journaled  ({load()})"
        )
        first, again = _ask_alone(root, "s0001", 11)
        print(
            f"  a trial's work in the sweep's process over 1,000 ended trials: {first:.3f} s "
            f"the first in a process (the study built), {again * 1000:.1f} ms median after "
            f"(TPE asked in Optuna alone: {_tpe_alone(1000, 10) * 1000:.1f} ms)"
        )
        met = report(
            "search overhead per trial, 1,000 trials", per_trial[1000], "s",
            "Optuna alone in memory", memory, 0.1,
        )  # fmt: skip
        growth = per_trial[1000] / per_trial[100]
        verdict = "met" if growth <= 1.2 else "MISSED"
        print(f"  per trial at 1,000 trials / at 100: {growth:.2f}  target <= 1.2: {verdict}")
        met = met and growth <= 1.2
    return met


def quality(work: Path, quick: bool) -> bool:
    optuna: Any = _optuna()
    through, alone, same = [], [], 0
    for seed in range(2 if quick else 10):
        root = experiment(work / f"branin-{seed}", BRANIN, **{"branin.py": BRANIN_PY})
        command = [EXPMAN, "sweep", "-s", "X=uniform(-5,10)", "-s", "Y=uniform(0,15)"]
        command += ["--search", "tpe", "--trials", str(QUALITY_TRIALS), "--seed", str(seed)]
        call(*command, "--objective", "metrics.value", "--jobs", "1", cwd=root)
        runs = [json.loads(p.read_text()) for p in (root / "runs").glob("[0-9]*/run.json")]
        values = [r["metrics"]["value"] for r in sorted(runs, key=lambda r: r["sweep"]["index"])]
        through.append(min(values))
        same += values == _seeded_as_expman(optuna, seed)
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(
            lambda t: branin(t.suggest_float("X", -5, 10), t.suggest_float("Y", 0, 15)),
            n_trials=QUALITY_TRIALS,
        )
        alone.append(study.best_value)
    print(f"  best of {QUALITY_TRIALS} TPE trials on Branin (minimum 0.397887), per seed:")
    print(f"    expman:       {', '.join(f'{v:.3f}' for v in through)}")
    print(f"    Optuna alone: {', '.join(f'{v:.3f}' for v in alone)}")
    print(f"  seeds whose trials equal an in-process loop seeded as expman: {same}")
    print(
        f"  median: expman {median(through):.3f} (range {min(through):.3f}-{max(through):.3f}), "
        f"Optuna alone {median(alone):.3f} (range {min(alone):.3f}-{max(alone):.3f})"
    )
    return same == len(through)  # a seed asking otherwise than Optuna: a target missed


def main(quick: bool = False) -> bool:
    try:
        _optuna()
    except ImportError:
        print('  Optuna is not installed: pip install -e ".[search]"')
        return True
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        met = overhead(work, quick)
        met = quality(work, quick) and met
    return met


if __name__ == "__main__":
    raise SystemExit(0 if main("--quick" in sys.argv[1:]) else 1)
