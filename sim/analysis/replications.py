"""Replications and confidence intervals: what a run's figures are worth.

One run of a stochastic model is one sample. Capacity planning needs the mean over
independent replications and how far it may be from the truth:

- **Replications** (``run.replications=N``): the scenario is run N times with seeds
  derived from ``run.seed`` by ``replication_seed`` (replication 0 is ``run.seed``
  itself). The derivation depends only on the base seed and the index, so two variants
  compared on the same ``run.seed`` see the same crowds replication by replication
  (common random numbers) and their difference has less variance than either figure.
  Each metric's mean comes with a Student t interval over the N values.
- **Batch means** (one long run): a steady-state series after warm-up is cut into
  ``n_batches`` contiguous batches; the batch averages are treated as nearly independent
  samples and given a Student t interval. It suits stationary scenarios (constant
  arrivals), not a flash crowd, whose figures are not stationary at all.

Warm-up: the engine already leaves requests that arrive before ``run.warmup_s`` out of
waits, latencies and utilization means, and batch means start after it; counts
(``legit.joined`` ...) cover the whole horizon. A launch scenario starts empty on
purpose (the empty system before the push is the real initial state), so its warm-up is
0; steady-state validations set one.

This module reads summaries and time series only, never engine internals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import series as cols
from ..summary import REPLICATED_METRICS, BatchMeans, Replications, station_metric
from ..summary import Interval as IntervalSummary


def replication_seed(seed: int, index: int) -> int:
    """The seed of replication ``index`` of a run seeded ``seed`` (index 0 is ``seed``).

    Derived with numpy's SeedSequence from (seed, index): deterministic, well spread, and
    independent of anything but those two numbers, so every variant of a comparison uses
    the same seeds (common random numbers).
    """
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint32)[0])


@dataclass(frozen=True)
class Interval:
    """A sample mean with its Student t confidence interval."""

    mean: float
    half_width: float
    n: int
    confidence: float

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def as_dict(self) -> IntervalSummary:
        hw = None if math.isnan(self.half_width) else self.half_width
        return {"mean": self.mean, "half_width": hw, "n": self.n,
                "low": None if hw is None else self.low,
                "high": None if hw is None else self.high}


def t_interval(values: Iterable[float], confidence: float = 0.95) -> Interval:
    """Mean and Student t interval of independent samples (half-width nan for n < 2)."""
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        raise ValueError("t_interval needs at least one value")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    mean = float(x.mean())
    if x.size < 2:
        return Interval(mean, math.nan, 1, confidence)
    se = float(x.std(ddof=1)) / math.sqrt(x.size)
    from scipy import stats  # slow to load, and only needed here

    t = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1))
    return Interval(mean, t * se, int(x.size), confidence)


def batch_means(t_s: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray,
                warmup_s: float = 0.0, n_batches: int = 10,
                confidence: float = 0.95) -> Interval:
    """Batch-means interval of the time average of a tick series after ``warmup_s``.

    ``values[k]`` is the series' average over the tick ending at ``t_s[k]``; ticks are
    weighted by their length. The ticks after warm-up are cut into ``n_batches``
    contiguous batches of (nearly) equal length.
    """
    if n_batches < 2:
        raise ValueError(f"n_batches must be at least 2, got {n_batches}")
    t = np.asarray(t_s, dtype=float)
    v = np.asarray(values, dtype=float)
    if t.shape != v.shape:
        raise ValueError("t_s and values must have the same length")
    dt = np.diff(np.concatenate([[0.0], t]))
    keep = (t > warmup_s) & ~np.isnan(v)
    t, v, dt = t[keep], v[keep], dt[keep]
    if t.size < n_batches:
        raise ValueError(f"{t.size} ticks after warm-up, fewer than n_batches={n_batches}")
    groups = np.array_split(np.arange(t.size), n_batches)
    means = [float(np.average(v[g], weights=dt[g])) for g in groups]
    return t_interval(means, confidence)


def _leaves(summary: Mapping[str, Any], pattern: str) -> dict[str, Any]:
    """The values at a dotted ``pattern`` (``*`` matches every key at that level)."""
    found: dict[str, Any] = {"": summary}
    for part in pattern.split("."):
        nxt: dict[str, Any] = {}
        for prefix, node in found.items():
            if not isinstance(node, Mapping):
                continue
            keys = list(node) if part == "*" else [part] if part in node else []
            for k in keys:
                nxt[f"{prefix}.{k}" if prefix else k] = node[k]
        found = nxt
    return found


def replication_block(summaries: Sequence[Mapping[str, Any]], seeds: Sequence[int],
                      confidence: float = 0.95,
                      metrics: Sequence[str] = REPLICATED_METRICS) -> Replications:
    """The ``replications`` block of a summary: per metric, mean and t interval over runs.

    A metric that is missing (None) in some replications is averaged over the others,
    and ``n`` says over how many; ``values`` keeps every replication's figure.
    """
    out: dict[str, Any] = {}
    for pattern in metrics:
        names: dict[str, None] = {}
        per_run = [_leaves(s, pattern) for s in summaries]
        for found in per_run:
            names.update(dict.fromkeys(found))
        for name in names:
            raw = [found.get(name) for found in per_run]
            vals = [float(x) for x in raw if isinstance(x, int | float)]
            if not vals:
                continue
            iv = t_interval(vals, confidence)
            out[name] = {**iv.as_dict(),
                         "values": [None if x is None else float(x) for x in raw]}
    return {"n": len(summaries), "confidence": confidence, "seeds": list(seeds),
            "top_level": "replication 0 (seed run.seed)", "metrics": out}


def batch_means_block(timeseries: Mapping[str, np.ndarray], stations: Iterable[str],
                      warmup_s: float, confidence: float = 0.95,
                      n_batches: int = 10) -> BatchMeans | None:
    """Batch-means intervals of each station's utilization and queue after warm-up.

    For one long run (``run.replications=1``); None when the run has fewer than
    ``2 × n_batches`` ticks after warm-up.
    """
    t = np.asarray(timeseries[cols.TIME], dtype=float)
    if int((t > warmup_s).sum()) < 2 * n_batches:
        return None
    out: dict[str, Any] = {}
    for name in stations:
        busy = np.asarray(timeseries[cols.station(name, cols.BUSY)], dtype=float)
        cap = np.asarray(timeseries[cols.station(name, cols.CAPACITY)], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            util = np.where(cap > 0, busy / cap, np.nan)
        # A station without capacity (down for the whole run) has no utilization to judge.
        usable = int(((t > warmup_s) & ~np.isnan(util)).sum()) >= n_batches
        out[station_metric(name, "utilization")] = batch_means(
            t, util, warmup_s, n_batches, confidence).as_dict() if usable else None
        out[station_metric(name, "queue")] = batch_means(
            t, timeseries[cols.station(name, cols.QUEUE)], warmup_s, n_batches,
            confidence).as_dict()
    return {"n_batches": n_batches, "confidence": confidence, "warmup_s": warmup_s,
            "metrics": out}
