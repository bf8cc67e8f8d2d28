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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import yaml

from .. import series as cols
from .. import summary as schema
from ..summary import Summary

SUMMARY = "summary.json"
TIMESERIES = "timeseries.csv"
CONFIG = "config.yaml"
OVERRIDES = Path(".hydra") / "overrides.yaml"
HYDRA_CONFIG = Path(".hydra") / "hydra.yaml"
ERROR = "error.txt"
MULTIRUN = "multirun.yaml"
FAILURE_POINT = "failure_point.json"
ATTRIBUTION = "attribution.json"
# Keys that make replications of one variant, not variants.
SEED_KEYS = ("run.seed", "run.replications")


class ReportError(ValueError):
    """The path given to the report is not a run or multirun directory, or cannot be read.

    The message is one paragraph that names the path and what was expected.
    """


@dataclass
class RunData:
    """One run directory, as read from disk.

    ``summary`` is given as read and kept through ``sim.summary.conform``: every key the
    schema always writes is there, None where the run wrote nothing (an older run, a
    hand-made directory), so readers index it through its type. ``written`` is the
    summary as given, for what the file itself lacks (``input_problems``).
    """

    path: Path
    summary: Summary
    config: dict[str, Any] = field(default_factory=dict)
    config_text: str = ""
    series: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    overrides: list[str] | None = None
    error: str | None = None
    hydra: dict[str, Any] = field(default_factory=dict, repr=False)
    # What is wrong with timeseries.csv as a file (rows cut short), found while reading.
    series_issues: list[str] = field(default_factory=list)
    written: Mapping[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.written = self.summary
        self.summary = schema.conform(self.summary)

    @property
    def stations(self) -> list[str]:
        """Station names in the order the summary lists them."""
        return list(self.summary["stations"])

    @property
    def name(self) -> str:
        return str(self.summary["name"] or self.config.get("name") or self.path.name)


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
    run = RunData(path=path, summary=cast(Summary, summary))  # RunData conforms it
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
        run.series, run.series_issues = read_series(series_path)
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
    run.hydra = _hydra_block(path / HYDRA_CONFIG)
    return run


def _hydra_block(path: Path) -> dict[str, Any]:
    """The ``hydra`` block of a Hydra YAML file (empty when absent or unreadable)."""
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return {}
    block = loaded.get("hydra") if isinstance(loaded, dict) else None
    return block if isinstance(block, dict) else {}


def split_override(override: str) -> tuple[str, str]:
    """``key=value`` (with Hydra's ``+``/``~``/``++`` prefixes) as (key, value)."""
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def parse_value(text: str) -> Any:
    """An override's value as YAML reads it (``1e5`` is a number, ``spaces`` a string)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 1e5 as a string
        except ValueError:
            return value
    return value


@dataclass
class SweepData:
    """A multirun directory: its jobs, the sweep's own config and what the sweepers wrote.

    ``config`` is the sweep's base config (multirun.yaml without its ``hydra`` block: the
    scenario before the swept values), ``hydra`` that block (the command's overrides and
    the sweeper's settings), ``failure_point`` the failure-point sweeper's answer and
    ``attribution`` an ``attribution.json`` found in the directory, when present.
    """

    path: Path
    runs: list[RunData]
    config: dict[str, Any] = field(default_factory=dict)
    hydra: dict[str, Any] = field(default_factory=dict, repr=False)
    failure_point: dict[str, Any] | None = None
    attribution: dict[str, Any] | None = None
    # A study of several sweeps side by side (one failure-point search per architecture):
    # each subdirectory that is a sweep of its own.
    parts: list[SweepData] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.path.resolve().name)

    def values(self, run: RunData) -> dict[str, Any]:
        """The overrides of one job as {key: parsed value}."""
        return {k: parse_value(v) for k, v in map(split_override, run.overrides or [])}

    @property
    def swept_keys(self) -> list[str]:
        """Keys whose values differ between jobs (seeds excluded), in override order."""
        seen: dict[str, set[str]] = {}
        for run in self.runs:
            for k, v in map(split_override, run.overrides or []):
                seen.setdefault(k, set()).add(v)
        keys = [k for k, vs in seen.items() if k not in SEED_KEYS
                and (len(vs) > 1 or any(k not in self.values(r) for r in self.runs))]
        param = (self.failure_point or {}).get("param")
        if param and param not in keys:
            keys.insert(0, str(param))
        return keys


def _json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {path} ({exc}); it should be the JSON file the "
                          f"sweep wrote.") from None
    return loaded if isinstance(loaded, dict) else None


def load_sweep(path: str | Path) -> SweepData:
    """Read a multirun directory: every job, multirun.yaml, failure_point.json."""
    path = Path(path)
    subsweeps = [d for d in _subdirs(path) if (d / MULTIRUN).is_file()]
    if not (path / MULTIRUN).is_file() and len(subsweeps) > 1:
        parts = [load_sweep(d) for d in subsweeps]
        sweep = SweepData(path=path, runs=[r for p in parts for r in p.runs],
                          config=parts[0].config, hydra=parts[0].hydra, parts=parts)
        sweep.attribution = find_attribution(path)
        return sweep
    runs = [load_run(p) for p in find_runs(path)]
    sweep = SweepData(path=path, runs=runs)
    mr = path / MULTIRUN
    if not mr.is_file():  # a time-stamped multirun folder one level down
        found = sorted(path.glob(f"*/{MULTIRUN}"))
        mr = found[0] if len(found) == 1 else mr
    if mr.is_file():
        try:
            loaded = yaml.safe_load(mr.read_text())
        except yaml.YAMLError:
            loaded = None
        if isinstance(loaded, dict):
            sweep.hydra = loaded.pop("hydra", None) or {}
            sweep.config = loaded
    sweep.failure_point = _json(mr.parent / FAILURE_POINT) or _json(path / FAILURE_POINT)
    sweep.attribution = find_attribution(path)
    full = attribution_full_run(sweep)
    if full is not None and not sweep.config:
        sweep.config = full.config  # the scenario the attribution takes apart
    return sweep


def attribution_full_run(sweep: SweepData) -> RunData | None:
    """The run of the full scenario (every factor on) of an attribution, if it is here."""
    att = sweep.attribution or {}
    full = att.get("full")
    for v in att.get("variants") or []:
        if isinstance(v, dict) and v.get("name") == full and v.get("dir"):
            target = Path(str(v["dir"]))
            for run in sweep.runs:
                if run.path.resolve() == (sweep.path / target).resolve() \
                        or run.path.resolve() == target.resolve() \
                        or run.path.name == target.name:
                    return run
    return None


def find_attribution(path: Path) -> dict[str, Any] | None:
    """``attribution.json`` in ``path`` or one of its subdirectories, if any."""
    for candidate in [path / ATTRIBUTION, *sorted(path.glob(f"*/{ATTRIBUTION}"))]:
        loaded = _json(candidate)
        if loaded is not None and isinstance(loaded.get("variants"), list):
            return loaded
    return None


def read_timeseries(path: Path) -> dict[str, np.ndarray]:
    """Columns of timeseries.csv as float arrays; empty or unparsable cells are NaN."""
    return read_series(path)[0]


def read_series(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The columns of timeseries.csv and what is wrong with the file as written.

    A row with fewer or more cells than the header is a file cut short or spliced (a
    copy interrupted, a disk full): its missing cells read as NaN and the issue names
    the first such line.
    """
    try:
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return {}, [f"{path.name} cannot be read ({exc})"]
    if not rows:
        return {}, [f"{path.name} is empty"]
    names, body = rows[0], rows[1:]
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        out[name] = np.array([_cell(r[j]) if j < len(r) else math.nan for r in body],
                             dtype=float)
    ragged = [i for i, r in enumerate(body, start=2) if len(r) != len(names)]
    issues = []
    if ragged:
        issues.append(f"{path.name} has {len(ragged)} row{'s' if len(ragged) > 1 else ''} "
                      f"with a different number of cells than its header of "
                      f"{len(names)} columns (first at line {ragged[0]}): the file was "
                      f"cut short or damaged")
    return out, issues


# Keys of summary.json the verdict reads; a finished run always writes them.
REQUIRED_SUMMARY = schema.REQUIRED
REQUIRED_COLUMNS = (cols.TIME, cols.ATTEMPTS_SUCCEEDED, cols.ATTEMPTS_FAILED)
STATION_COLUMNS = (cols.BUSY, cols.CAPACITY, cols.QUEUE, cols.SERVED, cols.REJECTED)


def input_problems(run: RunData) -> list[str]:
    """What a finished run's directory lacks for a verdict, one clause each.

    A run that crashed (``status: failed`` or error.txt) is judged on that alone and has
    none here: its summary and time series stop where it stopped. Otherwise summary.json
    must have the keys the verdict reads, config.yaml must be there (the arrival curve
    and attacks the run had to cover) and timeseries.csv must be whole: every row as
    long as its header, the columns the verdict reads, ticks increasing up to the
    horizon.
    """
    if run.summary["status"] == "failed" or run.error:
        return []
    if not run.written:
        return [f"{SUMMARY} is an empty object"]
    problems = []
    lacking = [k for k in REQUIRED_SUMMARY if _dotted(run.written, k) is _ABSENT]
    if lacking:
        problems.append(f"{SUMMARY} lacks {', '.join(lacking)}")
    elif not run.summary["stations"]:  # not an object, or an empty one
        problems.append(f"{SUMMARY} lists no stations")
    if not run.config:
        problems.append(f"there is no readable {CONFIG}")
    if not (run.path / TIMESERIES).is_file() and not run.series:
        problems.append(f"there is no {TIMESERIES}")
    else:
        problems += run.series_issues + _series_problems(run)
    return problems


_ABSENT = object()


def _dotted(d: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(d, dict) or part not in d:
            return _ABSENT
        d = d[part]
    return d


def _series_problems(run: RunData) -> list[str]:
    """Missing columns, and ticks that stop before the horizon or go backwards."""
    series = run.series
    if not series:
        return []
    want = [*REQUIRED_COLUMNS,
            *(cols.station(n, c) for n in run.stations for c in STATION_COLUMNS)]
    lacking = [c for c in want if c not in series]
    problems = []
    if lacking:
        more = f" and {len(lacking) - 5} more" if len(lacking) > 5 else ""
        problems.append(f"{TIMESERIES} lacks the columns {', '.join(lacking[:5])}{more}")
    t = series.get(cols.TIME)
    if t is None:
        return problems
    if not len(t):
        return [*problems, f"{TIMESERIES} has a header but no rows"]
    if not np.isfinite(t).all() or (len(t) > 1 and not (np.diff(t) > 0).all()):
        problems.append(f"{TIMESERIES} has a {cols.TIME} column that is not increasing "
                        f"numbers")
        return problems
    horizon = run.summary["horizon_s"]
    tick = (run.config.get("run") or {}).get("metrics_tick_s") if run.config else None
    if not isinstance(tick, int | float) or tick <= 0:
        tick = float(np.median(np.diff(t))) if len(t) > 1 else float(t[0])
    if isinstance(horizon, int | float) and float(t[-1]) < float(horizon) - 1.5 * tick:
        problems.append(f"{TIMESERIES} stops at t = {float(t[-1]):g} s, before the horizon "
                        f"of {float(horizon):g} s (a file cut short)")
    return problems


def _cell(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
