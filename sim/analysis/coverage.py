"""Whether a run saw the load it is meant to judge, before anyone trusts its SLO.

An SLO that held is only an answer if the run lasted through the load: a horizon that
ends before the arrival curve peaks (a flash crowd cut off before the push notification)
or before an attack stops, a run in which no legit client arrived, or one in which no
SLO window ever had ``slo.min_attempts`` finished attempts, holds the SLO trivially.
``load_gaps`` lists what such a run did not cover, in words: the report's verdict gives
it no GO, and the failure-point search counts it as a probe that could not judge.

When the arrival curve peaks is what the run recorded in its summary (``arrival_peak``,
found by ``sim.model.peak`` on the very rate function the run drew from): the first
time the rate reaches its maximum, or its latest batch (a batch arrives all at once at
its ``t0_s`` and counts as a peak of its own). The horizon must reach it and the end of
every attack vector that sends anything, which the config gives. A summary written
before runs recorded the peak reads it as unknown here; the report rebuilds it from the
run's config.yaml first (``sim.report.coverage``).

Everything here reads plain mappings (a summary, a config, time-series columns), so the
search can judge a probe from what its job returned and the report from a run directory.
A summary is read through its type (``sim.summary.Summary``): ``load_gaps`` and
``required_horizon``, which callers give whatever they have, pass it through
``conform`` first; a config is read as YAML gives it, with ``get_path``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import series as cols
from ..summary import Summary, conform, worst_success_ratio


def get_path(d: Any, *keys: str) -> Any:
    """``d[k1][k2]...`` or None where any level is missing (a summary's or a config's
    nested mappings)."""
    for k in keys:
        if not isinstance(d, Mapping):
            return None
        d = d.get(k)
    return d


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _num(x: Any) -> str:
    """A number as the report writes one: whole numbers with thousands separators,
    others with three significant digits."""
    if not _is_number(x) or not math.isfinite(x):
        return "n/a" if x is None or _is_number(x) else str(x)
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _secs(x: Any) -> str:
    """Seconds, with the unit."""
    if not _is_number(x) or not math.isfinite(x):
        return "n/a"
    return "<0.0001 s" if 0 < abs(x) < 1e-4 else f"{_num(x)} s"


def horizon_s(summary: Summary, config: Mapping[str, Any]) -> float | None:
    """The run's horizon: the summary's, else the config's."""
    for value in (summary["horizon_s"], get_path(config, "run", "horizon_s")):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def arrival_peak(summary: Summary) -> tuple[float, str] | None:
    """When the run's arrival curve peaks, and what the peak is, for the reason text;
    None when the summary does not record it."""
    peak = summary["arrival_peak"]
    t, batch = peak["t_s"], peak["batch"]
    if not _is_number(t):
        return None
    if _is_number(batch):
        return float(t), f"the batch of {_num(batch)} clients"
    return float(t), "the peak of the arrival curve"


def attack_windows(cfg: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    """(vector, start, end) of every attack vector of the config that sends anything."""
    out = []
    for name, v in (get_path(cfg, "attack", "vectors") or {}).items():
        if not isinstance(v, Mapping):
            continue
        sends = any(isinstance(x := v.get(k), int | float) and x > 0
                    for k in ("rate_rps", "gbps"))
        start, end = v.get("start_s", 0.0), v.get("end_s")
        if sends and isinstance(start, int | float) and isinstance(end, int | float):
            out.append((str(name), float(start), float(end)))
    return out


def required_horizon(summary: Mapping[str, Any], cfg: Mapping[str, Any]) -> float | None:
    """The last moment of load of the run: its arrival peak or an attack's end.

    None when the summary does not record the peak (or there is no config).
    """
    arrivals = cfg.get("arrivals") if cfg else None
    peak = arrival_peak(conform(summary))
    if not isinstance(arrivals, Mapping) or peak is None:
        return None
    return max([peak[0], *(end for _, _, end in attack_windows(cfg))])


def load_gaps(summary: Mapping[str, Any], config: Mapping[str, Any],
              series: Mapping[str, Any] | None = None) -> list[str]:
    """What of its load the run did not cover, one clause each; empty when it covered it.

    Reads the summary (the horizon, the arrival peak, the arrivals, the judged windows;
    as read from disk or as a job returned it), the config (the attacks, the SLO) and,
    when given, the ``slo.judged`` time-series column.
    """
    s = conform(summary)
    gaps: list[str] = []
    horizon = horizon_s(s, config)
    if not config:
        gaps.append("there is no config.yaml, so the arrival curve and the attacks the "
                    "run had to cover are unknown")
    elif horizon is not None:
        gaps += _horizon_gaps(s, config, horizon)
    arrived = s["legit"]["arrived"]
    if _is_number(arrived) and arrived <= 0:
        gaps.append("no legit client arrived during the run")
    elif not judged_any(s, series):
        gaps.append(_unjudged_text(s, config))
    return gaps


def _horizon_gaps(summary: Summary, cfg: Mapping[str, Any], horizon: float) -> list[str]:
    """The peak and the attacks that lie beyond ``horizon``."""
    gaps = []
    if isinstance(cfg.get("arrivals"), Mapping):
        known = arrival_peak(summary)
        if known is None:
            gaps.append("summary.json does not record when the arrival curve peaks")
        else:
            peak, what = known
            if horizon < peak:
                gaps.append(f"the horizon of {_secs(horizon)} ends before {what} at "
                            f"t = {_num(round(peak, 1))} s")
    for name, start, end in attack_windows(cfg):
        if start >= horizon:
            gaps.append(f"the attack vector {name} starts at t = {_num(start)} s, after "
                        f"the horizon of {_secs(horizon)}")
        elif end > horizon:
            gaps.append(f"the attack vector {name} is still on at the horizon of "
                        f"{_secs(horizon)} (it ends at t = {_num(end)} s)")
    return gaps


def judged_any(summary: Summary, series: Mapping[str, Any] | None = None) -> bool:
    """Whether any SLO window was judged (had ``slo.min_attempts`` finished attempts).

    The SLO evaluation writes a worst success ratio only when some window was judged,
    and a 0/1 ``slo.judged`` column per tick; either showing none judged is enough.
    """
    slo = summary["slo"]
    if slo["met"] is not False and worst_success_ratio(slo) is None:
        return False
    col = (series or {}).get(cols.SLO_JUDGED)
    return col is None or not len(col) or bool(np.nansum(col) > 0)


def _unjudged_text(summary: Summary, config: Mapping[str, Any]) -> str:
    judged: float | None = summary["slo"].get("window_s")
    window = judged or get_path(config, "slo", "window_s")
    least = get_path(config, "slo", "min_attempts")
    need = f"slo.min_attempts = {_num(least)}" if least is not None \
        else "slo.min_attempts"
    return (f"no SLO window was judged: no {_secs(window)} window had {need} finished "
            f"join attempts")
