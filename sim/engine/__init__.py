"""The engine: cohorts, stations, pools, routing, random streams and recorders.

It knows nothing about live audio or launches; ``sim.model`` builds the launch domain on
it. Nothing here imports from the rest of ``sim``.
"""

from .cohort import Cohort
from .fluid import FluidStation, erlang_c_wait
from .gate import Filter, Gate, Overhead, keep
from .occ import CONFLICT, OptimisticFluidStation, OptimisticStation, commit_share
from .pool import ConnectionLimit, Pool
from .recorder import TickRecorder
from .routing import Network
from .station import Station
from .streams import DISTRIBUTIONS, Sampler, Streams, Uniforms, round_random, round_share

__all__ = [
    "CONFLICT",
    "DISTRIBUTIONS",
    "Cohort",
    "ConnectionLimit",
    "Filter",
    "FluidStation",
    "Gate",
    "Network",
    "OptimisticFluidStation",
    "OptimisticStation",
    "Overhead",
    "Pool",
    "Sampler",
    "Station",
    "Streams",
    "TickRecorder",
    "Uniforms",
    "commit_share",
    "erlang_c_wait",
    "keep",
    "round_random",
    "round_share",
]
