"""Asking an adaptive search for its next trial (SPEC §16): under the sweep folder's
lock, so that two askers (two workers, two resumes) never ask for one trial twice, the
study (`search_study`) asked once and the trial appended to the sweep's plan
(`Sweeps.append`, a journal that only grows): the plan's length is the number of trials
asked, the budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from expman import fsutil
from expman.errors import ArchiveError
from expman.store.archive import Archive
from expman.sweeps import plan, search_study, search_trials
from expman.sweeps.search_definition import Search, specs_of, stored
from expman.sweeps.search_study import trial_seed
from expman.sweeps.search_trials import Told
from expman.sweeps.store import PlanReader, Sweeps


def ask(
    archive: Archive, sweep_id: str, results: Mapping[int, Told] | None = None
) -> plan.Point | None:
    """Ask the sampler for the sweep's next trial and append it to the plan, under the
    sweep's lock; None when the budget is spent. `results`: what the points gave
    (`search_trials`), read by the caller just before (else read here): a trial that
    ended since is told as running, as any trial in flight is. The plan and the records
    are read again only where they changed since this process's last ask."""
    sweeps = Sweeps(archive)
    with fsutil.locked(sweeps.folder(sweep_id)):
        data = sweeps.read(sweep_id)
        search = stored(data["definition"])
        if search is None:
            raise ArchiveError(f"sweep {sweep_id} is not an adaptive search")
        points = _plan_reader(archive, sweep_id).points()
        if len(points) >= search.trials:
            return None
        specs = specs_of(data["definition"])
        try:
            if results is None:
                results = search_trials.reader(archive, sweep_id, search).told()
            point = _asked(archive, sweep_id, search, specs, points, data["graph"], results)
            sweeps.append(sweep_id, point)
        except BaseException:
            search_study.forget(archive, sweep_id)  # it may hold a trial the plan has not
            raise
        search_study.note_asked(archive, sweep_id, point)
        return point


def _asked(
    archive: Archive,
    sweep_id: str,
    search: Search,
    specs: Sequence[plan.Spec],
    points: Sequence[plan.Point],
    graph: str,
    results: Mapping[int, Told],
) -> plan.Point:
    """The next trial as a point of the plan, with its origin."""
    asked, state = search_study.next_values(archive, sweep_id, search, specs, points, results)
    origin: dict[str, Any] = {
        "sampler": search.sampler,
        "seed": trial_seed(search.seed, len(points)),
    }
    if state:
        origin["state"] = state
    return plan.Point(len(points), asked, plan.point_hash(asked, graph), origin)


# The plans this process reads, by archive and sweep: each ask parses only the new lines.
_PLANS: dict[tuple[str, str], PlanReader] = {}


def _plan_reader(archive: Archive, sweep_id: str) -> PlanReader:
    key = (str(archive.root.resolve()), sweep_id)
    found = _PLANS.get(key)
    if found is None:
        found = _PLANS[key] = Sweeps(archive).plan_reader(sweep_id)
    return found
