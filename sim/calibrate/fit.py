"""Service-time fits: which of the simulator's distributions, with what mean and cv.

The simulator parametrizes a service time by its distribution, mean and coefficient of
variation (``architecture.stations.<tier>.service``). So each family is matched to the
sample's mean and cv (method of moments) rather than fitted by maximum likelihood: the
preset then serves requests at exactly the measured mean, which is what sets a tier's
capacity. Each matched family is a ``scipy.stats`` distribution, and its goodness of fit
is the Kolmogorov-Smirnov distance ``D`` to the sample (with the test's p-value, which at
thousands of samples rejects any distribution that is not exactly right, so the
distance is what ranks the families). The family with the smallest distance is kept,
except that the exponential (one parameter; a gamma with cv 1 is the same curve) is
kept whenever its own test does not reject it at 5%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .errors import CalibrationError

FAMILIES = ("lognormal", "gamma", "exponential", "normal", "deterministic")
MIN_SAMPLES = 200
DETERMINISTIC_CV = 0.02  # below this spread a tier's service time is taken as constant
POOR_FIT_D = 0.1  # a KS distance above this is reported as a poor fit
SIMPLER_P = 0.05  # the exponential is kept when its KS test's p-value is at least this


@dataclass
class ServiceFit:
    """A tier's fitted service time: ``dist``, ``mean_s``, ``cv``, and every family's
    ``(D, p)``."""

    dist: str
    mean_s: float
    cv: float
    n: int
    ks: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def poor(self) -> bool:
        return self.dist != "deterministic" and self.ks[self.dist][0] > POOR_FIT_D

    def config(self) -> dict[str, object]:
        """The simulator's ``service`` block."""
        return {"dist": self.dist, "mean_s": round(self.mean_s, 6), "cv": round(self.cv, 4)}


def matched(family: str, mean: float, cv: float) -> stats.rv_continuous | None:
    """``family`` with this mean and cv, as a frozen ``scipy.stats`` distribution."""
    if family == "lognormal" and cv > 0:
        s = math.sqrt(math.log1p(cv**2))
        return stats.lognorm(s=s, scale=mean / math.sqrt(1 + cv**2))
    if family == "gamma" and cv > 0:
        return stats.gamma(a=1 / cv**2, scale=mean * cv**2)
    if family == "exponential":
        return stats.expon(scale=mean)
    if family == "normal":
        return stats.norm(loc=mean, scale=mean * cv)
    return None


def fit_service(x: np.ndarray, what: str = "service times") -> ServiceFit:
    """Fit the service times ``x`` (seconds); ``what`` names them in errors."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < MIN_SAMPLES:
        raise CalibrationError(
            f"Not enough data to fit {what}: {len(x)} samples, at least {MIN_SAMPLES} "
            "are needed. Run the load test longer or at a higher (still moderate) rate.")
    if (x <= 0).any():
        raise CalibrationError(
            f"Bad data for {what}: {int((x <= 0).sum())} of {len(x)} service times are "
            "zero or negative; a service time must be positive.")
    mean, cv = float(x.mean()), float(x.std(ddof=1) / x.mean())
    if cv < DETERMINISTIC_CV:
        return ServiceFit("deterministic", mean, 0.0, len(x), {})
    ks: dict[str, tuple[float, float]] = {}
    for family in FAMILIES:
        dist = matched(family, mean, cv)
        if dist is not None:
            res = stats.kstest(x, dist.cdf)
            ks[family] = (float(res.statistic), float(res.pvalue))
    best = min(ks, key=lambda f: ks[f][0])
    if ks["exponential"][1] >= SIMPLER_P:
        best = "exponential"  # one parameter, and not rejected: the simpler model
    return ServiceFit(best, mean, cv, len(x), ks)
