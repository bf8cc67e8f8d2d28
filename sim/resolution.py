"""Which mode a run uses, and at what tick: ``run.resolution_s: auto``.

Exact mode (one request per cohort, every service time sampled) is the reference, and
it is cheap while the run is small: its cost follows the requests it moves, about
``EXACT_VISITS_PER_S`` station visits per second of wall time on one core. Cohort mode
costs what the ticks cost, whatever the audience, but a tick is only as fine as the
scenario's shortest time scale allows: a client deadline, a backoff, a short outage or
attack ramp, the metrics tick.

``auto`` (the default) decides from the config alone, before anything runs:

1. Estimate the station visits exact mode would make: the legit arrivals the arrival
   curve expects, times ``RETRY_ALLOWANCE`` attempts each, times the visits per attempt
   along the routes; the attack vectors' requests over their windows times the visits
   to their last station; HLS polls of the listeners. Divided by
   ``EXACT_VISITS_PER_S``, that is the estimated exact-mode wall time.
2. If it is within ``run.exact_budget_s`` (10 s by default), run exact mode.
3. Otherwise run cohort mode at the scenario's tick: the coarsest tick that every one of
   the scenario's time scales allows (each divided by the number of ticks it needs:
   ``TIMEOUT_TICKS`` per client timeout, ``BACKOFF_TICKS`` per backoff base and per
   impatient retry, ``EVENT_TICKS`` per outage, attack window or ramp, shedding age and
   SLO window; a waiting room's load gate looks every 50 ms, as in exact mode; one tick
   per shortest connection hold where the load could fill a connection limit,
   ``connection_holds``; never above the metrics tick), rounded down to a round number.

An explicit tick (``run.resolution_s: 0.5``) runs as asked; if it is coarser than the
scenario's tick, the run warns once, naming the key and the tick it should be, and the
summary and the report say so. ``run.resolution_s: 0`` is exact mode, as always.

The choice, the estimate and the reason are written to ``summary.json`` (``resolution``)
and shown in the report, so a result always says how it was computed.

What it leaves out: the estimate does not know how many retries an overload will cause
(``RETRY_ALLOWANCE`` is a typical figure, not a bound), and the rate of exact mode
depends on the machine; both only move the line between "seconds" and "minutes".

The same figures guard every run (``guard``, at the end of this module): before it
starts, a run estimates its events, wall time and memory in the mode it will use (exact
mode's visits, cohort mode's ticks and the stations it serves one request at a time, the
timers of metrics, autoscalers and polling, the arrival curve, the largest cohort), and
a run over an hour or half the machine's memory stops with the estimate, the keys that
drive it and how to run faster, unless ``run.force=true``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Any

from .config import ConfigError, SimConfig
from .model.waiting_room import PAUSE_POLL_S
from .summary import Mode
from .summary import Resolution as ResolutionSummary

# Station visits per second of wall time in exact mode, measured on the default scenario
# and on a crowd with an L7 flood (55k-90k visits/s on a shared two-core machine): the
# lower figure, so "a few seconds" is not promised where it would be a minute.
EXACT_VISITS_PER_S = 60_000.0
# Attempts per legit client assumed by the estimate (one, and half a retry on average).
RETRY_ALLOWANCE = 1.5
# Ticks per client timeout. Measured on experiment=x_spaces_2024 (5 s timeout, joined
# share of arrivals): 0.507 at 0.25 s (20 ticks), 0.548 at 0.1 s (50), 0.556 at 0.05 s,
# 0.556 at 0.025 s: at 50 ticks the share is within 0.8 points of a tick four times finer.
# Since a contended tick's admissions start at their arrivals: 0.5560 at 0.1 s and 0.5557
# at 0.025 s (2026-12-04, seed 1).
TIMEOUT_TICKS = 50
BACKOFF_TICKS = 10
EVENT_TICKS = 20
# The share of a connection limit its load must fill at the shortest hold for that hold
# to bound the tick (``connection_holds``).
CONNECTION_BIND_SHARE = 0.5
# Ticks are rounded down to one of these, so runs of similar scenarios share ticks.
ROUND_TICKS = (1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.025, 0.02, 0.01, 0.005, 0.0025, 0.002,
               0.001)
MAX_TICKS = 20_000_000  # ticks per horizon cohort mode accepts (run.resolution_s)


@dataclass(frozen=True)
class Resolution:
    """How a run is computed: its mode and tick, and why."""

    requested: str | float  # "auto" or the number given
    mode: Mode  # "exact" or "cohort"
    tick_s: float  # 0 in exact mode
    scenario_tick_s: float  # the coarsest tick the scenario's time scales allow
    binding: str  # the key that sets scenario_tick_s
    estimated_visits: float
    estimated_exact_s: float
    reason: str
    warning: str | None = None

    def as_dict(self) -> ResolutionSummary:
        return {"requested": self.requested, "mode": self.mode, "tick_s": self.tick_s,
                "scenario_tick_s": self.scenario_tick_s, "binding": self.binding,
                "estimated_visits": round(self.estimated_visits),
                "estimated_exact_s": round(self.estimated_exact_s, 1),
                "reason": self.reason, "warning": self.warning}


def is_auto(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "auto"


def time_scales(cfg: SimConfig) -> list[tuple[str, float, int]]:
    """The scenario's time scales that bound the tick: (key, seconds, ticks it needs)."""
    c, r = cfg.clients, cfg.run
    out: list[tuple[str, float, int]] = [("run.metrics_tick_s", r.metrics_tick_s, 1),
                                         ("slo.window_s", cfg.slo.window_s, EVENT_TICKS)]
    if c.timeout_s is not None:
        out.append(("clients.timeout_s", c.timeout_s, TIMEOUT_TICKS))
    if c.retry.max_attempts > 1 and c.retry.policy not in ("none", "immediate"):
        out.append(("clients.retry.base_s", c.retry.base_s, BACKOFF_TICKS))
    if c.impatient_share > 0 and c.impatient_retry_s > 0:
        out.append(("clients.impatient_retry_s", c.impatient_retry_s, BACKOFF_TICKS))
    for name, st in cfg.architecture.stations.items():
        key = f"architecture.stations.{name}"
        if st.shed_queue_age_s is not None:
            out.append((f"{key}.shed_queue_age_s", st.shed_queue_age_s, BACKOFF_TICKS))
        for i, o in enumerate(st.outages):
            out.append((f"{key}.outages[{i}]", o.end_s - o.start_s, EVENT_TICKS))
    for name, v in cfg.attack.vectors.items():
        key = f"attack.vectors.{name}"
        if v.rate_rps > 0 or v.gbps > 0:
            out.append((f"{key}.end_s", v.end_s - v.start_s, EVENT_TICKS))
            if v.ramp_s > 0:
                out.append((f"{key}.ramp_s", v.ramp_s, EVENT_TICKS))
    wr = cfg.architecture.waiting_room
    if wr.enabled and wr.patience_s is not None:
        out.append(("architecture.waiting_room.patience_s", wr.patience_s, EVENT_TICKS))
    if wr.enabled and wr.watch:
        # The load gate looks at its station every tick (exact mode: every 50 ms).
        out.append(("architecture.waiting_room.watch", PAUSE_POLL_S, 1))
    out += connection_holds(cfg)
    return [(k, float(s), n) for k, s, n in out if s is not None and s > 0]


def connection_holds(cfg: SimConfig) -> list[tuple[str, float, int]]:
    """The shortest time a request holds a connection of each limit that its load could
    fill: (key, seconds, 1 tick).

    A request holds a connection of its station's limit until its attempt ends, at least
    the mean service times of the path from there. Cohort mode shares a limit that binds
    among a tick's arrivals at the tick's end, with the connections given back during the
    tick; it agrees with exact mode (Erlang B) while a tick is no longer than that hold,
    and loses what exact mode reuses within a tick when it is longer. A limit counts
    where the peak offered rate times that hold reaches ``CONNECTION_BIND_SHARE`` of it;
    below that it does not bind at the short hold, and where requests hold longer
    (queues, slow tiers) each tick is a smaller share of the hold."""
    from .model import visit_ratios

    arch = cfg.architecture
    capped = {n: st for n, st in arch.stations.items() if st.connections_per_instance}
    if not capped:
        return []
    names = list(arch.stations)
    entry = visit_ratios(arch.entry, arch.routes, names)
    legit = _peak_rate(arrival_curve(cfg)) * min(RETRY_ALLOWANCE, cfg.clients.retry.max_attempts)
    floods = [(v.rate_rps, visit_ratios(v.enter, arch.routes, names))
              for v in cfg.attack.vectors.values()
              if v.kind not in ("volumetric", "connection_exhaustion") and v.rate_rps > 0]
    out = []
    for name, st in capped.items():
        rate = legit * entry[name] + sum(r * visits[name] for r, visits in floods)
        after = visit_ratios(name, arch.routes, names)
        hold = sum(k * arch.stations[n].service.mean_s for n, k in after.items())
        cap = (st.connections_per_instance or 0) * st.instances
        if rate * hold >= CONNECTION_BIND_SHARE * cap:
            out.append((f"architecture.stations.{name}.connections_per_instance", hold, 1))
    return out


def scenario_tick(cfg: SimConfig) -> tuple[float, str]:
    """The coarsest round tick every time scale allows, and the key that sets it."""
    key, limit = "run.metrics_tick_s", math.inf
    for k, s, n in time_scales(cfg):
        if s / n < limit:
            key, limit = k, s / n
    tick = next((t for t in ROUND_TICKS if t <= limit * (1 + 1e-9)), ROUND_TICKS[-1])
    while cfg.run.horizon_s / tick > MAX_TICKS and tick < ROUND_TICKS[0]:
        tick = min(t for t in ROUND_TICKS if t > tick)
    return tick, key


def estimate_visits(cfg: SimConfig) -> float:
    """Station visits exact mode would make (see the module docstring)."""
    return float(sum(v for _, v in visit_parts(cfg)))


def visit_parts(cfg: SimConfig) -> list[tuple[str, float]]:
    """The station visits of exact mode by what causes them: (key, visits)."""
    from .model import visit_ratios

    arch, horizon = cfg.architecture, cfg.run.horizon_s
    names = list(arch.stations)
    visits = visit_ratios(arch.entry, arch.routes, names)
    per_attempt = sum(visits.values())
    arrivals = arrival_curve(cfg).expected_total
    parts = [(arrivals_key(cfg), arrivals * min(RETRY_ALLOWANCE, cfg.clients.retry.max_attempts)
              * per_attempt)]
    for name, v in cfg.attack.vectors.items():
        if v.kind == "volumetric":
            continue  # counted per step at the link, not per packet
        span = max(0.0, min(v.end_s, horizon) - v.start_s) - v.ramp_s / 2
        enter = visit_ratios(v.enter, arch.routes, names)
        path = sum(enter.values()) if v.stop_after is None else _visits_to(
            v.enter, v.stop_after, arch.routes, names)
        parts.append((f"attack.vectors.{name}.rate_rps", v.rate_rps * max(0.0, span) * path))
    poll = arch.polling
    if poll.rps_per_listener > 0:
        parts.append(("architecture.polling.rps_per_listener",
                      arrivals * poll.rps_per_listener * horizon / 2))
    return parts


# Grid points of the arrival curve beyond which the estimate uses a coarser grid (the
# run's own curve has one point per 50 ms; an estimate must not cost what the run would).
ESTIMATE_GRID_POINTS = 2_000_000


def arrival_curve(cfg: SimConfig) -> Any:
    """The arrival curve of the run, on a grid no finer than the estimate can afford."""
    from .model import ArrivalCurve, rate_function

    horizon = cfg.run.horizon_s
    grid = None if curve_points(horizon) <= ESTIMATE_GRID_POINTS \
        else horizon / ESTIMATE_GRID_POINTS
    return ArrivalCurve(rate_function(cfg.arrivals), horizon, grid_s=grid)


def curve_points(horizon_s: float) -> float:
    """Grid points of the run's arrival curve (``ArrivalCurve``: 50 ms, at least 1,000)."""
    return horizon_s / min(0.05, horizon_s / 1000) + 1


def arrivals_key(cfg: SimConfig) -> str:
    """The key that sets how many legit clients arrive, for messages."""
    return {"flash_crowd": "arrivals.audience", "constant": "arrivals.rate",
            "batch": "arrivals.count", "diurnal": "arrivals.base_rate",
            "ramp": "arrivals.rate_end"}.get(cfg.arrivals.kind, "arrivals")


def _visits_to(enter: str, stop: str, routes: dict[str, dict[str, float]],
               names: list[str]) -> float:
    """Visits per request from ``enter`` up to and including ``stop``."""
    from .model import visit_ratios

    seen = visit_ratios(enter, routes, names)
    after = visit_ratios(stop, routes, names)  # from ``stop`` on, ``stop`` itself once
    return sum(seen.values()) - seen.get(stop, 0.0) * (sum(after.values()) - 1.0)


def choose(cfg: SimConfig) -> Resolution:
    """The mode and tick of the run (see the module docstring)."""
    r = cfg.run
    tick, binding = scenario_tick(cfg)
    visits = estimate_visits(cfg)
    exact_s = visits / EXACT_VISITS_PER_S

    def made(requested: str | float, mode: Mode, tick_s: float, reason: str,
             warning: str | None = None) -> Resolution:
        return Resolution(requested, mode, tick_s, tick, binding, visits, exact_s, reason,
                          warning)

    value = r.resolution_s
    why_tick = f"the tick set by {binding} (≤ {_s(tick)})"
    if is_auto(value):
        est = f"exact mode would move about {_count(visits)} requests through the stations " \
              f"(~{exact_s:,.0f} s)"
        budget = f"run.exact_budget_s = {_s(r.exact_budget_s)}"
        if exact_s <= r.exact_budget_s:
            return made("auto", "exact", 0.0, f"auto: {est}, within {budget}")
        return made("auto", "cohort", tick, f"auto: {est}, over {budget}; cohort mode at "
                    f"{why_tick}")
    value = float(value)
    if value == 0:
        return made(0.0, "exact", 0.0, "run.resolution_s = 0: exact mode, as configured")
    warning = None
    if value > tick * (1 + 1e-9):
        warning = (f"run.resolution_s = {_s(value)} is coarser than this scenario allows: "
                   f"{binding} asks for a tick of at most {_s(tick)}; results may move with "
                   f"the tick. Set run.resolution_s={tick:g} (or auto).")
    return made(value, "cohort", value, f"run.resolution_s = {_s(value)}: cohort mode at "
                f"the configured tick; {why_tick}", warning)


def resolved(cfg: SimConfig, res: Resolution) -> SimConfig:
    """The config with the chosen tick in ``run.resolution_s`` (a number), for the model."""
    return replace(cfg, run=replace(cfg.run, resolution_s=res.tick_s))


def _s(x: float) -> str:
    return f"{x:g} s"


def _count(x: float) -> str:
    for div, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:,.3g}{unit}" if x < 1e3 * div or unit != "T" else \
                f"{x / div:,.0f}{unit}"
    return f"{x:.0f}"


# -- the guard: what a run will cost, before it starts ---------------------------------------
#
# A run is refused when its estimate is over ``WALL_LIMIT_S`` of wall time or
# ``MEMORY_SHARE`` of the machine's memory, unless ``run.force=true``. The estimate is
# coarse on purpose (a factor of two either way): it is there to stop the run that would
# take a day or exhaust the machine, with the keys that make it so.

WALL_LIMIT_S = 3600.0
MEMORY_SHARE = 0.5
NOTICE_WALL_S = 60.0  # runs estimated above this say so before they start
# Timer events per second of wall time (metrics samples, autoscaler syncs, poll ticks):
# each does a little Python work, like a station visit.
TIMER_EVENTS_PER_S = EXACT_VISITS_PER_S
# Wall seconds per cohort tick per station or class (experiment=x_spaces_2024: 72,000
# ticks of 0.1 s over seven stations and classes in some 30 s on a shared core).
COHORT_TICK_WALL_S = 6e-5
# Bytes a run holds per legit arrival in exact mode (its arrival time in three arrays,
# its request while in flight, its join latency in three lists).
EXACT_BYTES_PER_ARRIVAL = 150.0
# Bytes per metrics row and column (lists while recording, arrays, the summary's work).
SERIES_BYTES = 24.0
# A station served one request at a time in cohort mode (sim/engine/granular.py) spreads
# each cohort over single requests: 16 bytes per request of the largest cohort.
GRANULAR_PER_TICK = 100
SPREAD_BYTES = 16.0


class RunTooLarge(ConfigError):
    """A run estimated to take too long or too much memory; the message says why."""


@dataclass(frozen=True)
class Estimate:
    """What a run is estimated to cost before it starts, and what drives the cost."""

    mode: str
    tick_s: float  # the cohort tick of the run, or the scenario's tick for exact mode
    events: float
    wall_s: float
    memory_bytes: float
    wall_parts: tuple[tuple[str, float], ...]  # (key, wall seconds), largest first
    memory_parts: tuple[tuple[str, float], ...]  # (key, bytes), largest first

    @property
    def notable(self) -> bool:
        return self.wall_s > NOTICE_WALL_S

    def line(self) -> str:
        return (f"estimate: {_duration(self.wall_s)} of wall time, {_bytes(self.memory_bytes)} "
                f"of memory, ~{_count(self.events)} events ({self.mode} mode); driven by "
                f"{self.wall_parts[0][0] if self.wall_parts else 'nothing'}")


def machine_memory() -> float:
    """Physical memory of this machine in bytes (inf where the system does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def estimate(cfg: SimConfig) -> Estimate:
    """The events, wall time and memory of a run of ``cfg``, from the config alone."""
    r, arch = cfg.run, cfg.architecture
    horizon = r.horizon_s
    memory: list[tuple[str, float]] = [("run.horizon_s", curve_points(horizon) * 8 * 4)]
    if curve_points(horizon) > 50 * ESTIMATE_GRID_POINTS:  # the curve alone is too much
        return _made("exact" if r.resolution_s == 0 else "cohort", 0.0, [], memory, 0.0)
    res = choose(cfg)
    wall: list[tuple[str, float]] = []
    events = 0.0
    curve = arrival_curve(cfg)
    arrivals = curve.expected_total
    mode_key = "run.resolution_s"
    if res.mode == "exact":
        for key, visits in visit_parts(cfg):
            wall.append((key, visits / EXACT_VISITS_PER_S))
            events += 2 * visits
        memory.append((arrivals_key(cfg), arrivals * EXACT_BYTES_PER_ARRIVAL))
    else:
        ticks = horizon / res.tick_s
        lanes = len(arch.stations) + len(cfg.attack.vectors) + 1
        wall.append((mode_key, ticks * lanes * COHORT_TICK_WALL_S))
        events += ticks * lanes
        memory.append((mode_key, ticks * 8 * 4))
        peak = _peak_rate(curve) * res.tick_s * min(RETRY_ALLOWANCE,
                                                    cfg.clients.retry.max_attempts)
        peak += max((n for _, n in curve.batches), default=0)
        # A station served one request at a time spreads the largest cohort into single
        # requests; counted wherever such a station may stand (autoscaling, caps).
        memory.append((arrivals_key(cfg), peak * SPREAD_BYTES))
        granular = _granular_stations(cfg, res.tick_s)
        if granular:
            from .model import visit_ratios

            ratios = visit_ratios(arch.entry, arch.routes, list(arch.stations))
            legit = visit_parts(cfg)[0][1] / max(sum(ratios.values()), 1e-12)
            visits = legit * sum(ratios.get(n, 0.0) for n in granular)
            wall.append((arrivals_key(cfg), visits / EXACT_VISITS_PER_S))
            events += 2 * visits
    for key, period, count in timers(cfg, res.mode):
        n = horizon / period * count
        wall.append((key, n / TIMER_EVENTS_PER_S))
        events += n
    columns = 20 + 12 * len(arch.stations) + 3 * len(cfg.attack.vectors)
    memory.append(("run.metrics_tick_s", horizon / r.metrics_tick_s * columns * SERIES_BYTES))
    return _made(res.mode, res.tick_s or res.scenario_tick_s, wall, memory, events)


def _made(mode: str, tick: float, wall: list[tuple[str, float]],
          memory: list[tuple[str, float]], events: float) -> Estimate:
    def merged(parts: list[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
        out: dict[str, float] = {}
        for k, v in parts:
            out[k] = out.get(k, 0.0) + v
        return tuple(sorted(out.items(), key=lambda kv: -kv[1]))

    w, m = merged(wall), merged(memory)
    return Estimate(mode, tick, events, sum(v for _, v in w), sum(v for _, v in m), w, m)


def timers(cfg: SimConfig, mode: str) -> list[tuple[str, float, int]]:
    """The run's periodic events: (key, period in seconds, how many such timers)."""
    from .config import autoscaled_stations, station_autoscaler

    arch = cfg.architecture
    out = [("run.metrics_tick_s", cfg.run.metrics_tick_s, 1)]
    for name in autoscaled_stations(cfg.autoscaler, arch):
        a = station_autoscaler(cfg.autoscaler, name)
        key = ("autoscaler.sync_period_s" if a is cfg.autoscaler
               else f"autoscaler.per_station.{name}.sync_period_s")
        out.append((key, a.sync_period_s, 1))
    if mode == "exact" and arch.polling.rps_per_listener > 0:
        out.append(("architecture.polling.tick_s", arch.polling.tick_s, 1))
    if mode == "exact" and arch.waiting_room.enabled and arch.waiting_room.watch:
        out.append(("architecture.waiting_room.watch", PAUSE_POLL_S, 1))
    return [(k, float(p), n) for k, p, n in out if p and p > 0]


def _peak_rate(curve: Any) -> float:
    """The highest arrival rate on the curve's grid, per second."""
    import numpy as np

    dt = np.diff(curve.t)
    return float(np.max(np.diff(curve.cum) / dt)) if len(dt) else 0.0


def _granular_stations(cfg: SimConfig, tick_s: float) -> list[str]:
    """Stations cohort mode serves one request at a time (at most 100 per tick)."""
    out = []
    for name, st in cfg.architecture.stations.items():
        rate = st.instances * st.workers_per_instance / max(st.service.mean_s, 1e-12)
        if st.max_rate_rps:
            rate = min(rate, st.max_rate_rps)
        if rate * tick_s <= GRANULAR_PER_TICK:
            out.append(name)
    return out


def guard(cfg: SimConfig) -> Estimate:
    """The run's estimate; ``RunTooLarge`` if it is over the limits and not forced.

    The message gives the estimate, the keys that drive it and how to run faster;
    ``run.force=true`` runs it anyway.
    """
    est = estimate(cfg)
    limit = MEMORY_SHARE * machine_memory()
    over_wall, over_mem = est.wall_s > WALL_LIMIT_S, est.memory_bytes > limit
    if cfg.run.force or not (over_wall or over_mem):
        return est
    parts = est.wall_parts if over_wall else est.memory_parts
    total = est.wall_s if over_wall else est.memory_bytes
    drivers = [k for k, v in parts if v >= 0.1 * total][:3]
    fmt = _duration if over_wall else _bytes
    driven = ", ".join(f"{k} ({fmt(dict(parts)[k])})" for k in drivers)
    what = (f"{_duration(est.wall_s)} of wall time (the limit is {_duration(WALL_LIMIT_S)})"
            if over_wall else f"{_bytes(est.memory_bytes)} of memory (the limit is half of "
            f"this machine's, {_bytes(limit)})")
    raise RunTooLarge(
        f"Run refused before it started: it is estimated to need {what}, in {est.mode} "
        f"mode{f' with about {_count(est.events)} events' if est.events else ''}. What "
        f"drives it: {driven}. "
        f"{_faster(cfg, est, drivers)} To run it as configured anyway, add run.force=true.")


def _faster(cfg: SimConfig, est: Estimate, drivers: list[str]) -> str:
    """How to run the scenario faster, for the key that drives its cost."""
    key = drivers[0] if drivers else ""
    timer_keys = {k for k, _, _ in timers(cfg, est.mode)}
    if est.mode == "exact" and key != "run.horizon_s" and key not in timer_keys:
        return (f"To run faster, use cohort mode at the scenario's tick: "
                f"run.resolution_s={est.tick_s:g} (or run.resolution_s=auto).")
    if key in ("run.horizon_s", "run.resolution_s") and est.mode == "cohort":
        return ("To run faster, shorten run.horizon_s or use a coarser cohort tick "
                "(run.resolution_s, at most run.metrics_tick_s).")
    if key == "run.horizon_s":
        return "To run faster, shorten run.horizon_s."
    if key in timer_keys:
        return f"To run faster, raise {key} (a period of seconds, not microseconds)."
    return (f"To run faster, lower {key} or use cohort mode at a coarser tick "
            f"(run.resolution_s, at most run.metrics_tick_s).")


def _duration(s: float) -> str:
    if s >= 86400 * 1000:
        return f"{s / 86400 / 365:,.0f} years"
    if s >= 86400:
        return f"{s / 86400:.3g} days"
    if s >= 3600:
        return "1 hour" if s == 3600 else f"{s / 3600:.3g} hours"
    if s >= 60:
        return f"{s / 60:.3g} minutes"
    return f"{s:.2g} s"


def _bytes(b: float) -> str:
    for div, unit in ((2**50, "PiB"), (2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB")):
        if b >= div:
            return f"{b / div:,.3g} {unit}"
    return f"{b / 1024:.3g} KiB"
