"""The report's plots over time, drawn from timeseries.csv into ``figures/*.png``.

Each figure is a function of a ``RunData`` that returns a matplotlib ``Figure`` with its
caption, written from the same data (which lines it draws, a peak and when it came), or
None when the run has nothing to show: no attack, missing columns, or fleets that kept
their instance count (no autoscaler, no failure), which would only draw flat lines.
Figures are built with the object-oriented API on an Agg canvas, never through pyplot, so
no global state or GUI backend is touched and reports can be built from worker
processes. They are meant to be read on paper: titles, axis labels with units, legends,
one colour per station shared by every figure, 150 dpi.

Columns are named through ``sim.series``. Counts (``legit.arrivals``...) are per tick and
are shown per second; long runs are summed into at most ``MAX_BINS`` bins so the lines
stay readable. Levels and time-weighted means (queues, utilization, instances) are shown
as recorded. Nothing here recomputes the SLO: breach, first breach and recovery come
from the run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .. import series as cols
from .. import summary as schema
from ..atomic import replacing
from ..summary import Metastability, recovered_s
from .load import RunData
from .study import Study
from .verdict import run_failed

DPI = 150
SIZE_IN = (8.0, 4.2)
MAX_BINS = 600
MAX_LABEL = 40  # characters of a variant's label on an axis or in a legend
BREACH_COLOR = "#c0392b"
RECOVERED_COLOR = "#1e8449"
LATENCY_COLORS = ["#17becf", "#8c564b", "#bcbd22"]
VECTOR_COLORS = ["#8c564b", "#9467bd", "#e377c2", "#17becf", "#bcbd22"]
STATION_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


@dataclass(frozen=True)
class FigureFile:
    """A figure written to disk: ``name`` is the file stem, ``title`` its caption."""

    name: str
    title: str
    caption: str
    path: Path


# -- helpers --------------------------------------------------------------------------------

def _new(title: str, nrows: int = 1, height_in: float | None = None) -> tuple[Figure, list[Axes]]:
    size = (SIZE_IN[0], height_in or SIZE_IN[1])
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, 1, sharex=True, squeeze=False)[:, 0].tolist()
    fig.suptitle(title, fontsize=12, fontweight="bold")
    for ax in axes:
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    axes[-1].set_xlabel("Simulated time (s)")
    return fig, axes


def _tick_lengths(t: np.ndarray) -> np.ndarray:
    # The first tick starts at 0, as in the recorder.
    return np.diff(np.concatenate([[0.0], t]))


def _rates(run: RunData, names: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
    """Per-second rates of count columns, summed into at most MAX_BINS bins."""
    t = run.series[cols.TIME]
    dt = _tick_lengths(t)
    k = max(1, math.ceil(len(t) / MAX_BINS))
    n = len(t) // k * k
    if n == 0:  # fewer ticks than one bin: keep them all
        k, n = 1, len(t)
    edges = t[k - 1:n:k]
    width = dt[:n].reshape(-1, k).sum(axis=1)
    out = {}
    for name in names:
        counts = np.nan_to_num(run.series[name][:n]).reshape(-1, k).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(width > 0, counts / width, np.nan)
    bin_s = float(np.median(width)) if len(width) else 0.0
    return edges, out, bin_s


def _has(run: RunData, *names: str) -> bool:
    return all(n in run.series for n in names)


def _color(i: int) -> str:
    return STATION_COLORS[i % len(STATION_COLORS)]


def _positive_range(values: list[np.ndarray]) -> tuple[float, float] | None:
    if not values:
        return None
    vals = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values])
    if len(vals) == 0:
        return None
    return float(vals.min()), float(vals.max())


def _mark_breach(run: RunData, ax: Axes, label: bool = True) -> None:
    """Vertical lines at the first SLO breach and at recovery, if the run had them."""
    slo = run.summary["slo"]
    first = slo["first_breach_s"]
    if isinstance(first, int | float):
        ax.axvline(first, color=BREACH_COLOR, linestyle=":", linewidth=1.4,
                   label=f"first SLO breach (t = {first:g} s)" if label else None)
    rec = recovered_s(slo)
    if isinstance(rec, int | float):
        ax.axvline(rec, color=RECOVERED_COLOR, linestyle=":", linewidth=1.4,
                   label=f"SLO recovered (t = {rec:g} s)" if label else None)


def _legend(ax: Axes, **kw: Any) -> None:
    # Outside the axes, to the right: a legend inside would hide the lines it explains.
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0, frameon=False, **kw)


def _tick_label(v: float, _pos: object = None) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 or float(v).is_integer() else f"{v:g}"


def _plain_ticks(ax: Axes) -> None:
    """Y tick labels 0.1, 10, 1,000, 300,000: no powers of ten, no offsets."""
    ax.yaxis.set_major_formatter(FuncFormatter(_tick_label))


def _rate_label(bin_s: float, tick_s: float) -> str:
    if bin_s > tick_s * 1.5:
        return f"Per second ({bin_s:g} s bins)"
    return "Per second"


def _tick_s(run: RunData) -> float:
    t = run.series[cols.TIME]
    return float(np.median(_tick_lengths(t))) if len(t) else 1.0


# -- captions -------------------------------------------------------------------------------
# Each figure comes with a caption written from the same data it was drawn from: which
# lines it shows (stations, vectors, percentiles), on what scale, and the one number a
# reader looks for first (a peak and when it came), so the caption says what this run's
# figure shows rather than what such a figure could show.

def _names(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _num(v: float) -> str:
    """A value for a caption: 42,433, 99.5 or 1.37."""
    return _tick_label(v) if abs(v) >= 1000 or float(v).is_integer() else f"{v:.3g}"


def _peak(t: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """The largest finite value of ``y`` and its time (the first, on a plateau)."""
    ok = np.isfinite(y)
    if not ok.any():
        return None
    i = int(np.nanargmax(np.where(ok, y, -np.inf)))
    return float(y[i]), float(t[i])


def _marks_caption(run: RunData) -> str:
    """What the vertical dotted lines mark, as ``_mark_breach`` draws them."""
    first = schema.value(run.summary, schema.FIRST_BREACH_S)
    rec = schema.value(run.summary, schema.RECOVERED_S)
    if not isinstance(first, int | float):
        return ""
    if isinstance(rec, int | float):
        return f" Dotted: the first SLO breach (t = {first:g} s) and recovery (t = {rec:g} s)."
    return f" Dotted: the first SLO breach (t = {first:g} s); no recovery by the horizon."


def _bins_caption(bin_s: float, tick_s: float) -> str:
    return f", summed into {bin_s:g} s bins" if bin_s > tick_s * 1.5 else ""


# -- the figures ----------------------------------------------------------------------------

# A figure and its caption: what this run's figure shows.
Drawn = tuple[Figure, str]
CLIENT_WORDS = {cols.ARRIVALS: "arrivals of new clients", cols.JOINED: "joins",
                cols.ABANDONED: "abandons",
                cols.ATTEMPTS: "every join attempt (first tries and retries, dashed)"}

def fig_clients(run: RunData) -> Drawn | None:
    lines = [(cols.ARRIVALS, "arrivals", "#1f77b4", "-"),
             (cols.JOINED, "joins", "#2ca02c", "-"),
             (cols.ABANDONED, "abandons", "#d62728", "-"),
             (cols.ATTEMPTS, "join attempts (incl. retries)", "#7f7f7f", "--")]
    present = [c for c in lines if c[0] in run.series]
    if not present:
        return None
    t, rates, bin_s = _rates(run, [c[0] for c in present])
    fig, (ax,) = _new("Legit clients: arrivals, joins, abandons and attempts")
    for col, label, color, style in present:
        ax.plot(t, rates[col], color=color, linestyle=style, linewidth=1.2, label=label)
    ax.set_ylabel(f"Clients or attempts\n{_rate_label(bin_s, _tick_s(run)).lower()}")
    ax.set_ylim(bottom=0)
    _plain_ticks(ax)
    _mark_breach(run, ax)
    _legend(ax)
    shown = [CLIENT_WORDS[c[0]] for c in present]
    caption = (f"{_names(shown)[:1].upper()}{_names(shown)[1:]}, per second"
               f"{_bins_caption(bin_s, _tick_s(run))}.")
    if cols.ARRIVALS in rates:
        peak = _peak(t, rates[cols.ARRIVALS])
        if peak is not None:
            caption += f" Arrivals peak at {_num(peak[0])} per second at t = {peak[1]:g} s."
    return fig, caption + _hidden_lines(rates) + _marks_caption(run)


# A line within SAME_LINE of the arrivals' peak of them everywhere is drawn on their curve,
# one within CLOSE_LINE next to it: the caption says so (and by how much), since the
# legend lists lines one cannot tell apart.
SAME_LINE, CLOSE_LINE = 0.01, 0.1


def _hidden_lines(rates: dict[str, np.ndarray]) -> str:
    """What the clients figure draws where it cannot be told apart: lines on or next to
    the arrivals' curve (every client joined at its first attempt), lines at zero."""
    arrivals = rates.get(cols.ARRIVALS)
    top = float(np.nanmax(arrivals)) if arrivals is not None and len(arrivals) else 0.0
    words = {cols.JOINED: "joins", cols.ATTEMPTS: "join attempts", cols.ABANDONED: "abandons"}
    on, near, zero = [], [], []
    for col, word in words.items():
        r = rates.get(col)
        if r is None or not len(r):
            continue
        if not np.nanmax(np.abs(r)) > 0:
            zero.append(word)
            continue
        if arrivals is None or not top > 0:
            continue
        gap = float(np.nanmax(np.abs(r - arrivals)))
        if gap <= SAME_LINE * top:
            on.append(word)
        elif gap <= CLOSE_LINE * top:
            near.append(f"{word} within {_num(gap)} per second")
    text = ""
    if on:
        text += f" {_names(on)[:1].upper()}{_names(on)[1:]} lie on the arrivals' curve."
    if near:
        text += f" {_names(near)[:1].upper()}{_names(near)[1:]} of the arrivals throughout."
    if zero:
        text += f" No {_names(zero)}: that line lies on zero."
    return text


def fig_listeners(run: RunData) -> Drawn | None:
    if cols.LISTENERS not in run.series:
        return None
    t = run.series[cols.TIME]
    fig, (ax,) = _new("Concurrent listeners")
    ax.plot(t, run.series[cols.LISTENERS], color="#1f77b4", linewidth=1.4,
            label="listeners (mean over each tick)")
    slots = cols.slot_stations(run.series)
    caption = "Listeners holding a slot (mean over each tick)"
    peak = _peak(t, run.series[cols.LISTENERS])
    if peak is not None:
        caption += f", peaking at {_num(peak[0])} at t = {peak[1]:g} s"
    if slots:
        total = np.sum([np.nan_to_num(run.series[cols.station(n, cols.SLOTS)])
                        for n in slots], axis=0)
        ax.plot(t, total, color="#7f7f7f", linestyle="--", linewidth=1.2,
                label="listener slots available")
        most = float(np.max(total)) if len(total) else 0.0
        caption += (f", against the listener slots of {_names(slots)} "
                    f"(dashed; up to {_num(most)})")
    ax.set_ylabel("Listeners")
    ax.set_ylim(bottom=0)
    _plain_ticks(ax)
    _mark_breach(run, ax)
    _legend(ax)
    return fig, caption + "." + _marks_caption(run)


# A queue figure whose every station stayed below this many requests on average over each
# tick draws flat lines at zero: it is left out (the stations table has each peak).
FLAT_QUEUE = 1.0


def fig_queues(run: RunData) -> Drawn | None:
    names = [n for n in run.stations if cols.station(n, cols.QUEUE) in run.series]
    if not names:
        return None
    t = run.series[cols.TIME]
    longest = _top(t, {n: run.series[cols.station(n, cols.QUEUE)] for n in names})
    if longest is None or longest[1] < FLAT_QUEUE:
        return None
    fig, (ax,) = _new("Queue length per station")
    series = [run.series[cols.station(n, cols.QUEUE)] for n in names]
    for i, (n, q) in enumerate(zip(names, series, strict=True)):
        ax.plot(t, q, color=_color(i), linewidth=1.2, label=n)
    rng = _positive_range(series)
    if rng is not None and rng[1] > 100:
        # Queues of a few requests and of tens of thousands on one plot: symlog keeps the
        # zeros visible, which a log axis would drop.
        ax.set_yscale("symlog", linthresh=1.0)
        _plain_ticks(ax)
        ax.set_ylabel("Requests queued\n(time-weighted mean per tick, symlog)")
        ax.set_ylim(0, rng[1] * 2.0)  # headroom so a full queue does not hug the frame
        scale = "; symlog axis, linear below one request"
    else:
        scale = ""
        ax.set_ylabel("Requests queued\n(time-weighted mean per tick)")
        # At least one request of scale, so a few microseconds of queueing reads as
        # "no queue" rather than filling the plot.
        ax.set_ylim(0, max(1.0, rng[1] * 1.1 if rng else 0.0))
    _mark_breach(run, ax)
    _legend(ax, title="station", title_fontsize=8, alignment="left")
    caption = (f"Requests waiting for a worker at {_names(names)} (time-weighted mean per "
               f"tick{scale}).")
    caption += (f" The longest queue: {longest[0]}, {_num(longest[1])} requests at "
                f"t = {longest[2]:g} s.")
    return fig, caption + _marks_caption(run)


def fig_utilization(run: RunData) -> Drawn | None:
    names = [n for n in run.stations
             if _has(run, cols.station(n, cols.BUSY), cols.station(n, cols.CAPACITY))]
    if not names:
        return None
    t = run.series[cols.TIME]
    fig, (ax,) = _new("Utilization per station (busy workers / workers)")
    utils = {}
    for i, n in enumerate(names):
        busy = run.series[cols.station(n, cols.BUSY)]
        cap = run.series[cols.station(n, cols.CAPACITY)]
        with np.errstate(invalid="ignore", divide="ignore"):
            utils[n] = 100 * np.where(cap > 0, busy / cap, np.nan)
        ax.plot(t, utils[n], color=_color(i), linewidth=1.2, label=n)
    ax.axhline(95, color="#555555", linestyle="--", linewidth=0.9, label="95% (saturated)")
    ax.set_ylabel("Utilization (%)")
    ax.set_ylim(0, 105)
    _mark_breach(run, ax)
    _legend(ax, title="station", title_fontsize=8, alignment="left")
    caption = (f"Busy workers as a share of workers at {_names(names)}, per tick; the dashed "
               f"line marks 95%, where a station is saturated.")
    busiest = _top(t, utils)
    if busiest is not None:
        caption += f" The busiest: {busiest[0]}, {busiest[1]:.0f}% at t = {busiest[2]:g} s"
        if busiest[1] >= 95:
            caption += "."
        elif schema.value(run.summary, schema.SLO_MET) is False:
            # A tier capped by a throughput ceiling or a queue limit saturates with idle
            # workers: the utilization does not show it.
            caption += ("; no station's workers reached 95% (the findings name the tier "
                        "that saturated and how).")
        else:
            caption += "; no station's workers reached 95%."
    return fig, caption + _marks_caption(run)


def _top(t: np.ndarray, series: dict[str, np.ndarray]) -> tuple[str, float, float] | None:
    """The series with the highest peak: its name, the peak and when it came."""
    peaks = [(name, *p) for name, y in series.items() if (p := _peak(t, y)) is not None]
    return max(peaks, key=lambda p: p[1]) if peaks else None


def _varies(y: np.ndarray) -> bool:
    finite = y[np.isfinite(y)]
    return bool(len(finite)) and float(finite.max()) != float(finite.min())


def moving_fleets(run: RunData) -> tuple[list[str], list[str]]:
    """Stations whose instance count has something to show: the autoscaled ones (with a
    ``.desired`` column) and those whose count changed (failures, restarts), in station
    order; and the autoscaled ones alone. A fleet that stayed at its configured count
    would only draw flat lines, so it is left out of the instances figure."""
    scaled = [n for n in run.stations if cols.station(n, cols.DESIRED) in run.series]
    moving = [n for n in run.stations if cols.station(n, cols.INSTANCES) in run.series
              and (n in scaled or _varies(run.series[cols.station(n, cols.INSTANCES)]))]
    return moving, scaled


def fig_instances(run: RunData) -> Drawn | None:
    names, scaled = moving_fleets(run)
    if not names:
        return None
    t = run.series[cols.TIME]
    # One panel per station: instance counts of different tiers overlap on one axis
    # (several tiers at 1 or 4 instances) and would hide each other.
    fig, axes = _new("Instances per station", nrows=len(names),
                     height_in=max(SIZE_IN[1], 1.0 + 1.15 * len(names)))
    metric_axes: list[Axes] = []
    for ax, n in zip(axes, names, strict=True):
        inst = run.series[cols.station(n, cols.INSTANCES)]
        ax.plot(t, inst, color="#1f77b4", linewidth=1.5, drawstyle="steps-post",
                label="serving instances (ready + warming)")
        top = np.nanmax(inst) if np.isfinite(inst).any() else 1.0
        if cols.station(n, cols.READY) in run.series:
            ax.plot(t, run.series[cols.station(n, cols.READY)], color="#2ca02c",
                    linewidth=1.0, drawstyle="steps-post", label="ready instances (warmed up)")
        if n in scaled:
            desired = run.series[cols.station(n, cols.DESIRED)]
            ax.plot(t, desired, color="#333333", linewidth=1.0, linestyle="--",
                    drawstyle="steps-post", label="desired (autoscaler)")
            if np.isfinite(desired).any():
                top = max(top, np.nanmax(desired))
        if cols.station(n, cols.METRIC) in run.series:
            # The metric that drove the autoscaler (the highest of its metrics), as a
            # ratio to its target: above 1 it scales out, below it may scale in.
            m = run.series[cols.station(n, cols.METRIC)]
            mx = ax.twinx()
            mx.plot(t, m, color="#ff7f0e", linewidth=0.9, alpha=0.8, drawstyle="steps-post",
                    label="metric ÷ target (right axis)")
            mx.axhline(1.0, color="#ff7f0e", linewidth=0.6, linestyle=":")
            mtop = float(np.nanmax(m)) if np.isfinite(m).any() else 1.0
            mx.set_ylim(0, max(1.5, mtop) * 1.1)
            mx.tick_params(axis="y", labelsize=7, colors="#ff7f0e")
            metric_axes.append(mx)
        ax.set_ylim(0, max(1.0, top) * 1.15 + 0.5)
        ax.yaxis.get_major_locator().set_params(integer=True, nbins=3)  # type: ignore[call-arg]
        ax.set_ylabel(n, rotation=0, ha="right", va="center")
        _mark_breach(run, ax)
    # One legend for all panels, on the first: every panel uses the same line styles.
    seen: dict[str, Artist] = {}
    for ax in [*axes, *metric_axes]:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, h)
    axes[0].legend(list(seen.values()), list(seen), fontsize=8, loc="upper left",
                   bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    fig.supylabel("Instances per station", fontsize=10)
    return fig, _instances_caption(run, names, scaled)


def _instances_caption(run: RunData, names: list[str], scaled: list[str]) -> str:
    """Which fleets the panels show and their range; the autoscaler's lines where one
    runs; the stations left out at their fixed count."""
    caption = (f"Serving instances (ready and warming up) of {_names(names)}, one panel per "
               f"station")
    ranges = []
    for n in names:
        inst = run.series[cols.station(n, cols.INSTANCES)]
        finite = inst[np.isfinite(inst)]
        if len(finite):
            low, high = float(finite.min()), float(finite.max())
            ranges.append(f"{n} {_num(low)} throughout" if low == high
                          else f"{n} from {_num(low)} to {_num(high)}")
    caption += (": " + ", ".join(ranges) + "." if ranges else ".")
    if scaled:
        caption += (f" The autoscaler of {_names(scaled)}: its desired count (dashed), the "
                    f"instances warmed up (green) and the metric that drove it as a ratio "
                    f"to its target (right axis; above 1 it scales out).")
    counts = {n: run.series[c] for n in run.stations
              if (c := cols.station(n, cols.INSTANCES)) in run.series}
    fixed = [f"{n} ({_num(float(np.nanmax(inst)))})" for n, inst in counts.items()
             if n not in names and np.isfinite(inst).any()]
    if fixed:
        caption += f" Left out, at a fixed count throughout: {_names(fixed)}."
    return caption + _marks_caption(run)


def fig_slo(run: RunData) -> Drawn | None:
    if not _has(run, cols.SLO_SUCCESS_RATIO, cols.SLO_JOIN_P99):
        return None
    slo = run.summary["slo"]
    window: float | None = slo.get("window_s")
    t = run.series[cols.TIME]
    title = "Join SLO over sliding windows" + (f" of {window:g} s" if window else "")
    fig, (ax1, ax2) = _new(title, nrows=2, height_in=6.0)
    ax1.plot(t, 100 * run.series[cols.SLO_SUCCESS_RATIO], color="#1f77b4", linewidth=1.3,
             label="join attempts that succeeded")
    # Other percentiles over the same windows, where the run records them (p50, p90).
    ps = cols.join_percentiles(run.series)
    pcols = [cols.join_percentile(p) for p in ps]
    for i, (p, col) in enumerate(zip(ps, pcols, strict=True)):
        ax2.plot(t, run.series[col], color=LATENCY_COLORS[i % len(LATENCY_COLORS)]
                 if p != 99 else "#9467bd", linewidth=1.3,
                 linestyle="-" if p == 99 else "--", label=f"p{p} join latency")
    smin: float | None = slo.get("join_success_min")
    pmax: float | None = slo.get("join_p99_max_s")
    if isinstance(smin, int | float):
        ax1.axhline(100 * smin, color="#555555", linestyle="--", linewidth=1.0,
                    label=f"SLO: at least {100 * smin:g}%")
    if isinstance(pmax, int | float):
        ax2.axhline(pmax, color="#555555", linestyle="--", linewidth=1.0,
                    label=f"SLO: at most {pmax:g} s")
    ax1.set_ylabel("Success ratio (%)")
    ax1.set_ylim(-2, 102)
    ax2.set_ylabel("Join latency (s)" if len(pcols) > 1 else "p99 join latency (s)")
    rng = _positive_range([run.series[c] for c in pcols])
    log = rng is not None and rng[1] / rng[0] > 50
    if log:
        ax2.set_yscale("log")
        _plain_ticks(ax2)
    elif rng is not None:
        ax2.set_ylim(bottom=0)
    breach = np.nan_to_num(run.series.get(cols.SLO_BREACH, np.zeros(len(t)))) > 0
    if breach.any():
        for i, ax in enumerate((ax1, ax2)):
            ax.fill_between(t, 0, 1, where=breach, step="pre", color=BREACH_COLOR,
                            alpha=0.12, transform=ax.get_xaxis_transform(),
                            label="window in breach" if i == 0 else None)
    _mark_breach(run, ax1)
    _mark_breach(run, ax2, label=False)
    _legend(ax1)
    _legend(ax2)
    return fig, _slo_caption(run, [f"p{p}" for p in ps], log, bool(breach.any()))


def _slo_caption(run: RunData, percentiles: list[str], log: bool, breached: bool) -> str:
    """The two panels, the thresholds they are drawn against, and the breach shading."""
    window, smin, pmax = (schema.value(run.summary, k) for k in
                          (schema.SLO_WINDOW_S, schema.SLO_SUCCESS_MIN, schema.SLO_P99_MAX_S))
    over = f"sliding {window:g} s windows" if isinstance(window, int | float) \
        else "sliding windows"
    caption = f"Top: the share of join attempts that succeeded over {over}"
    if isinstance(smin, int | float):
        caption += f", against the SLO's {100 * smin:g}% (dashed)"
    caption += (f". Bottom: the {_names(percentiles)} join latency (first attempt to joined) "
                f"over the same windows")
    if isinstance(pmax, int | float):
        caption += f", against the SLO's {pmax:g} s for p99 (dashed)"
    caption += ", log axis." if log else "."
    caption += (" Shaded: the windows in breach." if breached
                else " No window breached the SLO.")
    slo = run.summary["slo"]
    worst, p99 = schema.worst_success_ratio(slo), schema.worst_p99_s(slo)
    if worst is not None:
        caption += f" The lowest success share of a judged window: {100 * worst:.4g}%"
        caption += (f"; the highest p99: {_seconds(p99)}." if p99 is not None else ".")
    return caption + _marks_caption(run)


def _seconds(x: float) -> str:
    return f"{x:.3g} s" if x < 10 else f"{x:,.0f} s"


def fig_attack(run: RunData) -> Drawn | None:
    if cols.ATTACK_OFFERED not in run.series \
            or not np.nan_to_num(run.series[cols.ATTACK_OFFERED]).any():
        return None
    vectors = cols.attack_vectors(run.series)
    mitigations = [
        m for m in cols.mitigations(run.series)
        if np.nan_to_num(run.series[cols.mitigation(m, cols.ATTACK_REMOVED)]).any()
        or np.nan_to_num(run.series.get(cols.mitigation(m, cols.LEGIT_REMOVED),
                                        np.zeros(1))).any()]
    # Per vector when the run has per-vector columns, else the totals.
    lines: list[tuple[str, str, str, str]] = []
    if vectors:
        for i, v in enumerate(vectors):
            # Not red: red marks the SLO breach on every figure.
            color = VECTOR_COLORS[i % len(VECTOR_COLORS)]
            mitigated = cols.attack_vector(v, cols.MITIGATED)
            if mitigated in run.series and np.nan_to_num(run.series[mitigated]).any():
                lines.append((mitigated, f"{v}: removed by mitigation", color, "wide"))
            lines.append((cols.attack_vector(v, cols.OFFERED), f"{v}: offered", color, "-"))
            if cols.attack_vector(v, cols.SERVED) in run.series:
                lines.append((cols.attack_vector(v, cols.SERVED), f"{v}: served", color,
                              "--"))
    else:
        lines = [(cols.ATTACK_MITIGATED, "removed by mitigation", "#7f7f7f", "wide"),
                 (cols.ATTACK_OFFERED, "offered", "#8c564b", "-"),
                 (cols.ATTACK_SERVED, "served (processed up to their last station)",
                  "#ff7f0e", "--")]
        # Mitigation is drawn only when something was mitigated, to keep the legend honest.
        lines = [c for c in lines if c[0] in run.series and
                 (c[0] != cols.ATTACK_MITIGATED or np.nan_to_num(run.series[c[0]]).any())]
    mcols = [(cols.mitigation(m, what), f"{m}: {label}", _color(i), style)
             for i, m in enumerate(mitigations)
             for what, label, style in ((cols.ATTACK_REMOVED, "attack removed", "-"),
                                        (cols.LEGIT_REMOVED, "legit removed", "--"))
             if cols.mitigation(m, what) in run.series]
    t, rates, bin_s = _rates(run, [c[0] for c in lines + mcols])
    nrows = 2 if mcols else 1
    fig, axes = _new("Attack traffic and what mitigation removed" if mcols
                     else "Attack traffic: offered and served", nrows=nrows,
                     height_in=6.0 if mcols else None)
    ylabel = _rate_label(bin_s, _tick_s(run)).lower()
    for col, label, color, style in lines:
        if style == "wide":  # a broad pale band under the offered line it may equal
            axes[0].plot(t, rates[col], color=color, linewidth=4.0, alpha=0.35, label=label)
        else:
            axes[0].plot(t, rates[col], color=color, linestyle=style, linewidth=1.2,
                         label=label)
    axes[0].set_ylabel(f"Attack requests\n{ylabel}")
    if mcols:
        for col, label, color, style in mcols:
            axes[1].plot(t, rates[col], color=color, linestyle=style, linewidth=1.2,
                         label=label)
        axes[1].set_ylabel(f"Removed by mitigation\n{ylabel}")
    for i, ax in enumerate(axes):
        ax.set_ylim(bottom=0)
        _plain_ticks(ax)
        _mark_breach(run, ax, label=i == 0)
        _legend(ax)
    return fig, _attack_caption(run, vectors, [c[0] for c in lines], mitigations,
                                _bins_caption(bin_s, _tick_s(run)))


def _attack_caption(run: RunData, vectors: list[str], drawn: list[str],
                    mitigations: list[str], bins: str) -> str:
    """The vectors drawn, what of them is shown, and the mitigation panel if any."""
    what = ["offered"]
    if any(c.endswith(f".{cols.MITIGATED}") for c in drawn):
        what.append("removed by mitigation (wide pale band)")
    if any(c.endswith(f".{cols.SERVED}") for c in drawn):
        what.append("served (dashed)")
    whose = ("of all vectors together" if not vectors else f"of {vectors[0]}"
             if len(vectors) == 1 else f"of {_names(vectors)}, one colour per vector")
    caption = f"Attack requests per second{bins} {whose}: {_names(what)}."
    t = run.series[cols.TIME]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_s = np.nan_to_num(run.series[cols.ATTACK_OFFERED]) / _tick_lengths(t)
    peak = _peak(t, per_s)
    if peak is not None:
        caption += (f" The attack offered peaks at {_num(peak[0])} requests per second at "
                    f"t = {peak[1]:g} s.")
    if mitigations:
        caption += (f" Below: what {_names(mitigations)} removed per second, attack requests "
                    f"(solid) and legit ones (dashed).")
    return caption + _marks_caption(run)


def fig_amplification(run: RunData) -> Drawn | None:
    if cols.AMPLIFICATION not in run.series:
        return None
    amp = run.series[cols.AMPLIFICATION]
    if not np.isfinite(amp).any():
        return None
    t = run.series[cols.TIME]
    fig, (ax,) = _new("Retry amplification")
    ax.plot(t, amp, color="#9467bd", linewidth=1.3,
            label="join attempts ÷ clients attempting")
    ax.axhline(1.0, color="#555555", linestyle="--", linewidth=0.9, label="no retries (1)")
    meta: Metastability | None = run.summary.get("metastability")
    trigger = meta["trigger_end_s"] if meta else None
    # Marked only inside the run: a trigger ending after the horizon would stretch the
    # time axis past the data.
    if not isinstance(trigger, int | float) or not len(t) or trigger > float(t[-1]):
        trigger = None
    if trigger is not None:
        ax.axvline(trigger, color="#555555", linestyle="-.", linewidth=1.1,
                   label=f"trigger ends (t = {trigger:g} s)")
    ax.set_ylabel("Attempts per client attempting")
    ax.set_ylim(bottom=0)
    _mark_breach(run, ax)
    _legend(ax)
    caption = ("Join attempts per client attempting, per window: how much the clients' "
               "retries multiply the load on the join path (dashed: 1, no retries).")
    peak = _peak(t, amp)
    if peak is not None and peak[0] > 1.005:
        caption += f" It peaks at {peak[0]:.2f} at t = {peak[1]:g} s."
    elif peak is not None:
        caption += " It stays at 1.00 (to two decimals) throughout."
    if trigger is not None:
        caption += f" Dash-dotted: the trigger ends at t = {trigger:g} s."
    return fig, caption + _marks_caption(run)


# name, title, builder: the order is the order in the report. Each builder returns the
# figure with its caption, or None when the run has nothing for it to show.
FIGURES: list[tuple[str, str, Callable[[RunData], Drawn | None]]] = [
    ("clients", "Legit clients per second", fig_clients),
    ("listeners", "Concurrent listeners", fig_listeners),
    ("queues", "Queue length per station", fig_queues),
    ("utilization", "Utilization per station", fig_utilization),
    ("instances", "Instances per station", fig_instances),
    ("slo", "Join SLO and join latency percentiles", fig_slo),
    ("amplification", "Retry amplification", fig_amplification),
    ("attack", "Attack traffic and mitigation", fig_attack),
]
FIGURE_NAMES = [f[0] for f in FIGURES]


def write_figures(run: RunData, outdir: Path) -> list[FigureFile]:
    """Draw every figure the run has data for into ``outdir`` (``figures/``).

    PNGs from an earlier build that no longer apply (an attack figure for a run that now
    has no attack) are removed; other files in the folder are left alone.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    for name in FIGURE_NAMES:
        (outdir / f"{name}.png").unlink(missing_ok=True)
    if len(run.series.get(cols.TIME, ())) == 0:
        return []
    written = []
    for name, title, build in FIGURES:
        drawn = build(run)
        if drawn is None:
            continue
        fig, caption = drawn
        fig.tight_layout()
        path = outdir / f"{name}.png"
        with replacing(path) as tmp:
            fig.savefig(tmp, dpi=DPI, facecolor="white", format="png")
        written.append(FigureFile(name, title, caption, path))
    return written


# -- sweep figures --------------------------------------------------------------------------

def _sweep_metric(run: RunData, path: str) -> float:
    d = schema.value(run.summary, path)
    return float(d) if isinstance(d, int | float) and not isinstance(d, bool) else math.nan


def _value(v: float) -> str:
    """A parameter value for a legend: 300,000 or 99.06, never 3e+05."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def _mark_failure_points(study: Study, ax: Axes, label: bool) -> None:
    for i, v in enumerate(study.variants):
        fp = v.failure_point
        if fp is None or fp.status != "found" or fp.value is None or fp.low is None \
                or fp.high is None:
            continue
        color = _color(i)
        what = "interval" if fp.kind == "interval" else "bracket"
        name = f" ({_short_label(v.label)})" if len(study.variants) > 1 else ""
        ax.axvspan(fp.low, fp.high, color=color, alpha=0.15,
                   label=f"failure point {what}{name}" if label else None)
        ax.axvline(fp.value, color=color, linewidth=1.6,
                   label=f"{fp.value_name}{'' if fp.value_name == 'failure point' else ':'} "
                   f"{_value(fp.value)}{name}" if label else None)
    if study.expected is not None:
        ax.axvline(study.expected, color="#333333", linestyle="--", linewidth=1.1,
                   label=f"expected peak {_value(study.expected)}" if label else None)
        up = all(v.failure_point is None or v.failure_point.direction == "up"
                 for v in study.variants)
        if up:
            req = study.settings.headroom * study.expected
            ax.axvline(req, color="#333333", linestyle=":", linewidth=1.3,
                       label=f"required: {study.settings.headroom:g}× peak = {_value(req)}"
                       if label else None)


def fig_sweep_curve(study: Study) -> Drawn | None:
    """The SLO metrics of every job against the load parameter, failure points marked."""
    if study.key is None or not study.values:
        return None
    fig, (ax1, ax2) = _new(f"SLO against {study.key}", nrows=2, height_in=6.4)
    smin: float | None = None
    pmax: float | None = None
    for i, v in enumerate(study.variants):
        pts = sorted(((study.values[id(r)], _sweep_metric(r, schema.WORST_SUCCESS_RATIO),
                       _sweep_metric(r, schema.WORST_P99_S), r) for r in v.runs
                      if id(r) in study.values), key=lambda p: p[0])
        if not pts:
            continue
        for r in v.runs:
            slo = r.summary["slo"]
            smin = slo.get("join_success_min", smin)
            pmax = slo.get("join_p99_max_s", pmax)
        x = np.array([p[0] for p in pts])
        ok = np.array([run_failed(p[3]) is False for p in pts])
        name = _short_label(v.label) if len(study.variants) > 1 else "job"
        for ax, j, scale in ((ax1, 1, 100.0), (ax2, 2, 1.0)):
            y = np.array([p[j] for p in pts]) * scale
            # The mean per value joins the replications' points.
            xs = np.unique(x)
            ax.plot(xs, [np.nanmean(y[x == u]) if np.isfinite(y[x == u]).any() else np.nan
                         for u in xs], color=_color(i), linewidth=0.9, alpha=0.7)
            ax.scatter(x[ok], y[ok], color=_color(i), marker="o", s=22, zorder=3,
                       label=f"{name}: SLO held" if ax is ax1 else None)
            ax.scatter(x[~ok], y[~ok], color=_color(i), marker="x", s=30, zorder=3,
                       label=f"{name}: SLO failed" if ax is ax1 else None)
    if isinstance(smin, int | float):
        ax1.axhline(100 * smin, color=BREACH_COLOR, linestyle="--", linewidth=1.0,
                    label=f"SLO: at least {100 * smin:g}%")
    if isinstance(pmax, int | float):
        ax2.axhline(pmax, color=BREACH_COLOR, linestyle="--", linewidth=1.0,
                    label=f"SLO: at most {pmax:g} s")
    _mark_failure_points(study, ax1, label=True)
    _mark_failure_points(study, ax2, label=False)
    ax1.set_ylabel("Worst window:\njoin success (%)")
    ax1.set_ylim(-2, 102)
    ax2.set_ylabel("Worst window:\np99 join latency (s)")
    ax2.set_ylim(bottom=0)
    xs_all = np.array(list(study.values.values()))
    if len(xs_all) and xs_all.min() > 0 and xs_all.max() / xs_all.min() > 20:
        ax2.set_xscale("log")
    else:
        ax2.xaxis.set_major_locator(MaxNLocator(nbins=6))
    ax2.xaxis.set_major_formatter(FuncFormatter(_tick_label))
    ax2.tick_params(axis="x", labelrotation=25)
    ax2.set_xlabel(study.key)
    _legend(ax1)
    _legend(ax2)
    return fig, _sweep_curve_caption(study)


def _required_line(study: Study) -> bool:
    """The headroom requirement is drawn for a load that fails upwards only."""
    return study.expected is not None and all(
        v.failure_point is None or v.failure_point.direction == "up" for v in study.variants)


def _lines_caption(study: Study) -> str:
    """The expected peak (dashed) and the headroom requirement (dotted), where drawn."""
    if study.expected is None:
        return ""
    text = f" Dashed: the expected peak, {_value(study.expected)}"
    if _required_line(study):
        req = study.settings.headroom * study.expected
        text += (f"; dotted: the required {study.settings.headroom:g}× the peak, "
                 f"{_value(req)}")
    return text + "."


def _sweep_curve_caption(study: Study) -> str:
    """What is plotted against the load, the failure points shaded, the reference lines."""
    many = len(study.variants) > 1
    caption = (f"Each job's worst SLO window against {study.key}: the share of join "
               f"attempts that succeeded (top) and the p99 join latency (bottom); circles "
               f"held the SLO, crosses failed it, the lines join the means per value"
               + (f"; one colour per variant ({_variant_names(study)})" if many else "")
               + ".")
    found = [v for v in study.variants if v.failure_point is not None
             and v.failure_point.status == "found" and v.failure_point.value is not None]
    for v in found:
        fp = v.failure_point
        assert fp is not None and fp.value is not None
        what = "interval" if fp.kind == "interval" else "bracket"
        of = f" of {_flat_label(v.label)}" if many else ""
        if fp.value_name == "failure point":
            caption += f" Failure point{of}: {_value(fp.value)} (solid line; its {what} shaded)."
        else:  # a whole number: the value that holds, beside the failure point's interval
            caption += (f" {fp.value_name.capitalize()}{of}: {_value(fp.value)} (solid "
                        f"line; the failure point's {what} shaded).")
    if not found:
        caption += " No failure point was found in the range swept, so none is marked."
    return caption + _lines_caption(study)


def _flat_label(label: str) -> str:
    """``_short_label`` on one line, for a caption."""
    return _short_label(label).replace("\n", ", ")


def _variant_names(study: Study) -> str:
    return _names([_flat_label(v.label) for v in study.variants])


def _short_label(label: str) -> str:
    """``architecture.stations.join.max_rate_rps=2500`` as ``join.max_rate_rps=2500``;
    a part longer than ``MAX_LABEL`` characters is cut with an ellipsis, so a long value
    (a path) cannot squeeze the plot out of its figure."""
    parts = []
    for part in label.split(", "):
        key, sep, value = part.partition("=")
        short = ".".join(key.split(".")[-2:]) + sep + value
        parts.append(short if len(short) <= MAX_LABEL else short[:MAX_LABEL - 1] + "…")
    return ", ".join(parts) if len(parts) < 2 else "\n".join(parts)


def fig_comparison(study: Study) -> Drawn | None:
    """Variants side by side: failure point (or join ratio), join ratio, cost."""
    if len(study.variants) < 2:
        return None
    labels = [_short_label(v.label) for v in study.variants]
    y = np.arange(len(labels))
    colors = [_color(i) for i in range(len(labels))]
    panels = 3 if study.key else 2
    fig = Figure(figsize=(SIZE_IN[0], 1.6 + 0.45 * len(labels) * 1.0 + 1.4), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels, sharey=True, squeeze=False)[0].tolist()
    fig.suptitle("Variants compared", fontsize=12, fontweight="bold")
    k = 0
    if study.key:
        ax = axes[0]
        for i, v in enumerate(study.variants):
            fp = v.failure_point
            if fp is None:
                continue
            if fp.status == "found" and fp.value is not None and fp.low is not None \
                    and fp.high is not None:
                ax.barh(i, fp.value, color=colors[i], alpha=0.8,
                        xerr=[[fp.value - fp.low], [fp.high - fp.value]], capsize=4)
            elif fp.status == "holds_throughout" and fp.tested is not None:
                ax.barh(i, fp.tested, color="none", edgecolor=colors[i], hatch="//")
                ax.annotate("held to here", (fp.tested, i), fontsize=7, va="center",
                            xytext=(3, 0), textcoords="offset points")
            elif fp.status == "fails_throughout" and fp.tested is not None:
                ax.annotate(f"fails at {fp.tested:,.4g}", (0, i), fontsize=7, va="center")
        if study.expected is not None:
            ax.axvline(study.expected, color="#333333", linestyle="--", linewidth=1.0)
            if all(v.failure_point is None or v.failure_point.direction == "up"
                   for v in study.variants):
                ax.axvline(study.settings.headroom * study.expected, color="#333333",
                           linestyle=":", linewidth=1.2)
        ax.set_xlabel(f"{_fp_name(study).capitalize()}\n({study.key})", fontsize=9)
        ax.xaxis.set_major_formatter(FuncFormatter(_tick_label))
        ax.tick_params(axis="x", labelsize=7, labelrotation=30)
        k = 1
    shown = [v.at_expected or v.representative for v in study.variants]
    ratios = [_sweep_metric(r, schema.JOIN_RATIO) if r else math.nan for r in shown]
    axes[k].barh(y, [100 * r for r in ratios], color=colors, alpha=0.8)
    axes[k].set_xlim(0, 100)
    at_peak = all(v.at_expected is not None for v in study.variants)
    axes[k].set_xlabel("Clients joined (%)\n" + ("at the expected peak" if at_peak
                                                  else "in the job of the findings"),
                       fontsize=9)
    costs = [_sweep_metric(r, schema.COST_USD) if r else math.nan for r in shown]
    axes[k + 1].barh(y, costs, color=colors, alpha=0.8)
    axes[k + 1].set_xlabel("Instance cost (USD)", fontsize=9)
    for ax in axes:
        ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].invert_yaxis()
    return fig, _comparison_caption(study, at_peak)


def _fp_name(study: Study) -> str:
    """What the variants' bars show: "failure point", or for whole-number searches "smallest
    value that holds" (the sweeper's ``value``; ``FailurePoint.value_name``)."""
    names = {v.failure_point.value_name for v in study.variants
             if v.failure_point is not None and v.failure_point.status == "found"}
    return names.pop() if len(names) == 1 else "failure point"


def _comparison_caption(study: Study, at_peak: bool) -> str:
    """The panels, left to right, and which job the joined share and cost come from."""
    caption = f"One bar per variant ({_variant_names(study)}), left to right: "
    name = _fp_name(study)
    panels = [f"the {name} of {study.key}"] if study.key else []
    panels += ["the share of clients that joined", "the instance cost"]
    caption += _names(panels) + (" at the expected peak." if at_peak
                                 else " in the job each variant's findings describe.")
    if not study.key:
        return caption
    statuses = {v.failure_point.status for v in study.variants if v.failure_point}
    point = "a failure point" if name == "failure point" else f"the {name}"
    marks = {"found": f"a bar with an error bar is {point} and its interval",
             "holds_throughout": "a hatched bar held the SLO up to the largest value "
                                 "tried, with no failure point found",
             "fails_throughout": "\"fails at\" marks a variant that failed at every "
                                 "value tried"}
    said = [text for status, text in marks.items() if status in statuses]
    if said:
        caption += " In the failure-point panel, " + "; ".join(said) + "."
    return caption + _lines_caption(study)


SWEEP_FIGURES: list[tuple[str, str, Callable[[Study], Drawn | None]]] = [
    ("sweep_curve", "SLO against the swept parameter", fig_sweep_curve),
    ("comparison", "Variants compared", fig_comparison),
]
SWEEP_FIGURE_NAMES = [f[0] for f in SWEEP_FIGURES]


def write_sweep_figures(study: Study, outdir: Path) -> list[FigureFile]:
    """The sweep's own figures (curves, comparison) into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    for name in SWEEP_FIGURE_NAMES:
        (outdir / f"{name}.png").unlink(missing_ok=True)
    written = []
    for name, title, build in SWEEP_FIGURES:
        drawn = build(study)
        if drawn is None:
            continue
        fig, caption = drawn
        fig.tight_layout()
        path = outdir / f"{name}.png"
        with replacing(path) as tmp:
            fig.savefig(tmp, dpi=DPI, facecolor="white", format="png")
        written.append(FigureFile(name, title, caption, path))
    return written
