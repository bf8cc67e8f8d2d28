"""What the load generator's clients do, without Locust: the plan, arrivals, backoff.

A *plan* (JSON) says what to send: ``arrivals`` (``kind: constant`` with ``rate``, or
``kind: flash_crowd`` with the simulator's keys), ``duration_s``, ``seed``, ``clients``
(the simulator's client keys: ``timeout_s``, ``retry`` with ``policy``, ``base_s``,
``cap_s``, ``max_attempts``; ``impatient_share``, ``impatient_retry_s``, ``patience_s``,
``session`` with ``mean_s`` and ``cv``) and ``events``, the file the clients' outcomes go
to. ``arrival_times`` draws the first attempts as a non-homogeneous Poisson process, as
the simulator does; ``Backoff`` is the simulator's retry formulas; ``flash_crowd_rate``
its flash-crowd curve.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_CLIENTS: dict[str, Any] = {
    "timeout_s": 2.0,
    "retry": {"policy": "full_jitter", "base_s": 0.5, "cap_s": 8.0, "max_attempts": 5},
    "impatient_share": 0.1, "impatient_retry_s": 1.0, "patience_s": 30.0,
    "session": {"mean_s": 60.0, "cv": 1.0},
}
DEFAULT_PLAN: dict[str, Any] = {
    "arrivals": {"kind": "constant", "rate": 50.0}, "duration_s": 60.0, "seed": 1,
    "clients": DEFAULT_CLIENTS, "events": "events.csv",
}


def load_plan(path: str | None) -> dict[str, Any]:
    """The plan in ``path`` (JSON) over the defaults; the defaults without a path."""
    plan = json.loads(json.dumps(DEFAULT_PLAN))
    if path:
        given = json.loads(Path(path).read_text())
        clients = {**plan["clients"], **given.pop("clients", {})}
        plan.update(given)
        plan["clients"] = clients
    return plan


def flash_crowd_rate(a: dict[str, Any]) -> Callable[[float], float]:
    """The simulator's flash crowd (sim/model/arrivals.py) as a function of t."""
    n, t0 = float(a["audience"]), float(a["t0_s"])
    early, tail = float(a.get("early_share", 0.1)), float(a.get("tail_share", 0.2))
    push = 1.0 - early - tail
    w_early, w_push = float(a.get("early_window_s", 300)), float(a.get("push_window_s", 60))
    tau, sigma = float(a.get("tail_tau_s", 600)), float(a.get("reaction_sigma", 1.0))
    median = float(a.get("reaction_median_s", 30))

    def cdf(x: float) -> float:
        return 0.0 if x <= 0 else 0.5 * math.erfc(-math.log(x / median) / (sigma * math.sqrt(2)))

    def rate(t: float) -> float:
        out = early / w_early if early > 0 and t0 - w_early <= t < t0 else 0.0
        x = t - t0
        out += push * (cdf(max(x, 0.0)) - cdf(max(x - w_push, 0.0))) / w_push
        out += tail * math.exp(-x / tau) / tau if x >= 0 else 0.0
        return n * out

    return rate


def constant_rate(value: float) -> Callable[[float], float]:
    def rate(t: float) -> float:
        return value

    return rate


def arrival_times(arrivals: dict[str, Any], duration_s: float, seed: int,
                  step_s: float = 0.05) -> list[float]:
    """First attempts in [0, duration_s): Poisson counts per ``step_s`` slice of the
    rate (at the slice's middle), each placed uniformly in its slice."""
    kind = arrivals.get("kind", "constant")
    if kind == "constant":
        rate = constant_rate(float(arrivals["rate"]))
    elif kind == "flash_crowd":
        rate = flash_crowd_rate(arrivals)
    else:
        raise ValueError(f"arrivals.kind = {kind!r}; allowed: constant, flash_crowd")
    rng = random.Random(seed)
    np_rng = _poisson(rng)
    out: list[float] = []
    for i in range(math.ceil(duration_s / step_s)):
        lo = i * step_s
        k = np_rng(rate(lo + step_s / 2) * step_s)
        out += [lo + rng.random() * step_s for _ in range(k)]
    return sorted(t for t in out if t < duration_s)


def _poisson(rng: random.Random) -> Callable[[float], int]:
    def draw(mu: float) -> int:
        if mu <= 0:
            return 0
        if mu > 50:  # normal approximation, well inside a 50 ms slice's counts
            return max(0, round(rng.gauss(mu, math.sqrt(mu))))
        limit, k, p = math.exp(-mu), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return draw


@dataclass
class Backoff:
    """Delay before the next attempt after attempt ``a`` failed (sim/model/backoff.py)."""

    policy: str
    base_s: float
    cap_s: float

    def delay(self, a: int, previous_s: float, rng: random.Random) -> float:
        p, base = self.policy, self.base_s
        if p == "fixed":
            return base
        if p in ("immediate", "none"):
            return 0.0
        if p == "decorrelated_jitter":
            prev = previous_s if previous_s > 0 else base
            return min(self.cap_s, base + rng.random() * (3.0 * prev - base))
        t = min(self.cap_s, base * 2.0 ** min(a - 1, 60))
        if p == "full_jitter":
            return rng.random() * t
        if p == "equal_jitter":
            return t / 2 + rng.random() * t / 2
        return t


def session_sampler(session: dict[str, Any], rng: random.Random) -> Callable[[], float]:
    """Lognormal session lengths with the plan's mean and cv."""
    m, cv = float(session.get("mean_s", 60.0)), float(session.get("cv", 1.0))
    sigma = math.sqrt(math.log1p(cv**2))
    mu = math.log(m) - sigma**2 / 2
    return lambda: rng.lognormvariate(mu, sigma)
