"""Where data files named in a config are found.

One rule for every data file a config names (an arrival trace): an absolute path is used
as it is; a relative path is looked up in the current directory first, then in the
directory of the shipped configs (``configs/`` in a clone, ``sim/configs`` when
installed), so ``arrivals/example_trace.csv`` finds the shipped example from anywhere.
``to_config`` replaces the path by the absolute one it found (``absolute_paths``), so
the ``config.yaml`` of a run says which file was read.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .root import SimConfig


def shipped_config_dir() -> Path:
    """Where the shipped configs are: the package data, or the clone's ``configs/``."""
    try:
        path = Path(str(resources.files("sim.configs")))
        if (path / "config.yaml").is_file():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[2] / "configs"


def resolve_path(path: str) -> Path | None:
    """Apply the data-file rule (see the module docstring); None if nothing is found."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p if p.is_file() else None
    for base in (Path.cwd(), shipped_config_dir()):
        candidate = base / p
        if candidate.is_file():
            return candidate.resolve()
    return None


def absolute_paths(sim: SimConfig) -> None:
    """The trace paths of ``sim``'s arrivals (and of a sum's members), made absolute where
    the file is found; a path not found is left for ``validate`` to report."""
    from .arrivals import ArrivalsConfig  # arrivals reads traces, which resolve paths

    a = sim.arrivals
    if a.kind == "trace" and isinstance(a.path, str) and a.path:
        found = resolve_path(a.path)
        if found is not None:
            a.path = str(found)
    for comp in a.components if isinstance(a.components, list) else []:
        if isinstance(comp, dict) and comp.get("kind") == "trace" \
                and isinstance(comp.get("path"), str) and comp["path"]:
            found = resolve_path(comp["path"])
            if found is not None:
                comp["path"] = str(found)
        elif isinstance(comp, ArrivalsConfig) and comp.kind == "trace" and comp.path:
            found = resolve_path(comp.path)
            if found is not None:
                comp.path = str(found)
