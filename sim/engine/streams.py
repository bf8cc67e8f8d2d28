"""Seeded random streams and service-time samplers.

A run owns exactly one ``numpy.random.SeedSequence``. Every component asks for a stream
by *name*; the stream's seed is derived from the run seed and a stable hash of the name,
so adding a component does not change the numbers any other component draws, and two
architectures compared on the same seed see the same arrivals (common random numbers).

Samplers draw in blocks and hand out plain floats: per-request draws from numpy one at a
time cost more than the rest of the event, and the hot loop only needs ``next()``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable

import numpy as np

DISTRIBUTIONS = ("exponential", "deterministic", "lognormal", "gamma", "normal")

_BLOCK = 4096


def _name_key(name: str) -> tuple[int, ...]:
    # crc32 is stable across processes (unlike hash()), which keeps runs reproducible.
    return (zlib.crc32(name.encode("utf-8")),)


def round_random(x: float, gen: np.random.Generator) -> int:
    """``x ≥ 0`` rounded down or up at random, up with probability its fraction: a whole
    number of requests that is ``x`` on average. The generator is drawn from only when
    ``x`` has a fraction, so whole shares cost no draw."""
    k = math.floor(x)
    if x > k and gen.random() < x - k:
        k += 1
    return k


def round_share(n: int, frac: float, gen: np.random.Generator) -> int:
    """The share ``frac`` of ``n`` requests, ``round_random(n × frac)``, at most ``n``."""
    return min(n, round_random(n * frac, gen))


class Streams:
    """One seed per run, one independent generator per named component."""

    def __init__(self, seed: int) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = seed
        self._made: dict[str, np.random.Generator] = {}

    def generator(self, name: str) -> np.random.Generator:
        """The generator for component ``name``; asking twice returns the same one."""
        gen = self._made.get(name)
        if gen is None:
            seq = np.random.SeedSequence(entropy=self.seed, spawn_key=_name_key(name))
            gen = np.random.Generator(np.random.PCG64(seq))
            self._made[name] = gen
        return gen


class Uniforms:
    """Uniform draws on [0, 1) from one generator, handed out one float at a time."""

    def __init__(self, gen: np.random.Generator) -> None:
        self.gen = gen
        self._buf: list[float] = []

    def __call__(self) -> float:
        buf = self._buf
        if not buf:
            buf.extend(self.gen.random(_BLOCK).tolist())
        return buf.pop()


def folded_normal_moments(mu: float, sigma: float) -> tuple[float, float]:
    """Mean and standard deviation of ``|X|`` for ``X ~ N(mu, sigma)``, ``sigma > 0``."""
    r = mu / sigma
    phi = math.exp(-r * r / 2) / math.sqrt(2 * math.pi)
    mean = sigma * 2 * phi + mu * math.erf(r / math.sqrt(2))
    return mean, math.sqrt(max(0.0, mu * mu + sigma * sigma - mean * mean))


class Sampler:
    """Positive random durations with a given mean and coefficient of variation.

    ``dist`` is one of exponential (cv is 1 by definition), deterministic (cv is 0),
    lognormal or gamma (both take ``cv``), or normal: the folded normal
    ``|N(mean_s, cv·mean_s)|``, a network delay as the AWS backoff simulator draws it
    (its mean exceeds ``mean_s`` by less than 0.1% while cv <= 0.3, but by 75% at cv 2).
    Calling the sampler returns one float. ``mean`` and ``sd`` are the moments of what it
    draws (for the folded normal, not ``mean_s``), which is what cohort mode serves by.
    """

    def __init__(self, gen: np.random.Generator, dist: str, mean_s: float, cv: float = 1.0):
        if dist not in DISTRIBUTIONS:
            raise ValueError(f"dist must be one of {', '.join(DISTRIBUTIONS)}, got {dist!r}")
        if not (mean_s > 0 and math.isfinite(mean_s)):
            raise ValueError(f"mean_s must be a positive number, got {mean_s!r}")
        if dist in ("lognormal", "gamma") and not (cv > 0 and math.isfinite(cv)):
            raise ValueError(f"cv must be positive for {dist}, got {cv!r}")
        if dist == "normal" and not (cv >= 0 and math.isfinite(cv)):
            raise ValueError(f"cv must be >= 0 for normal, got {cv!r}")
        self.gen = gen
        self.dist = dist
        self.mean_s = float(mean_s)
        self.cv = 1.0 if dist == "exponential" else (0.0 if dist == "deterministic" else cv)
        self._buf: list[float] = []
        self._fill: Callable[[], list[float]] = self._filler()
        self.mean, self.sd = self.mean_s, self.cv * self.mean_s
        if dist == "normal" and self.cv > 0:
            self.mean, self.sd = folded_normal_moments(self.mean_s, self.cv * self.mean_s)

    def _filler(self) -> Callable[[], list[float]]:
        gen, mean = self.gen, self.mean_s
        if self.dist == "exponential":
            return lambda: (gen.standard_exponential(_BLOCK) * mean).tolist()
        if self.dist == "deterministic":
            return lambda: [mean] * _BLOCK
        if self.dist == "lognormal":
            sigma2 = math.log1p(self.cv**2)
            mu, sigma = math.log(mean) - sigma2 / 2, math.sqrt(sigma2)
            return lambda: np.exp(mu + sigma * gen.standard_normal(_BLOCK)).tolist()
        if self.dist == "normal":
            sd = self.cv * mean
            return lambda: np.abs(mean + sd * gen.standard_normal(_BLOCK)).tolist()
        shape = 1.0 / self.cv**2
        scale = mean / shape
        return lambda: (gen.standard_gamma(shape, _BLOCK) * scale).tolist()

    def __call__(self) -> float:
        buf = self._buf
        if not buf:
            buf.extend(self._fill())
        return buf.pop()
