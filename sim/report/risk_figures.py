"""The figures of a risk study's report: what drives failure, and where it lies.

- ``risk_sensitivity.png``, a tornado: one bar per input, longest at the top, of the
  measure risk.json ranks the inputs by (Sobol' total-order index, with first-order
  beside it and the bootstrap half-width as an error bar; or |Spearman ρ|).
- ``risk_region.png``, the failure region: every sample over the two inputs that matter
  most, failed ones in red and held ones in green, on a log axis where the input's
  distribution is log-scaled; with one input, its values against the judged metric.

Both are drawn from risk.json alone (inputs, verdicts, sensitivity), with matplotlib's
object API and written atomically, like the report's other figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..atomic import replacing
from .figures import DPI, SIZE_IN, FigureFile

FAILED, HELD = "#c0392b", "#1e8449"
LOG_KINDS = ("loguniform", "lognormal")


def write_risk_figures(risk: Mapping[str, Any], out: Path) -> list[FigureFile]:
    """Draw the figures of ``risk`` (risk.json) into ``out``; those that can be drawn."""
    out.mkdir(parents=True, exist_ok=True)
    drawn = []
    for name, draw in (("risk_sensitivity", _tornado), ("risk_region", _region)):
        made = draw(risk)
        if made is None:
            continue
        fig, title, caption = made
        path = out / f"{name}.png"
        with replacing(path) as tmp:
            fig.savefig(tmp, dpi=DPI, facecolor="white", format="png")
        drawn.append(FigureFile(name, title, caption, path))
    return drawn


def _figure(title: str, height: float | None = None) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(SIZE_IN[0], height or SIZE_IN[1]), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    fig.suptitle(title, fontsize=12, fontweight="bold")
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def _tornado(risk: Mapping[str, Any]) -> tuple[Figure, str, str] | None:
    sens = risk.get("sensitivity") or {}
    ranking = list(sens.get("ranking") or [])
    if not ranking:
        return None
    per = sens["inputs"]
    sobol = sens.get("method") == "sobol"
    fig, ax = _figure("What drives failure", height=max(2.4, 1.2 + 0.5 * len(ranking)))
    y = np.arange(len(ranking))[::-1]
    index = [per[k]["index"] for k in ranking]
    err = [per[k].get("ST_conf", 0.0) for k in ranking] if sobol else None
    ax.barh(y, index, xerr=err, color="#1a5fb4", height=0.6,
            label="total order ST" if sobol else "|Spearman ρ|")
    if sobol:
        ax.barh(y, [per[k]["S1"] for k in ranking], color="#99c1f1", height=0.3,
                label="first order S1")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y, ranking, fontsize=8)
    ax.set_xlim(0, max(1.0, max(index) * 1.1) if sobol else 1.0)
    ax.set_xlabel("Sobol' index of failure" if sobol else "|Spearman ρ| with failure")
    fig.tight_layout()
    caption = f"Inputs ranked by {sens.get('text', 'their sensitivity')}."
    if sens.get("note"):
        caption += f" {sens['note']}."
    return fig, "Sensitivity of failure to each input", caption


def _region(risk: Mapping[str, Any]) -> tuple[Figure, str, str] | None:
    jobs = [j for j in risk.get("jobs") or [] if j.get("failed") is not None]
    ranking = [k for k in (risk.get("sensitivity") or {}).get("ranking") or []
               if _numeric(jobs, k)]
    if not jobs or not ranking:
        return None
    kinds = {k: (risk.get("inputs") or {}).get(k, {}).get("kind") for k in ranking}
    if len(ranking) == 1:
        fig, ax, what = _region_1d(risk, jobs, ranking[0], kinds[ranking[0]] in LOG_KINDS)
    else:
        fig, ax, what = _region_2d(jobs, ranking[0], ranking[1],
                                   [kinds[k] in LOG_KINDS for k in ranking[:2]])
    ax.scatter([], [], c=FAILED, s=14, label="failed")
    ax.scatter([], [], c=HELD, s=14, label="held")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    caption = (f"{what}, red where it failed and green where it held "
               f"({risk['failed']} of {risk['judged']} judged samples failed); the other "
               f"inputs vary underneath, so the colours overlap near the boundary.")
    return fig, "Where the launch fails", caption


def _region_1d(risk: Mapping[str, Any], jobs: list[Mapping[str, Any]], key: str,
               log: bool) -> tuple[Figure, Axes, str]:
    """The judged metric of each sample against the input that matters most."""
    metric = risk.get("metric") or "metric"
    fig, ax = _figure("Failure over the input that matters most")
    ys = [j.get("metric_value") for j in jobs]
    ax.scatter([j["inputs"][key] for j in jobs],
               [float(v) if isinstance(v, int | float) else np.nan for v in ys],
               c=[FAILED if j["failed"] else HELD for j in jobs], s=14)
    for limit in (risk.get("fail_below"), risk.get("fail_above")):
        if isinstance(limit, int | float):
            ax.axhline(limit, color=FAILED, linestyle="--", linewidth=0.8)
    ax.set_ylabel(metric)
    ax.set_xlabel(key)
    if log:
        _log(ax.xaxis, ax.set_xscale)
    return fig, ax, f"{metric} of each sample against {key}"


def _region_2d(jobs: list[Mapping[str, Any]], kx: str, ky: str,
               logs: list[bool]) -> tuple[Figure, Axes, str]:
    """Every sample over the two inputs that matter most, on a shaded estimate of
    P(fail) given those two (when there are enough samples of both kinds)."""
    fig, ax = _figure("Failure region over the two inputs that matter most")
    x = np.array([float(j["inputs"][kx]) for j in jobs])
    y = np.array([float(j["inputs"][ky]) for j in jobs])
    failed = np.array([1.0 if j["failed"] else 0.0 for j in jobs])
    shaded = _shade(ax, x, y, failed, logs)
    ax.scatter(x, y, c=[FAILED if f else HELD for f in failed], s=14, zorder=3)
    ax.set_xlabel(kx)
    ax.set_ylabel(ky)
    for log, axis, setter in ((logs[0], ax.xaxis, ax.set_xscale),
                              (logs[1], ax.yaxis, ax.set_yscale)):
        if log:
            _log(axis, setter)
    what = f"each sample at its values of {kx} and {ky}"
    if shaded:
        what += (", on a kernel-smoothed estimate of P(fail) given these two inputs "
                 "(shaded red above 50%, dashed where it crosses 50%)")
    return fig, ax, what


def _shade(ax: Axes, x: np.ndarray, y: np.ndarray, failed: np.ndarray,
           logs: list[bool]) -> bool:
    """Shade a Nadaraya–Watson estimate of P(fail) over the plane of ``x`` and ``y``
    (each scaled to 0..1, on a log scale where its axis has one); False if too few
    samples, or failure does not vary."""
    n = len(failed)
    if n < 10 or failed.min() == failed.max():
        return False
    tx, ty = (np.log(v) if log else v for v, log in zip((x, y), logs, strict=True))
    if np.ptp(tx) == 0 or np.ptp(ty) == 0:
        return False
    ux, uy = (tx - tx.min()) / np.ptp(tx), (ty - ty.min()) / np.ptp(ty)
    g = np.linspace(0, 1, 61)
    gx, gy = np.meshgrid(g, g)
    h = max(0.05, 0.5 * n ** (-1 / 3))
    w = np.exp(-((gx[..., None] - ux) ** 2 + (gy[..., None] - uy) ** 2) / (2 * h * h))
    p = (w * failed).sum(axis=-1) / np.maximum(w.sum(axis=-1), 1e-300)
    back = [np.exp(lo + u * span) if log else lo + u * span
            for u, lo, span, log in ((gx, tx.min(), np.ptp(tx), logs[0]),
                                     (gy, ty.min(), np.ptp(ty), logs[1]))]
    ax.contourf(back[0], back[1], p, levels=[0, 0.5, 1.0001], colors=[HELD, FAILED],
                alpha=0.12)
    ax.contour(back[0], back[1], p, levels=[0.5], colors=FAILED, linewidths=1,
               linestyles="--")
    return True


def _log(axis: Any, setter: Any) -> None:
    """A log scale labelled in plain numbers (20,000, not 2×10⁴)."""
    setter("log")
    plain = FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(plain)


def _numeric(jobs: list[Mapping[str, Any]], key: str) -> bool:
    return all(isinstance(j["inputs"].get(key), int | float)
               and not isinstance(j["inputs"].get(key), bool) for j in jobs)


__all__ = ["write_risk_figures"]
