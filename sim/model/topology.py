"""The join path as configuration: stations and routes built from ``architecture``.

Each station of the config becomes an engine ``Station`` with its own seeded service
stream. A station with ``listener_slots_per_instance`` also gets a slot ``Pool`` whose
size per instance is the smaller of the configured slots and what its egress can carry
at the architecture's audio bitrate (``egress_gbps_per_instance × 1e6 / bitrate_kbps``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def build_topology(env: simpy.Environment, arch: ArchitectureConfig, streams: Streams,
                   warmup_s: float, resolution_s: float = 0.0,
                   overhead_s: dict[str, float] | None = None) -> Topology:
    """Exact-mode stations if ``resolution_s`` is 0, cohort-mode (fluid) ones otherwise.

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
        kind = FluidStation if resolution_s > 0 else Station
        if sc.concurrency == "occ":  # one key written with optimistic concurrency
            kind = OptimisticFluidStation if resolution_s > 0 else OptimisticStation
        extra = {"resolution_s": resolution_s} if resolution_s > 0 else {}
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
