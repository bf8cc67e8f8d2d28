"""sim: a discrete-event capacity simulator for launching a live audio event.

``sim.run(overrides)`` composes the config as the ``sim`` command does, runs it and
returns a ``Result`` (``summary`` dict and ``timeseries`` columns).

Importing ``sim`` imports nothing else: the names below are loaded on first use, so
``import sim.engine`` does not load Hydra, and ``import sim`` loads neither matplotlib
nor jinja2 (only a report needs them).
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import run
    from .config import ConfigError, SimConfig, StationConfig, to_config
    from .run import Result, Scenario, simulate

__version__ = "0.1.0"

__all__ = ["ConfigError", "Result", "Scenario", "SimConfig", "StationConfig", "run",
           "simulate", "to_config"]

# Where each public name lives, loaded on first use (PEP 562).
_LAZY = {
    "ConfigError": "config",
    "SimConfig": "config",
    "StationConfig": "config",
    "to_config": "config",
    "Result": "run",
    "Scenario": "run",
    "simulate": "run",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The ``sim`` package, whose attribute ``run`` is always the function ``sim.api.run``.

    Importing the submodule ``sim.run`` sets the package's attribute ``run`` to that
    module, whenever it is first imported (by ``sim.cli``, a test, a notebook), so a
    plain module attribute or ``__getattr__`` cannot keep the name for the function.
    The submodule stays reachable as ``sys.modules["sim.run"]`` and through
    ``from sim.run import ...``; anything else assigned to ``sim.run`` (a test's stand-in)
    replaces the function until it is deleted.
    """

    @property
    def run(self) -> Any:
        found = self.__dict__.get("_run")
        if found is None:
            found = import_module(f"{self.__name__}.api").run
            self.__dict__["_run"] = found
        return found

    @run.setter
    def run(self, value: Any) -> None:
        if isinstance(value, types.ModuleType) and value.__name__ == f"{self.__name__}.run":
            return  # the import system recording the submodule
        self.__dict__["_run"] = value

    @run.deleter
    def run(self) -> None:
        self.__dict__.pop("_run", None)


sys.modules[__name__].__class__ = _Package
