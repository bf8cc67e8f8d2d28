"""Quiet periods in cohort mode: births gathered over a window, held to tick by tick.

``sim.model.quiet`` sends the births of several ticks as one cohort where the join path
is quiet (on by default; these tests run it on and off). They hold it to what it claims:
the same scenario with the windows and without them (tick by tick) gives the same
arrivals per metrics tick, bit for bit, and
the same joins, waits and latencies within the noise of the seeds; a large station's
load estimate reads a window's cohort as the stream it is; and no window opens where
the path is loaded, retries are due or client policies judge attempts by their times.
The scenarios are drawn at random (seeded) over station sizes, service distributions,
loads up to the quiet limit, queue limits and timeouts. No window opens where a station
serves requests one by one or across a scheduled outage; a window's deadlines are
judged tick by tick, so a request unanswered past its own deadline times out within a
tick of it, not at the window's last deadline.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

import sim
from sim.cli import compose
from sim.config import to_config
from sim.engine import Cohort, FluidStation, Sampler
from sim.model import cohort_clients
from sim.model.cohort_clients import CohortClients
from sim.model.quiet import QUIET_WINDOW_S
from sim.run import Result, Scenario

BASE = ["run.report=false", "run.progress=false", "run.resolution_s=0.1"]
S = "architecture.stations.server."


def run(args: list[str], quiet: bool, seed: int) -> Result:
    """One cohort-mode run with quiet windows on or off; the windows it opened kept."""
    old = CohortClients.quiet_window_s
    CohortClients.quiet_window_s = QUIET_WINDOW_S if quiet else 0.0
    try:
        return sim.run([*BASE, *args, f"run.seed={seed}"])
    finally:
        CohortClients.quiet_window_s = old


def windows_opened(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the quiet windows every run in this test opens."""
    opened: list[int] = []
    admits = cohort_clients.QuietWindows.admits

    def counting(self: cohort_clients.QuietWindows, n: int, w: float) -> bool:
        ok = admits(self, n, w)
        opened.append(int(ok))
        return ok

    monkeypatch.setattr(cohort_clients.QuietWindows, "admits", counting)
    return opened


def draw_station(gen: np.random.Generator) -> tuple[list[str], float]:
    """A single station at a quiet load, large enough to be served as a fluid (windows
    open nowhere else): its overrides and its utilization."""
    workers = int(gen.choice([300, 1000, 3000]))
    mean_s = float(gen.choice([0.01, 0.05, 0.2]))
    dist = str(gen.choice(["exponential", "lognormal", "deterministic", "gamma"]))
    rho = float(gen.uniform(0.05, 0.45))
    args = ["architecture=single_station", "arrivals=constant", "run.horizon_s=400",
            "run.warmup_s=40", S + f"workers_per_instance={workers}",
            S + f"service.mean_s={mean_s}", S + f"service.dist={dist}",
            f"arrivals.rate={rho * workers / mean_s:.3f}"]
    if dist not in {"exponential", "deterministic"}:
        args.append(S + f"service.cv={float(gen.uniform(0.3, 2.0)):.2f}")
    if gen.random() < 0.4:
        args.append(S + f"queue_limit={int(gen.choice([5, 50]))}")
    if gen.random() < 0.5:
        args += ["clients=default", f"clients.timeout_s={float(gen.uniform(0.5, 5)):.2f}"]
    else:
        args.append("clients=patient")
    return args, rho


@pytest.mark.parametrize("case", range(6))
def test_windows_change_no_outcome_at_a_quiet_station(case: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    gen = np.random.default_rng(9100 + case)
    args, rho = draw_station(gen)
    opened = windows_opened(monkeypatch)
    seeds = [1, 2, 3]
    on = [run(args, True, s).summary for s in seeds]
    # A short queue limit keeps windows shut where a window's births would not fit the
    # room a tick's do (test_a_window_never_meets_a_queue_limit_its_ticks_would_not).
    if not any("queue_limit" in a for a in args):
        assert sum(opened) > 0, f"no quiet window opened at rho {rho:.2f}: {args}"
    off = [run(args, False, s).summary for s in seeds]

    def mean(rows: list[dict], *path: str) -> float:
        vals = []
        for row in rows:
            r = row
            for k in path:
                r = r[k]
            vals.append(float(r))
        return float(np.mean(vals))

    arrived = mean(on, "legit", "arrived")
    assert arrived == mean(off, "legit", "arrived")
    for key in ("joined", "abandoned"):
        assert mean(on, "legit", key) == pytest.approx(mean(off, "legit", key),
                                                       abs=0.005 * arrived), (key, args)
    w_on = mean(on, "stations", "server", "wait_s", "mean")
    w_off = mean(off, "stations", "server", "wait_s", "mean")
    service = float(next(a for a in args if "service.mean_s" in a).split("=")[1])
    # Within 10%, or within a hundredth of a service time where the wait is less.
    assert abs(w_on - w_off) <= max(0.10 * w_off, 0.01 * service), (w_on, w_off, args)
    p_on = mean(on, "join_latency_s", "p99")
    p_off = mean(off, "join_latency_s", "p99")
    assert p_on == pytest.approx(p_off, rel=0.10), args


def test_arrivals_per_metrics_tick_are_the_same_bit_for_bit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A window never straddles a multiple of its length, so never a metrics tick that
    is one: the arrivals counted per tick are the tick-by-tick run's."""
    opened = windows_opened(monkeypatch)
    args = ["arrivals.audience=30000", "run.horizon_s=1800"]
    on, off = run(args, True, 4), run(args, False, 4)
    assert sum(opened) > 100
    assert np.array_equal(on.timeseries["legit.arrivals"], off.timeseries["legit.arrivals"])
    assert on.summary["legit"]["joined"] == pytest.approx(off.summary["legit"]["joined"],
                                                          rel=0.01)


def test_no_window_opens_under_load_or_with_client_policies(
        monkeypatch: pytest.MonkeyPatch) -> None:
    opened = windows_opened(monkeypatch)
    # Offered at 90% of the station's capacity: never quiet.
    run(["architecture=single_station", "arrivals=constant", "clients=patient",
         S + "workers_per_instance=500", S + "service.mean_s=0.1", "arrivals.rate=4500",
         "run.horizon_s=200"], True, 1)
    assert opened and sum(opened) == 0
    opened.clear()
    # Client policies judge attempts by when they come: no window is even considered.
    run(["arrivals.audience=20000", "run.horizon_s=900",
         "clients.circuit_breaker.enabled=true"], True, 1)
    assert opened == []


def stream_reading(window_s: float, rate: float, tick_s: float = 0.1) -> float:
    """A large station's load estimate, read by the middle request of the cohorts of a
    steady Poisson stream offered in windows of ``window_s`` (one tick: tick by tick)."""
    env = simpy.Environment()
    service = Sampler(np.random.default_rng(1), "exponential", 0.01, 1.0)
    st = FluidStation(env, "f", resolution_s=tick_s, instances=1,
                      workers_per_instance=1000, service=service)
    st.forward = lambda c: None
    gen = np.random.default_rng(2)
    readings: list[float] = []

    def offer(_ev: object = None) -> None:
        now = env.now
        c = Cohort("a", int(gen.poisson(rate * window_s)), now, now)
        c.spread_s = window_s
        c.enqueued_s = now
        st.offer(c)
        if now > 30.0:
            readings.append(st._load_rate(c, now))
        if now + window_s < 120.0:
            env.timeout(window_s).callbacks.append(offer)

    offer()
    env.run()
    return float(np.mean(readings))


@pytest.mark.parametrize("window_s", [0.1, 0.5, 1.0, 2.0])
def test_a_window_cohort_reads_as_the_rate_it_brings(window_s: float) -> None:
    """Counted at once, a second's births over a time constant of four ticks read as
    1.45 times their rate; counted as a stream, as their rate."""
    rate = 20_000.0
    assert stream_reading(window_s, rate) == pytest.approx(rate, rel=0.02)


def test_windows_cut_the_cost_of_a_quiet_hour() -> None:
    """Fewer events for the same run: the reason the windows exist (a count, not a time)."""
    args = ["arrivals.audience=50000", "run.horizon_s=3600"]
    on, off = run(args, True, 1), run(args, False, 1)
    assert on.summary["perf"]["events"] < 0.6 * off.summary["perf"]["events"]
    assert math.isclose(on.summary["legit"]["joined"], off.summary["legit"]["joined"],
                        rel_tol=0.01)


def test_a_window_never_meets_a_queue_limit_its_ticks_would_not() -> None:
    """A large station takes a cohort whole against its queue limit, or shares the room
    out: a window's births (30,000) beyond the room a tick's (3,000) fit in would be
    turned away. No window opens there, and nothing is rejected."""
    args = ["architecture=single_station", "arrivals=constant", "clients=patient",
            S + "workers_per_instance=1000", S + "service.mean_s=0.01",
            S + "queue_limit=2000", "arrivals.rate=30000", "run.horizon_s=60"]
    on = run(args, True, 1).summary["stations"]["server"]
    assert on["rejected"] == 0
    assert on["offered"] == run(args, False, 1).summary["stations"]["server"]["offered"]


def test_no_window_opens_where_a_station_serves_singly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A station small enough to serve requests one by one answers them out of the
    order of their sends, which the judging of a window's deadlines by rank assumes."""
    opened = windows_opened(monkeypatch)
    run(["architecture=single_station", "arrivals=constant", "clients=patient",
         S + "workers_per_instance=10", S + "service.mean_s=0.2", "arrivals.rate=15",
         "run.horizon_s=120"], True, 1)
    assert sum(opened) == 0


@pytest.mark.parametrize("case", range(3))
def test_no_window_crosses_a_scheduled_outage(case: int) -> None:
    """A window's work is committed at the capacity of its start: an outage starting
    within it would reach its later births up to a second late (the p99 read 20% short
    at a tenth of the capacity). Windows end before it, so the run reads as tick by
    tick's, while they still open in the quiet before and after."""
    gen = np.random.default_rng(6100 + case)
    start = round(float(gen.uniform(100, 200)), 2)
    end = round(start + float(gen.uniform(2, 4)), 2)
    args = ["architecture=single_station", "arrivals=constant", "run.horizon_s=300",
            "run.warmup_s=40", S + "workers_per_instance=200", S + "service.mean_s=0.05",
            "arrivals.rate=1200", "clients=default",
            f"clients.timeout_s={float(gen.uniform(0.5, 2.0)):.2f}",
            S + f"outages=[{{start_s: {start}, end_s: {end}, "
                f"capacity_share: {float(gen.uniform(0.05, 0.3)):.2f}}}]"]
    on = [run(args, True, s).summary for s in (1, 2)]
    off = [run(args, False, s).summary for s in (1, 2)]
    arrived = sum(r["legit"]["arrived"] for r in off)
    for key in ("joined", "abandoned", "attempts_timed_out"):
        assert sum(r["legit"][key] for r in on) == pytest.approx(
            sum(r["legit"][key] for r in off), abs=0.002 * arrived), key
    p_on = np.mean([r["join_latency_s"]["p99"] for r in on])
    p_off = np.mean([r["join_latency_s"]["p99"] for r in off])
    assert p_on == pytest.approx(p_off, rel=0.05), args
    assert on[0]["perf"]["events"] < 0.7 * off[0]["perf"]["events"]  # windows did open


def test_a_window_times_out_in_flight_once_and_by_rank() -> None:
    """The tick-by-tick judging of a window's deadlines (``CohortClients._judge``), on
    one attempt of 1,000 requests sent over a second: at a quarter of its deadlines
    with 100 answered, 150 time out (the ranks 100-250, born in that share of the
    window); the next late answers are theirs and do not fail again; at the last
    deadline the rest times out; nothing is counted twice."""
    sc = Scenario(to_config(compose([*BASE, "architecture=single_station",
                                     "arrivals=constant", "arrivals.rate=10",
                                     "run.horizon_s=60"])))
    cl = sc.clients
    assert isinstance(cl, CohortClients)
    c = cl._fresh(1000, 10.0, 1.0)
    c.ticket = t = cohort_clients.Ticket(c)
    t.end = t.lo + t.width
    failed: list[tuple[int, float, float]] = []
    cl._fail_n = lambda c, n, now, tag=None, **kw: failed.append(  # type: ignore[method-assign]
        (n, c.born_s, c.born_spread))
    t.ranked = 100
    t.pending = 900
    cl._judge(t, t.lo + 0.25)
    assert t.expired == 150 and t.pending == 750 and cl.attempts_timed_out == 150
    n, born, spread = failed[-1]
    assert n == 150
    assert born == pytest.approx(10.0 + 0.175) and spread == pytest.approx(0.15)
    cl._judge(t, t.lo + 0.25)  # nothing more has passed
    assert t.expired == 150 and len(failed) == 1
    # 200 answered from now, well after their deadlines: 150 of them had timed out.
    part = c.split(200)
    part.spread_s = 0.01
    part.deadline_spread = t.width
    cl._race(part, t.lo + 0.6, None)
    assert t.expired == 0 and part.count == 0
    assert cl.attempts_timed_out == 200 and failed[-1][0] == 50 and t.pending == 700


@pytest.mark.parametrize("extra", [
    ["autoscaler=hpa", "autoscaler.stations=[fanout]"],
    ["architecture.stations.join.crash.enabled=true",
     "architecture.stations.join.crash.above_utilization=0.9"],
])
def test_no_window_where_the_run_decides_capacity_itself(
        extra: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """An autoscaler or overload crashes change capacity at times the run decides: no
    window is even considered (with windows, an autoscaled fanout's scale-in evicted
    3% and reconnected 7% fewer listeners than tick by tick)."""
    opened = windows_opened(monkeypatch)
    args = ["arrivals.audience=30000", "run.horizon_s=900"]
    run([*args, *extra], True, 1)
    assert opened == []
    run(args, True, 1)
    assert sum(opened) > 0  # the same launch without them opens windows
