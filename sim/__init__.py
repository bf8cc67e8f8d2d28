"""sim: a discrete-event capacity simulator for launching a live audio event.

``sim.run(overrides)`` composes the config as the ``sim`` command does, runs it and
returns a ``Result`` (``summary`` dict and ``timeseries`` columns).
"""

from .config import ConfigError, SimConfig, StationConfig, to_config
from .run import Result, Scenario, run, simulate

__version__ = "0.1.0"

__all__ = ["ConfigError", "Result", "Scenario", "SimConfig", "StationConfig", "run",
           "simulate", "to_config"]
