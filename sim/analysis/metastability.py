"""Metastability: does the join path come back once the trigger is over?

A metastable failure (Bronson et al., HotOS 2021) is one a trigger starts and something
else keeps going after the trigger ends, most often retries. This module reads a run's
results and says:

- ``trigger_end_s``: when the trigger ended: ``slo.trigger_end_s`` if set, else the
  latest end of an attack vector and of a station outage (``architecture.stations.<n>.
  outages``); no block at all if the run has no trigger;
- ``recovered``, ``recovered_s``: whether and when the SLO windows are good again after
  the trigger and stay good to the horizon (``slo.recovery`` from ``trigger_end_s``);
- ``stays_down``: not recovered by the horizon (the last judged window after the
  trigger breaches); null if no window after the trigger could be judged;
- the retry amplification over time, ``legit.amplification``: attempts sent in the
  trailing SLO window ÷ unique clients with at least one attempt in it (1 when nobody
  retries; 2 in Bronson et al.'s example, where every request times out and is retried
  once), with its peak after warm-up and its value at the horizon.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import series as cols
from ..summary import Metastability
from .slo import recovery


def trigger_end(cfg: Any) -> float | None:
    """The end of the trigger (see the module docstring); None if there is none."""
    explicit = getattr(cfg.slo, "trigger_end_s", None)
    if explicit is not None:
        return float(explicit)
    ends: list[float] = [float(v.end_s) for v in cfg.attack.vectors.values()
                         if getattr(v, "rate_rps", 0) > 0 or getattr(v, "gbps", 0) > 0]
    for st in cfg.architecture.stations.values():
        ends += [float(o.end_s) for o in getattr(st, "outages", None) or []]
    return max(ends) if ends else None


def unique_clients(rows: int, delta: dict[int, int], first: np.ndarray | None = None,
                   window_rows: int = 1) -> np.ndarray:
    """Clients with an attempt in each row's trailing window: the clients' changes for
    later attempts, plus ``first`` attempts per row summed over the window."""
    d = np.zeros(rows + 1)
    for r, x in delta.items():
        if r < rows:
            d[r] += x
    out = np.cumsum(d)[:rows]
    if first is not None:
        c = np.cumsum(np.asarray(first, dtype=float))
        w = c.copy()
        w[window_rows:] -= c[:-window_rows]
        out = out + w
    return out


def amplification(attempts: np.ndarray, unique: np.ndarray, window_rows: int) -> np.ndarray:
    """Attempts in each trailing window of ``window_rows`` rows ÷ unique clients in it."""
    c = np.cumsum(np.asarray(attempts, dtype=float))
    w = c.copy()
    w[window_rows:] -= c[:-window_rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(unique > 0, w / np.maximum(unique, 1e-300), np.nan)


def metastability(ts: dict[str, np.ndarray], trigger_end_s: float, warmup_s: float
                  ) -> Metastability:
    """The ``metastability`` block of summary.json."""
    t = ts[cols.TIME]
    recovered, recovered_s = recovery(t, ts[cols.SLO_JUDGED] > 0, ts[cols.SLO_BREACH] > 0,
                                      trigger_end_s)
    amp = ts.get(cols.AMPLIFICATION)
    peak = end = None
    if amp is not None and len(amp):
        after = np.where(t > warmup_s, amp, np.nan)
        if np.isfinite(after).any():
            peak = float(np.nanmax(after))
        if not math.isnan(amp[-1]):
            end = float(amp[-1])
    return {
        "trigger_end_s": trigger_end_s,
        "recovered": recovered,
        "recovered_s": recovered_s,
        "stays_down": None if recovered is None else not recovered,
        "amplification_peak": peak,
        "amplification_end": end,
    }
