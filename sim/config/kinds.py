"""Keys that the selected kind does not use.

Several blocks hold the settings of every kind of one thing in one flat dataclass: the
arrival curves (``arrivals.kind``), the autoscalers (``autoscaler.kind``), the attack
vectors (``attack.vectors.<name>.kind``). Each kind reads only some of the keys; the
others keep their schema defaults and are ignored. A key set to anything else while the
selected kind ignores it is a mistake the run would hide (``arrivals=constant
arrivals.audience=1e6`` would run 100 arrivals a second and say nothing), so it is
refused: ``check_kind_keys`` compares every key the kind does not use with the schema
default and names the first that differs, the kind, the keys the kind does use and the
kinds that would use it.

Each group's module holds its table (kind -> the keys it uses, read off the model code
that consumes the block) beside its schema, so a new key is added to the table where it
is defined. ``validate`` runs these checks last, after every range and cross-field rule,
so a config that was refused before is refused with the same message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any

from .errors import ConfigError


def _text(kind: Any) -> str:
    return str(kind.value) if isinstance(kind, Enum) else str(kind)


def unused_key(key: str, value: Any, selector: str, kind: str, uses: Iterable[str],
               users: list[str], also: str = "", group: str | None = None) -> ConfigError:
    """The message for ``key`` (set to ``value``) that the ``kind`` at ``selector`` does
    not use; ``uses``: the keys it does use; ``users``: the kinds that use ``key``;
    ``group``: the config group whose options set the block, if there is one."""
    used = ", ".join(uses) or "no other key"
    instead = (f" or choose a kind that uses it ({', '.join(users)})" if users else "")
    hint = (f" (Changing {selector} alone keeps the keys of the option chosen before; "
            f"{group}=<option> starts afresh.)" if group else "")
    return ConfigError(f"Invalid configuration: {key} = {value!r} is not used by {selector} "
                       f"= {kind}{also}; {kind} uses: {used}. Remove the key{instead}.{hint}")


def check_kind_keys(prefix: str, block: Any, default: Any, uses: Mapping[str, tuple[str, ...]],
                    selector: str = "kind", free: tuple[str, ...] = (),
                    kinds: Iterable[str] = (), also: str = "",
                    shown: str | None = None, group: str | None = None) -> None:
    """Refuse a key of ``block`` (at ``prefix``) that no kind in effect uses and whose
    value differs from ``default``'s.

    The kind in effect is ``block``'s ``selector``, plus any ``kinds`` given (the
    autoscaler's per-station kinds, which inherit the block's keys); ``free`` keys are
    never refused. A kind missing from ``uses`` is not checked. ``shown``: the key the
    message names for the kind (by default ``<prefix>.<selector>``); ``group``: the
    config group whose options set the block, for a hint.
    """
    kind = _text(getattr(block, selector))
    if kind not in uses:
        return
    in_effect = [kind, *(k for k in map(_text, kinds) if k in uses and k != kind)]
    used = {k for name in in_effect for k in uses[name]}
    for f in fields(block):
        name = f.name
        if name == selector or name in free or name in used:
            continue
        value = getattr(block, name)
        if value != getattr(default, name):
            users = [k for k, keys in uses.items() if name in keys]
            raise unused_key(f"{prefix}.{name}", as_plain(value),
                             shown or f"{prefix}.{selector}", kind, uses[kind], users, also,
                             group)


def as_plain(value: Any) -> Any:
    """A config (or any part of one) as plain data: the dict ``config.yaml`` reads back
    as, with enums as their names, tuples and lists as lists and mappings as dicts. The
    same as a round trip through OmegaConf's YAML, at a fraction of its cost."""
    if isinstance(value, Enum):
        return str(value.value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [as_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: as_plain(v) for k, v in value.items()}
    return value
