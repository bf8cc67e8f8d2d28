"""Failure dynamics on stations, in exact and cohort mode: scheduled outages, slowdown
above a load threshold, overload crashes, lost servers (a reconnect storm), shedding by
queue age, deadline propagation and the server-side retry ratio.

Each feature is checked against a hand computation or a clear expected effect, in both
modes; the books must balance with everything on, and cohort mode must agree with exact
mode on an outage scenario.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim.cli import compose
from sim.config import ConfigError, to_config
from sim.run import Result, Scenario

MODES = [0.0, 0.1]
SERVER = "architecture.stations.server"


def run(overrides: list[str], resolution_s: float, horizon_s: float = 40.0,
        seed: int = 1) -> tuple[Scenario, Result]:
    """single_station (10 workers, 0.1 s exponential service: 100 rps), patient clients."""
    cfg = compose(["architecture=single_station", "arrivals=constant", "clients=patient",
                   f"run.horizon_s={horizon_s}", "run.report=false", "run.progress=false",
                   f"run.resolution_s={resolution_s}", f"run.seed={seed}", *overrides])
    scenario = Scenario(to_config(cfg))
    scenario.run()
    return scenario, scenario.collect()


def tick(ts: dict[str, np.ndarray], key: str, t0: float, t1: float) -> np.ndarray:
    """Values of the ticks ending in (t0, t1]."""
    t = ts["t_s"]
    return ts[key][(t > t0 + 1e-9) & (t <= t1 + 1e-9)]


def balance(summary: dict[str, Any], cfg: Any) -> None:
    """Per station: offered == served + rejected + dropped + shed + in_system."""
    for name, part in summary["stations"].items():
        dropped = part["timed_out"] if cfg.architecture.stations[name].drop_expired else 0
        assert part["offered"] == (part["served"] + part["rejected"] + dropped + part["shed"]
                                   + part["in_system"]), (name, part)
    lg = summary["legit"]
    assert lg["arrived"] == lg["joined"] + lg["abandoned"] + lg["in_flight"], lg


# -- outages ------------------------------------------------------------------------------


@pytest.mark.parametrize("resolution_s", MODES)
def test_outage_share_zero_serves_nothing_and_queues_the_arrivals(resolution_s: float) -> None:
    # 80 rps onto 100 rps of capacity; from 20 s to 30 s the tier is down. Requests in
    # service at 20 s finish (within the first second); after that nothing is served,
    # and every arrival of the window waits: the backlog at 30 s is the window's arrivals
    # (plus the few queued at 20 s, minus the few that finished in its first second).
    scenario, res = run(["arrivals.rate=80",
                         f"{SERVER}.outages=[{{start_s: 20, end_s: 30, capacity_share: 0}}]"],
                        resolution_s, horizon_s=30.0)
    ts, st = res.timeseries, scenario.topology.stations["server"]
    assert tick(ts, "server.served", 21, 30).sum() == 0
    assert np.all(tick(ts, "server.capacity", 21, 30) == 0)
    assert np.all(tick(ts, "server.capacity", 0, 19) == pytest.approx(10))
    arrivals = tick(ts, "server.offered", 20, 30).sum()
    served_first = tick(ts, "server.served", 20, 21).sum()
    assert arrivals == pytest.approx(800, rel=0.12)  # Poisson, 10 s at 80 rps
    assert st.in_system <= arrivals + 30 and st.in_system >= arrivals - served_first
    assert res.summary["stations"]["server"]["outage_s"] == pytest.approx(10.0)
    balance(res.summary, res.config)


@pytest.mark.parametrize("resolution_s", MODES)
def test_outage_from_time_zero_holds_before_the_first_arrival(resolution_s: float) -> None:
    _, res = run(["arrivals.rate=50",
                  f"{SERVER}.outages=[{{start_s: 0, end_s: 10, capacity_share: 0}}]"],
                 resolution_s, horizon_s=12.0)
    assert tick(res.timeseries, "server.served", 0, 10).sum() == 0


@pytest.mark.parametrize("resolution_s", MODES)
def test_outage_share_half_halves_the_rate_then_the_backlog_drains(resolution_s: float) -> None:
    # 80 rps; with half the workers the tier serves 50 rps, so the queue grows at
    # 30 rps for 10 s; after the outage it drains at 100 - 80 = 20 rps (15 s).
    _sc, res = run(["arrivals.rate=80",
                    f"{SERVER}.outages=[{{start_s: 10, end_s: 20, capacity_share: 0.5}}]"],
                   resolution_s, horizon_s=60.0)
    ts = res.timeseries
    assert np.all(tick(ts, "server.capacity", 11, 20) == pytest.approx(5))
    served = tick(ts, "server.served", 12, 20).sum() / 8
    assert served == pytest.approx(50, rel=0.08)
    peak = res.summary["stations"]["server"]["peak_queue"]
    assert peak == pytest.approx(300, rel=0.25)
    assert tick(ts, "server.queue", 50, 60).mean() < 20  # drained
    assert res.summary["stations"]["server"]["outage_s"] == pytest.approx(10.0)


# -- slowdown -----------------------------------------------------------------------------


@pytest.mark.parametrize("resolution_s", MODES)
@pytest.mark.parametrize(("rate", "expect_rps", "expect_mean_s"),
                         [(80, 25.0, 0.4), (40, 40.0, 0.1)])
def test_slowdown_factor_shows_in_the_service_rate_above_the_threshold(
        resolution_s: float, rate: float, expect_rps: float, expect_mean_s: float) -> None:
    # Fast below 60 rps offered, four times slower above: at 80 rps offered the 10
    # workers take 0.4 s each and serve 25 rps (saturated); at 40 rps nothing changes.
    _sc, res = run([f"arrivals.rate={rate}", f"{SERVER}.service.dist=deterministic",
                    f"{SERVER}.slowdown={{above_rps: 60, factor: 4, window_s: 2}}"],
                   resolution_s, horizon_s=40.0)
    ts = res.timeseries
    served = tick(ts, "server.served", 10, 40)
    assert served.mean() == pytest.approx(expect_rps, rel=0.06)
    busy = tick(ts, "server.busy", 10, 40).sum()  # worker-seconds, 1 s ticks
    assert busy / served.sum() == pytest.approx(expect_mean_s, rel=0.06)


@pytest.mark.parametrize("resolution_s", MODES)
@pytest.mark.parametrize("workers", [10, 100])  # served one by one, and as a fluid
@pytest.mark.parametrize(("counts", "factor_seen"), [("offered", 4.0), ("started", 1.0)])
def test_slowdown_counting_started_work_ignores_what_the_tier_turns_away(
        resolution_s: float, workers: int, counts: str, factor_seen: float) -> None:
    # 1.5× the tier's capacity offered, against a queue limit of one second of work: a
    # third is turned away at admission. Offered, the rate is over the threshold (1.2×
    # capacity) and the tier serves at a quarter of its speed; counting the requests
    # started (at most its capacity, under the threshold), it serves at full speed.
    capacity = workers / 0.1
    _sc, res = run([f"arrivals.rate={1.5 * capacity}", f"{SERVER}.service.dist=deterministic",
                    f"{SERVER}.workers_per_instance={workers}",
                    f"{SERVER}.queue_limit={int(capacity)}",
                    f"{SERVER}.slowdown={{above_rps: {1.2 * capacity}, factor: 4, "
                    f"window_s: 2, counts: {counts}}}"],
                   resolution_s, horizon_s=30.0)
    ts = res.timeseries
    served = tick(ts, "server.served", 10, 30)
    assert served.mean() == pytest.approx(capacity / factor_seen, rel=0.06)
    assert res.summary["stations"]["server"]["rejected"] > 0.25 * tick(
        ts, "server.offered", 0, 30).sum()
    balance(res.summary, res.config)


# -- config -------------------------------------------------------------------------------


@pytest.mark.parametrize(("override", "key"), [
    (f"{SERVER}.outages=[{{start_s: 5, end_s: 5, capacity_share: 0}}]",
     f"{SERVER}.outages[0].end_s"),
    (f"{SERVER}.outages=[{{start_s: 0, end_s: 5, capacity_share: 1.5}}]",
     f"{SERVER}.outages[0].capacity_share"),
    (f"{SERVER}.slowdown={{above_rps: 10, factor: 0.5}}", f"{SERVER}.slowdown.factor"),
    (f"{SERVER}.slowdown={{above_rps: 10, factor: 2, window_s: 0}}",
     f"{SERVER}.slowdown.window_s"),
    (f"{SERVER}.slowdown={{above_rps: 10, factor: 2, counts: admitted}}",
     f"{SERVER}.slowdown.counts"),
    (f"{SERVER}.crash.enabled=true", f"{SERVER}.crash.above_utilization"),
    (f"{SERVER}.crash={{enabled: true, above_utilization: 1.5}}",
     f"{SERVER}.crash.above_utilization"),
    (f"{SERVER}.crash={{enabled: true, queue_per_instance: 5, restart_s: 0}}",
     f"{SERVER}.crash.restart_s"),
    (f"{SERVER}.failures=[{{at_s: 5, instances: 0}}]", f"{SERVER}.failures[0].instances"),
    (f"{SERVER}.shed_queue_age_s=-1", f"{SERVER}.shed_queue_age_s"),
    (f"{SERVER}.retry_ratio_max=1.5", f"{SERVER}.retry_ratio_max"),
])
def test_bad_failure_config_names_the_key(override: str, key: str) -> None:
    # A closed set of names is checked by the schema as the config composes; the rest
    # by the validation after.
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        to_config(compose(["architecture=single_station", override]))


# -- overload crashes ---------------------------------------------------------------------

CRASH = [f"{SERVER}.instances=2", f"{SERVER}.workers_per_instance=5",
         f"{SERVER}.crash={{enabled: true, queue_per_instance: 20, after_s: 5, restart_s: 10}}"]


@pytest.mark.parametrize("resolution_s", MODES)
def test_crash_timeline(resolution_s: float) -> None:
    # 150 rps onto 2 × 5 workers (100 rps): the queue grows at 50 rps, past 20 per
    # instance in the tick (1, 2]; overloaded from t = 1, so the first instance
    # crashes at t = 6, half the queue and half the requests in service failing with
    # it. The other instance, now alone, is overloaded from t = 6 and crashes at t = 11
    # with the rest of the queue. Nothing is up until the first restart at t = 16.
    scenario, res = run(["arrivals.rate=150", *CRASH], resolution_s, horizon_s=15.0)
    ts, st = res.timeseries, scenario.topology.stations["server"]
    crashed = dict(zip(ts["t_s"].tolist(), ts["server.crashed"].tolist(), strict=True))
    assert [crashed[t] for t in (5.0, 7.0, 10.0, 12.0, 15.0)] == [0, 1, 1, 2, 2]
    part = res.summary["stations"]["server"]
    assert part["crashes"] == 2
    # The queue at 6 s is about 5 × 50 = 250 (half fails), at 11 s about 250 + 5 × 100
    # less the half (all of it fails); patient clients do not retry.
    assert part["killed"] == pytest.approx(125 + 625, rel=0.2)
    assert res.summary["legit"]["abandoned"] == part["killed"]
    assert tick(ts, "server.served", 12, 15).sum() == 0
    assert st.serving == 0 and st.instances == 2
    balance(res.summary, res.config)


@pytest.mark.parametrize("resolution_s", MODES)
def test_crashed_instance_restarts(resolution_s: float) -> None:
    # The first crash comes at t = 6 as above; with a 3 s restart the instance is back at
    # t = 9, before the second one is due (t = 11).
    _sc, res = run(["arrivals.rate=150", *CRASH, f"{SERVER}.crash.restart_s=3"],
                   resolution_s, horizon_s=12.0)
    crashed = dict(zip(res.timeseries["t_s"].tolist(),
                       res.timeseries["server.crashed"].tolist(), strict=True))
    assert crashed[7.0] == 1 and crashed[10.0] == 0  # down from 6 s to 9 s
    assert res.summary["stations"]["server"]["crashes"] >= 1


# -- lost servers: a reconnect storm ------------------------------------------------------

LISTEN = ["arrivals.rate=50", "clients=default", f"{SERVER}.instances=4",
          f"{SERVER}.listener_slots_per_instance=1000",
          f"{SERVER}.failures=[{{at_s: 25, instances: 2, restart_s: 30}}]"]


@pytest.mark.parametrize("resolution_s", MODES)
def test_server_loss_reconnects_the_listeners_it_held(resolution_s: float) -> None:
    scenario, res = run(LISTEN, resolution_s, horizon_s=40.0)
    ls, st = res.summary["listeners"], scenario.topology.stations["server"]
    ts = res.timeseries
    # Listeners just before the loss at 25 s (the tick ending at 25 s is sampled after it).
    before = ts["listeners.end"][ts["t_s"] == 24.0][0] + tick(ts, "legit.joined", 24, 25).sum()
    # Two of four instances hold about half of the ~1250 listeners at 25 s.
    assert ls["evicted"] == pytest.approx(before / 2, rel=0.12)
    assert ls["reconnects"] == ls["evicted"]  # sessions last 30 min: none had ended
    assert ls["reconnected"] == ls["reconnects"]  # the two left have room for them all
    assert res.summary["stations"]["server"]["crashes"] == 2
    assert st.serving == 2 and scenario.topology.pools["server"].instances == 2
    reconnects = tick(ts, "legit.reconnects", 24, 26).sum()
    assert reconnects == ls["reconnects"]  # a storm: all of them at once
    balance(res.summary, res.config)


# -- shedding by queue age and deadline propagation ---------------------------------------


@pytest.mark.parametrize("resolution_s", MODES)
def test_shedding_bounds_the_queue_wait(resolution_s: float) -> None:
    # 150 rps onto 100 rps: without shedding the wait grows without bound; shedding
    # at 2 s keeps every started request's wait within 2 s (a tick more in cohort mode,
    # where a wait is the mean of a part), serves at capacity and sheds the excess.
    scenario, res = run(["arrivals.rate=150", f"{SERVER}.shed_queue_age_s=2"],
                        resolution_s, horizon_s=40.0)
    st, part = scenario.topology.stations["server"], res.summary["stations"]["server"]
    assert max(st.waits) <= 2.0 + resolution_s + 1e-9
    # Waits reach 2 s for the request that arrived at 4 s (it starts at 4 × 1.5 = 6 s);
    # from then on 50 rps are shed.
    assert part["shed"] == pytest.approx(50 * (40 - 6), rel=0.1)
    assert tick(res.timeseries, "server.served", 5, 40).mean() == pytest.approx(100, rel=0.05)
    assert part["wasted"] == 0 and part["timed_out"] == 0
    assert res.timeseries["server.shed"].sum() == part["shed"]
    balance(res.summary, res.config)
    _sc, base = run(["arrivals.rate=150"], resolution_s, horizon_s=40.0)
    assert base.summary["stations"]["server"]["wait_s"]["p99"] > 10


@pytest.mark.parametrize("resolution_s", MODES)
@pytest.mark.parametrize("drop_expired", [True, False])
def test_drop_expired_skips_requests_whose_client_left(resolution_s: float,
                                                      drop_expired: bool) -> None:
    # 150 rps onto 100 rps, clients wait 3 s and do not retry. With deadline propagation
    # the station skips what expired in the queue: no request starts later than 3 s after
    # it arrived, and the excess (about 50 rps once the wait reaches 3 s, at t = 9 s) is
    # dropped unserved. Without it, expired requests are served anyway and the wait grows
    # with the backlog: the request that arrived at a starts at 1.5 a, so those started
    # by 40 s waited up to about 13 s.
    scenario, res = run(["arrivals.rate=150", "clients.timeout_s=3",
                         f"{SERVER}.drop_expired={str(drop_expired).lower()}"],
                        resolution_s, horizon_s=40.0)
    st, part = scenario.topology.stations["server"], res.summary["stations"]["server"]
    assert part["served"] == pytest.approx(100 * 40, rel=0.05)
    if drop_expired:
        assert max(st.waits) <= 3.0 + resolution_s + 1e-9
        assert part["timed_out"] == pytest.approx(50 * (40 - 9), rel=0.12)
        # What is served started in time; only its service may end past the deadline.
        assert part["wasted"] <= part["served"]
    else:
        assert max(st.waits) == pytest.approx(40 / 3, rel=0.1)
        assert part["wasted"] >= part["timed_out"] > 0.5 * part["served"]
    balance(res.summary, res.config)


# -- server-side retry ratio --------------------------------------------------------------

RETRYING = ["arrivals.rate=150", "clients=default", "clients.timeout_s=1",
            "clients.retry.policy=fixed", "clients.retry.base_s=0.5",
            "clients.retry.max_attempts=6", "clients.patience_s=null", f"{SERVER}.queue_limit=0"]


@pytest.mark.parametrize("resolution_s", MODES)
def test_retry_ratio_caps_the_retries_a_server_accepts(resolution_s: float) -> None:
    _sc, base = run(RETRYING, resolution_s, horizon_s=30.0)
    _sc, capped = run([*RETRYING, f"{SERVER}.retry_ratio_max=0.1",
                       f"{SERVER}.retry_ratio_window_s=5"], resolution_s, horizon_s=30.0)
    b, c = base.summary["stations"]["server"], capped.summary["stations"]["server"]
    retries_b = base.summary["legit"]["attempts"] - base.summary["legit"]["arrived"]
    retries_c = capped.summary["legit"]["attempts"] - capped.summary["legit"]["arrived"]
    assert b["retry_rejected"] == 0 and retries_b > 0.5 * b["offered"]
    # Retries past 10% of the offered requests are refused before they take capacity.
    assert c["retry_rejected"] > 0
    assert retries_c - c["retry_rejected"] <= 0.12 * c["offered"]
    balance(capped.summary, capped.config)


# -- everything on ------------------------------------------------------------------------


@pytest.mark.parametrize("resolution_s", MODES)
def test_books_balance_with_everything_on(resolution_s: float) -> None:
    scenario, res = run([
        "arrivals.rate=120", "clients=default", "clients.timeout_s=2",
        f"{SERVER}.instances=4", f"{SERVER}.workers_per_instance=3",
        f"{SERVER}.listener_slots_per_instance=400", f"{SERVER}.queue_limit=300",
        f"{SERVER}.drop_expired=true", f"{SERVER}.shed_queue_age_s=1.5",
        f"{SERVER}.retry_ratio_max=0.3",
        f"{SERVER}.slowdown={{above_rps: 130, factor: 2}}",
        f"{SERVER}.outages=[{{start_s: 10, end_s: 15, capacity_share: 0.25}}]",
        f"{SERVER}.failures=[{{at_s: 20, instances: 1, restart_s: 5}}]",
        f"{SERVER}.crash={{enabled: true, above_utilization: 0.95, after_s: 3, restart_s: 4}}",
    ], resolution_s, horizon_s=45.0)
    balance(res.summary, res.config)
    part = res.summary["stations"]["server"]
    assert part["crashes"] >= 1 and part["shed"] > 0 and part["outage_s"] == 5.0
    pool = scenario.topology.pools["server"]
    assert scenario.clients.listeners == pool.in_use
    assert 0.0 <= part["utilization_mean"] <= 1.0 + 1e-9
    if resolution_s == 0:
        # Exact mode counts workers draining their last request as capacity; cohort mode
        # lets work committed before a drop of capacity (at most a tick ahead) run on.
        ts = res.timeseries
        assert np.all(ts["server.busy"] <= ts["server.capacity"] + 1e-6)


# -- cohort against exact -----------------------------------------------------------------


def test_outage_cohort_agrees_with_exact() -> None:
    # 80 rps, clients with a 5 s timeout and full-jitter retries, the tier down from 20 s
    # to 30 s: joined, abandoned and the peak queue agree over three seeds.
    overrides = ["arrivals.rate=80", "clients=default",
                 f"{SERVER}.outages=[{{start_s: 20, end_s: 30, capacity_share: 0}}]"]
    out = {}
    for resolution_s in MODES:
        rows = [run(overrides, resolution_s, horizon_s=90.0, seed=s)[1].summary
                for s in (1, 2, 3)]
        out[resolution_s] = {
            "arrived": np.mean([r["legit"]["arrived"] for r in rows]),
            "joined": np.mean([r["legit"]["joined"] for r in rows]),
            "abandoned": np.mean([r["legit"]["abandoned"] for r in rows]),
            "peak": np.mean([r["stations"]["server"]["peak_queue"] for r in rows]),
        }
    ex, co = out[0.0], out[0.1]
    assert ex["abandoned"] > 0.02 * ex["arrived"]  # the outage matters
    for key in ("joined", "abandoned"):
        assert abs(co[key] - ex[key]) <= 0.02 * ex["arrived"], (key, ex, co)
    assert co["peak"] == pytest.approx(ex["peak"], rel=0.10)


# -- autoscaler interplay -----------------------------------------------------------------


@pytest.mark.parametrize("resolution_s", MODES)
def test_autoscaler_does_not_bring_back_a_lost_instance(resolution_s: float) -> None:
    # Two instances of 5 workers at 70 rps (70% busy); one is lost for good at 20 s, so the
    # one left is overloaded. The HPA still counts the lost one (it does not replace it)
    # but sees the utilization of the serving workers, and adds instances; the lost one
    # stays down whatever the autoscaler does.
    scenario, res = run(["arrivals.rate=70", "autoscaler=hpa", f"{SERVER}.instances=2",
                         f"{SERVER}.workers_per_instance=5",
                         f"{SERVER}.provisioning_delay_s=10",
                         f"{SERVER}.failures=[{{at_s: 20, instances: 1}}]"],
                        resolution_s, horizon_s=120.0)
    st, ts = scenario.topology.stations["server"], res.timeseries
    assert st.down == 1 and st.serving == st.instances - 1
    assert np.all(tick(ts, "server.crashed", 20, 120) == 1)
    assert res.summary["stations"]["server"]["instances_max"] > 2
    assert tick(ts, "server.capacity", 110, 120).mean() == pytest.approx(
        5 * (st.instances - 1))
