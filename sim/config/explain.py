"""Messages for errors OmegaConf and Hydra raise while a config is composed.

The schema rejects an unknown key, a value of the wrong type, a name outside a closed
set (the enums of the groups' modules) or a missing mandatory value before ``validate``
runs, in OmegaConf's own terms. ``explain`` turns such an error into the paragraph
``validate`` would have written: the full dotted key, the value, and what the schema
allows there (its keys at that level, the type it expects, or the names of the enum).
``check_keys`` does the same for a plain mapping handed to ``to_config``, before
OmegaConf sees it.

The schema is read through its type hints: ``schema_type`` walks a dotted key down the
dataclasses from ``SimConfig`` (or another root), ``describe_type`` says how a value of
a type is written.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any

from omegaconf import DictConfig
from omegaconf.errors import (
    InterpolationResolutionError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from .autoscaler import STATION_AUTOSCALER_KEYS
from .errors import ConfigError, fail

_PART = re.compile(r"^([^\[\]]+)((?:\[\d+\])*)$")


def _root() -> Any:
    from .root import SimConfig  # the root imports this module for its messages

    return SimConfig


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (tp, False)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def schema_type(path: str, root: Any = None) -> Any:
    """The schema's type at a dotted ``path`` (``""`` is the root); None if there is none.

    An item of a list is written with its index: ``autoscaler.steps[0].lower``.
    """
    tp: Any = _root() if root is None else root
    for part in [p for p in path.split(".") if p]:
        m = _PART.match(part)
        if m is None:
            return None
        tp, _ = _unwrap_optional(tp)
        if is_dataclass(tp):
            hints = typing.get_type_hints(tp)
            if m.group(1) not in hints:
                return None
            tp = hints[m.group(1)]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
        for _index in re.findall(r"\[\d+\]", m.group(2)):
            tp, _ = _unwrap_optional(tp)
            if typing.get_origin(tp) is not list:
                return None
            tp = typing.get_args(tp)[0]
    return tp


def _enum_class(tp: Any) -> type[Enum] | None:
    inner, _ = _unwrap_optional(tp)
    return inner if isinstance(inner, type) and issubclass(inner, Enum) else None


def enum_names(enum: type[Enum]) -> str:
    """``one of a, b, c``: the names of a closed set, for messages."""
    return "one of " + ", ".join(str(m.value) for m in enum)


def _enum_at(path: str, root: Any) -> tuple[type[Enum], str] | None:
    """The enum at ``path``, and the key a message names: for an item of a list of
    names (``...[1]``) the list's own key, as ``validate`` names it."""
    enum = _enum_class(schema_type(path, root))
    if enum is None:
        return None
    return enum, re.sub(r"(\[\d+\])+$", "", path)


def enum_error(path: str, value: Any, root: Any = None, prefix: str = "") -> ConfigError | None:
    """The message for a name outside the closed set of the enum at ``path`` (None if
    there is no enum there, or ``value`` is no name at all): the message ``validate``
    gives for such a value, ``<key> = '<value>'; allowed: one of ...``."""
    if isinstance(value, Enum) or not isinstance(value, str | int | float | bool):
        return None
    found = _enum_at(path, _root() if root is None else root)
    if found is None:
        return None
    enum, key = found
    return fail(f"{prefix}.{key}" if prefix else key, str(value), enum_names(enum))


def describe_type(tp: Any) -> str:
    """How a value of schema type ``tp`` is written, for messages."""
    inner, optional = _unwrap_optional(tp)
    if inner is bool:
        text = "true or false"
    elif inner is int:
        text = "an integer"
    elif inner is float:
        text = "a number"
    elif _enum_class(inner) is not None:
        text = enum_names(inner)
    elif inner is str:
        text = "a string"
    elif is_dataclass(inner):
        text = "a mapping with keys " + ", ".join(f.name for f in fields(inner))
    elif typing.get_origin(inner) is dict:
        text = "a mapping"
    elif typing.get_origin(inner) is list or inner is list:
        text = "a list"
    else:
        text = "a value"
    return f"null or {text}" if optional else text


def allowed_keys(path: str) -> list[str] | None:
    """The keys the schema allows under ``path``; None where any name goes (a mapping)."""
    tp, _ = _unwrap_optional(schema_type(path))
    if is_dataclass(tp):
        return [f.name for f in fields(tp)]
    return None


def _label(path: str) -> str:
    return path if path else "the top level"


def unknown_key(path: str, existing: list[str] | None = None) -> ConfigError:
    """The message for a key that is not in the schema (or a name not defined there)."""
    parent, _, leaf = path.rpartition(".")
    keys = allowed_keys(parent)
    if keys is not None:
        return ConfigError(f"Invalid configuration: unknown key {path}; allowed keys of "
                           f"{_label(parent)}: {', '.join(keys)}.")
    names = ", ".join(sorted(existing)) if existing else f"the names already under {parent}"
    hint = ""
    if parent == "architecture.stations":
        hint = (" A new station is defined in an architecture file of your own "
                "(added with --config-dir), not on the command line.")
    elif parent == "autoscaler.per_station":
        names = "any station name, added with a leading + on the command line"
        hint = (f" Override a station's autoscaler with +autoscaler.per_station.{leaf}.<key>"
                f"=<value>; keys: " + ", ".join(STATION_AUTOSCALER_KEYS) + ".")
    return ConfigError(f"Invalid configuration: {path} is not defined ({leaf!r} is not a "
                       f"name under {parent}); allowed: {names}.{hint}")


def _full_key(err_key: str, key: str | None) -> str:
    """The dotted key of an error: OmegaConf's, completed from the override's ``key``.

    OmegaConf names a node relative to where it was created, so a new item of a typed
    mapping comes out as just its name; the override says where it sits.
    """
    if not key:
        return err_key
    if not err_key:
        return key
    parts, sub = key.split("."), err_key.split(".")
    for i in range(len(parts) - len(sub) + 1):
        if parts[i:i + len(sub)] == sub:
            return ".".join(parts[:i + len(sub)])
    return err_key


def _within(err_key: str, key: str) -> bool:
    parts, sub = key.split("."), err_key.split(".")
    return any(parts[i:i + len(sub)] == sub for i in range(len(parts) - len(sub) + 1))


def _item_key(exc: BaseException, key: str, err_key: str, value: Any) -> str | None:
    """The full key of an error inside an item of a list given by an override
    (``autoscaler.steps=[{lower: abc}]``): OmegaConf names it from the item only
    (``lower``), so the item is found in the override's value (``steps[0].lower``)."""
    if typing.get_origin(_unwrap_optional(schema_type(key))[0]) is not list:
        return None
    items = _override_value(exc)
    if not isinstance(items, list):
        return None
    path = err_key.split(".")
    found = None
    for i, item in enumerate(items):
        node: Any = item
        for part in path:
            node = node.get(part, _ABSENT) if isinstance(node, dict) else _ABSENT
        if node is not _ABSENT and (found is None or node == value):
            found = i
            if node == value:
                break
    return f"{key}[{found}].{err_key}" if found is not None else None


_ABSENT = object()


def _override_value(exc: BaseException) -> Any:
    """The value of the override Hydra names in ``exc`` (``Error merging override
    k=v``), parsed as Hydra parses it; None if there is none."""
    err: BaseException | None = exc
    while err is not None:
        m = re.search(r"Error merging override (.+)", str(err))
        if m is not None:
            from hydra.core.override_parser.overrides_parser import OverridesParser

            try:
                return OverridesParser.create().parse_override(m.group(1)).value()
            except Exception:
                return None
        err = err.__cause__ or err.__context__
    return None


def explain(exc: BaseException, key: str | None = None) -> ConfigError:
    """Translate an OmegaConf error (or an error that wraps one) into a ConfigError.

    ``key`` is the key of the override that failed, when there is one: it completes the
    key OmegaConf reports.
    """
    err: BaseException | None = exc
    while err is not None and not isinstance(err, OmegaConfBaseException):
        err = err.__cause__ or err.__context__
    if err is None:
        return ConfigError("Invalid configuration: " + " ".join(str(exc).split()))
    err_key = str(getattr(err, "full_key", None) or "")
    full_key = _full_key(err_key, key)
    if key and err_key and full_key == err_key and not _within(err_key, key):
        full_key = _item_key(exc, key, err_key, getattr(err, "value", None)) or full_key
    msg = " ".join(str(getattr(err, "msg", None) or err).split("\n")[0].split())
    parent_node = getattr(err, "parent_node", None)
    existing = [str(k) for k in parent_node] if isinstance(parent_node, DictConfig) else None
    if isinstance(err, MissingMandatoryValue):
        return ConfigError(f"Invalid configuration: {full_key} is missing; allowed: "
                           f"{describe_type(schema_type(full_key))} (it has no default).")
    if "does not support deletion" in msg and schema_type(full_key) is not None:
        return ConfigError(f"Invalid configuration: {full_key} cannot be deleted, it is part "
                           f"of the schema; allowed: set it to "
                           f"{describe_type(schema_type(full_key))}.")
    if isinstance(err, InterpolationResolutionError):
        return ConfigError(f"Invalid configuration: {full_key} could not be resolved "
                           f"({msg}); allowed: a value, or an interpolation that resolves "
                           f"when the config is composed.")
    if isinstance(err, ValidationError):
        return _wrong_value(full_key, msg, getattr(err, "value", None), existing)
    # ConfigKeyError, ConfigAttributeError and the like: a key the schema does not have.
    if full_key:
        return unknown_key(full_key, existing)
    return ConfigError("Invalid configuration: " + " ".join(str(err).split()))


def _wrong_value(full_key: str, msg: str, value: Any,
                 existing: list[str] | None) -> ConfigError:
    """A ValidationError: a name outside an enum, a value of the wrong type, or a new
    item where the schema has no such key."""
    named = enum_error(full_key, value)
    if named is not None:
        return named
    tp = schema_type(full_key)
    parent = full_key.rpartition(".")[0]
    new_item = (typing.get_origin(_unwrap_optional(schema_type(parent))[0]) is dict
                and "is not a subclass of" in msg and existing is None)
    if tp is None or new_item:
        return unknown_key(full_key, existing)
    shown = f" = {value!r}" if isinstance(value, str | int | float | bool) else ""
    return ConfigError(f"Invalid configuration: {full_key}{shown} has the wrong type "
                       f"({msg}); allowed: {describe_type(tp)}.")


def check_keys(value: Any, tp: Any, path: str) -> None:
    """Reject keys the schema does not define, anywhere in a (plain) nested mapping."""
    inner, _ = _unwrap_optional(tp)
    if not isinstance(value, dict):
        structured = is_dataclass(inner) or typing.get_origin(inner) is dict
        if structured and value is not None and path \
                and not (isinstance(value, str) and value.startswith("${")):
            raise ConfigError(f"Invalid configuration: {path} = {value!r} has the wrong type; "
                              f"allowed: {describe_type(tp)}.")
        return
    tp = inner
    if is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if k not in hints:
                raise unknown_key(sub)
            check_keys(v, hints[k], sub)
    elif typing.get_origin(tp) is dict:
        item = typing.get_args(tp)[1]
        for k, v in value.items():
            check_keys(v, item, f"{path}.{k}" if path else str(k))
