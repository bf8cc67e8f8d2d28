"""The samples of a risk study: where in the space of beliefs each job runs, on which seed.

A design is a set of points of the unit cube, one coordinate per uncertain input, turned
into input values through each input's inverse CDF (``risk_inputs.Distribution``):

- ``lhs`` (the default): a Latin hypercube (``scipy.stats.qmc.LatinHypercube``), each
  input's range cut into ``samples`` equal-probability strata, each stratum used once;
- ``sobol``: a scrambled Sobol' sequence (``scipy.stats.qmc.Sobol``), best with a
  power-of-two number of samples;
- ``saltelli``: Saltelli's scheme over a Sobol' sequence (SALib), ``N`` base points each
  followed by one point per input, ``N·(d+2)`` samples in all, ``N`` the largest power
  of two that fits in ``samples``. Only this design gives Sobol' indices
  (``risk_sensitivity``); the others give a rank-based measure.

Everything is drawn from the study's ``seed``: the same seed gives the same points and
the same per-sample seeds (``replication_seed(seed, j)`` for sample ``j``), so a study
run again, or resumed, runs the same jobs.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import qmc

from .replications import replication_seed
from .risk_inputs import Distribution

SAMPLERS = ("lhs", "sobol", "saltelli")


@dataclass(frozen=True)
class Design:
    """The samples of a study: their unit-cube points, input values and seeds."""

    sampler: str
    keys: list[str]
    unit: np.ndarray               # (samples, inputs), in [0, 1)
    values: list[dict[str, Any]]   # per sample: key -> value
    seeds: list[int]
    base: int | None = None        # saltelli: the number of base points N

    @property
    def size(self) -> int:
        return len(self.values)


def saltelli_base(samples: int, d: int) -> int:
    """The largest power of two ``N`` with ``N·(d+2) <= samples`` (at least 1)."""
    n = max(1, samples // (d + 2))
    return 1 << (n.bit_length() - 1)


def unit_points(sampler: str, d: int, samples: int, seed: int) -> tuple[np.ndarray, int | None]:
    """``samples`` points of the unit cube of dimension ``d`` (fewer for ``saltelli``),
    and the number of base points of a Saltelli design (None for the others)."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5A17]))
    if sampler == "lhs":
        return qmc.LatinHypercube(d=d, seed=rng).random(samples), None
    if sampler == "sobol":
        with warnings.catch_warnings():  # "balance properties": n not a power of two
            warnings.simplefilter("ignore", UserWarning)
            return qmc.Sobol(d=d, scramble=True, seed=rng).random(samples), None
    from SALib.sample import sobol as saltelli

    base = saltelli_base(samples, d)
    problem = {"num_vars": d, "names": [f"x{i}" for i in range(d)], "bounds": [[0, 1]] * d}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pts = saltelli.sample(problem, base, calc_second_order=False, scramble=True,
                              seed=int(rng.integers(2**31)))
    return np.asarray(pts, dtype=float), base


def make_design(inputs: list[Distribution], sampler: str, samples: int, seed: int) -> Design:
    """The study's samples: points, values of every input, and each sample's seed."""
    unit, base = unit_points(sampler, len(inputs), samples, seed)
    columns = [d.value(unit[:, i]) for i, d in enumerate(inputs)]
    values = [{d.key: columns[i][j] for i, d in enumerate(inputs)}
              for j in range(unit.shape[0])]
    seeds = [replication_seed(seed, j) for j in range(unit.shape[0])]
    return Design(sampler, [d.key for d in inputs], unit, values, seeds, base)


def batches(n: int, size: int) -> list[range]:
    """Samples ``0..n-1`` cut into consecutive batches of ``size`` (the last shorter)."""
    size = max(1, size)
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def default_batch(n: int, workers: int) -> int:
    """Samples per job when none is asked for: about four jobs per worker, so a slow
    batch does not hold the others up, and at most 25 samples per job."""
    return max(1, min(25, math.ceil(n / max(1, 4 * workers))))


__all__ = ["SAMPLERS", "Design", "batches", "default_batch", "make_design",
           "saltelli_base", "unit_points"]
