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
   SLO window; a waiting room's load gate looks every 50 ms, as in exact mode; never
   above the metrics tick), rounded down to a round number.

An explicit tick (``run.resolution_s: 0.5``) runs as asked; if it is coarser than the
scenario's tick, the run warns once, naming the key and the tick it should be, and the
summary and the report say so. ``run.resolution_s: 0`` is exact mode, as always.

The choice, the estimate and the reason are written to ``summary.json`` (``resolution``)
and shown in the report, so a result always says how it was computed.

What it leaves out: the estimate does not know how many retries an overload will cause
(``RETRY_ALLOWANCE`` is a typical figure, not a bound), and the rate of exact mode
depends on the machine; both only move the line between "seconds" and "minutes".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from .config import SimConfig
from .model.waiting_room import PAUSE_POLL_S

# Station visits per second of wall time in exact mode, measured on the default scenario
# and on a crowd with an L7 flood (55k-90k visits/s on a shared two-core machine): the
# lower figure, so "a few seconds" is not promised where it would be a minute.
EXACT_VISITS_PER_S = 60_000.0
# Attempts per legit client assumed by the estimate (one, and half a retry on average).
RETRY_ALLOWANCE = 1.5
# Ticks per client timeout. Measured on experiment=x_spaces_2024 (5 s timeout, joined
# share of arrivals): 0.507 at 0.25 s (20 ticks), 0.548 at 0.1 s (50), 0.556 at 0.05 s,
# 0.556 at 0.025 s: at 50 ticks the share is within 0.8 points of a tick four times finer.
TIMEOUT_TICKS = 50
BACKOFF_TICKS = 10
EVENT_TICKS = 20
# Ticks are rounded down to one of these, so runs of similar scenarios share ticks.
ROUND_TICKS = (1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.025, 0.02, 0.01, 0.005, 0.0025, 0.002,
               0.001)
MAX_TICKS = 20_000_000  # ticks per horizon cohort mode accepts (run.resolution_s)


@dataclass(frozen=True)
class Resolution:
    """How a run is computed: its mode and tick, and why."""

    requested: str | float  # "auto" or the number given
    mode: str  # "exact" or "cohort"
    tick_s: float  # 0 in exact mode
    scenario_tick_s: float  # the coarsest tick the scenario's time scales allow
    binding: str  # the key that sets scenario_tick_s
    estimated_visits: float
    estimated_exact_s: float
    reason: str
    warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
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
    return [(k, float(s), n) for k, s, n in out if s is not None and s > 0]


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
    from .model import ArrivalCurve, rate_function, visit_ratios

    arch, horizon = cfg.architecture, cfg.run.horizon_s
    names = list(arch.stations)
    visits = visit_ratios(arch.entry, arch.routes, names)
    per_attempt = sum(visits.values())
    arrivals = ArrivalCurve(rate_function(cfg.arrivals), horizon).expected_total
    total = arrivals * min(RETRY_ALLOWANCE, cfg.clients.retry.max_attempts) * per_attempt
    for v in cfg.attack.vectors.values():
        if v.kind == "volumetric":
            continue  # counted per step at the link, not per packet
        span = max(0.0, min(v.end_s, horizon) - v.start_s) - v.ramp_s / 2
        enter = visit_ratios(v.enter, arch.routes, names)
        path = sum(enter.values()) if v.stop_after is None else _visits_to(
            v.enter, v.stop_after, arch.routes, names)
        total += v.rate_rps * max(0.0, span) * path
    poll = arch.polling
    if poll.rps_per_listener > 0:
        total += arrivals * poll.rps_per_listener * horizon / 2
    return float(total)


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

    def made(requested: str | float, mode: str, tick_s: float, reason: str,
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
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.0f}"
