"""Declarative metrics: named reporters sampled once per metrics tick.

A reporter is a function of no arguments that returns a number, and a kind:

- ``count``: a cumulative count (requests served so far); the series holds the
  increase during each tick.
- ``area``: a cumulative time integral of a level (queue length × seconds); the series
  holds the time-weighted mean level over each tick, so a queue that filled and drained
  between two ticks still shows.
- ``level``: the value at the end of the tick (instances, listeners).

Components keep their own cumulative counters and integrals in the hot path; the
recorder only reads them at tick boundaries, which is why metrics cost nothing per
event.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import simpy

KINDS = ("count", "area", "level")


class TickRecorder:
    """Samples named reporters every ``tick_s`` of simulated time."""

    def __init__(self, env: simpy.Environment, tick_s: float, horizon_s: float) -> None:
        if not tick_s > 0:
            raise ValueError(f"tick_s must be positive, got {tick_s}")
        self.env = env
        self.tick_s = float(tick_s)
        self.horizon_s = float(horizon_s)
        self.names: list[str] = []
        self.kinds: list[str] = []
        self.funcs: list[Callable[[], float]] = []
        self.before_sample: list[Callable[[float], None]] = []
        self.times: list[float] = []
        self.rows: list[list[float]] = []
        self.progress: Callable[[float, float], None] | None = None

    def add(self, name: str, kind: str, func: Callable[[], float]) -> None:
        if kind not in KINDS:
            raise ValueError(f"reporter kind must be one of {KINDS}, got {kind!r}")
        if name in self.names:
            raise ValueError(f"reporter {name!r} added twice")
        self.names.append(name)
        self.kinds.append(kind)
        self.funcs.append(func)

    def sample(self) -> None:
        now = self.env.now
        for hook in self.before_sample:
            hook(now)
        self.times.append(now)
        self.rows.append([f() for f in self.funcs])

    def process(self):
        """The SimPy process that samples at 0, tick, 2·tick, ... up to the horizon."""
        self.sample()
        n = max(1, math.ceil(self.horizon_s / self.tick_s - 1e-9))
        wall0 = time.monotonic()
        for k in range(1, n + 1):
            t = min(k * self.tick_s, self.horizon_s)
            yield self.env.timeout(t - self.env.now)
            self.sample()
            if self.progress is not None:
                self.progress(t, time.monotonic() - wall0)

    def series(self) -> dict[str, np.ndarray]:
        """Columns indexed by tick end time ``t_s`` (the first sample is the baseline)."""
        t = np.asarray(self.times, dtype=float)
        raw = np.asarray(self.rows, dtype=float).reshape(len(self.times), len(self.names))
        out: dict[str, np.ndarray] = {"t_s": t[1:]}
        dt = np.diff(t)
        dt[dt <= 0] = np.nan
        for j, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            col = raw[:, j]
            if kind == "count":
                out[name] = np.diff(col)
            elif kind == "area":
                out[name] = np.nan_to_num(np.diff(col) / dt)
            else:
                out[name] = col[1:]
        return out
