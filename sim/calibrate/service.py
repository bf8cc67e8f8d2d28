"""From a timing log (and Locust's totals) to an architecture preset.

What is measured and what is read:

- **routes** are counted: each request's tiers in the order it was served; the share of
  requests going from a tier to each next one is the route's probability, and the tier
  requests start at is the entry. The auth cache hit ratio is the ``auth → join`` route
  (checked against auth's own ``hit``/``miss`` lines);
- **service times** are fitted per tier (``fit``);
- **workers** are counted: the distinct workers seen per tier. A pool hands out its
  workers in turn, so at moderate load every worker appears; a count above the declared
  pool size is an error, one below it is reported and the declared size kept;
- **queue limits**, the edge's **connection** cap and the **listener slots** are read from
  the declarations (a limit is not seen below saturation); without a declaration a
  queue is unlimited and the report says so;
- the **throughput ceiling** of a declared resource (the room key) is measured: of two
  writes in a row that both waited for the key, the second started one spacing after
  the first (each a little late by the event loop's wake-up, alike), so the ceiling is
  one over the median spacing of such pairs.

The run must have been at moderate load: a log with more than ``MAX_REJECTED`` of a
tier's requests turned away, or Locust totals with more than ``MAX_REJECTED`` failed
attempts, is refused (a saturated run measures the queue, not the tier).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import CalibrationError
from .fit import ServiceFit, fit_service
from .logs import LocustStats, TimingLog

MAX_REJECTED = 0.01
MIN_WAITED_WRITES = 30
REJECTIONS = ("queue_full", "connections_full", "slots_full")


@dataclass
class Calibration:
    """What ``calibrate`` found: the preset's content and what it rests on."""

    name: str
    entry: str
    fits: dict[str, ServiceFit]
    workers: dict[str, int]
    queue_limits: dict[str, int | None]
    routes: dict[str, dict[str, float]]
    ceilings: dict[str, float]
    connections: dict[str, int]
    slots: dict[str, int]
    rate_rps: float
    utilization: dict[str, float]
    notes: list[str] = field(default_factory=list)
    locust: LocustStats | None = None
    overhead_s: float | None = None

    def architecture(self) -> dict[str, Any]:
        """The ``architecture`` preset, as the simulator's YAML reads it."""
        stations: dict[str, Any] = {}
        for tier, fit in self.fits.items():
            st: dict[str, Any] = {"instances": 1, "workers_per_instance": self.workers[tier],
                                  "service": fit.config(), "queue_limit": self.queue_limits[tier],
                                  "autoscale": False}
            if tier in self.ceilings:
                st["max_rate_rps"] = round(self.ceilings[tier], 2)
            if tier in self.connections:
                st["connections_per_instance"] = self.connections[tier]
            if tier in self.slots:
                st["listener_slots_per_instance"] = self.slots[tier]
            stations[tier] = st
        return {"name": self.name, "entry": self.entry, "stations": stations,
                "routes": {a: _rounded(r) for a, r in self.routes.items()}}


def _rounded(shares: dict[str, float], digits: int = 4) -> dict[str, float]:
    """``shares`` rounded, the largest taking the remainder so that they add up to 1."""
    out = {b: round(p, digits) for b, p in shares.items()}
    top = max(out, key=lambda b: out[b])
    out[top] = round(1.0 - sum(v for b, v in out.items() if b != top), digits + 2)
    return out


def calibrate(log: TimingLog, locust: LocustStats | None = None,
              name: str = "calibrated") -> Calibration:
    """The calibration of the service that wrote ``log``."""
    _check_moderate(log, locust)
    ok = ~np.isin(log.status, REJECTIONS)
    station = ok & (log.tier != "room_key") & ~_resource_lines(log)
    entry, routes = _routes(log, station)
    tiers = list(dict.fromkeys(log.tier[station]))  # in order of first appearance
    notes: list[str] = []
    fits = {t: fit_service(log.service_s[station & (log.tier == t)],
                           f"the service times of tier '{t}' in {log.path}") for t in tiers}
    workers = {t: _workers(log, station, t, notes) for t in tiers}
    limits = {t: log.declared_value("pool", t, "queue_limit") for t in tiers}
    notes += [f"{t}: no queue limit declared, taken as unlimited" for t in tiers
              if limits[t] is None]
    span = float(log.t_s[station].max() - log.t_s[station].min()) or 1.0
    rate = float((station & (log.tier == entry)).sum()) / span
    util = {t: float((station & (log.tier == t)).sum()) / span * fits[t].mean_s / workers[t]
            for t in tiers}
    _check_hit_ratio(log, station, routes, notes)
    overhead = None
    if locust is not None:
        path_s = _path_seconds(log, station)
        overhead = locust.p50_s - float(np.median(path_s)) if len(path_s) else None
    return Calibration(
        name, entry, fits, workers, limits, routes, _ceilings(log), _declared(log, "connections"),
        _declared(log, "slots"), rate, util, notes, locust, overhead)


def _resource_lines(log: TimingLog) -> np.ndarray:
    names = list(log.declared.get("resource", {}))
    return np.isin(log.tier, names) if names else np.zeros(len(log.tier), dtype=bool)


def _check_moderate(log: TimingLog, locust: LocustStats | None) -> None:
    if len(log.t_s) == 0:
        raise CalibrationError(f"{log.path} has no request lines: the service served "
                               "nothing while it logged.")
    for tier in dict.fromkeys(log.tier):
        mine = log.tier == tier
        turned = int((mine & np.isin(log.status, REJECTIONS)).sum())
        if turned > MAX_REJECTED * mine.sum():
            raise CalibrationError(
                f"{log.path}: tier '{tier}' turned away {turned} of {int(mine.sum())} "
                f"requests (more than {MAX_REJECTED:.0%}): the load test was not at "
                "moderate load. Calibrate from a run well below saturation (at most half "
                "of capacity); a saturated run measures its queues, not its tiers.")
    if locust is not None and locust.failure_share > MAX_REJECTED:
        raise CalibrationError(
            f"Locust's '{locust.name}' failed {locust.failures} of {locust.requests} "
            f"requests (more than {MAX_REJECTED:.0%}): the load test was not at moderate "
            "load, or the service was not reachable. Calibrate from a clean run.")


def _routes(log: TimingLog, station: np.ndarray) -> tuple[str, dict[str, dict[str, float]]]:
    """The entry tier and the route shares, from each request's tiers in order."""
    idx = np.nonzero(station)[0]
    order = idx[np.lexsort((log.t_s[idx], log.req[idx]))]
    req, tier = log.req[order], log.tier[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = req[1:] != req[:-1]
    starts, counts = np.unique(tier[first], return_counts=True)
    entry = str(starts[np.argmax(counts)])
    same = req[1:] == req[:-1]
    pairs: dict[str, dict[str, int]] = {}
    for a, b in zip(tier[:-1][same], tier[1:][same], strict=True):
        pairs.setdefault(str(a), {}).setdefault(str(b), 0)
        pairs[str(a)][str(b)] += 1
    routes = {a: {b: n / sum(nxt.values()) for b, n in sorted(nxt.items())}
              for a, nxt in pairs.items()}
    return entry, routes


def _workers(log: TimingLog, station: np.ndarray, tier: str, notes: list[str]) -> int:
    seen = len(np.unique(log.worker[station & (log.tier == tier)]))
    declared = log.declared_value("pool", tier, "workers")
    if declared is None:
        notes.append(f"{tier}: no pool size declared; {seen} workers seen, a lower bound")
        return seen
    if seen > declared:
        raise CalibrationError(
            f"{log.path}: tier '{tier}' declares {declared} workers but {seen} distinct "
            "workers served requests; the declaration at the top of the log is wrong.")
    if seen < declared:
        notes.append(f"{tier}: {seen} of {declared} declared workers seen (the load was "
                     "light); the declared size is kept")
    return declared


def _ceilings(log: TimingLog) -> dict[str, float]:
    """Per station, the throughput ceiling of its declared resource (writes per second)."""
    out = {}
    for name, values in log.declared.get("resource", {}).items():
        mine = np.nonzero(log.tier == name)[0]
        mine = mine[np.argsort(log.t_s[mine])]
        gaps = np.diff(log.t_s[mine])
        queued = log.wait_s[mine] > 1e-4
        waited = queued[1:] & queued[:-1]  # both waited: one spacing, with both late alike
        if waited.sum() < MIN_WAITED_WRITES:
            raise CalibrationError(
                f"{log.path}: only {int(waited.sum())} pairs of writes of resource '{name}' "
                f"in a row waited for it (at least {MIN_WAITED_WRITES} are needed to measure "
                "its ceiling). "
                "Run the load test longer, or at a rate nearer half of capacity.")
        out[values.get("tier", name)] = float(1.0 / np.median(gaps[waited]))
    return out


def _declared(log: TimingLog, kind: str) -> dict[str, int]:
    return {t: int(float(v["limit"])) for t, v in log.declared.get(kind, {}).items()
            if "limit" in v}


def _check_hit_ratio(log: TimingLog, station: np.ndarray, routes: dict[str, dict[str, float]],
                     notes: list[str]) -> None:
    auth = station & np.isin(log.status, ("hit", "miss"))
    if not auth.any():
        return
    hits = float((log.status[auth] == "hit").mean())
    tier = str(log.tier[auth][0])
    notes.append(f"{tier}: cache hit ratio {hits:.4f} from its hit/miss lines "
                 f"({int(auth.sum())} requests)")
    miss_route = 1.0 - max(routes.get(tier, {}).values(), default=1.0)
    if abs((1.0 - hits) - miss_route) > 0.02:
        notes.append(f"{tier}: the routes counted say a miss share of {miss_route:.4f}, "
                     f"the cache lines {1 - hits:.4f}")


def _path_seconds(log: TimingLog, station: np.ndarray) -> np.ndarray:
    """Per request, the sum of its waits and service times over the tiers."""
    idx = np.nonzero(station)[0]
    reqs, inv = np.unique(log.req[idx], return_inverse=True)
    total = np.zeros(len(reqs))
    np.add.at(total, inv, log.wait_s[idx] + log.service_s[idx])
    return total


def preset(cal: Calibration) -> str:
    """The architecture preset as YAML text, with what it rests on as comments."""
    import yaml

    head = [f"# Calibrated by sim-calibrate from a load test at {cal.rate_rps:.1f} joins/s.",
            "# Service times: moment-matched fits, Kolmogorov-Smirnov distance D per tier:"]
    for tier, f in cal.fits.items():
        gof = "" if f.dist == "deterministic" else f" D={f.ks[f.dist][0]:.3f}"
        head.append(f"#   {tier}: {f.dist} mean {f.mean_s * 1000:.2f} ms cv {f.cv:.3f}{gof} "
                    f"(n={f.n}; utilization {cal.utilization[tier]:.0%})")
    head += [f"# Note: {n}" for n in cal.notes]
    body = yaml.safe_dump(cal.architecture(), sort_keys=False, default_flow_style=None)
    return "\n".join(head) + "\n" + body
