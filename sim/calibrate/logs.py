"""Reading what a load test left: the service's timing log and Locust's CSV files.

The timing log (format v1, described in full in ``testbed/timing.py``) is tab-separated:
``#`` lines first, declaring the service as it started (``# pool<TAB>TIER<TAB>workers=N
<TAB>queue_limit=N``, ``# connections<TAB>TIER<TAB>limit=N``, ``# resource<TAB>NAME<TAB>
tier=TIER``, ``# slots<TAB>TIER<TAB>limit=N``), then the header ``t_s req tier worker
wait_s service_s status`` and one line per request and tier. Another service can write
the same format: the tiers are whatever the log names.

Locust's ``PREFIX_stats.csv`` gives the load test's totals per request name: how many
requests, how many failed, the rate and the response-time percentiles.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CalibrationError

MAGIC = "# testbed timing log v1"
COLUMNS = ["t_s", "req", "tier", "worker", "wait_s", "service_s", "status"]


@dataclass
class TimingLog:
    """A parsed timing log: what the service declared, and one array per column."""

    path: str
    declared: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    t_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    req: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    tier: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    worker: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    wait_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    service_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    status: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))

    def declared_value(self, kind: str, name: str, key: str) -> int | None:
        value = self.declared.get(kind, {}).get(name, {}).get(key)
        return None if value is None else int(float(value))


def read_timing_log(path: str | Path) -> TimingLog:
    """Parse the timing log at ``path``; a file that is not one raises
    ``CalibrationError``."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as exc:
        raise CalibrationError(f"Cannot read the timing log {p}: {exc.strerror}.") from None
    if not lines or lines[0].strip() != MAGIC:
        raise CalibrationError(
            f"{p} is not a timing log: its first line should be '{MAGIC}' (the format "
            "is described in testbed/timing.py).")
    log = TimingLog(str(p))
    i = 1
    while i < len(lines) and lines[i].startswith("#"):
        parts = lines[i][1:].strip().split("\t")
        if len(parts) >= 2:
            values = dict(kv.split("=", 1) for kv in parts[2:] if "=" in kv)
            log.declared.setdefault(parts[0], {})[parts[1]] = values
        i += 1
    if i >= len(lines) or lines[i].split("\t") != COLUMNS:
        raise CalibrationError(
            f"{p}: the column header is missing after the '#' lines; expected "
            f"{' '.join(COLUMNS)} (tab-separated).")
    _fill(log, lines[i + 1:], i + 2)
    return log


def _fill(log: TimingLog, rows: list[str], first_line: int) -> None:
    cols: list[list[str]] = [[] for _ in COLUMNS]
    for n, row in enumerate(rows, first_line):
        parts = row.split("\t")
        if len(parts) != len(COLUMNS):
            if n == first_line + len(rows) - 1:
                break  # a last line cut short when the service was stopped
            raise CalibrationError(
                f"{log.path}, line {n}: {len(parts)} fields, expected {len(COLUMNS)} "
                f"({' '.join(COLUMNS)}).")
        for c, v in zip(cols, parts, strict=True):
            c.append(v)
    try:
        log.t_s = np.array(cols[0], dtype=float)
        log.req = np.array(cols[1], dtype=np.int64)
        log.worker = np.array([-1 if w == "-" else int(w) for w in cols[3]], dtype=np.int64)
        log.wait_s = np.array(cols[4], dtype=float)
        log.service_s = np.array(cols[5], dtype=float)
    except ValueError as exc:
        raise CalibrationError(f"{log.path}: a value that is not a number ({exc}).") from None
    log.tier = np.array(cols[2], dtype=object)
    log.status = np.array(cols[6], dtype=object)


@dataclass
class LocustStats:
    """One request name's totals in Locust's ``_stats.csv``."""

    name: str
    requests: int
    failures: int
    rps: float
    p50_s: float
    p99_s: float

    @property
    def failure_share(self) -> float:
        return self.failures / self.requests if self.requests else math.nan


def read_locust(prefix: str | Path, name: str = "join attempt") -> LocustStats:
    """The row ``name`` of ``PREFIX_stats.csv`` (Locust's ``--csv PREFIX``)."""
    p = Path(f"{prefix}_stats.csv")
    try:
        with p.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise CalibrationError(
            f"Cannot read Locust's statistics {p}: {exc.strerror}. Give the prefix "
            "passed to locust --csv (the file is PREFIX_stats.csv).") from None
    row = next((r for r in rows if r.get("Name") == name), None)
    if row is None:
        names = ", ".join(sorted({r.get("Name", "?") for r in rows})) or "none"
        raise CalibrationError(f"{p} has no row named '{name}' (rows: {names}).")
    try:
        return LocustStats(name, int(row["Request Count"]), int(row["Failure Count"]),
                           float(row["Requests/s"]), float(row["50%"]) / 1000,
                           float(row["99%"]) / 1000)
    except (KeyError, ValueError) as exc:
        raise CalibrationError(f"{p}: not Locust's statistics format ({exc!r}).") from None
