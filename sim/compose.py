"""Composing a config as the command does: Hydra's compose, with its errors turned into
``ConfigError`` (one paragraph that names the key and what is allowed).

Below both the command (``sim.cli``) and the report (which composes the shipped defaults
to list what a run changed), so that neither reaches up to the other.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from .compat.hydra import (
    expose_plugins,
    global_hydra_aside,
    hydra_config,
    missing_config,
    override_key,
)
from .config import ConfigError, explain, register, shipped_config_dir

CONFIG_DIR = shipped_config_dir()


def compose(overrides: list[str], config_dir: str | Path | None = None,
            config_name: str = "config") -> DictConfig:
    """Compose the config as ``python -m sim`` would, for notebooks and tests.

    Interpolations are resolved here, including Hydra's own (``${hydra:runtime.cwd}``).
    Any problem raises ``ConfigError`` with the message the command prints.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register()
    expose_plugins()
    extra = [f"hydra.searchpath=[file://{Path(config_dir).resolve()}]"] if config_dir else []
    # Inside a running Hydra app (or a caller's initialize()), set the global Hydra aside
    # for this compose and put it back afterwards.
    with global_hydra_aside(), initialize_config_dir(config_dir=str(CONFIG_DIR),
                                                     version_base="1.3"):
        try:
            cfg = hydra_compose(config_name=config_name,
                                overrides=[*overrides, *extra], return_hydra_config=True)
        except Exception as exc:
            raise composition_error(exc) from None
    with hydra_config(cfg):  # so that ${hydra:...} resolves
        with open_dict(cfg):
            cfg.pop("hydra")
        try:
            OmegaConf.resolve(cfg)
        except Exception as exc:
            raise explain(exc) from None
    return cfg


def composition_error(exc: Exception) -> ConfigError:
    """One paragraph for an error Hydra raised while composing (or parsing overrides)."""
    from hydra.errors import MissingConfigException, OverrideParseException

    text = str(exc)
    missing = missing_config(text) if isinstance(exc, MissingConfigException) else None
    if missing is not None:
        path, options = missing
        group, _, option = path.rpartition("/")
        if group:
            return ConfigError(
                f"Invalid configuration: {group.replace('/', '.')} = {option!r} is not "
                f"an option of the config group {group}; allowed: "
                f"{', '.join(options) if options else 'no options found'} (or your "
                f"own, in {group}/ of a directory added with --config-dir).")
        return ConfigError(f"Invalid configuration: there is no config named {option!r}"
                           f"; allowed: config (or your own with --config-dir).")
    if isinstance(exc, OverrideParseException):
        first = text.splitlines()[0] if text else exc.__class__.__name__
        return ConfigError(f"Invalid override ({first}); allowed: key=value, +key=value "
                           f"(add), ~key (delete), group=option; quote values with "
                           f"special characters.")
    return explain(exc, override_key(text))
