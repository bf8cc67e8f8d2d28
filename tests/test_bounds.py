"""The bounds the configuration's checks declare (``sim.config.bounds``), against the checks.

A range check declares the bound it holds its key to, and the failure-point and risk
sweepers read a key's range from those declarations (``allowed_for``) instead of from the
words of a refusal. Two things must hold for that to be safe:

- the declarations say what validation does: for every numeric key of the schema in a
  few configs (the default and presets that switch on other kinds; the keys found by
  walking the dataclasses), validation refuses the key just beyond each declared bound
  (or refuses the config, where a rule between keys is checked first), refuses it at an
  open bound, and does not refuse it with the declared words at a closed bound or just
  inside an open one (a rule between keys may still refuse it: ``end_s`` of a ramp must
  exceed ``start_s`` whatever its own bound);
- ``allowed_for`` answers as it did when it read the refusals' words: its answers for
  every key of those configs, recorded with the code before the declarations
  (``tests/allowed_before.json``), are kept, except where the declarations correct
  them (``CORRECTED``, each with why) or answer where the words gave nothing; and no
  key is answered from the words any more.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import types
import typing
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest

from sim.compose import compose
from sim.config import Bound, ConfigError, bound, bounds, to_config, validate
from sim.config.bounds import message_key

BEFORE = json.loads((Path(__file__).parent / "allowed_before.json").read_text())
CONFIGS: dict[str, list[str]] = {name: c["overrides"] for name, c in BEFORE.items()}


def _numbers(t: Any) -> tuple[type, ...]:
    """The number types of an annotation (``int | None``: int), empty if it is not one."""
    args = typing.get_args(t) if typing.get_origin(t) in (typing.Union, types.UnionType) \
        else (t,)
    args = tuple(a for a in args if a is not type(None))
    return args if args and all(a in (int, float) for a in args) else ()


def _numeric(t: Any) -> bool:
    return bool(_numbers(t))


def whole_keys(obj: Any, prefix: str = "") -> set[str]:
    """The keys of ``numeric_keys`` whose schema type is ``int``."""
    out = set()
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        t, v, key = hints[f.name], getattr(obj, f.name), f"{prefix}{f.name}"
        if _numbers(t) == (int,):
            out.add(key)
        elif dataclasses.is_dataclass(v):
            out |= whole_keys(v, key + ".")
        elif isinstance(v, dict):
            for k, item in v.items():
                if dataclasses.is_dataclass(item):
                    out |= whole_keys(item, f"{key}.{k}.")
        elif isinstance(v, list):
            for i, item in enumerate(v):
                if dataclasses.is_dataclass(item):
                    out |= whole_keys(item, f"{key}.{i}.")
    return out


def numeric_keys(obj: Any, prefix: str = "") -> list[str]:
    """Every key of a ``SimConfig`` (or a part of one) that holds a number, as an override
    spells it (list items by index: ``outages.0.start_s``)."""
    out = []
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        t, v, key = hints[f.name], getattr(obj, f.name), f"{prefix}{f.name}"
        if _numeric(t):
            out.append(key)
        elif dataclasses.is_dataclass(v):
            out += numeric_keys(v, key + ".")
        elif isinstance(v, dict):
            for k, item in v.items():
                if dataclasses.is_dataclass(item):
                    out += numeric_keys(item, f"{key}.{k}.")
                elif isinstance(item, dict):
                    out += [f"{key}.{k}.{k2}" for k2, x in item.items()
                            if isinstance(x, int | float)]
        elif isinstance(v, list):
            for i, item in enumerate(v):
                if dataclasses.is_dataclass(item):
                    out += numeric_keys(item, f"{key}.{i}.")
    return out


def with_value(sim: Any, key: str, value: float) -> Any:
    """A copy of the ``SimConfig`` ``sim`` with ``key`` set to ``value``."""
    out = copy.deepcopy(sim)
    node = out
    *path, last = key.split(".")
    for part in path:
        node = node[part] if isinstance(node, dict) else \
            node[int(part)] if isinstance(node, list) else getattr(node, part)
    if isinstance(node, dict):
        node[last] = value
    else:
        setattr(node, last, value)
    return out


def refused(sim: Any, key: str, value: float) -> bool:
    """Whether validation refuses ``key`` set to ``value`` (naming it or, where a rule
    between keys is checked first, another key: a waiting room's ``max_in_system``
    needs its ``watch``)."""
    try:
        validate(with_value(sim, key, value))
    except ConfigError:
        return True
    return False


def refusal(sim: Any, key: str, value: float) -> str | None:
    """What validation says ``key`` allows when it refuses ``value`` for it (None: it does
    not refuse ``key``; a refusal of another key is not one)."""
    try:
        validate(with_value(sim, key, value))
    except ConfigError as exc:
        head = f"Invalid configuration: {message_key(key)} = "
        text = str(exc)
        if text.startswith(head):
            return text.split("; allowed: ", 1)[-1].removesuffix(".")
    return None


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def case(request: pytest.FixtureRequest) -> tuple[str, Any, Any]:
    name = request.param
    cfg = compose(CONFIGS[name])
    return name, cfg, to_config(cfg)


def _step(b: Bound, at: float) -> float:
    return 1.0 if b.integer else max(abs(at), 1.0) * 1e-9


def _value(b: Bound, v: float) -> float:
    return int(v) if b.integer else float(v)


def test_the_declared_bounds_are_what_validation_does(case: tuple[str, Any, Any]) -> None:
    name, cfg, sim = case
    declared = bounds(cfg)
    whole = whole_keys(sim)
    checked = 0
    problems = []
    for key in numeric_keys(sim):
        b = declared.get(message_key(key))
        if b is None:
            continue
        if b.integer != (key in whole):  # the risk sweeper draws whole numbers by it
            problems.append(f"{key}: declared {'' if b.integer else 'not '}whole, "
                            f"typed {'int' if key in whole else 'float'}")
        words = set(b.text.split("; "))
        for at, open_, beyond in ((b.minimum, b.min_open, -1), (b.maximum, b.max_open, 1)):
            if at is None:
                continue
            checked += 1
            step = _step(b, at)
            if not refused(sim, key, _value(b, at + beyond * step)):
                problems.append(f"{key}: {at + beyond * step} beyond {b} is not refused")
            here = refusal(sim, key, _value(b, at))
            if open_ and here is None:
                problems.append(f"{key}: the open bound {at} of {b} is not refused")
            if not open_ and here in words:
                problems.append(f"{key}: the bound {at} of {b} is refused ({here})")
            if open_:
                inside = refusal(sim, key, _value(b, at - beyond * step))
                if inside in words:
                    problems.append(f"{key}: {at - beyond * step} inside {b} is refused")
    assert problems == [], (name, problems)
    assert checked > 50


def _answer(a: Any) -> list[Any]:
    return list(astuple(a))


# Where the declarations answer differently from the refusals' words, by the key's last
# name, and why the declared answer is the right one (checked against validation above).
CORRECTED: dict[str, str] = {
    "early_window_s": "a flash crowd with early arrivals (early_share > 0, the default) "
                      "also needs a positive window: 0 is refused, which the words of the "
                      "first refusal (of a negative value: 'a finite number >= 0') missed",
}


def test_allowed_for_answers_as_before(case: tuple[str, Any, Any]) -> None:
    """Every answer recorded before keeps its range; its words are the declared ones,
    without the words of a rule between keys that a far value also broke ("less than
    run.horizon_s"). A key answered only now is answered with its declared bound."""
    from hydra_plugins.sim_failure_point.failure_point_sweeper import allowed_for

    name, cfg, sim = case
    before = BEFORE[name]["keys"]
    assert sorted(before) == sorted(numeric_keys(sim))  # the same keys as when recorded
    declared = bounds(cfg)
    changed = {}
    for key, answers in before.items():
        b = declared.get(message_key(key))
        for integer in (False, True):
            old = answers[str(integer).lower()]
            if old[0] is None and old[1] is None:
                if b is not None and b.minimum is not None:
                    got = _answer(allowed_for(cfg, key, integer, 1.0))
                    assert got == [b.minimum, b.maximum, b.min_open, b.max_open, b.text]
                continue
            got = _answer(allowed_for(cfg, key, integer, 1.0))
            if key.rsplit(".", 1)[-1] in CORRECTED:
                continue
            if got[:4] != old[:4] or not old[4].startswith(got[4]):
                changed[(key, integer)] = (old, got)
    assert changed == {}, name


def test_keys_answered_only_from_the_words(case: tuple[str, Any, Any]) -> None:
    """Every key whose range ``allowed_for`` reads from a refusal's words rather than a
    declaration: none."""
    name, cfg, _ = case
    declared = bounds(cfg)
    words_only = []
    for key, answers in BEFORE[name]["keys"].items():
        old = answers["false"]
        if (old[0] is not None or old[1] is not None) and message_key(key) not in declared:
            words_only.append(key)
    assert words_only == [], name


# -- the pieces --------------------------------------------------------------------------

def test_a_key_checked_twice_meets_both_bounds() -> None:
    b = Bound(0.0, text="a finite number >= 0").meet(
        Bound(0.0, min_open=True, text="a positive finite number"))
    assert (b.minimum, b.min_open) == (0.0, True)
    assert b.text == "a finite number >= 0; a positive finite number"
    c = Bound(0.0, 1.0, text="a number in [0, 1]").meet(
        Bound(0.5, 2.0, max_open=True, integer=True, text="x"))
    assert (c.minimum, c.maximum, c.max_open, c.integer) == (0.5, 1.0, False, True)
    assert not c.admits(0.4) and c.admits(1.0) and not math.isnan(c.maximum or 0)


def test_list_indices_read_as_the_messages_write_them() -> None:
    assert message_key("architecture.stations.s.outages.0.start_s") \
        == "architecture.stations.s.outages[0].start_s"
    assert message_key("autoscaler.behavior.scale_up.policies.10.value") \
        == "autoscaler.behavior.scale_up.policies[10].value"
    assert message_key("arrivals.rate") == "arrivals.rate"


def test_a_null_limit_is_declared_all_the_same() -> None:
    cfg = compose([])
    assert to_config(cfg).architecture.stations["join"].rate_limit_rps is None
    b = bound(cfg, "architecture.stations.join.rate_limit_rps")
    assert b is not None and (b.minimum, b.min_open) == (0.0, True)
    assert bound(cfg, "architecture.stations.join.no_such_key") is None


def test_declarations_are_recorded_only_while_asked_for() -> None:
    from sim.config.errors import declare, declaring, positive

    declare("y", Bound(1.0))  # outside ``declaring``: nothing to record it in
    assert declaring(lambda: positive("x", -1.0)) == {"x": Bound(0.0, min_open=True,
                                                               text="a positive finite number")}
    assert declaring(lambda: None) == {}
