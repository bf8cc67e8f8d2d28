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


# -- config -------------------------------------------------------------------------------


@pytest.mark.parametrize(("override", "key"), [
    (f"{SERVER}.outages=[{{start_s: 5, end_s: 5, capacity_share: 0}}]",
     f"{SERVER}.outages[0].end_s"),
    (f"{SERVER}.outages=[{{start_s: 0, end_s: 5, capacity_share: 1.5}}]",
     f"{SERVER}.outages[0].capacity_share"),
    (f"{SERVER}.slowdown={{above_rps: 10, factor: 0.5}}", f"{SERVER}.slowdown.factor"),
    (f"{SERVER}.slowdown={{above_rps: 10, factor: 2, window_s: 0}}",
     f"{SERVER}.slowdown.window_s"),
])
def test_bad_failure_config_names_the_key(override: str, key: str) -> None:
    cfg = compose(["architecture=single_station", override])
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        to_config(cfg)
