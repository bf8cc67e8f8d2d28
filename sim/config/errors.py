"""Configuration errors, and the range checks each group's validation is written with.

Bad input stops a run before anything is simulated, with one paragraph that names the
key, the value and what is allowed: a ``ConfigError``. The checks below raise it in one
shape, ``Invalid configuration: <key> = <value>; allowed: <what>.``, so a group's module
states each of its rules as one call per key (``positive("run.horizon_s", ...)``).
Errors OmegaConf raises while a config is composed (an unknown key, a value of the wrong
type) are turned into paragraphs of the same kind by ``sim.config.explain``.
"""

from __future__ import annotations

import math
from typing import Any


class ConfigError(ValueError):
    """A configuration value is out of range or inconsistent; the message says which."""


def fail(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"Invalid configuration: {key} = {value!r}; allowed: {allowed}.")


def positive(key: str, value: Any) -> None:
    if value is None or not isinstance(value, int | float) or not (value > 0) \
            or not math.isfinite(value):
        raise fail(key, value, "a positive finite number")


def non_negative(key: str, value: Any) -> None:
    if value is None or not isinstance(value, int | float) or not (value >= 0) \
            or not math.isfinite(value):
        raise fail(key, value, "a finite number >= 0")


def share(key: str, value: Any) -> None:
    if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise fail(key, value, "a number in [0, 1]")


def choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise fail(key, value, "one of " + ", ".join(choices))


__all__ = ["ConfigError", "choice", "fail", "non_negative", "positive", "share"]
