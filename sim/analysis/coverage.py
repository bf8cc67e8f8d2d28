"""Whether a run saw the load it is meant to judge, before anyone trusts its SLO.

An SLO that held is only an answer if the run lasted through the load: a horizon that
ends before the arrival curve peaks (a flash crowd cut off before the push notification)
or before an attack stops, a run in which no legit client arrived, or one in which no
SLO window ever had ``slo.min_attempts`` finished attempts, holds the SLO trivially.
``load_gaps`` lists what such a run did not cover, in words: the report's verdict gives
it no GO, and the failure-point search counts it as a probe that could not judge. The
arrival curve comes from the run's own config, through the same rate functions the model
samples from, so the peak here is the peak the run drew from.

The peak of a rate is the first time it reaches its maximum (a constant rate peaks at
the start, a ramp at its top end, a diurnal curve at its first crest); a batch arrives
all at once at its ``t0_s`` and counts as a peak of its own. The horizon must reach
every one of them and the end of every attack vector that sends anything.

Everything here reads plain mappings (a summary, a config, time-series columns), so the
search can judge a probe from what its job returned and the report from a run directory.
A summary is read through its type (``sim.summary.Summary``): ``load_gaps``, which the
search calls with whatever its job returned, passes it through ``conform`` first; a
config is read as YAML gives it, with ``get_path``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import series as cols
from ..summary import Summary, conform, worst_success_ratio

GRID_POINTS = 200_001  # rate evaluations when looking for the peak
GRID_STEP_S = 0.05  # finer than any metrics tick
PEAK_TOLERANCE = 1e-6  # a rate within this share of its maximum is at the peak
REACTION_SPAN_SD = 4.0  # a flash crowd's reactions beyond this many log-sd are negligible


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


def arrival_peak(arrivals: Mapping[str, Any]) -> tuple[float, str]:
    """When the arrival curve peaks, and what the peak is, for the reason text.

    Raises ``ValueError`` (a ``ConfigError`` from the schema, or a trace that cannot be
    read) when the curve cannot be rebuilt from the config.
    """
    from ..config import component_config
    from ..model.arrivals import rate_function

    curve = component_config("arrivals", dict(arrivals))
    rate = rate_function(curve)
    span = _search_span(curve)
    t_rate = _first_maximum(rate, span)
    batches = list(getattr(rate, "batches", []))
    if batches:
        t_batch, count = max(batches)
        if t_batch >= t_rate:
            return float(t_batch), f"the batch of {_num(count)} clients"
    return t_rate, "the peak of the arrival curve"


def _search_span(a: Any) -> float:
    """Up to when the curve ``a`` (a validated arrivals config) can still reach its peak."""
    kind = a.kind
    if kind == "ramp":
        return float(max(a.start_s, a.end_s))
    if kind == "diurnal":
        return float(a.period_s)
    if kind == "trace":
        from ..config import read_trace

        times, _ = read_trace("arrivals.path", a.path)
        return float(max(times, default=0.0))
    if kind == "flash_crowd":
        reaction = a.reaction_median_s * math.exp(REACTION_SPAN_SD * a.reaction_sigma)
        return float(a.t0_s + a.push_window_s + reaction)
    if kind == "sum":
        from ..config import component_config

        return max((_search_span(component_config(f"arrivals.components[{i}]", c))
                    for i, c in enumerate(a.components)), default=0.0)
    return 0.0  # constant and batch: nothing to search


def _first_maximum(rate: Any, span: float) -> float:
    """The first time on [0, span] at which ``rate`` is within tolerance of its maximum."""
    if span <= 0:
        return 0.0
    n = int(min(GRID_POINTS, span / GRID_STEP_S + 1))
    t = np.linspace(0.0, span, max(n, 2))
    r = np.asarray(rate(t), dtype=float)
    top = float(np.nanmax(r)) if len(r) else 0.0
    if not top > 0:
        return 0.0
    return float(t[int(np.argmax(r >= top * (1.0 - PEAK_TOLERANCE)))])


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


def required_horizon(cfg: Mapping[str, Any]) -> float | None:
    """The last moment of load in the config: the arrival peak or an attack's end.

    None when the arrival curve cannot be rebuilt (or there is no config).
    """
    arrivals = cfg.get("arrivals") if cfg else None
    if not isinstance(arrivals, Mapping):
        return None
    try:
        peak, _ = arrival_peak(arrivals)
    except (ValueError, TypeError):
        return None
    return max([peak, *(end for _, _, end in attack_windows(cfg))])


def load_gaps(summary: Mapping[str, Any], config: Mapping[str, Any],
              series: Mapping[str, Any] | None = None) -> list[str]:
    """What of its load the run did not cover, one clause each; empty when it covered it.

    Reads the config (the arrival curve, the attacks), the summary (the horizon, the
    arrivals, the judged windows; as read from disk or as a job returned it) and, when
    given, the ``slo.judged`` time-series column.
    """
    s = conform(summary)
    gaps: list[str] = []
    horizon = horizon_s(s, config)
    if not config:
        gaps.append("there is no config.yaml, so the arrival curve and the attacks the "
                    "run had to cover are unknown")
    elif horizon is not None:
        gaps += _horizon_gaps(config, horizon)
    arrived = s["legit"]["arrived"]
    if _is_number(arrived) and arrived <= 0:
        gaps.append("no legit client arrived during the run")
    elif not judged_any(s, series):
        gaps.append(_unjudged_text(s, config))
    return gaps


def _horizon_gaps(cfg: Mapping[str, Any], horizon: float) -> list[str]:
    """The peak and the attacks that lie beyond ``horizon``."""
    gaps = []
    arrivals = cfg.get("arrivals")
    if isinstance(arrivals, Mapping):
        try:
            peak, what = arrival_peak(arrivals)
        except (ValueError, TypeError) as exc:
            gaps.append(f"the peak of the arrival curve cannot be computed from "
                        f"config.yaml ({exc})")
        else:
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
