"""Cohort mode (as ``auto`` runs it at launch scale) against exact mode on generated
scenarios: ``tests/scenario_space.py`` draws them, ``tests/differential.py`` runs and
judges them (the criteria are in its docstring).

The default run draws a handful of fixed seeds (1 to 4: seed 0 is a 0.001 s tick, too
slow for the default run); the wide tier (``pytest -m differential``) draws
``SLOW_SEEDS``. A failure names its seed: replay it with
``pytest -m differential tests/test_differential.py -k 'seed17]'`` or
``python tests/differential.py --seeds 17``.

The wide tier runs in CI (``.ci/run``, about ten minutes on two idle cores). Cohort
mode does not meet every criterion on every seed yet: ``KNOWN_GAPS`` lists, per seed,
the criteria it misses on this engine, with exact | cohort as measured. On a listed seed
every other criterion must pass, and every criterion on every other seed; a listed
criterion that starts passing fails the test until it is taken off the list, so the list
can only shrink and a new miss anywhere is a failure. Seeds 0-39 list none. 37 (a
connection-exhaustion attack behind a WAF, auth at ρ 0.58 with a heavy-tailed service,
cv 1.7, a 399 s run of 30 s windows) is undecided on its recovery (``differential.py``'s
docstring): in five of sixteen runs of each mode the SLO breaches, each time because a
single request is turned away in a window of under a hundred attempts early in the
ramp, and the recovery, averaged over those five runs (exact 133, 156, 132 s and twice
none by the horizon; cohort 238, 238, 152 s and twice none), has a bootstrap interval
of the difference of [-76, +159] s. Its first breach, judged on the median, agrees.
23 (a mixed attack with every mitigation, auth at ρ 0.35) came off the
list when a request alone arriving over a window was paced by its own work rather than
by the window (``FluidStation._begin``): its mean wait at auth agrees (4.19e-4 s against
4.15e-4 s over sixteen run seeds; 4.73e-4 s before), and its recovery, either about
245 s or none by the 399 s horizon, is a knife edge that now falls within the criterion
(382.5 s against 364.8 s; 327.2 s before). Seeds 40-79 run on demand
(``python tests/differential.py --first 40 --count 40``): 39 of them pass. 79 passes
since a burst's first requests start on idle workers as they arrive (the wait at the
tier behind a reconnect storm's edge, 2.994e-3 | 2.989e-3 s on sixteen run seeds, was
3.48e-3 s when the burst was paced at the rate from its first request). 57 is undecided
(``differential.py``'s docstring): its first breach misses on sixteen run seeds (medians
154.5 | 141.5 s), but chance crossings of the threshold scatter its first breaches over
65-254 s in both modes, and the bootstrap interval of the difference, [-78, +34] s,
holds zero. An undecided criterion neither fails a seed nor closes a known gap. Before
fluid stations took one instant's cohorts as one batch and served a request alone for
its own service time, four failed: 79 (its edge wait 40% over), 74 (a one-worker tier
behind a waiting room, 13% over), and two that a knife edge decides (46, whether
retries reach 1% of joins and so the p99; 57).

The wide tier also draws the contended family (``CONTENDED_SEEDS``, from
``scenario_space.CONTENDED_FIRST``): a tier 10-30% over its rate under the clients and
an attack together, served as a fluid. On it, joined, abandoned, blocking, the first
breach, the recovery and the bottleneck agree on all twelve seeds (before the queue
limit counted the committed backlog and the cohorts of an instant were gathered near a
limit, eight of the twelve failed on two run seeds, three of them on joined and
abandoned or the first breach). Two miss a latency criterion. Where every rejection
retries at once (1005), each round of retries waits for its tick's settle, where exact
mode's come back within milliseconds, and the edge sees each tick's retries at one
instant. The p99 join latency was four times exact mode's (0.590 s); since a rejection
at a settle moves the requests' clock by how late it comes (``on_failed``), it is 0.233
s against 0.1475 s. What is left: 7.2% of its joins sit in latency parts of 0.15-0.2 s
with tick-wide spreads, against 0.76% of exact mode's joins (seed 1); where they come
from is not established. 1003's p99 sits between the modes of
a bimodal latency (one retry after 2.4 s or two after 7.3 s): the modes are where
exact mode's are since retries gathered for a tick move their clock by how late the
tick sends them (2.517 s and 7.363 s against 2.516 s and 7.358 s at the median, seed 1;
2.596 s and 7.503 s before), but 0.98% of its joins took two retries against exact
mode's 1.11%, on either side of the 1% the p99 reads. Its join tier's wait came off the list
when a request arriving beside cohorts still trickling in waited behind the arrived
shares of all of them (``FluidStation._arrived_work_end``), not behind the whole work
of one taken on just before another's ended (1.061e-4 | 9.71e-5 s; 1.337e-4 s before,
4.8 times exact mode's in the 20 s after the attack's end). 1008 (the join tier
behind a saturated auth tier of deterministic service) came off the list when cohorts
queued behind a backlog were served in the order their requests arrived
(``FluidStation._serve_overlap``): the clients' requests had left auth bunched into
their own work, and the join tier, held to its ceiling, waited 1.3e-4 s against
exact mode's 3.3e-5 s; now 3.5e-5 s against 3.4e-5 s.
Since a settled tick is served from its arrivals behind the work that arrived before
it, its classes interleaved, and what it completes before the settle carries its lag on
(``Cohort.lag_s``), the p99 through a contended edge agrees (1010: 0.130 s against
0.135 s; 0.196 s before), and the burst at the next tier shrank (1008: 0.35 ms before).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from differential import UNDECIDED_SEEDS, _judged, cohort_overrides, compare_seed
from scenario_space import CONTENDED_FIRST, draw

from sim.cli import compose
from sim.config import to_config

DEFAULT_SEEDS = [1, 2, 3, 4]
# The contended family (tests/scenario_space.py: a fluid tier 10-30% over its rate under
# clients and an attack together) from its first seed on.
CONTENDED_SEEDS = list(range(CONTENDED_FIRST, CONTENDED_FIRST + 12))
SLOW_SEEDS = list(range(40)) + CONTENDED_SEEDS

# Criteria cohort mode misses on this engine (module docstring), exact | cohort means
# over the run seeds it took (sixteen) as measured.
KNOWN_GAPS: dict[int, dict[str, str]] = {
    # The contended family (module docstring).
    1003: {"p99": "7.334 | 4.561 s"},
    1005: {"p99": "0.1475 | 0.233 s", "wait.edge": "0 | 1.09e-4 s"},
}

def _check(seed: int) -> None:
    o = compare_seed(seed)
    print(f"replay: python tests/differential.py --seeds {seed}")
    print(o.line())
    assert o.error is None, f"seed {seed}: {o.error}"
    known = KNOWN_GAPS.get(seed, {})
    new = [c for c in o.failures if c.name not in known]
    assert not new, (f"seed {seed} ({o.scenario.description}): "
                     + "; ".join(c.fmt() for c in new))
    # An undecided criterion (the run seeds cannot tell; not a pass) neither fails a
    # seed nor takes a known gap off the list.
    closed = sorted(set(known) - {c.name for c in o.failures + o.undecided})
    assert not closed, (f"seed {seed}: {', '.join(closed)} now agree(s) with exact mode; "
                        "take it off KNOWN_GAPS")


def test_draw_is_reproducible_and_composes() -> None:
    for seed in (0, 1, 2):
        a, b = draw(seed), draw(seed)
        assert a.overrides == b.overrides and a.description == b.description
        to_config(compose([*a.overrides, *cohort_overrides(), "run.report=false",
                           "run.progress=false"]))
    assert draw(0).overrides != draw(1).overrides


@pytest.mark.parametrize("seed", DEFAULT_SEEDS, ids=lambda s: f"seed{s}")
def test_cohort_matches_exact_generated(seed: int) -> None:
    _check(seed)


@pytest.mark.differential
@pytest.mark.parametrize("seed", SLOW_SEEDS, ids=lambda s: f"seed{s}")
def test_cohort_matches_exact_generated_wide(seed: int) -> None:
    _check(seed)


def test_a_noisy_criterion_is_undecided_not_passed_and_a_clear_one_fails() -> None:
    """The verdicts of ``_judged``: a point within the tolerance passes; beyond it, on
    every run seed, a difference the seeds cannot resolve (its bootstrap interval holds
    zero) is undecided, one they resolve fails, and with fewer seeds it fails. Under no
    difference at all a 90% interval still misses zero about one time in ten: those
    fail, as they should at that level."""
    rng = np.random.default_rng(3)
    within = lambda e, c: abs(c - e) <= 5.0  # noqa: E731
    n = UNDECIDED_SEEDS
    verdicts = {"pass": 0, "undecided": 0, "fail": 0}
    for _ in range(100):
        # The same wide distribution (sd 60): point estimates apart by more than 5
        # most of the time, seldom resolved.
        ev, cv = list(rng.normal(150, 60, n)), list(rng.normal(150, 60, n))
        for stat in (np.mean, np.median):
            c = _judged("breach", ev, cv, stat, within, True)
            if c.ok:
                assert c.interval is None and not c.failed and not c.undecided
                verdicts["pass"] += 1
            elif c.undecided:
                lo, hi = c.interval
                assert lo <= 0.0 <= hi and hi - lo > 10.0 and "UNDECIDED" in c.fmt()
                verdicts["undecided"] += 1
            else:
                assert c.failed and "FAIL" in c.fmt()
                verdicts["fail"] += 1
    assert verdicts["undecided"] >= 0.8 * (verdicts["undecided"] + verdicts["fail"]), verdicts
    assert verdicts["fail"] > 0, verdicts  # the interval is not wider than its level
    for _ in range(20):
        # Twenty apart with an sd of 2: resolved, a failure.
        ev, cv = list(rng.normal(150, 2, n)), list(rng.normal(170, 2, n))
        c = _judged("breach", ev, cv, np.median, within, True)
        assert c.failed and c.interval is None and "FAIL" in c.fmt()
        # Noise before every run seed was taken, or on fewer values than
        # UNDECIDED_VALUES (runs that breached): a failure, as before.
        ev, cv = list(rng.normal(150, 60, n)), list(rng.normal(190, 60, n))
        c = _judged("breach", ev, cv, np.mean, within, False)
        assert c.ok or c.failed
        ev, cv = list(rng.normal(150, 60, 4)), list(rng.normal(190, 60, 4))
        c = _judged("recovery", ev, cv, np.mean, within, True)
        assert c.ok or c.failed
