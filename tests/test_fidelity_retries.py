"""Cohort mode against exact mode where retries come within a tick of their failure.

A station with a short queue turns requests away, and clients that retry at once (or
after a backoff shorter than a tick) present them again while the queue is still as
full as it was: in exact mode most are turned away again. Cohort mode gathers retries
per tick, and those due in the tick they failed in go out at once; placed over a whole
tick from the failure, they came half a tick late on average, when a worker had had
half a tick to free a place, and so were let in far more often than exact mode lets
them in: with immediate retries, joined was 5.5 points of arrivals above exact mode's
at 0.1 s ticks and 4 points at 0.05 s. Placed over the delays they have, they agree.

Both modes run on the same arrivals (cohort mode's counts per tick are exact mode's
arrival times binned by tick, as in ``tests/test_fidelity_deadlines.py``), over three
seeds; the criteria are the differential suite's: joined and abandoned within 2% of
arrivals, p99 join latency within 10%, the station's blocking within 10% relative or
half a point.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim

S = "architecture.stations.server."
# Five workers, exponential service of 0.1 s, room for three in the queue: ρ 0.9, and
# about a third of the attempts turned away.
SHORT_QUEUE = [
    "run.report=false", "run.progress=false", "run.metrics_tick_s=1",
    "architecture=single_station", "run.horizon_s=200",
    "arrivals=constant", "arrivals.rate=45",
    S + "workers_per_instance=5", S + "service.mean_s=0.1", S + "queue_limit=3",
    "clients.timeout_s=2", "clients.retry.max_attempts=4",
    "clients.impatient_share=0", "clients.patience_s=null", "clients.reconnect=false",
]
SEEDS = (1, 2, 3)


def _means(overrides: list[str]) -> dict[str, float]:
    rows = [sim.run([*SHORT_QUEUE, *overrides, f"run.seed={seed}"]).summary
            for seed in SEEDS]
    arrived = float(np.mean([r["legit"]["arrived"] for r in rows]))
    st = [r["stations"]["server"] for r in rows]
    return {
        "joined": float(np.mean([r["legit"]["joined"] for r in rows])) / arrived,
        "abandoned": float(np.mean([r["legit"]["abandoned"] for r in rows])) / arrived,
        "p99": float(np.mean([r["join_latency_s"]["p99"] for r in rows])),
        "blocking": float(np.mean([s["rejected"] / s["offered"] for s in st])),
    }


@pytest.mark.parametrize(("retry", "tick"), [
    pytest.param(["clients.retry.policy=immediate"], 0.1, id="immediate-0.1"),
    pytest.param(["clients.retry.policy=immediate"], 0.05, id="immediate-0.05"),
    # Short backoffs: within a tick, or spanning the next (full jitter up to 150 ms).
    pytest.param(["clients.retry.policy=fixed", "clients.retry.base_s=0.02"], 0.1,
                 id="fixed-20ms-0.1", marks=pytest.mark.slow),
    pytest.param(["clients.retry.policy=full_jitter", "clients.retry.base_s=0.15",
                  "clients.retry.cap_s=0.15"], 0.1,
                 id="full-jitter-150ms-0.1", marks=pytest.mark.slow),
])
def test_retries_within_a_tick_same_arrivals(retry: list[str], tick: float) -> None:
    # Same arrivals in both modes: below SHARED_DRAW_MAX cohort mode bins exact mode's.
    exact = _means([*retry, "run.resolution_s=0"])
    cohort = _means([*retry, f"run.resolution_s={tick}"])
    assert exact["blocking"] > 0.2  # the regime is reached: retries meet a full queue
    for key in ("joined", "abandoned"):
        assert abs(cohort[key] - exact[key]) <= 0.02, \
            f"{key}: exact {exact[key]:.4f}, cohort {cohort[key]:.4f} of arrivals"
    assert cohort["p99"] == pytest.approx(exact["p99"], rel=0.10), \
        f"p99: exact {exact['p99']:.3f} s, cohort {cohort['p99']:.3f} s"
    e, c = exact["blocking"], cohort["blocking"]
    assert abs(c - e) <= max(0.10 * e, 0.005), f"blocking: exact {e:.4f}, cohort {c:.4f}"
