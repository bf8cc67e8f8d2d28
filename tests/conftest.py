"""Shared by the validation tests: the textbook single-station scenario and the interval
estimates the analytic and cross-simulator comparisons are judged by."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from scipy import stats

from sim.cli import compose
from sim.config import SimConfig, to_config


@dataclass(frozen=True)
class Estimate:
    """A ratio of sums over independent replications, with a t interval (delta method)."""

    value: float
    se: float
    reps: int
    confidence: float

    @property
    def half_width(self) -> float:
        return stats.t.ppf(0.5 + self.confidence / 2, self.reps - 1) * self.se

    @property
    def rel_half_width(self) -> float:
        return self.half_width / abs(self.value)

    def contains(self, x: float) -> bool:
        return abs(x - self.value) <= self.half_width

    def __str__(self) -> str:
        return (f"{self.value:.5g} ± {self.half_width:.2g} ({100 * self.confidence:g}%, "
                f"{self.reps} reps, ±{100 * self.rel_half_width:.2f}%)")


def _ratio_estimate(num: Sequence[float], den: Sequence[float],
                    confidence: float = 0.999) -> Estimate:
    """Σnum / Σden over replications; the standard error is the delta method's
    sqrt(Σ(num_i − R·den_i)² / (k(k−1))) / mean(den), good when den varies little."""
    k = len(num)
    if k < 2 or len(den) != k:
        raise ValueError(f"need at least 2 replications of num and den, got {k}, {len(den)}")
    r = sum(num) / sum(den)
    resid = sum((x - r * y) ** 2 for x, y in zip(num, den, strict=True))
    se = math.sqrt(resid / (k * (k - 1))) / (sum(den) / k)
    return Estimate(r, se, k, confidence)


def _welch_df(a: Estimate, b: Estimate) -> float:
    """Welch–Satterthwaite degrees of freedom of the difference of two estimates."""
    va, vb = a.se**2, b.se**2
    return (va + vb) ** 2 / (va**2 / (a.reps - 1) + vb**2 / (b.reps - 1))


@pytest.fixture(scope="session")
def ratio_estimate() -> Callable[..., Estimate]:
    """``ratio_estimate(num, den, confidence=0.999)``: an ``Estimate`` of Σnum / Σden."""
    return _ratio_estimate


@pytest.fixture(scope="session")
def welch_df() -> Callable[[Estimate, Estimate], float]:
    """``welch_df(a, b)``: degrees of freedom for the difference of two estimates."""
    return _welch_df


@pytest.fixture(scope="session")
def single_station() -> Callable[..., SimConfig]:
    """``make(workers, mean_s, rate, horizon_s, warmup_s, *overrides, seed=1)``: one
    station of ``workers`` exponential servers fed by Poisson arrivals at ``rate`` per
    second, textbook (patient) clients, no report. Composed once per shape; seeds are
    swapped into the composed config."""
    composed: dict[tuple, SimConfig] = {}

    def make(workers: int, mean_s: float, rate: float, horizon_s: float, warmup_s: float,
             *overrides: str, seed: int = 1) -> SimConfig:
        key = (workers, mean_s, rate, horizon_s, warmup_s, overrides)
        if key not in composed:
            composed[key] = to_config(compose([
                "architecture=single_station", "arrivals=constant", "clients=patient",
                "run.report=false", "run.progress=false",
                f"architecture.stations.server.workers_per_instance={workers}",
                f"architecture.stations.server.service.mean_s={mean_s!r}",
                f"arrivals.rate={rate!r}", f"run.horizon_s={horizon_s!r}",
                f"run.warmup_s={warmup_s!r}", *overrides,
            ]))
        cfg = composed[key]
        return dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, seed=seed))

    return make
