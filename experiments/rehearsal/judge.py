"""The SLO of a real step, judged as the simulator judges a run (``sim.analysis.slo``).

The clients' events file (``testbed/locustfile.py``) has every attempt with the second
it finished and whether it succeeded, and every join with its latency (first attempt to
joined). Over a sliding window of ``window_s`` ending at each whole second: the share of
finished attempts that succeeded, at least ``join_success_min``; the p99 join latency
of clients who joined in the window (the simulator's own histogram,
``window_latency_quantiles``), at most ``join_p99_max_s``; windows with fewer than
``min_attempts`` finished attempts are not judged. The step fails if any judged window
does. Attempts and joins after the step's end are not counted, as the simulator stops
counting at its horizon.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from sim.analysis.slo import window_latency_quantiles, window_success_ratio


def read_events(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    """Per kind (arrival, attempt, joined, abandoned): ``(t_s, value_s, outcome)``."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            out.setdefault(r["kind"], []).append((float(r["t_s"]), float(r["value_s"]),
                                                  r["outcome"]))
    return out


def judge(events: dict[str, list[tuple[float, float, str]]], duration_s: float,
          slo: dict[str, Any]) -> dict[str, Any]:
    """The step's SLO verdict and figures."""
    ticks = np.arange(1.0, math.floor(duration_s) + 1.0)
    att = [(t, o == "ok") for t, _, o in events.get("attempt", []) if t <= duration_s]
    t_att = np.array([a[0] for a in att])
    ok_att = np.array([a[1] for a in att], dtype=bool)
    idx = np.clip(np.ceil(t_att).astype(int) - 1, 0, len(ticks) - 1)
    ok = np.bincount(idx[ok_att], minlength=len(ticks)).astype(float)
    bad = np.bincount(idx[~ok_att], minlength=len(ticks)).astype(float)
    span = max(1, round(slo["window_s"]))

    ratio, finished = window_success_ratio(ok, bad, span)
    joins = [(t, v) for t, v, _ in events.get("joined", []) if t <= duration_s]
    lat_t = np.array([j[0] for j in joins])
    lat_v = np.array([j[1] for j in joins])
    p99 = window_latency_quantiles(ticks, lat_t, lat_v, np.ones(len(joins)), slo["window_s"],
                                   (0.99,))[0]
    judged = finished >= max(1, slo["min_attempts"])
    breach = judged & ((ratio < slo["join_success_min"])
                       | (np.nan_to_num(p99, nan=0.0) > slo["join_p99_max_s"]))
    arrived = sum(1 for t, _, _ in events.get("arrival", []) if t <= duration_s)
    return {
        "slo_met": bool(not breach.any()),
        "first_breach_s": float(ticks[np.argmax(breach)]) if breach.any() else None,
        "worst_success_ratio": float(np.nanmin(np.where(judged, ratio, np.nan)))
        if judged.any() else None,
        "worst_p99_s": float(np.nanmax(np.where(judged, p99, np.nan)))
        if judged.any() and np.isfinite(np.where(judged, p99, np.nan)).any() else None,
        "p99_s": float(np.percentile(lat_v, 99)) if len(lat_v) else None,
        "join_share": len(joins) / arrived if arrived else None,
        "arrived": arrived, "joined": len(joins), "attempts": len(att),
        "attempts_failed": int((~ok_att).sum()),
        "abandoned": sum(1 for t, _, _ in events.get("abandoned", []) if t <= duration_s),
    }

