"""The Hydra entry points: ``sim`` / ``python -m sim`` and the compose helper.

Configs ship inside the package (``sim.configs``, the ``configs/`` folder of the
repository) so they are found from a clone and from a plain ``pip install``. Users add
their own architectures with Hydra's ``--config-dir``.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from .config import ConfigError, register, to_config
from .run import simulate


def config_dir() -> Path:
    """Where the shipped configs are: the package data, or the clone's ``configs/``."""
    try:
        path = Path(str(resources.files("sim.configs")))
        if (path / "config.yaml").is_file():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "configs"


CONFIG_DIR = config_dir()


def compose(overrides: list[str], config_dir: str | Path | None = None) -> DictConfig:
    """Compose the config as ``python -m sim`` would, for notebooks and tests."""
    from hydra import compose as hydra_compose  # noqa: PLC0415
    from hydra import initialize_config_dir  # noqa: PLC0415

    register()
    extra = [f"hydra.searchpath=[file://{Path(config_dir).resolve()}]"] if config_dir else []
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=[*overrides, *extra])


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def _main(cfg: DictConfig) -> None:
    try:
        sim_cfg = to_config(cfg)
    except ConfigError as exc:
        print(f"sim: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    outdir = Path(HydraConfig.get().runtime.output_dir)
    result = simulate(sim_cfg, outdir=outdir, progress=sim_cfg.run.progress)
    s = result.summary
    legit, slo = s["legit"], s["slo"]
    verdict = "SLO met" if slo["met"] else (
        f"SLO breached at t={slo['first_breach_s']:.0f} s, bottleneck {slo['bottleneck']}")
    print(f"{s['name']}: {legit['joined']:,} of {legit['arrived']:,} clients joined "
          f"({legit['abandoned']:,} abandoned, {legit['in_flight']:,} in flight), "
          f"{legit['attempts']:,} attempts; {verdict}; wrote {outdir}")


def main() -> None:
    register()
    _main()


if __name__ == "__main__":
    main()
