"""Autoscalers: how many instances each station runs over time.

One ``Autoscaler`` per station: a policy (``kind``) that decides a desired count every
``sync_period_s`` from the station's metrics, scheduled actions and predictive scaling
that set its bounds, and a ``Fleet`` (``fleet.py``) that carries instances through their
lifecycle (pending, warming, ready, draining) within the quotas and counts their cost.

Metrics, measured over the last period: ``cpu`` (busy workers ÷ worker capacity,
time-weighted), ``queue`` (mean queue length per instance, target
``target_queue_per_instance``), ``listeners`` (listeners per fanout server, target
``target_listeners_per_instance``, by default ``target_utilization`` × slots). Without a
``metrics`` list: ``cpu``, plus ``listeners`` on stations with listener slots.

``hpa``, the Kubernetes Horizontal Pod Autoscaler as documented and as its controller
computes it (pkg/controller/podautoscaler):

- per metric, ``desired = ceil(ready × metric / target)``, nothing while
  ``|metric / target − 1| ≤ tolerance`` (the current count is kept); several metrics:
  the highest desired count. Pending pods (still provisioning) are ignored; for ``cpu``,
  warming pods are *unready* (CPU initialization period): on a scale-up they count at 0%
  of target, and the action is skipped if that reverses its direction. Pods with missing
  metrics (``plain_metric_replicas``'s ``missing``) count at 100% on a scale-down and 0%
  on a scale-up; the simulator always has every ready pod's metric. ``queue`` is an
  external metric with an average value target: ``ceil(total / target)`` against the
  pods that exist.
- ``behavior``: the recommendation is stabilized (scale-up window 0 s: lowest of the
  window; scale-down 300 s: highest of the window, seeded with the initial count as the
  controller's recordInitialRecommendation does), then limited by the policies:
  relative to the count at the start of each policy's period (current minus changes made
  within the period), ``Pods`` adds or removes ``value`` pods, ``Percent`` ``value`` %
  (rounded up on scale-up, down on scale-down); ``selectPolicy`` Max takes the largest
  change, Min the smallest, Disabled none. Defaults: up Percent 100 and Pods 4 per 15 s,
  Max; down Percent 100 per 15 s, window 300 s. Windows and periods include a sample
  strictly after ``now − window`` (the controller's ``After(cutoff)``).
- min/max replicas: the station's ``min_instances`` and ``max_instances`` (or the
  autoscaler's overrides, scheduled actions and the predictive floor).

AWS EC2 Auto Scaling policies (``sync_period_s`` is the CloudWatch period, 60 s in the
presets); warming instances count towards the current capacity (no second scale-out for
capacity already coming) and no policy scales in while instances are pending or warming:

- ``target_tracking``: scale out when the metric was above target for ``datapoints_out``
  periods in a row (3), to ``ceil(serving × metric / target)``; scale in when it was
  below ``target × (1 − tolerance)`` for ``datapoints_in`` periods (15): slower in than
  out, as AWS documents.
- ``step``: the metric (utilization, or the other metrics as the equivalent
  utilization) minus ``target_utilization`` picks the step ``[lower, upper)`` whose
  ``adjustment`` applies (``ChangeInCapacity`` or ``PercentChangeInCapacity``, rounded as
  AWS does, at least ``min_adjustment_magnitude``), relative to the in-service count.
- ``simple``: above ``target_utilization`` add ``scale_out_adjustment``; below
  ``scale_in_threshold`` add ``scale_in_adjustment``; then nothing until the launched
  instances are in service and ``cooldown_s`` has passed since the action.
- ``schedule``: actions at ``at_s`` from the event start set min, max and desired.
- ``predictive``: every ``period_s`` the forecast request rate at this station
  (announced arrival curve × visits per arrival × (1 + ``forecast_error``)), for the
  period starting ``lead_s`` ahead, sets a floor of
  ``ceil(rate × mean service time ÷ (workers × target_utilization))`` instances.

An autoscaler reports itself: ``register_series`` adds its station's fleet columns
(desired, ready, warming, pending, the metrics), ``summary`` its block under the
station in the summary, ``cost`` the station's instance time (warm pool included).

Left out: the HPA's readiness delay separate from provisioning (warming is the CPU
initialization period), metric scrape lag, AWS alarms' missing-data states, forecasts
of listener slots.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from .. import series as cols
from ..config import AutoscalerConfig, ScalingRulesConfig, StationConfig
from ..engine import Pool, Sampler, Station, TickRecorder
from ..summary import AutoscalerSummary, CostStation
from .fleet import Fleet

EPS = 1e-9


def _ceil(x: float) -> int:
    return math.ceil(x - EPS)


def plain_metric_replicas(current: int, ready: int, unready: int, missing: int,
                          usage_ratio: float, tolerance: float,
                          missing_ratio: float = 1.0) -> int:
    """The HPA's replica count for one metric (controller's calcPlainMetricReplicas).

    ``usage_ratio`` is the mean metric of the ready pods ÷ target; ``missing_ratio`` is
    what a pod without a metric counts as on a scale-down (100% of its request ÷ target).
    """
    scale_up_with_unready = unready > 0 and usage_ratio > 1.0
    if not scale_up_with_unready and missing == 0:
        if abs(1.0 - usage_ratio) <= tolerance:
            return current
        return _ceil(usage_ratio * ready)
    usage = usage_ratio * ready
    n = ready
    if missing > 0 and usage_ratio != 1.0:
        n += missing
        if usage_ratio < 1.0:
            usage += missing * missing_ratio
    if scale_up_with_unready:
        n += unready
    if n == 0:
        return current
    new_ratio = usage / n
    if abs(1.0 - new_ratio) <= tolerance or (usage_ratio < 1.0 < new_ratio) \
            or (usage_ratio > 1.0 > new_ratio):
        return current
    new = _ceil(new_ratio * n)
    if (new_ratio < 1.0 and new > current) or (new_ratio > 1.0 and new < current):
        return current
    return new


def _changed_within(events: deque[tuple[float, int]], now: float, period_s: float) -> int:
    return sum(n for t, n in events if t > now - period_s)


def _period_start(current: int, ups: deque[tuple[float, int]],
                  downs: deque[tuple[float, int]], now: float, period_s: float) -> int:
    """The replica count at the start of a policy period: undo its scale events."""
    return (current - _changed_within(ups, now, period_s)
            + _changed_within(downs, now, period_s))


def scale_up_limit(current: int, ups: deque[tuple[float, int]],
                   downs: deque[tuple[float, int]], rules: ScalingRulesConfig,
                   now: float) -> int:
    """The most replicas the scale-up policies allow now (calculateScaleUpLimit...)."""
    if rules.select_policy == "Disabled":
        return current
    pick = min if rules.select_policy == "Min" else max
    result: int | None = None
    for pol in rules.policies:
        start = _period_start(current, ups, downs, now, pol.period_s)
        if pol.type == "Pods":
            proposed = start + int(pol.value)
        else:
            proposed = math.ceil(start * (1 + pol.value / 100.0))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def scale_down_limit(current: int, ups: deque[tuple[float, int]],
                     downs: deque[tuple[float, int]], rules: ScalingRulesConfig,
                     now: float) -> int:
    """The fewest replicas the scale-down policies allow now."""
    if rules.select_policy == "Disabled":
        return current
    pick = max if rules.select_policy == "Min" else min
    result: int | None = None
    for pol in rules.policies:
        start = _period_start(current, ups, downs, now, pol.period_s)
        if pol.type == "Pods":
            proposed = start - int(pol.value)
        else:
            proposed = int(start * (1 - pol.value / 100.0))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def aws_adjustment(base: int, adjustment: float, kind: str, min_magnitude: int) -> int:
    """The new capacity of an AWS step or simple adjustment, rounded as AWS documents."""
    if kind == "ChangeInCapacity":
        return base + int(adjustment)
    delta = base * adjustment / 100.0
    if delta > 1:
        change = math.floor(delta)
    elif delta > 0:
        change = 1
    elif delta >= -1:
        change = -1
    else:
        change = math.ceil(delta)
    if abs(change) < min_magnitude:
        change = min_magnitude if change > 0 else -min_magnitude
    return base + change


class Autoscaler:
    """The autoscaler of one station: policy, schedule, forecast and fleet."""

    def __init__(self, env: simpy.Environment, name: str, station: Station,
                 pool: Pool | None, cfg: AutoscalerConfig, st_cfg: StationConfig,
                 resize: Callable[[int, int], None], gen: np.random.Generator,
                 event_start_s: float = 0.0,
                 forecast_rps: Callable[[float], float] | None = None) -> None:
        self.env = env
        self.name = name
        self.station = station
        self.pool = pool
        self.cfg = cfg
        self.kind = cfg.kind
        self.target = cfg.target_utilization
        self.tolerance = cfg.tolerance
        self.period_s = cfg.sync_period_s
        self.event_start_s = event_start_s
        self.forecast_rps = forecast_rps
        self.service_mean_s = st_cfg.service.mean_s
        delay = (cfg.provisioning_delay_s if cfg.provisioning_delay_s is not None
                 else st_cfg.provisioning_delay_s)
        if delay > 0:
            sampler = Sampler(gen, cfg.provisioning_dist, delay, cfg.provisioning_cv)
            provisioning: Callable[[], float] = sampler
        else:
            def provisioning() -> float:
                return 0.0
        lo = cfg.min_instances if cfg.min_instances is not None else st_cfg.min_instances
        hi = cfg.max_instances if cfg.max_instances is not None else st_cfg.max_instances
        self.fleet = Fleet(env, station, resize, min_instances=max(1, lo), max_instances=hi,
                           provisioning=provisioning, warmup_s=cfg.warmup_s,
                           warmup_speed=cfg.warmup_speed,
                           max_launches_per_min=cfg.max_launches_per_min,
                           pool_size=cfg.warm_pool.size, pool_delay_s=cfg.warm_pool.delay_s)
        metrics = cfg.metrics
        if metrics is None:
            metrics = ["cpu"] + (["listeners"] if pool is not None else [])
        self.metrics = [m for m in metrics if m != "listeners" or pool is not None]
        self.metric = 0.0  # the driving metric ÷ its target, at the last sync
        self.values: dict[str, float] = dict.fromkeys(self.metrics, 0.0)
        # HPA state: recommendations (seeded with the deployed count) and scale events.
        self._recs: deque[tuple[float, int]] = deque([(env.now, station.instances)])
        self._ups: deque[tuple[float, int]] = deque()
        self._downs: deque[tuple[float, int]] = deque()
        # AWS state: metric ratios of past periods, the last simple-scaling action.
        self._history: deque[float] = deque(maxlen=max(cfg.datapoints_out, cfg.datapoints_in))
        self._last_action_s = -math.inf
        self._busy = station.busy_area
        self._cap = station.capacity_area
        self._queue = station.queue_area
        self._t = env.now
        self._cap_units = float(station.instances)  # mean capacity of the last period

    # -- reporting ------------------------------------------------------------------------
    @property
    def desired(self) -> int:
        return self.fleet.desired

    @property
    def launched(self) -> int:
        return self.fleet.launched

    @property
    def removed(self) -> int:
        return self.fleet.removed

    def summary(self) -> AutoscalerSummary:
        f = self.fleet
        return {"kind": self.kind, "launched": f.launched, "removed": f.removed,
                "cancelled": f.cancelled, "from_warm_pool": f.from_pool,
                "throttled_launches": f.throttled, "metrics": list(self.metrics)}

    def register_series(self, rec: TickRecorder) -> None:
        """The fleet's columns of the time series, under the station's name."""
        fleet, name, values = self.fleet, self.name, self.values
        rec.add(cols.station(name, cols.DESIRED), "level", lambda: fleet.desired)
        rec.add(cols.station(name, cols.READY), "level", lambda: fleet.ready)
        rec.add(cols.station(name, cols.WARMING), "level", lambda: fleet.n_warming)
        rec.add(cols.station(name, cols.PENDING), "level", lambda: fleet.n_pending)
        rec.add(cols.station(name, cols.METRIC), "level", lambda: self.metric)
        for m in self.metrics:
            rec.add(cols.autoscaler_metric(name, m), "level", _value(values, m))

    def cost(self, now: float, price_per_instance_hour: float) -> CostStation:
        """Instance-seconds of the fleet up to ``now``, and of its warm pool at its share of
        the price, in USD."""
        fleet = self.fleet
        fleet.touch(now)
        inst_s = fleet.instance_s
        share = self.cfg.warm_pool.price_share
        usd = (inst_s + share * fleet.pool_s) * price_per_instance_hour / 3600.0
        return {"instance_s": inst_s, "warm_pool_instance_s": fleet.pool_s,
                "price_per_instance_hour": price_per_instance_hour, "usd": usd}

    # -- processes ------------------------------------------------------------------------
    def processes(self) -> list[Generator[simpy.Event, Any, None]]:
        procs = [self._sync()]
        if self.cfg.schedule:
            procs.append(self._schedule())
        if self.cfg.predictive.enabled and self.forecast_rps is not None:
            procs.append(self._predict())
        return procs

    def _sync(self) -> Generator[simpy.Event, Any, None]:
        while True:
            yield self.env.timeout(self.period_s)
            ratios = self.measure(self.env.now)
            desired = self.decide(self.env.now, ratios)
            if desired is not None and desired != self.fleet.desired:
                self.fleet.set_desired(desired)

    def _schedule(self) -> Generator[simpy.Event, Any, None]:
        for act in sorted(self.cfg.schedule, key=lambda a: a.at_s):
            at = max(0.0, self.event_start_s + act.at_s)
            if at > self.env.now:
                yield self.env.timeout(at - self.env.now)
            f = self.fleet
            if act.min_instances is not None:
                f.sched_min = act.min_instances
            if act.max_instances is not None:
                f.sched_max = act.max_instances
            f.set_desired(act.desired if act.desired is not None else f.desired)

    def _predict(self) -> Generator[simpy.Event, Any, None]:
        p = self.cfg.predictive
        assert self.forecast_rps is not None
        per_instance = self.station.workers_per_instance * self.target / self.service_mean_s
        while True:
            now = self.env.now
            ts = np.linspace(now + p.lead_s, now + p.lead_s + p.period_s, 13)
            rate = max(self.forecast_rps(float(t)) for t in ts) * (1 + p.forecast_error)
            f = self.fleet
            f.predicted = _ceil(rate / per_instance)
            if f.desired < f.min_instances:
                f.set_desired(f.min_instances)
            yield self.env.timeout(p.period_s)

    # -- metrics --------------------------------------------------------------------------
    def measure(self, now: float) -> dict[str, float]:
        """Each metric over the last period, as a ratio to its target (None-free)."""
        st, f = self.station, self.fleet
        st._touch(now)
        busy, cap = st.busy_area - self._busy, st.capacity_area - self._cap
        queue = (st.queue_area - self._queue) / max(now - self._t, EPS)
        if now > self._t:
            self._cap_units = cap / (now - self._t) / st.workers_per_instance
        self._busy, self._cap, self._queue, self._t = (st.busy_area, st.capacity_area,
                                                       st.queue_area, now)
        ratios: dict[str, float] = {}
        for m in self.metrics:
            if m == "cpu":
                if cap <= 0:
                    continue  # no ready pod reported a metric
                value = busy / cap
                ratios[m] = value / self.target
            elif m == "queue":
                value = queue / max(1, f.total)
                ratios[m] = value / self.cfg.target_queue_per_instance
            else:
                assert self.pool is not None
                per = self.pool.in_use / max(1, f.serving)
                value = per
                target = (self.cfg.target_listeners_per_instance
                          or self.target * self.pool.slots_per_instance)
                ratios[m] = per / target
            self.values[m] = value
        if ratios:
            self.metric = max(ratios.values())
        return ratios

    def decide(self, now: float, ratios: dict[str, float]) -> int | None:
        if self.kind == "hpa":
            return self._hpa(now, ratios)
        if not ratios:
            return None
        r = max(ratios.values())
        if self.kind == "target_tracking":
            return self._target_tracking(r)
        if self.kind == "step":
            return self._step(r)
        return self._simple(now, r)

    # -- Kubernetes HPA -------------------------------------------------------------------
    def _hpa(self, now: float, ratios: dict[str, float]) -> int | None:
        f = self.fleet
        current = f.desired
        lo, hi = f.min_instances, f.max_instances
        if current > hi:
            return hi
        if current < lo:
            return lo
        proposals = []
        for m, ratio in ratios.items():
            if m == "cpu":
                proposals.append(plain_metric_replicas(current, f.ready, f.n_warming, 0,
                                                       ratio, self.tolerance,
                                                       1.0 / self.target))
            elif m == "listeners":
                proposals.append(plain_metric_replicas(current, f.serving, 0, 0, ratio,
                                                       self.tolerance))
            else:  # external metric, average value per pod
                pods = max(1, f.total)
                if abs(1.0 - ratio) > self.tolerance:
                    proposals.append(_ceil(ratio * pods))
                else:
                    proposals.append(pods)
        if not proposals:
            return None
        prenormalized = max(proposals)
        b = self.cfg.behavior
        up_rec = down_rec = prenormalized
        for t, rec in self._recs:
            if t > now - b.scale_up.stabilization_window_s:
                up_rec = min(up_rec, rec)
            if t > now - b.scale_down.stabilization_window_s:
                down_rec = max(down_rec, rec)
        # The current count, raised to the scale-up bound, then lowered to the scale-down
        # bound (in this order, as the controller does).
        rec = min(max(current, up_rec), down_rec)
        self._recs.append((now, prenormalized))
        keep = max(b.scale_up.stabilization_window_s, b.scale_down.stabilization_window_s)
        while self._recs and self._recs[0][0] <= now - keep:
            self._recs.popleft()
        if rec > current:
            limit = max(current, scale_up_limit(current, self._ups, self._downs, b.scale_up,
                                                now))
            rec = min(rec, hi, limit)
        elif rec < current:
            limit = min(current, scale_down_limit(current, self._ups, self._downs,
                                                  b.scale_down, now))
            rec = max(rec, lo, limit)
        if rec > current:
            self._ups.append((now, rec - current))
        elif rec < current:
            self._downs.append((now, current - rec))
        longest = max([p.period_s for p in (*b.scale_up.policies, *b.scale_down.policies)]
                      or [0.0])
        for events in (self._ups, self._downs):
            while events and events[0][0] <= now - longest:
                events.popleft()
        return rec

    # -- AWS policies ---------------------------------------------------------------------
    def _settling(self) -> bool:
        return self.fleet.n_pending > 0 or self.fleet.n_warming > 0

    def _target_tracking(self, r: float) -> int | None:
        f = self.fleet
        self._history.append(r)
        hist = list(self._history)
        n_out, n_in = self.cfg.datapoints_out, self.cfg.datapoints_in
        # The load in instance units: mean capacity of the period (warming instances at
        # their reduced rate) × the metric's ratio to target, so instances warming up
        # neither inflate the metric nor get launched twice.
        want = max(1, _ceil(self._cap_units * r))
        if len(hist) >= n_out and all(x > 1.0 for x in hist[-n_out:]):
            return want if want > f.desired else None
        if len(hist) >= n_in and all(x < 1.0 - self.tolerance for x in hist[-n_in:]) \
                and not self._settling():
            return want if want < f.desired else None
        return None

    def _step(self, r: float) -> int | None:
        f = self.fleet
        diff = r * self.target - self.target
        for stp in self.cfg.steps:
            lo = -math.inf if stp.lower is None else stp.lower
            hi = math.inf if stp.upper is None else stp.upper
            if lo <= diff < hi:
                if stp.adjustment > 0:
                    want = aws_adjustment(f.ready, stp.adjustment, self.cfg.adjustment_type,
                                          self.cfg.min_adjustment_magnitude)
                    return want if want > f.desired else None
                if self._settling():
                    return None
                want = aws_adjustment(f.desired, stp.adjustment, self.cfg.adjustment_type,
                                      self.cfg.min_adjustment_magnitude)
                return want if want < f.desired else None
        return None

    def _simple(self, now: float, r: float) -> int | None:
        f = self.fleet
        if f.n_pending > 0 or now < self._last_action_s + self.cfg.cooldown_s:
            return None
        util = r * self.target
        if util > self.target:
            adj = self.cfg.scale_out_adjustment
        elif util < self.cfg.scale_in_threshold and not self._settling():
            adj = self.cfg.scale_in_adjustment
        else:
            return None
        want = aws_adjustment(f.desired, adj, self.cfg.adjustment_type,
                              self.cfg.min_adjustment_magnitude)
        want = min(f.max_instances, max(f.min_instances, want))
        if want == f.desired:
            return None
        self._last_action_s = now
        return want


# The Kubernetes HPA is one kind of autoscaler; the name stays for existing imports.
HPA = Autoscaler


def visit_ratios(entry: str, routes: dict[str, dict[str, float]],
                 stations: list[str]) -> dict[str, float]:
    """Expected visits to each station per request entering at ``entry`` (routes are a DAG)."""
    visits = dict.fromkeys(stations, 0.0)
    visits[entry] = 1.0
    order: list[str] = []
    seen: set[str] = set()

    def visit(n: str) -> None:
        seen.add(n)
        for dst in routes.get(n, {}):
            if dst not in seen:
                visit(dst)
        order.append(n)

    visit(entry)
    for n in reversed(order):
        for dst, p in routes.get(n, {}).items():
            visits[dst] += visits[n] * p
    return visits


def _value(values: dict[str, float], key: str) -> Callable[[], float]:
    return lambda: values[key]
