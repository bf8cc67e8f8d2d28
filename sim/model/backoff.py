"""Retry backoff: one policy, two views.

A retry policy is written once, as the range of the delay before the next attempt
(``bounds``): uniform on ``[lo, hi]``, anything above ``cap`` sleeping ``cap``, a point
where ``hi <= lo``. Exact mode draws one delay per failed request from it (``sample``);
cohort mode spreads a failed cohort over the ticks the delay can fall in (``spread``:
the probability and mid delay of each tick). Both views read the same range, so the two
modes cannot drift apart.

Formulas (AWS Architecture Blog, "Exponential Backoff and Jitter", 2015), with ``a`` the
number of the attempt that just failed (1 for the first) and ``t = min(cap, base·2^(a-1))``:
fixed ``base``; exponential ``t``; full jitter ``U(0, t)``; equal jitter
``t/2 + U(0, t/2)``; decorrelated ``min(cap, U(base, 3·previous sleep))`` (the previous
sleep is ``base`` before the first retry); immediate ``0`` (no backoff). Decorrelated
jitter is the only policy whose next delay depends on the previous one: cohort mode keeps
that per request class (see ``cohort_clients``), not per tick.
"""

from __future__ import annotations

import math

import numpy as np

from ..engine import Uniforms

INF = math.inf
JITTERED = frozenset({"full_jitter", "equal_jitter", "decorrelated_jitter"})


class Backoff:
    """Delay before the next attempt, per retry policy (see the module docstring)."""

    def __init__(self, policy: str, base_s: float, cap_s: float,
                 gen: np.random.Generator | None = None) -> None:
        self.policy = policy
        self.base_s = base_s
        self.cap_s = cap_s
        self.gen = gen
        self.jittered = policy in JITTERED
        self.decorrelated = policy == "decorrelated_jitter"
        self._uniform = Uniforms(gen) if gen is not None else None

    def bounds(self, attempt: int, previous_s: float = 0.0) -> tuple[float, float, float]:
        """The delay after attempt ``attempt`` failed (``previous_s``: the last sleep, 0
        for none): uniform on ``[lo, hi]``, capped at ``cap``."""
        p, base = self.policy, self.base_s
        if p == "fixed":
            return base, base, INF
        if p in ("immediate", "none"):  # "none": no retries are scheduled
            return 0.0, 0.0, INF
        if p == "decorrelated_jitter":
            prev = previous_s if previous_s > 0 else base
            return base, 3.0 * prev, self.cap_s
        t = min(self.cap_s, base * 2.0 ** min(attempt - 1, 60))
        if p == "full_jitter":
            return 0.0, t, INF
        if p == "equal_jitter":
            return t / 2, t, INF
        return t, t, INF  # exponential

    def sample(self, attempt: int, previous_s: float = 0.0) -> float:
        """One delay (exact mode): a point, or one uniform draw over the range."""
        lo, hi, cap = self.bounds(attempt, previous_s)
        if not self.jittered:
            return lo
        assert self._uniform is not None
        return min(cap, lo + self._uniform() * (hi - lo))

    delay = sample

    def longest(self, attempt: int, previous_s: float = 0.0) -> float:
        """The longest delay the range allows."""
        lo, hi, cap = self.bounds(attempt, previous_s)
        return min(max(lo, hi), cap)

    def spread(self, attempt: int, previous_s: float, phase: float, dt: float
               ) -> tuple[list[int], list[float], list[float]]:
        """The delay from ``phase`` (a time within tick 0 of length ``dt``) as ticks:
        the ticks it can fall in, their probabilities and mid delays (cohort mode)."""
        lo, hi, cap = self.bounds(attempt, previous_s)
        return spread_ticks(lo, hi, cap, phase, dt)


def spread_ticks(lo: float, hi: float, cap: float, now: float, dt: float
                 ) -> tuple[list[int], list[float], list[float]]:
    """A delay uniform on ``[lo, hi]`` capped at ``cap``, from ``now`` (within tick 0),
    over ticks of ``dt``: ticks, probabilities and mid delays."""
    a, z = now + lo, now + hi
    if z - a < 1e-12 or a >= now + cap:
        d = min(lo, cap)
        return [int((now + d) // dt)], [1.0], [d]
    k0, k1 = int(a // dt), int(min(z, now + cap) // dt)
    ticks, probs, delays = [], [], []
    for k in range(k0, k1 + 1):
        x0, x1 = max(a, k * dt), min(z, (k + 1) * dt, now + cap)
        if x1 > x0:
            ticks.append(k)
            probs.append((x1 - x0) / (z - a))
            delays.append((x0 + x1) / 2 - now)
    if z > now + cap:  # decorrelated: everything above the cap sleeps exactly cap
        k = int((now + cap) // dt)
        mass = (z - (now + cap)) / (z - a)
        if ticks and ticks[-1] == k:
            probs[-1] += mass
        else:
            ticks.append(k)
            probs.append(mass)
            delays.append(cap)
    s = sum(probs)
    return ticks, [q / s for q in probs], delays
