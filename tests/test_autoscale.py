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


@pytest.mark.parametrize("resolution", [0, 0.1])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hpa_trajectory_matches_hand_computation(seed: int, resolution: float) -> None:
    """Exact mode and cohort mode (0.1 s ticks) give the same replica trajectory."""
    res = sim.run([*OVERRIDES, f"run.seed={seed}", f"run.resolution_s={resolution}"])
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


def test_cost_is_instance_seconds_times_price() -> None:
    """Billed from launch: 1 instance over [0, 15), 2 over [15, 45), 4 over [45, 75),
    7 over [75, 105), 9 over [105, 405), 5 over [405, 600]: 15 + 60 + 120 + 210 + 2700 +
    975 = 4080 instance-seconds, at 0.36 USD per instance-hour = 0.408 USD."""
    res = sim.run([*OVERRIDES, "architecture.stations.server.price_per_instance_hour=0.36"])
    cost = res.summary["cost"]
    assert cost["stations"]["server"]["instance_s"] == pytest.approx(4080)
    assert cost["stations"]["server"]["usd"] == pytest.approx(0.408)
    assert cost["usd"] == pytest.approx(0.408)


def _changes(res: sim.Result, column: str) -> list[tuple[float, float]]:
    t, v = res.timeseries["t_s"], np.round(res.timeseries[column], 6)
    idx = np.flatnonzero(np.diff(v)) + 1
    return [(float(t[i]), float(v[i])) for i in idx]


# -- Kubernetes HPA: behavior policies, ramp, several metrics ------------------------------

SURGE = [o for o in OVERRIDES if not o.startswith(("arrivals.rate", "autoscaler.target",
                                                   "run.horizon"))]


@pytest.mark.parametrize("resolution", [0, 0.1])
def test_hpa_scale_up_is_limited_by_the_default_policies(resolution: float) -> None:
    """2000 rps on 100 rps per instance at target 0.1: utilization is 1 throughout, so the
    HPA asks for ceil(n × 10) every sync; the default policies allow max(2n, n + 4) from
    the count at the start of each 15 s period (a change made exactly 15 s ago is outside
    the period):

    t=15  current 1, ready 1 -> wants 10, limit max(2, 5) = 5    -> 5 (ready at 35)
    t=30  current 5, ready 1 -> wants 10, limit max(10, 9) = 10  -> 10 (ready at 50)
    t=45  current 10, ready 5 -> wants 50, limit max(20, 14) = 20 -> 20
    t=60  current 20, ready 10 -> wants 100, limit max(40, 24) = 40 -> 40
    """
    res = sim.run([*SURGE, "arrivals.rate=2000", "autoscaler.target_utilization=0.1",
                   "run.horizon_s=60", f"run.resolution_s={resolution}"])
    assert _changes(res, "server.desired") == [(15, 5), (30, 10), (45, 20), (60, 40)]
    assert _changes(res, "server.instances") == [(35, 5), (50, 10)]


def test_hpa_per_station_policy_override() -> None:
    """One pod per 60 s (a per-station behavior override): t=15 -> 2; t=30, 45, 60 the
    +1 of t=15 is still inside the period (start 1, limit 2); t=75 it is not -> 3."""
    res = sim.run([*SURGE, "arrivals.rate=2000", "autoscaler.target_utilization=0.1",
                   "run.horizon_s=80",
                   "+autoscaler.per_station.server.behavior.scale_up.policies="
                   "[{type: Pods, value: 1, period_s: 60}]"])
    assert _changes(res, "server.desired") == [(15, 2), (75, 3)]


def test_hpa_select_policy_disabled_never_scales_up() -> None:
    res = sim.run([*SURGE, "arrivals.rate=2000", "autoscaler.target_utilization=0.1",
                   "run.horizon_s=60", "autoscaler.behavior.scale_up.select_policy=Disabled"])
    assert np.unique(res.timeseries["server.desired"]).tolist() == [1]


RAMP = [o for o in SURGE if "workers" not in o and "provisioning" not in o
        and not o.startswith("arrivals")] + [
    "arrivals=ramp", "arrivals.start_s=0", "arrivals.end_s=240", "arrivals.rate_start=820",
    "arrivals.rate_end=6580", "architecture.stations.server.workers_per_instance=200",
    "autoscaler.target_utilization=0.5", "architecture.stations.server.provisioning_delay_s=0",
    "run.horizon_s=239"]


@pytest.mark.parametrize("resolution", [pytest.param(0, marks=pytest.mark.slow), 0.1])
def test_hpa_follows_a_ramp(resolution: float) -> None:
    """Arrivals ramp from 820 rps by 24 rps per second; an instance serves 2000 rps, 1000
    at the 0.5 target; instances are ready at once. At a sync at t the mean rate of the
    last 15 s is 820 + 24 (t − 7.5), the ratio to target rate/(1000 n):

    t=15 1.00 (in band)  t=30 1.46 -> ceil(1.46) = 2   t=45 0.85 -> ceil(1.70) = 2
    t=60 0.97            t=75 1.13 -> ceil(2.26) = 3   t=90 0.93 ... t=105 1.05
    t=120 1.13 -> ceil(3.40) = 4   t=135 ... t=150 1.03   t=165 1.13 -> ceil(4.54) = 5
    t=180 ... t=195 1.05   t=210 1.14 -> ceil(5.68) = 6   t=225 0.99
    (every ratio and product at least 3% from a band edge or an integer: Poisson noise
    over 15 s at these rates is below 1%).
    """
    res = sim.run([*RAMP, f"run.resolution_s={resolution}"])
    assert _changes(res, "server.desired") == [(30, 2), (75, 3), (120, 4), (165, 5),
                                               (210, 6)]


def test_hpa_takes_the_highest_metric() -> None:
    """At t=15 utilization asks for 2 (trajectory above), the queue (about 1100 requests
    on average over the first 15 s, target 100 per instance) for about 11: the highest
    wins, limited by the default policies to 5."""
    res = sim.run([*OVERRIDES, "autoscaler.metrics=[cpu,queue]",
                   "autoscaler.target_queue_per_instance=100", "run.horizon_s=20"])
    assert _changes(res, "server.desired") == [(15, 5)]
    assert {"server.metric", "server.metric.cpu", "server.metric.queue"} <= set(res.timeseries)
    assert res.timeseries["server.metric.queue"][16] > 500


def test_plain_metric_replicas_documented_cases() -> None:
    from sim.model.autoscale import plain_metric_replicas as f
    assert f(4, 4, 0, 0, 1.05, 0.1) == 4  # inside the tolerance band: keep the count
    assert f(4, 4, 0, 0, 1.5, 0.1) == 6  # ceil(4 × 1.5)
    # Unready pods count as 0% on a scale-up; if that reverses the direction, keep.
    assert f(4, 2, 2, 0, 1.5, 0.1) == 4  # 3 / 4 = 0.75 < 1: reversed
    assert f(3, 2, 1, 0, 2.0, 0.1) == 4  # 4 / 3 = 1.33 -> ceil(4.0) = 4
    # Missing metrics count as 100% of the request on a scale-down (1/0.6 of target) ...
    assert f(10, 8, 0, 2, 0.25, 0.1, 1 / 0.6) == 6  # (2 + 3.33) / 10 -> ceil(5.33)
    # ... and as 0% on a scale-up: 4 / 4 = 1.0 is inside the band.
    assert f(4, 2, 0, 2, 2.0, 0.1, 1 / 0.6) == 4


def test_behavior_limits() -> None:
    from collections import deque

    from sim.config import BehaviorConfig, ScalingPolicyConfig, ScalingRulesConfig
    from sim.model.autoscale import scale_down_limit, scale_up_limit
    b = BehaviorConfig()
    none: deque[tuple[float, int]] = deque()
    assert scale_up_limit(3, none, none, b.scale_up, 100.0) == 7  # max(6, 7)
    assert scale_up_limit(3, deque([(90.0, 2)]), none, b.scale_up, 100.0) == 5  # from 1
    assert scale_up_limit(3, deque([(85.0, 2)]), none, b.scale_up, 100.0) == 7  # outside
    b.scale_up.select_policy = "Min"
    assert scale_up_limit(3, none, none, b.scale_up, 100.0) == 6  # min(6, 7)
    assert scale_down_limit(10, none, none, b.scale_down, 100.0) == 0  # Percent 100
    pods = ScalingRulesConfig(300.0, "Max", [ScalingPolicyConfig("Pods", 2, 60.0)])
    assert scale_down_limit(10, none, deque([(50.0, 2)]), pods, 100.0) == 10  # 12 - 2


def test_aws_adjustment_rounding() -> None:
    from sim.model.autoscale import aws_adjustment as f
    assert f(10, 3, "ChangeInCapacity", 1) == 13
    assert f(10, 12.7, "PercentChangeInCapacity", 1) == 11  # 1.27 rounds down
    assert f(10, 5, "PercentChangeInCapacity", 1) == 11  # 0.5 rounds to 1
    assert f(10, -5, "PercentChangeInCapacity", 1) == 9  # -0.5 rounds to -1
    assert f(30, -22.2, "PercentChangeInCapacity", 1) == 24  # -6.66 rounds up to -6
    assert f(10, 5, "PercentChangeInCapacity", 2) == 12  # at least the minimum magnitude


# -- AWS policies ---------------------------------------------------------------------------

AWS = [o for o in OVERRIDES if not o.startswith(("autoscaler", "arrivals.rate", "run.horizon",
                                                 "architecture.stations.server.instances"))]


@pytest.mark.parametrize("resolution", [0, 0.1])
def test_target_tracking_steady_state_and_slow_scale_in(resolution: float) -> None:
    """290 rps; an instance serves 100 rps, 60 at target 0.6; steady state ceil(4.83) = 5.

    From 4 instances (utilization 0.725, ratio 1.21): above target at t=60, 120, 180, so at
    t=180 -> ceil(4 × 1.21) = 5; the new instance is ready at 200 and warms at half speed
    (5 of 10 workers) until 320, counted as capacity (no second launch). Then 0.58: inside
    [0.9, 1] × target, steady. From 10 instances (ratio 0.48): 15 periods below 0.9 ×
    target, so only at t=900 -> ceil(10 × 0.48) = 5: in slower than out.
    """
    base = [*AWS, "autoscaler=target_tracking", "arrivals.rate=290",
            f"run.resolution_s={resolution}"]
    res = sim.run([*base, "architecture.stations.server.instances=4", "run.horizon_s=400"])
    assert _changes(res, "server.desired") == [(180, 5)]
    assert _changes(res, "server.warming") == [(200, 1), (320, 0)]
    cap = res.timeseries["server.capacity"]
    assert cap[250] == pytest.approx(45) and cap[350] == pytest.approx(50)
    util = res.timeseries["server.busy"][330:] / cap[330:]
    assert 0.54 < util.mean() < 0.62
    res = sim.run([*base, "architecture.stations.server.instances=10", "run.horizon_s=960"])
    assert _changes(res, "server.desired") == [(900, 5)]


def test_step_scaling_counts_warming_instances() -> None:
    """300 rps on one 100 rps instance (saturated: utilization 1, 0.4 above the 0.6
    threshold: the +100% step). t=60: 1 ready -> 2. t=120, 180: the new one is warming,
    1 ready -> 2 again, nothing more. t=240: 2 ready -> 4. t=300, 360: 2 ready. t=420: 4
    ready, still saturated by the backlog -> 8."""
    res = sim.run([*AWS, "autoscaler=step", "arrivals.rate=300", "run.horizon_s=430"])
    assert _changes(res, "server.desired") == [(60, 2), (240, 4), (420, 8)]


def test_simple_scaling_waits_for_cooldown() -> None:
    """Saturated at 300 rps: +1 at t=60, then nothing for the 300 s cooldown: +1 at 360
    and 660."""
    res = sim.run([*AWS, "autoscaler=simple", "arrivals.rate=300", "run.horizon_s=700"])
    assert _changes(res, "server.desired") == [(60, 2), (360, 3), (660, 4)]


SCHEDULE = "autoscaler.schedule=[{at_s: -100, min_instances: 6}, {at_s: 100, min_instances: 1}]"


def test_scheduled_actions_fire_relative_to_the_event_start() -> None:
    """Event start 200: min 6 at t=100 (ready 20 s later), min 1 at t=300; target tracking
    at 30 rps (ratio 0.5, then 0.08) scales in once 15 periods were below target: t=900."""
    res = sim.run([*AWS, "autoscaler=scheduled", "arrivals.rate=30", "run.horizon_s=960",
                   "autoscaler.event_start_s=200", SCHEDULE, "autoscaler.warmup_s=0"])
    assert _changes(res, "server.desired") == [(100, 6), (900, 1)]
    assert _changes(res, "server.instances") == [(120, 6), (900, 1)]


def test_warm_pool_against_cold_start() -> None:
    """The same scheduled scale-out to 6 at t=100: cold instances take the 90 s
    provisioning delay and then warm for 120 s at half speed; from a warm pool they serve
    at full speed after 10 s."""
    base = [*AWS, "arrivals.rate=30", "run.horizon_s=400", "autoscaler.event_start_s=200",
            SCHEDULE, "architecture.stations.server.provisioning_delay_s=90"]
    cold = sim.run([*base, "autoscaler=scheduled"])
    warm = sim.run([*base, "autoscaler=warm_pool", SCHEDULE])
    assert _changes(cold, "server.capacity") == [(191, 35), (311, 60)]
    assert _changes(warm, "server.capacity") == [(111, 60)]
    assert warm.summary["stations"]["server"]["autoscaler"]["from_warm_pool"] == 5


def test_quotas_cap_instances_and_launch_rate() -> None:
    """Min 6 at t=100 under a 5-instance quota and 2 launches per minute: desired 5;
    2 launched at t=100 (ready 120), the other 2 once the minute has passed (160, ready
    180)."""
    res = sim.run([*AWS, "autoscaler=scheduled", "arrivals.rate=30", "run.horizon_s=300",
                   "autoscaler.event_start_s=200", SCHEDULE, "autoscaler.warmup_s=0",
                   "autoscaler.max_instances=5", "autoscaler.max_launches_per_min=2"])
    assert res.timeseries["server.desired"].max() == 5
    assert _changes(res, "server.instances") == [(120, 3), (180, 5)]
    assert res.summary["stations"]["server"]["autoscaler"]["throttled_launches"] == 2


def test_predictive_scaling_is_ready_before_the_surge() -> None:
    """600 rps from t=600; 60 rps per instance at target: the forecast for [540, 600] seen
    at t=240 (lead 300 s) asks for 10, ready at 260. With a forecast error of -50%: 5."""
    base = [*AWS, "autoscaler=predictive", "arrivals=ramp", "arrivals.start_s=600",
            "arrivals.end_s=1200", "arrivals.rate_start=600", "arrivals.rate_end=600",
            "run.horizon_s=620", "autoscaler.warmup_s=0"]
    res = sim.run(base)
    assert _changes(res, "server.instances")[0] == (260, 10)
    res = sim.run([*base, "autoscaler.predictive.forecast_error=-0.5"])
    assert _changes(res, "server.instances")[0] == (260, 5)


@pytest.mark.parametrize(("override", "words"), [
    ("+autoscaler.per_station.server.bogus=1", ["per_station.server.bogus", "warmup_s"]),
    ("autoscaler.behavior.scale_down.select_policy=Maximum",
     ["select_policy", "Max, Min, Disabled"]),
    ("autoscaler.metrics=[cpu,latency]", ["autoscaler.metrics", "cpu, queue, listeners"]),
    ("autoscaler.steps=[{lower: 0, upper: 1, adjustment: 1}, {lower: 0.5, adjustment: 2}]",
     ["steps[1].lower", "do not overlap"]),
    ("+autoscaler.per_station.server.warmup_speed=0", ["per_station.server.warmup_speed",
                                                        "(0, 1]"]),
    ("autoscaler.per_station.server.kind=hpa", ["+autoscaler.per_station.server"]),
])
def test_bad_autoscaler_config(override: str, words: list[str]) -> None:
    with pytest.raises(sim.ConfigError) as err:
        sim.run([*OVERRIDES, override])
    for w in words:
        assert w in str(err.value), str(err.value)


def test_per_station_kinds() -> None:
    """A per-station ``kind`` turns one station's autoscaler on (or off) against the block."""
    small = ["arrivals.audience=3000", "run.horizon_s=400", "run.report=false",
             "run.progress=false", "run.resolution_s=0.1"]
    res = sim.run([*small, "autoscaler=none", "+autoscaler.per_station.join.kind=hpa"])
    scaled = {n for n, s in res.summary["stations"].items() if "autoscaler" in s}
    assert scaled == {"join"} and "join.desired" in res.timeseries
    res = sim.run([*small, "autoscaler=hpa", "+autoscaler.per_station.fanout.kind=target_tracking",
                   "+autoscaler.per_station.edge.kind=none"])
    kinds = {n: s["autoscaler"]["kind"] for n, s in res.summary["stations"].items()
             if "autoscaler" in s}
    assert kinds == {"auth": "hpa", "join": "hpa", "fanout": "target_tracking"}


@pytest.mark.parametrize("preset", ["hpa", "target_tracking", "step", "simple", "scheduled",
                                    "predictive", "warm_pool"])
def test_presets_in_cohort_mode_keep_the_books(preset: str) -> None:
    res = sim.run([f"autoscaler={preset}", "arrivals.audience=50000", "run.horizon_s=700",
                   "run.resolution_s=0.5", "run.report=false", "run.progress=false"])
    legit = res.summary["legit"]
    assert legit["arrived"] == legit["joined"] + legit["abandoned"] + legit["in_flight"]
    cost = res.summary["cost"]
    assert cost["usd"] == pytest.approx(sum(s["usd"] for s in cost["stations"].values()))
    assert set(cost["stations"]) == set(res.summary["stations"])
    for name, st in res.summary["stations"].items():
        if "autoscaler" in st:
            ts = res.timeseries
            assert np.all(ts[f"{name}.ready"] <= ts[f"{name}.instances"])
            # Without a launch quota the fleet is always at the desired count.
            assert np.array_equal(ts[f"{name}.instances"] + ts[f"{name}.pending"],
                                  ts[f"{name}.desired"])
