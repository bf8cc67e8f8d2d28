"""Read what a run left on disk: summary.json, timeseries.csv, config.yaml, the overrides.

A run directory is any directory with a ``summary.json``; ``timeseries.csv``,
``config.yaml``, ``error.txt`` and Hydra's ``.hydra/overrides.yaml`` are used when present,
so a crashed run or a hand-made directory still gets a report. A multirun directory is
one whose subdirectories (or their subdirectories, one level further down) are run
directories. This module only reads; it never recomputes results (SLO, bottleneck) from
the time series, which is the analysis layer's job.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

SUMMARY = "summary.json"
TIMESERIES = "timeseries.csv"
CONFIG = "config.yaml"
OVERRIDES = Path(".hydra") / "overrides.yaml"
ERROR = "error.txt"


class ReportError(ValueError):
    """The path given to the report is not a run or multirun directory, or cannot be read.

    The message is one paragraph that names the path and what was expected.
    """


@dataclass
class RunData:
    """One run directory, as read from disk."""

    path: Path
    summary: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    config_text: str = ""
    series: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    overrides: list[str] | None = None
    error: str | None = None

    @property
    def stations(self) -> list[str]:
        """Station names in the order the summary lists them."""
        return list(self.summary.get("stations") or {})

    @property
    def name(self) -> str:
        return str(self.summary.get("name") or self.config.get("name") or self.path.name)


def _expected(path: Path) -> str:
    return (f"Expected a run directory (one containing {SUMMARY}, as written by "
            f"`python -m sim`) or a multirun directory (from `python -m sim -m ...`) whose "
            f"subdirectories, or their subdirectories, contain {SUMMARY}.")


def find_runs(path: Path) -> list[Path]:
    """The run directories of a multirun directory, in natural order (2 before 10).

    Looks at the subdirectories of ``path`` and one level below them; hidden folders
    (``.hydra``) are skipped.
    """
    runs: list[Path] = []
    for child in _subdirs(path):
        if (child / SUMMARY).is_file():
            runs.append(child)
        else:
            runs.extend(g for g in _subdirs(child) if (g / SUMMARY).is_file())
    return runs


def _subdirs(path: Path) -> list[Path]:
    dirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(dirs, key=_natural_key)


def _natural_key(p: Path) -> list[Any]:
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name)]


def check_path(path: Path) -> None:
    """Raise ReportError unless ``path`` is a run or a multirun directory."""
    if not path.exists():
        raise ReportError(f"{path} does not exist. {_expected(path)}")
    if not path.is_dir():
        raise ReportError(f"{path} is not a directory. {_expected(path)}")
    if not (path / SUMMARY).is_file() and not find_runs(path):
        raise ReportError(f"no {SUMMARY} in {path} or in its subdirectories "
                          f"(two levels down). {_expected(path)}")


def load_run(path: str | Path) -> RunData:
    """Read one run directory; raise ReportError if its summary cannot be read."""
    path = Path(path)
    summary_path = path / SUMMARY
    try:
        summary = json.loads(summary_path.read_text())
    except FileNotFoundError:
        raise ReportError(f"{summary_path} not found. {_expected(path)}") from None
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {summary_path} ({exc}); it should be "
                          f"the JSON summary a run writes.") from None
    if not isinstance(summary, dict):
        raise ReportError(f"{summary_path} holds a JSON "
                          f"{type(summary).__name__}; expected an object with the keys "
                          f"of a run summary (legit, stations, slo, ...).")
    run = RunData(path=path, summary=summary)
    config_path = path / CONFIG
    if config_path.is_file():
        run.config_text = config_path.read_text()
        try:
            loaded = yaml.safe_load(run.config_text)
        except yaml.YAMLError as exc:
            raise ReportError(f"cannot parse {config_path} ({exc}); it should "
                              f"be the YAML config the run wrote.") from None
        run.config = loaded if isinstance(loaded, dict) else {}
    series_path = path / TIMESERIES
    if series_path.is_file():
        run.series = read_timeseries(series_path)
    overrides_path = path / OVERRIDES
    if overrides_path.is_file():
        try:
            loaded = yaml.safe_load(overrides_path.read_text())
        except yaml.YAMLError:
            loaded = None
        if isinstance(loaded, list):
            run.overrides = [str(o) for o in loaded]
    error_path = path / ERROR
    if error_path.is_file():
        run.error = error_path.read_text()
    return run


def read_timeseries(path: Path) -> dict[str, np.ndarray]:
    """Columns of timeseries.csv as float arrays; empty or unparsable cells are NaN."""
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return {}
    names, body = rows[0], rows[1:]
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        out[name] = np.array([_cell(r[j]) if j < len(r) else math.nan for r in body],
                             dtype=float)
    return out


def _cell(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
