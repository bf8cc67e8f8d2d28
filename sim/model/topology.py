"""The join path as configuration: stations and routes built from ``architecture``.

Each station of the config becomes an engine ``Station`` with its own seeded service
stream. In cohort mode a station is served one request at a time if it is small (its
workers complete at most ``sim.engine.granular.SMALL_PER_TICK`` requests per tick), by
the fluid discipline otherwise. A station with ``listener_slots_per_instance`` also gets a
slot ``Pool`` whose size per instance is the smaller of the configured slots and what its
egress can carry at the architecture's audio bitrate (``egress_gbps_per_instance × 1e6 /
bitrate_kbps``).

The topology reports its stations: ``register_series`` adds a station's columns of the
time series (counts, queue, busy and capacity areas, instances, slots), and
``station_block`` and ``station_cost`` its blocks of the summary (``sim.summary``). An
autoscaled station's fleet reports itself (``sim.model.autoscale``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from .. import series as cols
from ..config import ArchitectureConfig
from ..engine import (
    FluidStation,
    Network,
    OptimisticFluidStation,
    OptimisticStation,
    Overhead,
    Pool,
    Sampler,
    Station,
    Streams,
    TickRecorder,
)
from ..engine.granular import GranularOptimisticStation, GranularStation, serves_singly
from ..summary import CostStation, Slots
from ..summary import Station as StationSummary
from ..tails import mixture_quantiles


@dataclass
class Topology:
    stations: dict[str, Station]
    pools: dict[str, Pool]
    network: Network

    @property
    def end_pool(self) -> Pool | None:
        """The listener-slot pool (at most one per path in the presets)."""
        return next(iter(self.pools.values()), None)

    def register_series(self, rec: TickRecorder, name: str, crashes: bool) -> None:
        """Station ``name``'s columns of the time series (``crashes``: it can lose
        instances, so its crashed count is recorded)."""
        st = self.stations[name]
        for attr in cols.STATION_COUNTS:  # each the station's attribute of that name
            rec.add(cols.station(name, attr), "count", _getter(st, attr))
        rec.add(cols.station(name, cols.QUEUE), "area", _getter(st, "queue_area"))
        rec.add(cols.station(name, cols.BUSY), "area", _getter(st, "busy_area"))
        rec.add(cols.station(name, cols.CAPACITY), "area", _getter(st, "capacity_area"))
        rec.add(cols.station(name, cols.INSTANCES), "level", _getter(st, "instances"))
        if crashes:
            rec.add(cols.station(name, cols.CRASHED), "level", _getter(st, "down"))
        if st.shed_queue_age_s is not None:
            rec.add(cols.station(name, cols.SHED), "count", _getter(st, "shed"))
        pool = self.pools.get(name)
        if pool is not None:
            refused = self.network.slots_full
            rec.add(cols.station(name, cols.SLOTS_USED), "level", _getter(pool, "in_use"))
            rec.add(cols.station(name, cols.SLOTS), "level", _getter(pool, "capacity"))
            rec.add(cols.station(name, cols.SLOTS_REFUSED), "count",
                    lambda: refused.get(name, 0))

    def station_block(self, name: str, ts: dict[str, np.ndarray], after: np.ndarray,
                      dt: np.ndarray, instances: int) -> StationSummary:
        """Station ``name``'s block: its counts, peak queue, instances (``instances`` at
        the start), utilization after warm-up (ticks ``after``, of lengths ``dt``),
        waits, and its listener slots if it has them."""
        st = self.stations[name]
        busy = float((ts[cols.station(name, cols.BUSY)] * dt)[after].sum())
        cap = float((ts[cols.station(name, cols.CAPACITY)] * dt)[after].sum())
        p50, p99 = mixture_quantiles(np.asarray(st.waits), np.zeros(len(st.waits)),
                                     np.asarray(st.wait_counts), [0.5, 0.99])
        part: StationSummary = {
            "offered": st.offered, "served": st.served, "rejected": st.rejected,
            "timed_out": st.timed_out, "wasted": st.wasted, "peak_queue": st.peak_queue,
            "in_system": st.in_system, "shed": st.shed, "crashes": st.crashes,
            "killed": st.killed, "retry_rejected": st.retry_rejected,
            "outage_s": st.outage_s(),
            "instances_max": int(max([instances,
                                      *ts[cols.station(name, cols.INSTANCES)].tolist()])),
            "utilization_mean": busy / cap if cap > 0 else 0.0,
            "wait_s": {"mean": st.wait_sum / st.wait_n if st.wait_n else None,
                       "p50": _num(p50), "p99": _num(p99), "n": st.wait_n},
        }
        pool = self.pools.get(name)
        if pool is not None:
            part["slots"] = self.slots_block(name, pool)
        return part

    def slots_block(self, name: str, pool: Pool) -> Slots:
        return {"per_instance": pool.slots_per_instance, "peak_used": pool.peak,
                "used_end": pool.in_use, "refused": self.network.slots_full.get(name, 0)}

    def station_cost(self, name: str, now: float, price_per_instance_hour: float
                     ) -> CostStation:
        """Station ``name``'s instance-seconds up to ``now`` and their price, in USD."""
        st = self.stations[name]
        st._touch(now)
        inst_s = st.instances_area
        return {"instance_s": inst_s, "price_per_instance_hour": price_per_instance_hour,
                "usd": inst_s * price_per_instance_hour / 3600.0}


def _getter(obj: Any, attr: str) -> Any:
    return lambda: getattr(obj, attr)


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def slots_per_instance(arch: ArchitectureConfig, name: str) -> int | None:
    st = arch.stations[name]
    if st.listener_slots_per_instance is None:
        return None
    slots = st.listener_slots_per_instance
    if st.egress_gbps_per_instance is not None:
        slots = min(slots, math.floor(st.egress_gbps_per_instance * 1e6 / arch.bitrate_kbps))
    return max(1, slots)


def _discipline(occ: bool, resolution_s: float, instances: int, workers: int,
                mean_s: float) -> tuple[type[Station], dict[str, Any]]:
    """The station class: exact mode's; in cohort mode the exact discipline fed with
    cohorts for a small station (``sim.engine.granular.serves_singly``), the fluid one
    otherwise."""
    if resolution_s <= 0:
        return (OptimisticStation if occ else Station), {}
    extra: dict[str, Any] = {"resolution_s": resolution_s}
    if serves_singly(instances, workers, mean_s, resolution_s):
        return (GranularOptimisticStation if occ else GranularStation), extra
    return (OptimisticFluidStation if occ else FluidStation), extra


def build_topology(env: simpy.Environment, arch: ArchitectureConfig, streams: Streams,
                   warmup_s: float, resolution_s: float = 0.0,
                   overhead_s: dict[str, float] | None = None) -> Topology:
    """Exact-mode stations if ``resolution_s`` is 0; in cohort mode, granular ones for
    small stations and fluid ones for the rest (see ``_discipline``).

    ``overhead_s``: seconds of work added to every request a station serves (the cost of
    the mitigations it runs, see ``sim.model.mitigation``).
    """
    stations: dict[str, Station] = {}
    pools: dict[str, Pool] = {}
    for name, sc in arch.stations.items():
        service = Sampler(streams.generator(f"station.{name}.service"), sc.service.dist,
                          sc.service.mean_s, sc.service.cv)
        if overhead_s and overhead_s.get(name, 0.0) > 0:
            service = Overhead(service, overhead_s[name])  # type: ignore[assignment]
        kind, extra = _discipline(sc.concurrency == "occ", resolution_s, sc.instances,
                                  sc.workers_per_instance, service.mean_s)
        if kind in (GranularStation, GranularOptimisticStation):
            extra["spread_gen"] = streams.generator(f"station.{name}.arrivals")
        stations[name] = kind(
            env, name,
            **extra,
            instances=sc.instances,
            workers_per_instance=sc.workers_per_instance,
            service=service,
            queue_limit=math.inf if sc.queue_limit is None else sc.queue_limit,
            drop_expired=sc.drop_expired,
            rate_limit_rps=sc.rate_limit_rps,
            rate_limit_burst=sc.rate_limit_burst,
            max_rate_rps=sc.max_rate_rps,
            connections_per_instance=sc.connections_per_instance,
            warmup_s=warmup_s,
            slowdown=(None if sc.slowdown.above_rps is None else
                      (sc.slowdown.above_rps, sc.slowdown.factor, sc.slowdown.window_s)),
            slowdown_counts_started=sc.slowdown.counts == "started",
            shed_queue_age_s=sc.shed_queue_age_s,
            retry_ratio=(None if sc.retry_ratio_max is None
                         else (sc.retry_ratio_max, sc.retry_ratio_window_s)),
            track_in_service=sc.crash.enabled or bool(sc.failures),
        )
        slots = slots_per_instance(arch, name)
        if slots is not None:
            pools[name] = Pool(name, slots, sc.instances, fluid=resolution_s > 0)
    routes = {src: [(dst, float(p)) for dst, p in branches.items()]
              for src, branches in arch.routes.items()}
    network = Network(stations, routes, arch.entry, streams.generator("routing"), pools)
    return Topology(stations, pools, network)
