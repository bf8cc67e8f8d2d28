"""Assumptions and reproducibility: what differs from the defaults, seeds, version, commands.

The defaults are the shipped configs composed with no override, through the same compose
the ``sim`` command uses (and the same ``--config-dir`` when the run was given one), then
validated and written the way a run writes its ``config.yaml``; every leaf key whose value
differs is listed with both values. The commands are rebuilt from Hydra's record of the
command line (``.hydra/hydra.yaml`` of a run, ``multirun.yaml`` of a sweep): the task
overrides and the Hydra overrides (sweeper settings), with the output directory set to
the report's directory, followed by ``sim-report`` on it.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from .describe import get

# Hydra's own bookkeeping overrides, replaced by the directory the report is about.
_DROP = ("hydra.mode=", "hydra.run.dir=", "hydra.sweep.dir=")


def version() -> str:
    """The version of the ``sim`` package that builds the report."""
    mod = sys.modules.get("sim")
    return str(getattr(mod, "__version__", "unknown"))


def config_dir(hydra: Mapping[str, Any]) -> str | None:
    """The ``--config-dir`` a run was started with, if any."""
    for src in get(hydra, "runtime", "config_sources") or []:
        if isinstance(src, Mapping) and src.get("provider") == "command-line" \
                and src.get("schema") == "file":
            return str(src.get("path"))
    return None


@cache
def default_config(extra_dir: str | None = None) -> dict[str, Any] | None:
    """The defaults as a plain dict, as a run with no override would write config.yaml.

    None when they cannot be composed (a ``--config-dir`` that is gone).
    """
    from ..compose import compose
    from ..config import ConfigError, as_plain, to_config

    if extra_dir is not None and not Path(extra_dir).is_dir():
        return None
    try:
        cfg = to_config(compose([], config_dir=extra_dir))
    except ConfigError:
        return None
    plain: dict[str, Any] = as_plain(cfg)
    return plain


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values by dotted key; lists and empty mappings are leaves."""
    if not isinstance(d, Mapping) or (not d and prefix):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return bool(a == b)


ABSENT = "(not set)"
REMOVED = "(removed)"
LONG_VALUE = 80  # characters; a longer block is shown by its size, the full config has it


def config_diff(config: Mapping[str, Any], defaults: Mapping[str, Any] | None,
                skip: tuple[str, ...] = ()) -> tuple[list[tuple[str, str, str]], int]:
    """(key, value here, default) for every leaf key that differs from the defaults, and
    how many keys of the current schema the config does not have at all.

    Three kinds of key are not in both. A block the run has and the defaults lack (a
    station of another architecture) is one row, "(not set)" as its default. A block the
    defaults have and the run lacks (a station or a route the scenario removed) is one
    row, "(removed)" here. A key of the current schema that the config lacks because it
    was written before the key existed is only counted: the config read through the
    current schema (``schema_keys``) tells the two apart, so a fresh run, which writes
    every key of its schema, never has any.
    """
    if defaults is None or not config:
        return [], 0
    mine, base = flatten(config), flatten(defaults)
    rows = []
    shown: set[str] = set()
    for key, a in mine.items():
        if key.startswith(skip):
            continue
        if key not in base:
            block = _at(defaults, key)
            if isinstance(block, Mapping) and block:
                # A block of the defaults emptied here (its entries get "removed" rows
                # below) or replaced by a value.
                if not (isinstance(a, Mapping) and not a):
                    rows.append((key, _show(a), _show(block, here=False)))
                continue
            # A whole block the defaults lack (a station of another architecture): one
            # row for the block rather than one per key.
            top = _missing_prefix(key, defaults)
            if top not in shown:
                shown.add(top)
                rows.append((top, _show(_at(config, top)), ABSENT))
            continue
        b = base[key]
        if not _same(a, b):
            rows.append((key, _show(a), _show(b)))
    schema: set[str] | None = None
    read = False  # the schema read is slow (a config validated): only when a key needs it
    newer = 0
    for key in base:
        if key in mine or key.startswith(skip) or _covered(key, mine):
            continue
        if not read:
            schema, read = schema_keys(config), True
        if schema is not None and key in schema:
            newer += 1
            continue
        top = _missing_prefix(key, config)
        if top not in shown:
            shown.add(top)
            rows.append((top, REMOVED, _show(_at(defaults, top), here=False)))
    return rows, newer


def schema_keys(config: Mapping[str, Any]) -> set[str] | None:
    """The leaf keys of ``config`` once read through the current schema (which fills in
    every key it defines); None when the current schema no longer accepts it."""
    from ..config import as_plain, to_config

    try:
        loaded = as_plain(to_config(dict(config)))
    except Exception:  # an old or hand-edited config the schema refuses
        return None
    return set(flatten(loaded))


def _at(d: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, Mapping) else None
    return d


def _missing_prefix(key: str, defaults: Mapping[str, Any]) -> str:
    """The shortest prefix of ``key`` that the defaults do not have."""
    parts = key.split(".")
    d: Any = defaults
    for i, part in enumerate(parts):
        if not isinstance(d, Mapping) or part not in d:
            return ".".join(parts[:i + 1])
        d = d[part]
    return key


def _covered(key: str, mine: Mapping[str, Any]) -> bool:
    """Whether a parent of ``key`` is a value of the config other than an empty mapping
    (a block replaced by a value, which has its row already)."""
    parts = key.split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        if parent in mine:
            return not (isinstance(mine[parent], Mapping) and not mine[parent])
    return False


def _show(v: Any, here: bool = True) -> str:
    """A value for the table; a long block by its size (``here``: the run's own, which
    the full config below shows)."""
    if v is ABSENT or v == ABSENT:
        return ABSENT
    if isinstance(v, Mapping) and v and len(json.dumps(v, default=str)) > LONG_VALUE:
        n = len(flatten(v))
        where = " (see the full config)" if here else ""
        return f"a block of {n} setting{'s' if n != 1 else ''}{where}"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    return json.dumps(v, default=str)


def _hydra_overrides(hydra: Mapping[str, Any]) -> list[str]:
    return [str(o) for o in get(hydra, "overrides", "hydra") or []
            if not str(o).startswith(_DROP)]


def run_commands(path: Path, overrides: list[str] | None,
                 hydra: Mapping[str, Any]) -> list[str]:
    """The commands that rerun one run into ``path`` and rebuild its report."""
    target = str(path.resolve())
    report = f"sim-report {shlex.quote(target)}"
    if overrides is None:
        return [report]
    parts = ["python -m sim"]
    extra = config_dir(hydra)
    if extra:
        parts.append(f"--config-dir {shlex.quote(extra)}")
    parts += [shlex.quote(o) for o in [*overrides, *_hydra_overrides(hydra)]]
    parts.append(shlex.quote(f"hydra.run.dir={target}"))
    return [" ".join(parts), report]


def sweep_commands(path: Path, hydra: Mapping[str, Any]) -> list[str]:
    """The commands that rerun a sweep into ``path`` and rebuild its report."""
    target = str(path.resolve())
    report = f"sim-report {shlex.quote(target)}"
    task = get(hydra, "overrides", "task")
    if not isinstance(task, list):
        return [report]
    parts = ["python -m sim -m"]
    extra = config_dir(hydra)
    if extra:
        parts.append(f"--config-dir {shlex.quote(extra)}")
    parts += [shlex.quote(str(o)) for o in [*task, *_hydra_overrides(hydra)]]
    parts.append(shlex.quote(f"hydra.sweep.dir={target}"))
    return [" ".join(parts), report]
