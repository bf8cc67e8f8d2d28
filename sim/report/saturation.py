"""Which tiers saturated, when and how: read from the per-station columns of the time series.

The SLO's bottleneck is the one station that saturated first before the first breach;
a launch review also needs every other tier that ran out of something, and for how
long. A tick counts a station as saturated in one or more ways, the same readings the
SLO evaluation uses for its bottleneck:

- worker-bound: at least 95% of its workers busy;
- at its queue limit: its queue within 1% of ``queue_limit`` (beyond it requests are
  rejected);
- at a throughput ceiling: serving at 95% of ``max_rate_rps`` with at least a second of
  requests queued for it;
- out of listener slots: a join refused a slot, or every slot in use;
- rejecting at admission: requests rejected while none of the above holds (a rate limit,
  a connection limit, a server-side retry limit).

A station that only times requests out is not counted: its clients' deadlines ran out,
which the SLO sees, but the station itself may have had room. Without a time series the
summary still shows a queue that reached its limit, refused slots and rejections, with
no times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .. import series as cols
from ..summary import Slots, Station, Summary
from .describe import fmt_num, fmt_s, get
from .load import RunData

SATURATED_UTILIZATION = 0.95
QUEUE_LIMIT_SHARE = 0.99
CEILING_SHARE = 0.95
CEILING_QUEUE_S = 1.0


@dataclass(frozen=True)
class Saturation:
    """One station's saturation: first and last saturated tick, seconds saturated in
    all, and each way it saturated with its seconds, in the order they first occurred.
    Times are None when only the summary was there to read."""

    station: str
    first_s: float | None
    last_s: float | None
    seconds: float | None
    ways: tuple[tuple[str, float | None], ...]
    turned_away: float | None = None  # requests rejected or refused a slot, whole run

    @property
    def text(self) -> str:
        ways = ", ".join(how if secs is None else f"{how} for {fmt_s(secs)}"
                         for how, secs in self.ways)
        if self.turned_away:
            ways += f"; {fmt_num(self.turned_away)} requests turned away"
        if self.first_s is None:
            return f"{self.station} ({ways}; times unknown without the time series)"
        span = (f"at t = {fmt_num(self.first_s)} s" if self.first_s == self.last_s else
                f"from t = {fmt_num(self.first_s)} s to {fmt_num(self.last_s)} s, "
                f"{fmt_s(self.seconds)} in all")
        return f"{self.station} {span} ({ways})"


def saturations(run: RunData) -> list[Saturation]:
    """Every station that saturated, in the order they first did (ties: summary order)."""
    stations = run.stations or list(get(run.config, "architecture", "stations") or {})
    found = []
    t = run.series.get(cols.TIME)
    for i, name in enumerate(stations):
        cfg = get(run.config, "architecture", "stations", name) or {}
        if t is not None and len(t) and cols.station(name, cols.BUSY) in run.series:
            sat = _from_series(run.series, name, cfg)
        else:
            sat = _from_summary(run.summary, name, cfg)
        if sat is not None:
            sat = replace(sat, turned_away=_turned_away(run.summary, name))
            found.append((sat.first_s if sat.first_s is not None else float("inf"), i, sat))
    return [s for _, _, s in sorted(found, key=lambda x: (x[0], x[1]))]


def _turned_away(summary: Summary, name: str) -> float | None:
    """Requests the station rejected or refused a listener slot, from the summary."""
    st = summary["stations"].get(name)
    if st is None:
        return None
    counts = [x for x in (st["rejected"], _refused(st))
              if isinstance(x, int | float) and not isinstance(x, bool)]
    return float(sum(counts)) if counts else None


def _refused(st: Station) -> int | None:
    """Joins the station refused a listener slot; None if it holds none."""
    slots: Slots | None = st.get("slots")
    return slots["refused"] if slots is not None else None


def _col(series: Mapping[str, np.ndarray], key: str, n: int) -> np.ndarray:
    col = series.get(key)
    if col is None or len(col) != n:
        return np.zeros(n)
    return np.nan_to_num(np.asarray(col, dtype=float), nan=0.0)


def _ways(series: Mapping[str, np.ndarray], name: str, cfg: Mapping[str, Any]
          ) -> list[tuple[str, np.ndarray]]:
    """(how, per-tick flag) for each way the station can saturate."""
    t = np.asarray(series[cols.TIME], dtype=float)
    n = len(t)
    dt = np.diff(np.concatenate([[0.0], t]))
    c = {k: _col(series, cols.station(name, k), n) for k in
         (cols.BUSY, cols.CAPACITY, cols.QUEUE, cols.SERVED, cols.OFFERED, cols.REJECTED,
          *cols.SLOT_LEVELS)}
    with np.errstate(invalid="ignore", divide="ignore"):
        util = np.where(c[cols.CAPACITY] > 0, c[cols.BUSY] / c[cols.CAPACITY], 0.0)
        served_rate = np.where(dt > 0, c[cols.SERVED] / dt, 0.0)
    out = [("worker-bound", util >= SATURATED_UTILIZATION)]
    limit = cfg.get("queue_limit")
    at_limit = np.zeros(n, dtype=bool)
    if isinstance(limit, int | float) and limit > 0:
        at_limit = c[cols.QUEUE] >= QUEUE_LIMIT_SHARE * limit
        if not _admission_limits(cfg):
            # Nothing else rejects here: a rejection is a full queue between two samples.
            at_limit |= c[cols.REJECTED] > 0
        out.append((f"at its queue limit of {fmt_num(limit)}", at_limit))
    ceiling = cfg.get("max_rate_rps")
    at_ceiling = np.zeros(n, dtype=bool)
    if isinstance(ceiling, int | float) and ceiling > 0:
        at_ceiling = ((served_rate >= CEILING_SHARE * ceiling)
                      & (c[cols.QUEUE] >= ceiling * CEILING_QUEUE_S))
        out.append((f"at its throughput ceiling of {fmt_num(ceiling)} req/s", at_ceiling))
    slots_out = (c[cols.SLOTS_REFUSED] > 0) | ((c[cols.SLOTS] > 0)
                                               & (c[cols.SLOTS_USED] >= c[cols.SLOTS]))
    out.append(("out of listener slots", slots_out))
    admission = (c[cols.REJECTED] > 0) & ~at_limit & ~slots_out
    out.append((_admission_words(cfg), admission))
    return out


def _admission_limits(cfg: Mapping[str, Any]) -> list[str]:
    """The limits other than the queue that make the station reject, in words."""
    limits = []
    if cfg.get("rate_limit_rps"):
        limits.append(f"its rate limit of {fmt_num(cfg['rate_limit_rps'])} req/s")
    if cfg.get("connections_per_instance"):
        limits.append("its connection limit")
    if cfg.get("retry_ratio_max"):
        limits.append("its retry limit")
    return limits


def _admission_words(cfg: Mapping[str, Any]) -> str:
    limits = _admission_limits(cfg)
    return "rejecting at " + " or ".join(limits) if limits else "rejecting requests"


def _from_series(series: Mapping[str, np.ndarray], name: str, cfg: Mapping[str, Any]
                 ) -> Saturation | None:
    t = np.asarray(series[cols.TIME], dtype=float)
    dt = np.diff(np.concatenate([[0.0], t]))
    ways = [(how, flag) for how, flag in _ways(series, name, cfg) if flag.any()]
    if not ways:
        return None
    ways.sort(key=lambda w: int(np.argmax(w[1])))
    anyway = np.logical_or.reduce([flag for _, flag in ways])
    idx = np.nonzero(anyway)[0]
    return Saturation(name, float(t[idx[0]]), float(t[idx[-1]]),
                      float(dt[anyway].sum()),
                      tuple((how, float(dt[flag].sum())) for how, flag in ways))


def _from_summary(summary: Summary, name: str, cfg: Mapping[str, Any]
                  ) -> Saturation | None:
    st = summary["stations"].get(name)
    if st is None:
        return None
    ways: list[tuple[str, float | None]] = []
    util = st["utilization_mean"]
    if isinstance(util, int | float) and util >= SATURATED_UTILIZATION:
        ways.append(("worker-bound on average", None))
    limit, peak = cfg.get("queue_limit"), st["peak_queue"]
    if isinstance(limit, int | float) and isinstance(peak, int | float) and limit > 0 \
            and peak >= QUEUE_LIMIT_SHARE * limit:
        ways.append((f"reached its queue limit of {fmt_num(limit)}", None))
    if (_refused(st) or 0) > 0:
        ways.append(("out of listener slots", None))
    if (st["rejected"] or 0) > 0 and not ways:
        ways.append((f"rejected {fmt_num(st['rejected'])} requests", None))
    return Saturation(name, None, None, None, tuple(ways)) if ways else None


def saturation_text(run: RunData) -> str:
    """"Tiers that saturated, in order: ..." or that none did."""
    found = saturations(run)
    if not found:
        return "No tier saturated."
    word = "Tier" if len(found) == 1 else "Tiers"
    return f"{word} that saturated, in order: " + "; ".join(s.text for s in found) + "."
