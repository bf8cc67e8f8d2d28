"""The command line's overrides, checked before Hydra composes them.

Hydra takes the last of two overrides of one config group (``arrivals=constant
arrivals=flash_crowd``, or ``clients=default clients=default``) without a word, so a
command line that chooses a group twice runs something its author may not have meant;
and an empty output directory (``hydra.run.dir=``) makes Hydra write the run's files
into the current directory. ``check_overrides`` refuses both with a ``ConfigError``
naming the key, as bad values are refused: one paragraph, before anything runs.

A config group is a key with a ``/`` (``hydra/sweeper``) or a folder of the shipped
configs, or of the directory added with ``--config-dir`` (``arrivals``, ``experiment``).
Overrides that do not parse are left to the composition, which reports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .paths import shipped_config_dir

# Output directories that must not be empty: an empty run or sweep directory is the
# current directory, an empty job subdirectory puts every job of a sweep in one place.
OUTPUT_DIRS = ("hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir")


def config_groups(config_dir: str | Path | None = None) -> set[str]:
    """The config groups of the shipped configs and of ``config_dir`` (top level)."""
    groups: set[str] = set()
    for base in (shipped_config_dir(), Path(config_dir) if config_dir else None):
        if base is not None and base.is_dir():
            groups |= {p.name for p in base.iterdir() if p.is_dir() and p.name[0] not in "._"}
    return groups


def _parse(overrides: Sequence[str]) -> list[Any] | None:
    from ..compat.hydra import parse_overrides

    try:
        return [o.parsed for o in parse_overrides(overrides)]
    except Exception:  # the composition reports a line that does not parse
        return None


def check_overrides(overrides: Sequence[str], config_dir: str | Path | None = None) -> None:
    """Refuse a config group chosen twice and an empty output directory (module docstring).

    ``config_dir``: the directory added with ``--config-dir``, whose groups count too.
    """
    parsed = _parse(overrides)
    if parsed is None:
        return
    groups = config_groups(config_dir)
    seen: dict[str, str] = {}
    for line, o in zip(overrides, parsed, strict=True):
        key = str(o.key_or_group)
        if key in OUTPUT_DIRS and not o.is_sweep_override() and not o.is_delete():
            value = o.value()
            if isinstance(value, str) and not value.strip():
                raise ConfigError(
                    f"Invalid configuration: {key} = {value!r}; allowed: a directory for "
                    f"the outputs (empty, {_empty_means(key)}). Give a path, or leave "
                    f"{key} out for the default.")
        if "/" not in key and key not in groups:
            continue
        target = f"{key}@{o.package}" if o.package is not None else key
        if target in seen:
            raise ConfigError(
                f"Invalid configuration: the config group {target} is chosen twice on the "
                f"command line ({seen[target]!r}, then {line!r}); allowed: one choice per "
                f"group (Hydra would silently take the last). Keep the one you mean.")
        seen[target] = line


def _empty_means(key: str) -> str:
    if key == "hydra.sweep.subdir":
        return "every job of the sweep would write into the sweep directory itself"
    if key == "hydra.sweep.dir":
        return "the sweep would write its jobs into the current directory"
    return "the run would write its files into the current directory"
