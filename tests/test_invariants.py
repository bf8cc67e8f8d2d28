"""Hypothesis invariants of exact-mode and cohort-mode runs: what must hold whatever the
scenario.

Each example is a small random scenario (a few hundred to a few thousand clients, a
horizon of seconds) on ``single_station`` or a scaled-down ``spaces``, with random
capacities, queue limits, deadlines, retry policies, impatience, deadline propagation,
listener slots, autoscaling and an attack vector. After the run we check the books:

- clients: ``arrived == joined + abandoned + in_flight``, every count >= 0; every client
  makes its first attempt at birth, so ``arrived <= attempts <= arrived + retries`` and
  at most ``max_attempts`` per client; each attempt ends at most once.
- stations: a request offered to a station is rejected at admission, dropped as expired
  (only with ``drop_expired``), still in the station (queued or in service) or served.
  ``timed_out`` counts requests whose deadline had passed when they reached the head of
  the queue; without ``drop_expired`` they are served anyway, so they are counted again
  in ``served`` (or are still in service). The end station of a path with a slot pool
  also refuses requests it has served when no listener slot is free: those count in
  ``served`` and in ``slots.refused``, not in ``rejected``.
- levels: utilization in [0, 1] per tick and over the run, queues within their limit,
  waits >= 0, listeners >= 0 and equal to the slots in use.
- attack: ``offered == mitigated + served + rejected + timed_out + in_flight``, with the
  requests in flight really in the stations.
- join latency (first press of join to joined) within what the timeout and retry chain
  allow (``latency_bound``): at most ``max_attempts`` attempts of at most ``timeout_s``
  each, separated by the longest backoff the policy can draw after each (or the
  impatient retry), plus the longest wait in a waiting room; with ``patience_s`` no retry
  starts later than ``patience_s`` after the press, so also at most
  ``max(patience_s, room wait) + timeout_s``. No bound without a timeout, or with a
  waiting room that users never leave.

The same scenarios run in cohort mode (``test_books_balance_cohort``, as ``auto`` runs
them at launch scale: ``tests/differential.py``'s ``cohort_overrides``) against the
invariants that do not look inside exact mode's request objects: the client ledger
``arrived == joined + abandoned + in_flight`` in integers, attempts within
``max_attempts`` per client, the station books, utilization in [0, 1], listeners within
slots, and the latency bound (cohort latencies are a mean and a spread per cohort: the
means must keep the bound within a tick, and so must the summary's p99 and max; each
part's mean must lie within its own bound, its last answer less its earliest birth).
"""

from __future__ import annotations

import copy
import functools
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from sim.cli import compose
from sim.config import RETRY_POLICIES, to_config
from sim.engine import DISTRIBUTIONS
from sim.run import Result, Scenario

sys.path.insert(0, str(Path(__file__).resolve().parent))
from differential import cohort_overrides

EPS = 1e-9


@functools.cache
def base(architecture: str) -> dict[str, Any]:
    """The composed default config of an architecture, as a plain dict."""
    cfg = compose([f"architecture={architecture}", "run.report=false", "run.progress=false"])
    out = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(out, dict)
    return out


def small(value: float) -> st.SearchStrategy[float]:
    return st.floats(min_value=value / 10, max_value=value, allow_nan=False)


@st.composite
def station(draw: st.DrawFn, cfg: dict[str, Any], *, mean_s: float) -> dict[str, Any]:
    """Random sizes for a station, keeping its admission controls but shrinking them."""
    cfg = copy.deepcopy(cfg)
    cfg["instances"] = draw(st.integers(1, 3))
    cfg["workers_per_instance"] = draw(st.integers(1, 6))
    cfg["service"] = {"dist": draw(st.sampled_from(DISTRIBUTIONS)),
                      "mean_s": draw(small(mean_s)),
                      "cv": draw(st.floats(0.2, 2.0))}
    cfg["queue_limit"] = draw(st.one_of(st.none(), st.integers(0, 40)))
    cfg["drop_expired"] = draw(st.booleans())
    cfg["provisioning_delay_s"] = draw(st.floats(0.0, 5.0))
    cfg["max_instances"] = draw(st.one_of(st.none(), st.integers(3, 6)))
    if cfg.get("rate_limit_rps") is not None:
        cfg["rate_limit_rps"] = draw(st.floats(20.0, 500.0))
    if cfg.get("connections_per_instance") is not None:
        cfg["connections_per_instance"] = draw(st.integers(1, 60))
    if cfg.get("max_rate_rps") is not None:
        cfg["max_rate_rps"] = draw(st.floats(20.0, 500.0))
    if cfg.get("listener_slots_per_instance") is not None:
        cfg["listener_slots_per_instance"] = draw(st.integers(1, 300))
    return cfg


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    arch_name = draw(st.sampled_from(["single_station", "spaces"]))
    cfg = copy.deepcopy(base(arch_name))
    arch = cfg["architecture"]
    mean_s = 0.2 if arch_name == "single_station" else 0.05
    for name in list(arch["stations"]):
        arch["stations"][name] = draw(station(arch["stations"][name], mean_s=mean_s))
    # Mostly seconds; sometimes past the autoscaler's 300 s scale-down window, so that
    # fanout instances go away under their listeners (evictions, reconnects).
    horizon = draw(st.one_of(st.floats(5.0, 30.0), st.floats(320.0, 400.0)))
    clients_total = draw(st.integers(100, 3000))
    if draw(st.booleans()):
        arrivals = {"kind": "constant", "rate": clients_total / horizon}
    else:
        t0 = draw(st.floats(1.0, horizon / 2))
        arrivals = {"kind": "flash_crowd", "audience": float(clients_total), "t0_s": t0,
                    "early_share": draw(st.floats(0.0, 0.5)),
                    "early_window_s": draw(st.floats(0.1, 1.0)) * t0,
                    "push_window_s": draw(st.floats(0.5, 5.0)),
                    "reaction_median_s": draw(st.floats(0.2, 5.0)),
                    "reaction_sigma": draw(st.floats(0.2, 1.5)),
                    "tail_share": draw(st.floats(0.0, 0.4)),
                    "tail_tau_s": draw(st.floats(1.0, 20.0))}
    cfg["arrivals"] = arrivals
    policy = draw(st.sampled_from(RETRY_POLICIES))
    base_s = draw(st.floats(0.01, 1.0))
    cfg["clients"] = {
        "timeout_s": draw(st.one_of(st.none(), st.floats(0.05, 3.0))),
        "retry": {"policy": policy, "base_s": base_s,
                  "cap_s": base_s * draw(st.floats(1.0, 10.0)),
                  "max_attempts": draw(st.integers(1, 5))},
        "impatient_share": draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])),
        "patience_s": draw(st.one_of(st.none(), st.floats(0.5, 20.0))),
        "session": {"dist": draw(st.sampled_from(DISTRIBUTIONS)),
                    "mean_s": draw(st.floats(1.0, 60.0)), "cv": 1.0},
        "reconnect": draw(st.booleans()),
    }
    if draw(st.booleans()):
        cfg["autoscaler"] = {"kind": "hpa", "target_utilization": draw(st.floats(0.3, 0.9)),
                             "tolerance": 0.1, "sync_period_s": draw(st.floats(1.0, 5.0)),
                             "stations": None}
    else:
        cfg["autoscaler"] = {"kind": "none"}
    names = sorted(arch["stations"])
    if draw(st.booleans()):
        start = draw(st.floats(0.0, horizon / 2))
        cfg["attack"] = {"name": "flood", "vectors": {"flood": {
            "enter": arch["entry"],
            "stop_after": draw(st.one_of(st.none(), st.sampled_from(names))),
            "rate_rps": draw(st.floats(5.0, 300.0)),
            "start_s": start, "end_s": start + draw(st.floats(1.0, horizon)),
            "sources": 100}}}
    else:
        cfg["attack"] = {"name": "none", "vectors": {}}
    cfg["run"] = {"seed": draw(st.integers(0, 2**32 - 1)), "horizon_s": horizon,
                  "warmup_s": draw(st.sampled_from([0.0, 1.0])), "resolution_s": 0.0,
                  "metrics_tick_s": draw(st.sampled_from([0.5, 1.0, 2.0])),
                  "progress": False, "report": False}
    return cfg


def run_scenario(cfg: dict[str, Any]) -> tuple[Scenario, Result]:
    scenario = Scenario(to_config(cfg))
    scenario.run()
    return scenario, scenario.collect()


def dropped(sim_cfg: Any, name: str, part: dict[str, Any]) -> int:
    """Requests a station took out of its queue because their deadline had passed."""
    return part["timed_out"] if sim_cfg.architecture.stations[name].drop_expired else 0


def check_ledger(lg: dict[str, Any], cfg: Any, extra: tuple[str, ...] = ()) -> None:
    """The clients' books (both modes): whole non-negative counts, every arrival joined,
    abandoned or in flight, and attempts within what births and retries allow."""
    for key in ("arrived", "joined", "abandoned", "in_flight", "attempts", "attempts_failed",
                "retries", *extra):
        assert isinstance(lg[key], int), (key, lg[key])
        assert lg[key] >= 0, (key, lg)
    assert lg["arrived"] == lg["joined"] + lg["abandoned"] + lg["in_flight"], lg
    # The first attempt is made at birth; later ones are retries that came due.
    assert lg["arrived"] <= lg["attempts"] <= lg["arrived"] + lg["retries"], lg
    max_attempts = cfg.clients.retry.max_attempts if cfg.clients.retry.policy != "none" else 1
    assert lg["attempts"] <= lg["arrived"] * max_attempts, lg
    if cfg.clients.retry.policy == "none":
        assert lg["retries"] == 0, lg


def check_clients(scenario: Scenario, res: Result) -> None:
    s, cfg = res.summary, res.config
    lg = s["legit"]
    check_ledger(lg, cfg, ("attempts_rejected", "attempts_timed_out", "wasted"))
    assert lg["attempts_failed"] == lg["attempts_rejected"] + lg["attempts_timed_out"], lg
    ls = s["listeners"]
    # Every attempt (first joins, retries, reconnects) ends at most once.
    assert (lg["joined"] + ls["reconnected"] + lg["attempts_failed"]
            <= lg["attempts"] + ls["reconnects"]), (lg, ls)
    if ls["reconnects"] == 0:
        # A failed attempt is followed by a retry or by abandonment, nothing else.
        assert lg["attempts_failed"] == lg["retries"] + lg["abandoned"], lg
    # The series add up to the totals.
    ts = res.timeseries
    assert ts["legit.arrivals"].sum() == lg["arrived"]
    assert ts["legit.attempts"].sum() == lg["attempts"]
    assert ts["legit.joined"].sum() == lg["joined"]
    assert ts["legit.abandoned"].sum() == lg["abandoned"]
    assert np.all(ts["legit.in_flight"] >= 0)
    assert ts["legit.in_flight"][-1] == lg["in_flight"]
    # Join latency: ordered quantiles of non-negative times.
    lat = s["join_latency_s"]
    if lat["n"]:
        assert 0 <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"] + EPS, lat
        assert 0 <= lat["mean"] <= lat["max"] + EPS, lat
    else:
        assert lat["mean"] is None and lat["max"] is None


def check_listeners(scenario: Scenario, res: Result) -> None:
    s = res.summary
    ls, lg = s["listeners"], s["legit"]
    ts = res.timeseries
    assert np.all(ts["listeners.end"] >= 0)
    assert np.all(ts["listeners"] >= -EPS)
    assert 0 <= ls["end"] <= ls["peak"]
    for key in ("sessions_ended", "evicted", "reconnects", "reconnected", "lost"):
        assert ls[key] >= 0, (key, ls)
    pool = scenario.topology.end_pool
    if pool is None:
        assert ls["peak"] == 0 and ls["end"] == 0
        return
    # Each first join and each reconnect takes a slot; sessions and evictions free them.
    assert ls["end"] == (lg["joined"] + ls["reconnected"] - ls["sessions_ended"]
                         - ls["evicted"]), ls
    assert pool.in_use == ls["end"], (pool.in_use, ls)
    assert 0 <= pool.in_use <= pool.capacity
    assert pool.peak <= pool.slots_per_instance * max(
        s["stations"][pool.name]["instances_max"], 1)
    assert ls["reconnected"] + ls["lost"] <= ls["evicted"]


def check_stations(scenario: Scenario, res: Result) -> None:
    s, cfg = res.summary, res.config
    ts = res.timeseries
    for name, part in s["stations"].items():
        st_obj = scenario.topology.stations[name]
        st_cfg = cfg.architecture.stations[name]
        for key in ("offered", "served", "rejected", "timed_out", "wasted", "peak_queue",
                    "in_system"):
            assert part[key] >= 0, (name, key, part)
        assert part["in_system"] == len(st_obj.queue) + st_obj.busy
        assert part["wasted"] <= part["served"]
        assert part["offered"] == (part["served"] + part["rejected"]
                                   + dropped(cfg, name, part) + part["in_system"]), (name, part)
        if name in scenario.topology.pools:
            # Served, then refused for want of a free listener slot.
            assert 0 <= part["slots"]["refused"] <= part["served"], (name, part)
        if not st_cfg.drop_expired:
            # Expired requests are still served (or are being served now).
            assert part["timed_out"] <= part["served"] + st_obj.busy, (name, part)
        if st_cfg.queue_limit is not None:
            assert part["peak_queue"] <= st_cfg.queue_limit, (name, part)
        assert 0.0 <= part["utilization_mean"] <= 1.0 + EPS, (name, part)
        busy, capacity = ts[f"{name}.busy"], ts[f"{name}.capacity"]
        assert np.all(busy >= -EPS) and np.all(ts[f"{name}.queue"] >= -EPS)
        assert np.all(busy <= capacity + 1e-6), (name, np.max(busy - capacity))
        assert part["instances_max"] >= st_cfg.instances
        assert ts[f"{name}.offered"].sum() == part["offered"]
        assert ts[f"{name}.served"].sum() == part["served"]
        # Waits: never negative, and the quantiles are ordered.
        waits = np.asarray(st_obj.waits)
        assert np.all(waits >= 0.0), (name, waits.min())
        w = part["wait_s"]
        assert w["n"] == len(waits)
        if w["n"]:
            assert 0.0 <= w["p50"] <= w["p99"] <= waits.max() + EPS
            assert 0.0 <= w["mean"] <= waits.max() + EPS
        else:
            assert w["mean"] is None and w["p50"] is None


def check_connections(scenario: Scenario, res: Result) -> None:
    """Every request in any station came in through the entry and holds one of its
    connections (if it limits them) until its attempt ends."""
    entry = scenario.topology.stations[res.config.architecture.entry]
    limit = getattr(entry, "connections", None)
    if limit is None:
        return
    in_system = sum(part["in_system"] for part in res.summary["stations"].values())
    assert limit.in_use - limit.draining == in_system, (limit.in_use, limit.draining, in_system)


def check_attack(scenario: Scenario, res: Result) -> None:
    a = res.summary["attack"]
    total = {"offered": 0, "mitigated": 0, "served": 0}
    queued = sum(1 for station in scenario.topology.stations.values()
                 for c in station.queue if c.cls != "legit")
    busy = sum(station.busy for station in scenario.topology.stations.values())
    for name, v in a["vectors"].items():
        for key in ("offered", "mitigated", "served", "rejected", "timed_out", "in_flight"):
            assert v[key] >= 0, (name, key, v)
        assert v["offered"] == (v["mitigated"] + v["served"] + v["rejected"] + v["timed_out"]
                                + v["in_flight"]), v
        assert v["timed_out"] == 0, "attack requests have no deadline"
        for key in total:
            total[key] += v[key]
    assert {k: a[k] for k in total} == total
    in_flight = sum(v["in_flight"] for v in a["vectors"].values())
    # Requests in flight are really in the stations: queued, or among the busy workers.
    assert queued <= in_flight <= queued + busy, (queued, in_flight, busy)
    ts = res.timeseries
    assert ts["attack.offered"].sum() == a["offered"]


def max_backoff(cfg: Any, attempt: int) -> float:
    """The longest sleep the retry policy can draw after attempt ``attempt`` failed."""
    c = cfg.clients
    r = c.retry
    p = r.policy
    if p in ("none", "immediate"):
        d = 0.0
    elif p == "fixed":
        d = r.base_s
    elif p == "decorrelated_jitter":
        d = r.cap_s
    else:  # exponential, full_jitter, equal_jitter
        d = min(r.cap_s, r.base_s * 2.0 ** (attempt - 1))
    if c.impatient_share > 0:
        d = max(d, c.impatient_retry_s)
    return d


def latency_bound(cfg: Any) -> float | None:
    """The longest join latency the timeout and retry chain allow (module docstring);
    None where nothing bounds it."""
    c = cfg.clients
    if c.timeout_s is None:
        return None
    wr = cfg.architecture.waiting_room
    room = 0.0
    if wr.enabled:
        if wr.patience_s is None:
            return None
        room = wr.patience_s
    attempts = c.retry.max_attempts if c.retry.policy != "none" else 1
    chain = room + attempts * c.timeout_s + sum(max_backoff(cfg, a)
                                                for a in range(1, attempts))
    if c.patience_s is not None:
        chain = min(chain, max(c.patience_s, room) + c.timeout_s)
    return chain


def check_latency_bound(scenario: Scenario, res: Result) -> None:
    bound = latency_bound(res.config)
    if bound is None:
        return
    tick = scenario.resolution.tick_s if scenario.cohort_mode else 0.0
    slack = 2 * tick + 1e-6
    lat = res.summary["join_latency_s"]
    values = np.asarray(scenario.clients.lat_v, dtype=float)
    if len(values):
        assert values.max() <= bound + slack, (values.max(), bound, res.config.clients)
    if lat["n"]:
        # The p99 comes from a log-binned histogram (bins ~2.3% wide).
        assert lat["p99"] <= (bound + slack) * 1.025, (lat, bound, res.config.clients)
        assert lat["max"] <= bound + slack, (lat, bound, res.config.clients)


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(cfg=scenarios())
def test_books_balance(cfg: dict[str, Any]) -> None:
    scenario, res = run_scenario(cfg)
    assert res.summary["status"] == "ok"
    check_clients(scenario, res)
    check_listeners(scenario, res)
    check_stations(scenario, res)
    check_connections(scenario, res)
    check_attack(scenario, res)
    check_latency_bound(scenario, res)


def cohort(cfg: dict[str, Any]) -> dict[str, Any]:
    """The scenario in cohort mode, as ``cohort_overrides()`` sets it."""
    cfg = copy.deepcopy(cfg)
    for o in cohort_overrides():
        key, value = o.split("=", 1)
        assert key.startswith("run."), o
        cfg["run"][key.removeprefix("run.")] = value if value == "auto" else float(value)
    return cfg


def check_part_bounds(scenario: Scenario) -> None:
    """Each joined part's mean latency lies within its bound (its last answer less the
    earliest birth it holds): the earliest birth is tracked through merges and cuts."""
    cl = scenario.clients
    v, hi = np.asarray(cl.lat_v, dtype=float), np.asarray(cl.lat_hi, dtype=float)
    assert len(hi) == len(v)
    if len(v):
        assert np.all(v <= hi + 1e-9), float(np.max(v - hi))


def check_cohort_books(scenario: Scenario, res: Result) -> None:
    s, cfg = res.summary, res.config
    assert s["mode"] == "cohort", s.get("resolution")
    lg = s["legit"]
    check_ledger(lg, cfg)
    ts = res.timeseries
    assert ts["legit.joined"].sum() == lg["joined"]
    assert ts["legit.abandoned"].sum() == lg["abandoned"]
    assert np.all(ts["legit.in_flight"] >= 0)
    ls = s["listeners"]
    assert 0 <= ls["end"] <= ls["peak"], ls
    for name, part in s["stations"].items():
        for key in ("offered", "served", "rejected", "timed_out", "in_system"):
            assert part[key] >= 0, (name, key, part)
        assert part["offered"] == (part["served"] + part["rejected"] + dropped(cfg, name, part)
                                   + part["shed"] + part["in_system"]), (name, part)
        assert 0.0 <= part["utilization_mean"] <= 1.0 + EPS, (name, part)
        busy, capacity = ts[f"{name}.busy"], ts[f"{name}.capacity"]
        assert np.all(busy >= -EPS) and np.all(ts[f"{name}.queue"] >= -EPS), name
        assert np.all(busy <= capacity + 1e-6), (name, float(np.max(busy - capacity)))
        st_cfg = cfg.architecture.stations[name]
        if st_cfg.queue_limit is not None:
            assert part["peak_queue"] <= st_cfg.queue_limit, (name, part)
        w = part["wait_s"]
        if w["n"]:
            assert w["mean"] >= 0.0, (name, w)
    a = s["attack"]
    for name, v in a["vectors"].items():
        assert v["offered"] == (v["mitigated"] + v["served"] + v["rejected"] + v["timed_out"]
                                + v["in_flight"]), (name, v)
    pool = scenario.topology.end_pool
    if pool is not None:
        assert 0 <= pool.in_use <= pool.capacity


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(cfg=scenarios())
def test_books_balance_cohort(cfg: dict[str, Any]) -> None:
    scenario, res = run_scenario(cohort(cfg))
    assert res.summary["status"] == "ok"
    check_cohort_books(scenario, res)
    check_part_bounds(scenario)
    check_latency_bound(scenario, res)


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(cfg=scenarios())
def test_same_seed_same_books(cfg: dict[str, Any]) -> None:
    _, a = run_scenario(cfg)
    _, b = run_scenario(cfg)
    a.summary.pop("perf")
    b.summary.pop("perf")
    assert a.summary == b.summary
    for key, col in a.timeseries.items():
        np.testing.assert_array_equal(col, b.timeseries[key], err_msg=key)


def overloaded_fanout() -> dict[str, Any]:
    """Fanout with 2 listener slots and 100 clients: most are served, then refused."""
    cfg = copy.deepcopy(base("spaces"))
    for st_cfg in cfg["architecture"]["stations"].values():
        st_cfg.update(queue_limit=None, rate_limit_rps=None, connections_per_instance=None,
                      max_rate_rps=None)
    cfg["architecture"]["stations"]["fanout"].update(
        instances=1, listener_slots_per_instance=2, egress_gbps_per_instance=None)
    cfg["arrivals"] = {"kind": "constant", "rate": 10.0}
    cfg["clients"] = {"timeout_s": None, "retry": {"policy": "none", "max_attempts": 1},
                      "patience_s": None, "impatient_share": 0.0}
    cfg["run"].update(horizon_s=10.0, seed=3)
    return cfg


def test_slot_refusals_are_served_not_rejected() -> None:
    """A request refused a listener slot was served by the end station first: it counts
    in ``served`` and in ``slots.refused``, not in ``rejected``, so the books balance."""
    _scenario, res = run_scenario(overloaded_fanout())
    fanout = res.summary["stations"]["fanout"]
    lg = res.summary["legit"]
    assert res.summary["listeners"]["peak"] == 2
    assert fanout["rejected"] == 0
    assert fanout["slots"]["refused"] == lg["attempts_rejected"] > 50
    assert fanout["offered"] == fanout["served"] + fanout["in_system"]


def test_scenarios_strategy_is_valid() -> None:
    """The strategy's configs pass validation (a guard against a silently empty search)."""
    cfg = copy.deepcopy(base("single_station"))
    cfg["run"].update(horizon_s=5.0)
    assert math.isclose(to_config(cfg).run.horizon_s, 5.0)


def test_utilization_stays_within_capacity_after_scale_in() -> None:
    # Ten instances of one worker stay idle for 299 s; the HPA's 300 s window then lets
    # it scale in to one instance at t=300, just after ten requests of 50 s each started.
    cfg = copy.deepcopy(base("single_station"))
    cfg["architecture"]["stations"]["server"].update(
        instances=10, workers_per_instance=1, provisioning_delay_s=0.0,
        service={"dist": "deterministic", "mean_s": 50.0, "cv": 1.0})
    cfg["arrivals"] = {"kind": "ramp", "start_s": 299.0, "end_s": 300.0, "rate_start": 8.0,
                       "rate_end": 8.0}
    cfg["clients"] = {"timeout_s": None, "retry": {"policy": "none"}, "patience_s": None}
    cfg["autoscaler"] = {"kind": "hpa", "sync_period_s": 15.0}
    cfg["run"].update(horizon_s=400.0, seed=1)
    _scenario, res = run_scenario(cfg)
    ts = res.timeseries
    assert res.summary["stations"]["server"]["autoscaler"]["removed"] > 0  # it did scale in
    assert ts["server.capacity"][301] > ts["server.instances"][301]  # removed ones drain
    assert np.all(ts["server.busy"] <= ts["server.capacity"] + 1e-6), \
        float(np.max(ts["server.busy"] - ts["server.capacity"]))


@pytest.mark.parametrize("reconnect", [True, False])
def test_books_balance_through_evictions(reconnect: bool) -> None:
    """The autoscaler scales fanout out for a crowd and back in under its listeners:
    evicted listeners reconnect (or are lost) and the books still balance."""
    cfg = copy.deepcopy(base("spaces"))
    for st_cfg in cfg["architecture"]["stations"].values():
        st_cfg.update(instances=1, workers_per_instance=4, queue_limit=None,
                      rate_limit_rps=None, connections_per_instance=None, max_rate_rps=None,
                      provisioning_delay_s=5.0,
                      service={"dist": "exponential", "mean_s": 0.005, "cv": 1.0})
    cfg["architecture"]["stations"]["fanout"].update(listener_slots_per_instance=30,
                                                     egress_gbps_per_instance=None)
    cfg["arrivals"] = {"kind": "flash_crowd", "audience": 800.0, "t0_s": 10.0,
                       "early_share": 0.0, "push_window_s": 5.0, "reaction_median_s": 5.0,
                       "reaction_sigma": 0.5, "tail_share": 0.1, "tail_tau_s": 30.0}
    cfg["clients"] = {"timeout_s": 2.0, "retry": {"policy": "full_jitter", "base_s": 1.0,
                                                  "cap_s": 10.0, "max_attempts": 5},
                      "patience_s": None, "impatient_share": 0.2, "reconnect": reconnect,
                      "session": {"dist": "exponential", "mean_s": 200.0}}
    cfg["autoscaler"] = {"kind": "hpa", "sync_period_s": 5.0, "stations": ["fanout"]}
    cfg["run"].update(horizon_s=900.0, seed=1)
    scenario, res = run_scenario(cfg)
    ls = res.summary["listeners"]
    assert ls["evicted"] > 0
    if reconnect:
        assert ls["reconnects"] > 0 and ls["reconnected"] + ls["lost"] <= ls["evicted"]
    else:
        assert ls["reconnects"] == 0 and 0 < ls["lost"] <= ls["evicted"]
    check_clients(scenario, res)
    check_listeners(scenario, res)
    check_stations(scenario, res)
    check_connections(scenario, res)
    check_attack(scenario, res)
