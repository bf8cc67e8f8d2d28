"""What sim relies on in Hydra and OmegaConf beyond their documented API.

Written for Hydra 1.3 and OmegaConf 2.3 (``pyproject.toml`` keeps them below 1.4 and
2.4); ``tests/test_compat.py`` checks every point below against the installed versions,
and is what to run before raising those bounds.

- ``args_parser``: Hydra's own command-line parser (``hydra._internal.utils``), so that
  the command can tell, before Hydra starts, what a command line asks for. The flags
  read from it are ``FLAGS_READ``.
- ``global_hydra_aside``: composing inside a running Hydra app (or after a caller's
  ``initialize()``) takes the ``GlobalHydra`` out of ``Singleton._instances`` and puts it
  back afterwards.
- ``hydra_config``: ``HydraConfig.instance()`` set to a composed config, so that
  ``${hydra:...}`` interpolations resolve, and its previous ``cfg`` put back.
- ``parse_overrides``: Hydra's override grammar (``OverridesParser``), for what a sweep's
  command line expands to and for refusing sweeps where one value is needed.
- ``expose_plugins``: Hydra finds plugins by walking the folders of the
  ``hydra_plugins`` namespace package.
- ``share_config_store``: Hydra deep-copies its config repository, ``ConfigStore``
  included, each time it lists the options of a config group (``sim --help`` lists
  them about ninety times). ``ConfigStore.load`` copies whatever it returns, so a copy of
  the store is never needed; sharing the one store makes ``--help`` about a second faster.
- The text of Hydra's composition errors, from which ``sim.compose`` takes the key and
  the allowed options for its one-paragraph messages: ``missing_config`` and
  ``override_key``.
- The text of OmegaConf's errors read by ``sim.config.explain``: ``OMEGACONF_PHRASES``.
"""

from __future__ import annotations

import copy
import importlib.util
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from omegaconf import DictConfig

__all__ = [
    "FLAGS_READ",
    "OMEGACONF_PHRASES",
    "Override",
    "args_parser",
    "config_store_shared",
    "expose_plugins",
    "global_hydra_aside",
    "hydra_config",
    "missing_config",
    "override_key",
    "parse_overrides",
    "share_config_store",
]

# The attributes of the namespace ``args_parser().parse_known_args`` returns that sim reads.
FLAGS_READ = ("help", "hydra_help", "info", "shell_completion", "experimental_rerun",
              "config_path", "config_name", "config_dir", "cfg", "multirun", "overrides")

# Phrases of OmegaConf's error messages that ``sim.config.explain`` looks for, with what
# they tell it.
OMEGACONF_PHRASES = {
    "does not support deletion": "a key of the schema was deleted (``~key``)",
    "is not a subclass of": "a value that is not a mapping where a new entry of a "
                            "mapping of structured configs was expected",
}

_MISSING = re.compile(r"Could not find '([^']+)'")
_OPTIONS = re.compile(r"Available options in '([^']+)':\n((?:\t.*\n?)*)")
_OVERRIDE_KEY = (
    re.compile(r"Could not override '([^']+)'"),
    re.compile(r"Error merging override (\S+)"),
    re.compile(r"Could not (?:append to|delete from) config\..*?'([^']+)'"),
)


def args_parser() -> argparse.ArgumentParser:
    """Hydra's parser of its command line (``--help``, ``--cfg``, ``-m``, the overrides)."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser()


@contextmanager
def global_hydra_aside() -> Iterator[None]:
    """Within the block there is no global Hydra; the one there was is put back after."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.singleton import Singleton

    saved = Singleton._instances.pop(GlobalHydra, None)
    try:
        yield
    finally:
        if saved is not None:
            Singleton._instances[GlobalHydra] = saved


@contextmanager
def hydra_config(cfg: DictConfig) -> Iterator[None]:
    """Within the block ``HydraConfig`` is ``cfg.hydra`` (``${hydra:...}`` resolves)."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.instance()
    previous = hc.cfg
    hc.set_config(cfg)
    try:
        yield
    finally:
        hc.cfg = previous


@dataclass(frozen=True)
class Override:
    """One override of a command line, as Hydra's grammar reads it."""

    line: str  # as given
    key: str  # the key as Hydra names it: with its +, ++ or ~ and any @package
    sweep: bool  # a sweep of any kind: a choice, a range, an interval, a glob
    enumerable: bool  # a choice or a range: ``values()`` lists it
    parsed: Any = field(repr=False, compare=False)  # Hydra's own

    def values(self) -> list[str] | None:
        """A choice's or a range's values, as override text; None for anything else (a
        glob is listed only against the config groups, an interval only by an optimizing
        sweeper)."""
        return list(self.parsed.sweep_string_iterator()) if self.enumerable else None

    def glob(self, options: Sequence[str]) -> list[str] | None:
        """A glob's matches among ``options`` (a config group's option names), in their
        order; None if this override is not a glob."""
        from hydra.core.override_parser.types import Glob

        value = self.parsed.value()
        return value.filter(list(options)) if isinstance(value, Glob) else None


def parse_overrides(lines: Sequence[str]) -> list[Override]:
    """``lines`` parsed; Hydra's ``OverrideParseException`` if one does not parse."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType

    enumerable = (ValueType.CHOICE_SWEEP, ValueType.SIMPLE_CHOICE_SWEEP,
                  ValueType.RANGE_SWEEP)
    return [Override(line, o.get_key_element(), o.is_sweep_override(),
                     o.value_type in enumerable, o)
            for line, o in zip(lines, OverridesParser.create().parse_overrides(list(lines)),
                               strict=True)]


def expose_plugins() -> None:
    """Make Hydra's plugin scan see ``hydra_plugins.sim_failure_point`` in any install.

    Hydra finds plugins by walking the folders of the ``hydra_plugins`` namespace. A
    plain install puts ours in site-packages beside the others; an editable install
    (``pip install -e``) maps it through an import hook that the walk does not see, so
    its folder is added to the namespace here, before Hydra scans.
    """
    import hydra_plugins

    spec = importlib.util.find_spec("hydra_plugins.sim_failure_point")
    if spec is None or not spec.submodule_search_locations:
        return
    parent = str(Path(next(iter(spec.submodule_search_locations))).parent)
    if parent not in list(hydra_plugins.__path__):
        hydra_plugins.__path__.append(parent)


def _itself(self: Any, memo: dict[int, Any]) -> Any:
    return self


def share_config_store() -> None:
    """Let copies of Hydra's ``ConfigStore`` be the store itself (see the docstring above).

    For the command's own process: it changes how every deep copy of the store behaves.
    """
    from hydra.core.config_store import ConfigStore

    ConfigStore.__deepcopy__ = _itself  # type: ignore[attr-defined]


def config_store_shared() -> bool:
    """Whether ``share_config_store`` is in effect."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    return copy.deepcopy(store) is store


def missing_config(text: str) -> tuple[str, list[str]] | None:
    """From the text of Hydra's ``MissingConfigException``: the config it could not find
    (``group/option``) and the options it lists for the group; None if it names none."""
    m = _MISSING.search(text)
    if m is None:
        return None
    found = _OPTIONS.search(text)
    return m.group(1), found.group(2).split() if found else []


def override_key(text: str) -> str | None:
    """The key of the override that a Hydra composition error names, if it names one
    (without the override's value or its +, ++ or ~)."""
    for pattern in _OVERRIDE_KEY:
        m = pattern.search(text)
        if m:
            return m.group(1).split("=", 1)[0].lstrip("+~")
    return None
