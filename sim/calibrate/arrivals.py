"""A ``flash_crowd`` arrival curve fitted to per-second arrival counts.

The input is a CSV file with the columns ``t_s`` (the start of each second) and
``arrivals`` (first attempts in that second), such as a load test's or a past event's.
The curve is the simulator's (``sim/model/arrivals.py``): an audience, a share arriving
early over a window before the start ``t0_s``, a push notification sent over
``push_window_s`` and answered after a lognormal reaction delay, and a tail decaying
after the start. Its nine parameters are fitted by Poisson maximum likelihood
(``scipy.optimize``, from a few starting points read off the data), within the
simulator's own rules (the shares add up to at most 1; the early window starts at
t >= 0, so it is no longer than ``t0_s``); the goodness of fit
is the Poisson deviance per degree of freedom (about 1 when the counts scatter as a
Poisson process around the curve) and the largest gap between the cumulative counts
and the fitted cumulative curve.

Too few arrivals or seconds, a file that is not such a CSV, or counts the curve does
not describe (deviance per degree of freedom above ``MAX_DISPERSION``) raise
``CalibrationError``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize, special, stats

from .errors import CalibrationError

KEYS = ("audience", "t0_s", "early_share", "early_window_s", "push_window_s",
        "reaction_median_s", "reaction_sigma", "tail_share", "tail_tau_s")
MIN_ARRIVALS = 200
MIN_SECONDS = 30
MAX_DISPERSION = 3.0


@dataclass
class FlashCrowdFit:
    """The fitted curve (``params``: the simulator's keys) and its goodness of fit."""

    params: dict[str, float]
    deviance: float
    dof: int
    max_cumulative_gap: float  # largest |cumulative counts - fitted|, share of all arrivals

    @property
    def dispersion(self) -> float:
        return self.deviance / max(1, self.dof)

    def config(self) -> dict[str, object]:
        """The ``arrivals`` preset."""
        out = {k: round(v, 4) for k, v in self.params.items()}
        out["early_window_s"] = min(out["early_window_s"], out["t0_s"])
        return {"kind": "flash_crowd", **out}


def read_arrivals(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(t_s, arrivals)`` from the CSV at ``path``."""
    p = Path(path)
    try:
        with p.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise CalibrationError(f"Cannot read the arrivals {p}: {exc.strerror}.") from None
    if not rows or not {"t_s", "arrivals"} <= set(rows[0]):
        raise CalibrationError(f"{p}: expected a CSV with the columns t_s and arrivals "
                               "(one row per second).")
    try:
        t = np.array([float(r["t_s"]) for r in rows])
        y = np.array([float(r["arrivals"]) for r in rows])
    except (TypeError, ValueError):
        raise CalibrationError(f"{p}: t_s and arrivals must be numbers on every row.") from None
    if (y < 0).any() or not np.all(np.diff(t) > 0):
        raise CalibrationError(f"{p}: arrivals must be >= 0 and t_s increasing.")
    return t, y


def expected(theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Expected arrivals in each second [t, t + 1) under parameters ``theta``."""
    n, t0, early, w_early, w_push, median, sigma, tail, tau = theta
    push = max(0.0, 1.0 - early - tail)
    sub = t[:, None] + (np.arange(4) + 0.5)[None, :] / 4  # four points per second

    def cdf(x: np.ndarray) -> np.ndarray:
        z = np.where(x > 0, x, 1.0) / median
        return np.where(x > 0, special.ndtr(np.log(z) / sigma), 0.0)

    x = sub - t0
    rate = np.where((sub >= t0 - w_early) & (sub < t0), early / w_early, 0.0)
    rate += push * (cdf(x) - cdf(x - w_push)) / w_push
    rate += np.where(x >= 0, tail * np.exp(-np.maximum(x, 0.0) / tau) / tau, 0.0)
    return n * rate.mean(axis=1)


def fit_flash_crowd(t: np.ndarray, y: np.ndarray, source: str = "the arrivals"
                    ) -> FlashCrowdFit:
    """Fit the flash crowd to counts ``y`` in the seconds starting at ``t``."""
    if len(t) < MIN_SECONDS or y.sum() < MIN_ARRIVALS:
        raise CalibrationError(
            f"Not enough data in {source} to fit a flash crowd: {len(t)} seconds and "
            f"{int(y.sum())} arrivals; at least {MIN_SECONDS} seconds and {MIN_ARRIVALS} "
            "arrivals are needed.")
    fits = [_fit_from(start, t, y) for start in _starts(t, y)]
    best = _fit_from(min(fits, key=lambda r: r.fun).x, t, y, polish=True)
    mu = np.maximum(expected(best.x, t), 1e-12)
    dev = 2.0 * float(np.sum(special.xlogy(y, y / mu) - (y - mu)))
    dof = len(t) - len(KEYS)
    gap = float(np.max(np.abs(np.cumsum(y) - np.cumsum(mu))) / y.sum())
    fit = FlashCrowdFit(dict(zip(KEYS, map(float, best.x), strict=True)), dev, dof, gap)
    if fit.dispersion > MAX_DISPERSION:
        raise CalibrationError(
            f"{source} do not follow a flash crowd: the best fit leaves a Poisson deviance "
            f"of {fit.dispersion:.1f} per degree of freedom (at most {MAX_DISPERSION} "
            "is accepted; about 1 for a good fit). Fit another kind of curve, or check "
            "that the counts are first attempts per second.")
    return fit


def _starts(t: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Starting points read off the counts: the surge's onset and peak."""
    smooth = np.convolve(y, np.ones(5) / 5, mode="same")
    base = float(np.median(smooth[: max(5, len(y) // 10)]))
    peak_i = int(np.argmax(smooth))
    rise = np.nonzero(smooth[: peak_i + 1] > base + 0.1 * (smooth[peak_i] - base))[0]
    t0 = float(t[rise[0]]) if len(rise) else float(t[0])
    total = float(y.sum())
    early = float(y[t < t0].sum()) / total
    w_early = max(1.0, t0 - float(t[np.nonzero(y)[0][0]]))
    to_peak = max(1.0, float(t[peak_i]) - t0)
    tau = max(5.0, (float(t[-1]) - t0) / 2)
    out = []
    for w_push in (to_peak, 2 * to_peak):
        for median in (to_peak / 2, to_peak):
            out.append(np.array([total, t0, min(early, 0.5), w_early, w_push, median, 1.0,
                                 0.2, tau]))
    return out


def _fit_from(start: np.ndarray, t: np.ndarray, y: np.ndarray, polish: bool = False
              ) -> optimize.OptimizeResult:
    """Quasi-Newton from ``start``; with ``polish``, then Nelder-Mead (the likelihood has
    kinks where the early window and the push begin, which stall gradient steps)."""
    span = float(t[-1] - t[0]) + 1
    bounds = [(0.5 * y.sum(), 20 * y.sum()), (float(t[0]), float(t[-1])), (0.0, 0.9),
              (1.0, span), (1.0, span), (0.1, span), (0.05, 3.0), (0.0, 0.9), (1.0, 20 * span)]
    start = np.array([min(max(v, lo), hi) for v, (lo, hi) in zip(start, bounds, strict=True)])
    start[3] = min(start[3], start[1])  # the early window starts at t >= 0
    scale = np.maximum(np.abs(start), 1e-3)

    def nll(z: np.ndarray) -> float:
        theta = z * scale
        if theta[2] + theta[7] > 0.99 or theta[3] > theta[1]:
            return 1e18  # shares beyond 1, or early arrivals before t = 0
        mu = np.maximum(expected(theta, t), 1e-12)
        return float(np.sum(mu - y * np.log(mu)))

    zb = [(lo / s, hi / s) for (lo, hi), s in zip(bounds, scale, strict=True)]
    res = optimize.minimize(nll, start / scale, method="L-BFGS-B", bounds=zb,
                            options={"maxfun": 600})
    if polish:
        res = optimize.minimize(nll, res.x, method="Nelder-Mead", bounds=zb,
                                options={"maxiter": 3000, "xatol": 1e-5, "fatol": 1e-6})
    res.x = res.x * scale
    return res


def chi2_pvalue(fit: FlashCrowdFit) -> float:
    """The p-value of the deviance as a chi-square with ``dof`` degrees of freedom."""
    return float(stats.chi2.sf(fit.deviance, max(1, fit.dof))) if math.isfinite(
        fit.deviance) else math.nan
