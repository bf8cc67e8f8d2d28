"""The autoscalers against trajectories computed by hand from their documented behaviour.

Kubernetes HPA: desired = ceil(ready × utilization / target), tolerance 0.1, sync every
15 s, scale-down to the highest recommendation of the last 300 s (a recommendation counts
while its time is strictly after now − 300 s, the controller's ``After(cutoff)``), and
the default behavior policies: scale-up to at most max(2 × n, n + 4) per 15 s
(Percent 100 and Pods 4, selectPolicy Max) from n at the start of the period, scale-down
Percent 100 per 15 s.

Scenario: one station, 10 workers per instance, deterministic 0.1 s service (100 rps per
instance), Poisson arrivals at 250 rps, patient clients, target utilization 0.6, new
instances ready 20 s after launch. While the backlog lasts, utilization is exactly 1, so
the trajectory does not depend on the random numbers until the backlog drains:

t=15   ready 1, util 1            -> ceil(1/0.6)=2 (policy limit max(2, 5)=5), launch 1
       (ready at 35)
t=30   ready 1, util 1            -> 2 = ready+pending, nothing
t=45   ready 2, util 1            -> ceil(2/0.6)=4 (limit max(4, 6)), launch 2 (ready at 65)
t=60   ready 2                    -> 4, nothing
t=75   ready 4, util 1 (backlog ~6750 requests at t=65, draining at 150 rps)
                                  -> ceil(4/0.6)=7 (limit max(8, 8)), launch 3 (ready at 95)
t=90   ready 4                    -> 7, nothing
t=105  ready 7; over [90, 105] capacity 40×5 + 70×10 = 900 worker-s, busy 200 + 350 +
       25×5 = 675 (backlog gone at ~100 s)  -> util 0.75 -> ceil(7×1.25)=9, launch 2
       (ready at 125)
t=120… utilization 250/900 ≈ 0.28 -> recommendation 5, but the 300 s window still holds
       the 9 of t=105, so it stays at 9; at t=405 the 9 is no longer after 405 − 300 and
       the count drops to 5 (Percent 100 allows a drop to 0; min 1).
t≥405  5 instances: util 0.5, ratio 0.83 -> ceil(4.17)=5, steady.

The policies do not bind here (the largest step, 4 -> 7, is within the limit of 8).
"""

from __future__ import annotations

import numpy as np
import pytest

import sim

OVERRIDES = [
    "architecture=single_station",
    "arrivals=constant",
    "arrivals.rate=250",
    "clients=patient",
    "autoscaler=hpa",
    "autoscaler.target_utilization=0.6",
    "architecture.stations.server.instances=1",
    "architecture.stations.server.workers_per_instance=10",
    "architecture.stations.server.service.dist=deterministic",
    "architecture.stations.server.service.mean_s=0.1",
    "architecture.stations.server.provisioning_delay_s=20",
    "run.horizon_s=600",
    "run.report=false",
    "run.progress=false",
]

EXPECTED = [  # (from, to, instances): half-open intervals of simulated time
    (1, 35, 1),
    (35, 65, 2),
    (65, 95, 4),
    (95, 125, 7),
    (125, 405, 9),
    (405, 600, 5),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hpa_trajectory_matches_hand_computation(seed: int) -> None:
    res = sim.run([*OVERRIDES, f"run.seed={seed}"])
    t = res.timeseries["t_s"]
    inst = res.timeseries["server.instances"]
    for lo, hi, n in EXPECTED:
        sel = (t >= lo) & (t < hi)
        got = np.unique(inst[sel])
        assert got.tolist() == [n], f"t in [{lo}, {hi}): expected {n} instances, got {got}"
    hpa = res.summary["stations"]["server"]["autoscaler"]
    assert (hpa["launched"], hpa["removed"]) == (8, 4)


def test_hpa_tolerance_band_holds_steady() -> None:
    # 5 instances at 300 rps: utilization 0.6 exactly on average; the ±10% band keeps the
    # count fixed through Poisson noise (15 s of 300 rps: ±1.5% relative).
    res = sim.run([*OVERRIDES, "arrivals.rate=300", "architecture.stations.server.instances=5"])
    assert np.unique(res.timeseries["server.instances"]).tolist() == [5]
    hpa = res.summary["stations"]["server"]["autoscaler"]
    assert (hpa["launched"], hpa["removed"]) == (0, 0)


def test_hpa_respects_max_instances() -> None:
    res = sim.run([*OVERRIDES, "architecture.stations.server.max_instances=3"])
    assert res.timeseries["server.instances"].max() == 3
