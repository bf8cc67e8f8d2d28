"""Autoscalers: how many instances each station runs over time.

``hpa`` follows the Kubernetes Horizontal Pod Autoscaler algorithm as documented: every
``sync_period_s`` it measures the station's utilization over the last period (busy
workers ÷ worker capacity, time-weighted; for a station with listener slots, the larger
of that and slot occupancy), and computes ``desired = ceil(ready × metric / target)``,
doing nothing while ``|metric / target − 1| ≤ tolerance``. Instances it adds become ready
after the station's ``provisioning_delay_s``; instances not yet ready are not measured.
Scale-down follows the highest recommendation of the last 300 s (Kubernetes' default
stabilization window, seeded with the deployed count) and removes pending instances
first.
Bounds are the station's ``min_instances`` and ``max_instances``.

Left out here (they come with the full autoscaler set): behavior policies that limit the
rate of change, readiness delays separate from provisioning, AWS-style policies.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import simpy

from ..config import AutoscalerConfig, StationConfig
from ..engine import Pool, Station

SCALE_DOWN_WINDOW_S = 300.0


class HPA:
    """One HPA controller for one station."""

    def __init__(self, env: simpy.Environment, station: Station, pool: Pool | None,
                 cfg: AutoscalerConfig, st_cfg: StationConfig,
                 on_resize: Callable[[int], None]) -> None:
        self.env = env
        self.station = station
        self.pool = pool
        self.target = cfg.target_utilization
        self.tolerance = cfg.tolerance
        self.period_s = cfg.sync_period_s
        self.delay_s = st_cfg.provisioning_delay_s
        self.min = max(1, st_cfg.min_instances)
        self.max = st_cfg.max_instances if st_cfg.max_instances is not None else 10**9
        self.on_resize = on_resize
        self.pending = 0
        self.desired = station.instances
        self.launched = 0
        self.removed = 0
        self.metric = 0.0
        self._cancelled = 0  # launches cancelled while pending; their timers still fire
        # The window starts with the instances the station was deployed with, as the
        # Kubernetes controller seeds it with the current replica count: pre-provisioned
        # capacity is not scaled away before a full window has passed.
        self._recs: deque[tuple[float, int]] = deque([(env.now, station.instances)])
        self._busy = station.busy_area
        self._cap = station.capacity_area

    def process(self):
        st = self.station
        while True:
            yield self.env.timeout(self.period_s)
            now = self.env.now
            st._touch(now)
            busy, cap = st.busy_area - self._busy, st.capacity_area - self._cap
            self._busy, self._cap = st.busy_area, st.capacity_area
            metric = busy / cap if cap > 0 else 0.0
            if self.pool is not None and self.pool.capacity > 0:
                metric = max(metric, self.pool.in_use / self.pool.capacity)
            self.metric = metric
            ready = st.instances
            ratio = metric / self.target
            if abs(ratio - 1.0) <= self.tolerance:
                recommendation = ready + self.pending
            else:
                recommendation = math.ceil(ready * ratio - 1e-9)
            recommendation = min(self.max, max(self.min, recommendation))
            self._recs.append((now, recommendation))
            while self._recs and self._recs[0][0] < now - SCALE_DOWN_WINDOW_S:
                self._recs.popleft()
            current = ready + self.pending
            if recommendation > current:
                self.desired = recommendation
                for _ in range(recommendation - current):
                    self.pending += 1
                    self.launched += 1
                    ev = self.env.timeout(self.delay_s)
                    ev.callbacks.append(self._ready)
            else:
                stable = max(r for _, r in self._recs)
                self.desired = min(current, stable)
                drop = current - self.desired
                if drop > 0:
                    cut = min(drop, self.pending)
                    self.pending -= cut
                    self._cancelled += cut
                    if drop - cut > 0:
                        self.removed += drop - cut
                        self.on_resize(ready - (drop - cut))

    def _ready(self, _ev: simpy.Event) -> None:
        if self._cancelled:
            self._cancelled -= 1
            return
        self.pending -= 1
        self.on_resize(self.station.instances + 1)
