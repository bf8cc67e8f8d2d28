"""sim: a discrete-event capacity simulator for launching a live audio event.

``sim.run(overrides)`` composes the config as the ``sim`` command does, runs it and
returns a ``Result`` (``summary`` dict and ``timeseries`` columns).
"""
# ruff: noqa: I001  (the import order below is deliberate)

from .config import ConfigError, SimConfig, StationConfig, to_config
from .run import Result, Scenario, simulate
from .api import run  # after .run: the name sim.run is this function, not the module

__version__ = "0.1.0"

__all__ = ["ConfigError", "Result", "Scenario", "SimConfig", "StationConfig", "run",
           "simulate", "to_config"]
