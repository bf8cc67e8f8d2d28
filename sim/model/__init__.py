"""The launch domain on the engine: arrivals, attacks, clients, autoscalers, topology."""

from .arrivals import ArrivalCurve, rate_function
from .attacks import AttackVector
from .autoscale import HPA, Autoscaler, visit_ratios
from .clients import Backoff, Clients
from .cohort_clients import CohortClients
from .fleet import Fleet
from .topology import Topology, build_topology

__all__ = ["HPA", "ArrivalCurve", "AttackVector", "Autoscaler", "Backoff", "Clients",
           "CohortClients", "Fleet", "Topology", "build_topology", "rate_function",
           "visit_ratios"]
