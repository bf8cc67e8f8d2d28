"""Calibration: a simulator preset from what a load test left behind.

After a load test at moderate load a team has the load generator's CSV files (Locust's
``*_stats.csv``) and the service's own timing log (one line per request and tier: queue
wait and service time; the format is ``testbed.timing``'s). ``sim-calibrate service``
turns them into an architecture preset that ``sim --config-dir`` loads:

- each tier's service-time distribution, fitted with ``scipy.stats`` (``fit``): every
  distribution the simulator has, matched to the sample's mean and coefficient of
  variation (the simulator's own parameters), with the Kolmogorov-Smirnov distance of
  each; the closest is kept and all are reported;
- worker counts (the workers seen in the log, checked against the pool sizes the
  service declared when it started), queue limits and caps (declared: a queue limit is
  not seen below saturation), the auth cache hit ratio (the share of ``hit`` lines) and
  the room key's throughput ceiling (measured: the spacing of writes that had to wait);
  all in ``service``.

``sim-calibrate arrivals`` fits a ``flash_crowd`` arrival curve to per-second arrival
counts by Poisson maximum likelihood (``arrivals``) and writes an arrivals preset.

Bad or insufficient data raises ``CalibrationError`` (one paragraph naming the file and
what is wrong); the command prints it and exits with status 2, and writes nothing.

This package imports numpy, scipy, PyYAML, the standard library and ``sim.config``,
nothing else of ``sim`` and nothing of the testbed or the load generator.
"""

from .arrivals import FlashCrowdFit, fit_flash_crowd, read_arrivals
from .errors import CalibrationError
from .fit import FAMILIES, ServiceFit, fit_service
from .logs import LocustStats, TimingLog, read_locust, read_timing_log
from .service import Calibration, calibrate, preset

__all__ = [
    "FAMILIES",
    "Calibration",
    "CalibrationError",
    "FlashCrowdFit",
    "LocustStats",
    "ServiceFit",
    "TimingLog",
    "calibrate",
    "fit_flash_crowd",
    "fit_service",
    "preset",
    "read_arrivals",
    "read_locust",
    "read_timing_log",
]
