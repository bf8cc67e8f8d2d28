"""The launch domain on the engine: arrivals, attacks, clients, autoscalers, topology."""

from .arrivals import ArrivalCurve, rate_function
from .attacks import AttackVector
from .autoscale import HPA
from .clients import Backoff, Clients
from .cohort_clients import CohortClients
from .topology import Topology, build_topology

__all__ = ["HPA", "ArrivalCurve", "AttackVector", "Backoff", "Clients", "CohortClients",
           "Topology",
           "build_topology", "rate_function"]
