"""The join path as configuration: stations and routes built from ``architecture``.

Each station of the config becomes an engine ``Station`` with its own seeded service
stream. In cohort mode a station is served one request at a time if it is small (its
workers complete at most ``sim.engine.granular.SMALL_PER_TICK`` requests per tick), by
the fluid discipline otherwise. A station with ``listener_slots_per_instance`` also gets a
slot ``Pool`` whose size per instance is the smaller of the configured slots and what its
egress can carry at the architecture's audio bitrate (``egress_gbps_per_instance × 1e6 /
bitrate_kbps``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import simpy

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
)
from ..engine.granular import GranularOptimisticStation, GranularStation, serves_singly


@dataclass
class Topology:
    stations: dict[str, Station]
    pools: dict[str, Pool]
    network: Network

    @property
    def end_pool(self) -> Pool | None:
        """The listener-slot pool (at most one per path in the presets)."""
        return next(iter(self.pools.values()), None)


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
