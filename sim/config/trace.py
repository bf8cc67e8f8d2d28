"""Reading an arrival trace: a CSV of ``t_s,rate`` rows.

``validate`` reads the trace of a ``trace`` curve (``arrivals.path``, or a member of a
``sum``) before the run starts, and the arrival model reads it again to build the curve;
both go through ``read_trace``, so a file the model could not read is refused first, in
one paragraph that names the key, the file and the line. The path is found by the rule
of ``sim.config.paths``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from .errors import fail
from .paths import resolve_path, shipped_config_dir


def read_trace(key: str, path: str) -> tuple[list[float], list[float]]:
    """Read a ``t_s,rate`` CSV; raise ConfigError naming the file and line on any problem."""
    if not path or not isinstance(path, str):
        raise fail(key, path, "the path of a CSV file with header t_s,rate")
    p = resolve_path(path)
    if p is None:
        where = ("" if Path(path).expanduser().is_absolute() else
                 f"; a relative path is looked up in the current directory ({Path.cwd()}), "
                 f"then in the shipped configs ({shipped_config_dir()})")
        raise fail(key, path, f"an existing CSV file with header t_s,rate (file not found"
                               f"{where})")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(key, path, f"a readable UTF-8 CSV file ({exc.__class__.__name__}: "
                               f"{exc})") from None
    return _rows(key, path, text)


def _rows(key: str, path: str, text: str) -> tuple[list[float], list[float]]:
    """The times and rates of the CSV ``text`` read from ``path``."""
    times: list[float] = []
    rates: list[float] = []
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or [h.strip() for h in header[:2]] != ["t_s", "rate"]:
        raise fail(key, path, f"a CSV whose header is t_s,rate (found {header})")
    for lineno, row in enumerate(reader, start=2):
        if not row or all(not x.strip() for x in row):
            continue
        try:
            t, rate = float(row[0]), float(row[1])
        except (ValueError, IndexError):
            raise fail(key, path, f"numbers in both columns (line {lineno}: {row})") \
                from None
        if not (math.isfinite(t) and math.isfinite(rate)) or rate < 0:
            raise fail(key, path, f"finite times and rates >= 0 (line {lineno}: {row})")
        if times and t <= times[-1]:
            raise fail(key, path, f"strictly increasing t_s (line {lineno}: {row})")
        times.append(t)
        rates.append(rate)
    if len(times) < 2:
        raise fail(key, path, "at least two rows of t_s,rate")
    return times, rates
