"""The report's plots over time, drawn from timeseries.csv into ``figures/*.png``.

Each figure is a function of a ``RunData`` that returns a matplotlib ``Figure`` or None
when the run has nothing to show (no attack, missing columns). Figures are built with the
object-oriented API on an Agg canvas, never through pyplot, so no global state or GUI
backend is touched and reports can be built from worker processes. They are meant to be
read on paper: titles, axis labels with units, legends, one colour per station shared by
every figure, 150 dpi.

Counts (``legit.arrivals``...) are per tick and are shown per second; long runs are
summed into at most ``MAX_BINS`` bins so the lines stay readable. Levels and
time-weighted means (queues, utilization, instances) are shown as recorded. Nothing here
recomputes the SLO: breach, first breach and recovery come from the run.
"""

from __future__ import annotations

import math
import re
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

from .. import summary as schema
from ..atomic import replacing
from .load import RunData
from .study import Study
from .verdict import run_failed

DPI = 150
SIZE_IN = (8.0, 4.2)
MAX_BINS = 600
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
    t = run.series["t_s"]
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
    slo = run.summary.get("slo") or {}
    first = slo.get("first_breach_s")
    if isinstance(first, int | float):
        ax.axvline(first, color=BREACH_COLOR, linestyle=":", linewidth=1.4,
                   label=f"first SLO breach (t = {first:g} s)" if label else None)
    rec = slo.get("recovered_s")
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
    t = run.series["t_s"]
    return float(np.median(_tick_lengths(t))) if len(t) else 1.0


# -- the figures ----------------------------------------------------------------------------

def fig_clients(run: RunData) -> Figure | None:
    cols = [("legit.arrivals", "arrivals", "#1f77b4", "-"),
            ("legit.joined", "joins", "#2ca02c", "-"),
            ("legit.abandoned", "abandons", "#d62728", "-"),
            ("legit.attempts", "join attempts (incl. retries)", "#7f7f7f", "--")]
    present = [c for c in cols if c[0] in run.series]
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
    return fig


def fig_listeners(run: RunData) -> Figure | None:
    if "listeners" not in run.series:
        return None
    t = run.series["t_s"]
    fig, (ax,) = _new("Concurrent listeners")
    ax.plot(t, run.series["listeners"], color="#1f77b4", linewidth=1.4,
            label="listeners (mean over each tick)")
    slots = [c for c in run.series if c.endswith(".slots") and not c.startswith("legit.")]
    if slots:
        total = np.sum([np.nan_to_num(run.series[c]) for c in slots], axis=0)
        ax.plot(t, total, color="#7f7f7f", linestyle="--", linewidth=1.2,
                label="listener slots available")
    ax.set_ylabel("Listeners")
    ax.set_ylim(bottom=0)
    _plain_ticks(ax)
    _mark_breach(run, ax)
    _legend(ax)
    return fig


def fig_queues(run: RunData) -> Figure | None:
    names = [n for n in run.stations if f"{n}.queue" in run.series]
    if not names:
        return None
    t = run.series["t_s"]
    fig, (ax,) = _new("Queue length per station")
    series = [run.series[f"{n}.queue"] for n in names]
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
    else:
        ax.set_ylabel("Requests queued\n(time-weighted mean per tick)")
        # At least one request of scale, so a few microseconds of queueing reads as
        # "no queue" rather than filling the plot.
        ax.set_ylim(0, max(1.0, rng[1] * 1.1 if rng else 0.0))
    _mark_breach(run, ax)
    _legend(ax, title="station", title_fontsize=8, alignment="left")
    return fig


def fig_utilization(run: RunData) -> Figure | None:
    names = [n for n in run.stations if _has(run, f"{n}.busy", f"{n}.capacity")]
    if not names:
        return None
    t = run.series["t_s"]
    fig, (ax,) = _new("Utilization per station (busy workers / workers)")
    for i, n in enumerate(names):
        busy, cap = run.series[f"{n}.busy"], run.series[f"{n}.capacity"]
        with np.errstate(invalid="ignore", divide="ignore"):
            util = np.where(cap > 0, busy / cap, np.nan)
        ax.plot(t, 100 * util, color=_color(i), linewidth=1.2, label=n)
    ax.axhline(95, color="#555555", linestyle="--", linewidth=0.9, label="95% (saturated)")
    ax.set_ylabel("Utilization (%)")
    ax.set_ylim(0, 105)
    _mark_breach(run, ax)
    _legend(ax, title="station", title_fontsize=8, alignment="left")
    return fig


def fig_instances(run: RunData) -> Figure | None:
    names = [n for n in run.stations if f"{n}.instances" in run.series]
    if not names:
        return None
    t = run.series["t_s"]
    # One panel per station: instance counts of different tiers overlap on one axis
    # (several tiers at 1 or 4 instances) and would hide each other.
    fig, axes = _new("Instances per station", nrows=len(names),
                     height_in=max(SIZE_IN[1], 1.0 + 1.15 * len(names)))
    metric_axes: list[Axes] = []
    for ax, n in zip(axes, names, strict=True):
        inst = run.series[f"{n}.instances"]
        scaled = f"{n}.desired" in run.series
        ax.plot(t, inst, color="#1f77b4", linewidth=1.5, drawstyle="steps-post",
                label="serving instances (ready + warming)")
        top = np.nanmax(inst) if np.isfinite(inst).any() else 1.0
        if f"{n}.ready" in run.series:
            ax.plot(t, run.series[f"{n}.ready"], color="#2ca02c", linewidth=1.0,
                    drawstyle="steps-post", label="ready instances (warmed up)")
        if scaled:
            desired = run.series[f"{n}.desired"]
            ax.plot(t, desired, color="#333333", linewidth=1.0, linestyle="--",
                    drawstyle="steps-post", label="desired (autoscaler)")
            if np.isfinite(desired).any():
                top = max(top, np.nanmax(desired))
        if f"{n}.metric" in run.series:
            # The metric that drove the autoscaler (the highest of its metrics), as a
            # ratio to its target: above 1 it scales out, below it may scale in.
            mx = ax.twinx()
            mx.plot(t, run.series[f"{n}.metric"], color="#ff7f0e", linewidth=0.9,
                    alpha=0.8, drawstyle="steps-post", label="metric ÷ target (right axis)")
            mx.axhline(1.0, color="#ff7f0e", linewidth=0.6, linestyle=":")
            m = run.series[f"{n}.metric"]
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
    return fig


def fig_slo(run: RunData) -> Figure | None:
    if not _has(run, "slo.success_ratio", "slo.join_p99_s"):
        return None
    slo = run.summary.get("slo") or {}
    window = slo.get("window_s")
    t = run.series["t_s"]
    title = "Join SLO over sliding windows" + (f" of {window:g} s" if window else "")
    fig, (ax1, ax2) = _new(title, nrows=2, height_in=6.0)
    ax1.plot(t, 100 * run.series["slo.success_ratio"], color="#1f77b4", linewidth=1.3,
             label="join attempts that succeeded")
    # Other percentiles over the same windows, where the run records them (p50, p90).
    pcols = sorted((c for c in run.series if re.fullmatch(r"slo\.join_p\d+_s", c)),
                   key=lambda c: int(c[10:-2]))
    for i, col in enumerate(pcols):
        style = "-" if col == "slo.join_p99_s" else "--"
        ax2.plot(t, run.series[col], color=LATENCY_COLORS[i % len(LATENCY_COLORS)]
                 if col != "slo.join_p99_s" else "#9467bd", linewidth=1.3,
                 linestyle=style, label=f"{col[9:-2]} join latency")
    smin, pmax = slo.get("join_success_min"), slo.get("join_p99_max_s")
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
    if rng is not None and rng[1] / rng[0] > 50:
        ax2.set_yscale("log")
        _plain_ticks(ax2)
    elif rng is not None:
        ax2.set_ylim(bottom=0)
    if "slo.breach" in run.series:
        breach = np.nan_to_num(run.series["slo.breach"]) > 0
        if breach.any():
            for i, ax in enumerate((ax1, ax2)):
                ax.fill_between(t, 0, 1, where=breach, step="pre", color=BREACH_COLOR,
                                alpha=0.12, transform=ax.get_xaxis_transform(),
                                label="window in breach" if i == 0 else None)
    _mark_breach(run, ax1)
    _mark_breach(run, ax2, label=False)
    _legend(ax1)
    _legend(ax2)
    return fig


def _attack_vectors(run: RunData) -> list[str]:
    """Vectors with per-vector columns (``attack.<v>.offered``)."""
    out = []
    for col in run.series:
        parts = col.split(".")
        if len(parts) == 3 and parts[0] == "attack" and parts[2] == "offered":
            out.append(parts[1])
    return out


def _mitigations(run: RunData) -> list[str]:
    return [c.split(".")[1] for c in run.series
            if c.startswith("mitigation.") and c.endswith(".attack_removed")
            and len(c.split(".")) == 3]


def fig_attack(run: RunData) -> Figure | None:
    if "attack.offered" not in run.series \
            or not np.nan_to_num(run.series["attack.offered"]).any():
        return None
    vectors = _attack_vectors(run)
    mitigations = [m for m in _mitigations(run)
                   if np.nan_to_num(run.series[f"mitigation.{m}.attack_removed"]).any()
                   or np.nan_to_num(run.series.get(f"mitigation.{m}.legit_removed",
                                                   np.zeros(1))).any()]
    # Per vector when the run has per-vector columns, else the totals.
    lines: list[tuple[str, str, str, str]] = []
    if vectors:
        for i, v in enumerate(vectors):
            # Not red: red marks the SLO breach on every figure.
            color = VECTOR_COLORS[i % len(VECTOR_COLORS)]
            if f"attack.{v}.mitigated" in run.series \
                    and np.nan_to_num(run.series[f"attack.{v}.mitigated"]).any():
                lines.append((f"attack.{v}.mitigated", f"{v}: removed by mitigation",
                              color, "wide"))
            lines.append((f"attack.{v}.offered", f"{v}: offered", color, "-"))
            if f"attack.{v}.served" in run.series:
                lines.append((f"attack.{v}.served", f"{v}: served", color, "--"))
    else:
        lines = [("attack.mitigated", "removed by mitigation", "#7f7f7f", "wide"),
                 ("attack.offered", "offered", "#8c564b", "-"),
                 ("attack.served", "served (processed up to their last station)",
                  "#ff7f0e", "--")]
        # Mitigation is drawn only when something was mitigated, to keep the legend honest.
        lines = [c for c in lines if c[0] in run.series and
                 (c[0] != "attack.mitigated" or np.nan_to_num(run.series[c[0]]).any())]
    mcols = [(f"mitigation.{m}.{what}", f"{m}: {label}", _color(i), style)
             for i, m in enumerate(mitigations)
             for what, label, style in (("attack_removed", "attack removed", "-"),
                                        ("legit_removed", "legit removed", "--"))
             if f"mitigation.{m}.{what}" in run.series]
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
    return fig


def fig_amplification(run: RunData) -> Figure | None:
    if "legit.amplification" not in run.series:
        return None
    amp = run.series["legit.amplification"]
    if not np.isfinite(amp).any():
        return None
    t = run.series["t_s"]
    fig, (ax,) = _new("Retry amplification")
    ax.plot(t, amp, color="#9467bd", linewidth=1.3,
            label="join attempts ÷ clients attempting")
    ax.axhline(1.0, color="#555555", linestyle="--", linewidth=0.9, label="no retries (1)")
    meta = run.summary.get("metastability")
    trigger = meta.get("trigger_end_s") if isinstance(meta, dict) else None
    if isinstance(trigger, int | float):
        ax.axvline(trigger, color="#555555", linestyle="-.", linewidth=1.1,
                   label=f"trigger ends (t = {trigger:g} s)")
    ax.set_ylabel("Attempts per client attempting")
    ax.set_ylim(bottom=0)
    _mark_breach(run, ax)
    _legend(ax)
    return fig


# name, title, caption, builder: the order is the order in the report.
FIGURES: list[tuple[str, str, str, Callable[[RunData], Figure | None]]] = [
    ("clients", "Legit clients per second",
     "Arrivals of new clients, joins and abandons per second, with every join attempt "
     "(first tries and retries).", fig_clients),
    ("listeners", "Concurrent listeners",
     "Listeners holding a slot, against the slots the fanout tier offers.", fig_listeners),
    ("queues", "Queue length per station",
     "Requests waiting for a worker at each station.", fig_queues),
    ("utilization", "Utilization per station",
     "Share of the station's workers that are busy; at 95% or above a station is "
     "saturated.", fig_utilization),
    ("instances", "Instances per station",
     "Instances serving per station; where an autoscaler runs, also its desired count, the "
     "instances fully warmed up, and the metric that drove it as a ratio to its target "
     "(right axis; above 1 it scales out).",
     fig_instances),
    ("slo", "Join SLO and join latency percentiles",
     "Success ratio and the p99 join latency (first attempt to joined; p50 and p90 too "
     "where the run records them) over the sliding SLO window, with the thresholds; "
     "shaded windows breach the SLO.", fig_slo),
    ("amplification", "Retry amplification",
     "Join attempts per client attempting, over time: how much the retries multiply the "
     "load (1 = no retries).", fig_amplification),
    ("attack", "Attack traffic and mitigation",
     "Attack requests offered, removed by mitigation and served per second, per vector "
     "where the run records vectors; below, what each mitigation removed (attack and "
     "legit requests).", fig_attack),
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
    if len(run.series.get("t_s", ())) == 0:
        return []
    written = []
    for name, title, caption, build in FIGURES:
        fig = build(run)
        if fig is None:
            continue
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
                   label=f"failure point {_value(fp.value)}{name}" if label else None)
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


def fig_sweep_curve(study: Study) -> Figure | None:
    """The SLO metrics of every job against the load parameter, failure points marked."""
    if study.key is None or not study.values:
        return None
    fig, (ax1, ax2) = _new(f"SLO against {study.key}", nrows=2, height_in=6.4)
    smin = pmax = None
    for i, v in enumerate(study.variants):
        pts = sorted(((study.values[id(r)], _sweep_metric(r, schema.WORST_SUCCESS_RATIO),
                       _sweep_metric(r, schema.WORST_P99_S), r) for r in v.runs
                      if id(r) in study.values), key=lambda p: p[0])
        if not pts:
            continue
        for r in v.runs:
            slo = r.summary.get("slo") or {}
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
    return fig


def _short_label(label: str) -> str:
    """``architecture.stations.join.max_rate_rps=2500`` as ``join.max_rate_rps=2500``."""
    parts = []
    for part in label.split(", "):
        key, sep, value = part.partition("=")
        parts.append(".".join(key.split(".")[-2:]) + sep + value)
    return ", ".join(parts) if len(parts) < 2 else "\n".join(parts)


def fig_comparison(study: Study) -> Figure | None:
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
        ax.set_xlabel(f"Failure point\n({study.key})", fontsize=9)
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
    return fig


SWEEP_FIGURES: list[tuple[str, str, str, Callable[[Study], Figure | None]]] = [
    ("sweep_curve", "SLO against the swept parameter",
     "Each job's worst SLO window (join success, p99 join latency) against the swept "
     "parameter; circles held, crosses failed. The failure point and its interval (or the "
     "bracket between the last value that held and the first that failed) are shaded; the "
     "dashed line is the expected peak, the dotted line the headroom requirement.",
     fig_sweep_curve),
    ("comparison", "Variants compared",
     "Per variant: the failure point with its interval (dashed: expected peak; dotted: the "
     "headroom requirement), the share of clients that joined and the instance cost, at "
     "the expected peak where the sweep ran it, else at the job the findings describe.",
     fig_comparison),
]
SWEEP_FIGURE_NAMES = [f[0] for f in SWEEP_FIGURES]


def write_sweep_figures(study: Study, outdir: Path) -> list[FigureFile]:
    """The sweep's own figures (curves, comparison) into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    for name in SWEEP_FIGURE_NAMES:
        (outdir / f"{name}.png").unlink(missing_ok=True)
    written = []
    for name, title, caption, build in SWEEP_FIGURES:
        fig = build(study)
        if fig is None:
            continue
        fig.tight_layout()
        path = outdir / f"{name}.png"
        with replacing(path) as tmp:
            fig.savefig(tmp, dpi=DPI, facecolor="white", format="png")
        written.append(FigureFile(name, title, caption, path))
    return written
