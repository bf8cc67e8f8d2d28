"""What values a numeric key accepts, as the checks of the configuration declare them.

Each range check of a group's validation declares the bound it holds its key to
(``sim.config.errors``: ``positive``, ``share``, ``declare(key, at_least(1, ...))``).
``bounds`` runs the validation of one config under ``declaring`` and returns every
declaration by key, so a caller that needs a key's range (the failure-point search, which
must not probe a value the config refuses, and the risk sweeper, which checks that every
draw of a belief is allowed) reads it from the checks themselves.

A bound can depend on the config (a station's ``max_instances`` is at least its
``min_instances``; a check the selected kind skips declares nothing), which is why it is
read from a config and not from the schema alone. A key set to null whose check would
apply to a number (an optional limit) is declared all the same. Keys are written as the
messages write them (``outages[0].start_s``); a dotted list index
(``outages.0.start_s``, as an override spells it) is read the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from .errors import Bound, declaring


def bounds(config: DictConfig | Mapping[str, Any]) -> dict[str, Bound]:
    """The bound each key of ``config`` is checked against, by key (Hydra's own node, if
    the config has one, is left out). A config that is refused declares what its
    validation checked before the refusal."""
    from .root import to_config

    raw = OmegaConf.to_container(config, resolve=False) if isinstance(config, DictConfig) \
        else dict(config)
    assert isinstance(raw, dict)
    raw.pop("hydra", None)
    text = OmegaConf.to_yaml(raw)
    if text not in _KNOWN:
        if len(_KNOWN) >= KNOWN_CONFIGS:
            _KNOWN.pop(next(iter(_KNOWN)))
        _KNOWN[text] = declaring(lambda: to_config(OmegaConf.create(raw)))
    return dict(_KNOWN[text])


# The bounds of the last few configs asked about, by their YAML: a search asks about the
# same config for each of its keys, and a validation takes a good part of a second.
KNOWN_CONFIGS = 8
_KNOWN: dict[str, dict[str, Bound]] = {}


def bound(config: DictConfig | Mapping[str, Any], key: str) -> Bound | None:
    """The bound ``key`` is checked against in ``config``; None where no check of
    ``config`` declares one."""
    return bounds(config).get(message_key(key))


def message_key(key: str) -> str:
    """``key`` as the messages write it: list indices in brackets."""
    return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", key)
