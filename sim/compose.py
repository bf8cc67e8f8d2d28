"""Composing a config as the command does: Hydra's compose, with its errors turned into
``ConfigError`` (one paragraph that names the key and what is allowed).

Below both the command (``sim.cli``) and the report (which composes the shipped defaults
to list what a run changed), so that neither reaches up to the other.
"""

from __future__ import annotations

import re
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from .config import ConfigError, explain, register, shipped_config_dir

CONFIG_DIR = shipped_config_dir()


def _expose_plugins() -> None:
    """Make Hydra's plugin scan see ``hydra_plugins.sim_failure_point`` in any install.

    Hydra finds plugins by walking the folders of the ``hydra_plugins`` namespace. A
    plain install puts ours in site-packages beside the others; an editable install
    (``pip install -e``) maps it through an import hook that the walk does not see, so
    its folder is added to the namespace here, before Hydra scans.
    """
    import importlib.util

    import hydra_plugins

    spec = importlib.util.find_spec("hydra_plugins.sim_failure_point")
    if spec is None or not spec.submodule_search_locations:
        return
    parent = str(Path(next(iter(spec.submodule_search_locations))).parent)
    if parent not in list(hydra_plugins.__path__):
        hydra_plugins.__path__.append(parent)



def compose(overrides: list[str], config_dir: str | Path | None = None,
            config_name: str = "config") -> DictConfig:
    """Compose the config as ``python -m sim`` would, for notebooks and tests.

    Interpolations are resolved here, including Hydra's own (``${hydra:runtime.cwd}``).
    Any problem raises ``ConfigError`` with the message the command prints.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.singleton import Singleton

    register()
    _expose_plugins()
    extra = [f"hydra.searchpath=[file://{Path(config_dir).resolve()}]"] if config_dir else []
    # Inside a running Hydra app (or a caller's initialize()), set the global Hydra aside
    # for this compose and put it back afterwards.
    saved = Singleton._instances.pop(GlobalHydra, None)
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            try:
                cfg = hydra_compose(config_name=config_name,
                                    overrides=[*overrides, *extra], return_hydra_config=True)
            except Exception as exc:
                raise _composition_error(exc) from None
    finally:
        if saved is not None:
            Singleton._instances[GlobalHydra] = saved
    hydra_cfg = HydraConfig.instance()
    previous = hydra_cfg.cfg
    hydra_cfg.set_config(cfg)  # so that ${hydra:...} resolves
    try:
        with open_dict(cfg):
            cfg.pop("hydra")
        try:
            OmegaConf.resolve(cfg)
        except Exception as exc:
            raise explain(exc) from None
    finally:
        hydra_cfg.cfg = previous
    return cfg


def _composition_error(exc: Exception) -> ConfigError:
    """One paragraph for an error Hydra raised while composing."""
    from hydra.errors import MissingConfigException, OverrideParseException

    text = str(exc)
    if isinstance(exc, MissingConfigException):
        m = re.search(r"Could not find '([^']+)'", text)
        found = re.search(r"Available options in '([^']+)':\n((?:\t.*\n?)*)", text)
        if m:
            group, _, option = m.group(1).rpartition("/")
            options = found.group(2).split() if found else []
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
    return explain(exc, _override_key(text))


def _override_key(text: str) -> str | None:
    """The key of the override that Hydra names in ``text``, if it names one."""
    m = re.search(r"Could not override '([^']+)'", text) \
        or re.search(r"Error merging override (\S+)", text) \
        or re.search(r"Could not (?:append to|delete from) config\..*?'([^']+)'", text)
    return m.group(1).split("=", 1)[0].lstrip("+~") if m else None
