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

import yaml

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
    from omegaconf import OmegaConf

    from ..compose import compose
    from ..config import ConfigError, to_config

    if extra_dir is not None and not Path(extra_dir).is_dir():
        return None
    try:
        cfg = to_config(compose([], config_dir=extra_dir))
    except ConfigError:
        return None
    loaded = yaml.safe_load(OmegaConf.to_yaml(OmegaConf.structured(cfg)))
    return loaded if isinstance(loaded, dict) else None


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


def config_diff(config: Mapping[str, Any], defaults: Mapping[str, Any] | None,
                skip: tuple[str, ...] = ()) -> tuple[list[tuple[str, str, str]], int]:
    """(key, value here, default) for every leaf key that differs from the defaults, and
    how many default keys the config does not have at all.

    A run's config.yaml holds every key of the schema it ran with, so a default key it
    lacks is newer than the run: counted, not listed as a difference. A key the run has
    and the defaults lack (a station of another architecture) is listed.
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
    newer = sum(1 for k in base if k not in mine and not _covered(k, mine))
    return rows, newer


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
    """Whether a parent of ``key`` is a leaf of the config (a mapping emptied or replaced)."""
    parts = key.split(".")
    return any(".".join(parts[:i]) in mine for i in range(1, len(parts)))


def _show(v: Any) -> str:
    if v is ABSENT or v == ABSENT:
        return ABSENT
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
