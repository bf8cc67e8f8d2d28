"""The Python API for notebooks and scripts: ``sim.run(overrides)``.

It stands where the command stands (above ``run``, beside ``cli``): it composes the
config from the shipped presets and the overrides, runs the scenario, and, given an
output directory, writes the run's files and its report there.
"""

from __future__ import annotations

from pathlib import Path

from .compose import compose
from .config import to_config
from .run import Result, mark_complete, simulate


def run(overrides: list[str] | None = None, outdir: str | Path | None = None,
        config_dir: str | Path | None = None, progress: bool = False) -> Result:
    """Compose the config from Hydra overrides (as on the command line) and run it.

    ``sim.run(["arrivals.audience=1e5"])`` returns a ``Result`` with ``summary`` (the
    dict written to summary.json) and ``timeseries`` (columns as numpy arrays). With
    ``outdir`` the run directory is written as the command writes it (the report only if
    ``run.report`` is true) and marked complete last. Bad overrides raise
    ``sim.ConfigError``, a run the guard refuses ``RunTooLarge`` (a ``ConfigError``), an
    output directory that cannot be written ``OutputError``.
    """
    cfg = to_config(compose(overrides or [], config_dir=config_dir))
    result = simulate(cfg, outdir=outdir, progress=progress)
    if outdir is not None:
        if cfg.run.report:
            from .report import build_report  # matplotlib: loaded only when one is built

            build_report(outdir)
        if result.summary.get("status") == "ok":
            mark_complete(outdir)
    return result
