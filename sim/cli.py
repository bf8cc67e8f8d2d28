"""The Hydra entry points: ``sim`` / ``python -m sim`` (and ``compose``, from ``sim.compose``).

Configs ship inside the package (``sim.configs``, the ``configs/`` folder of the
repository) so they are found from a clone and from a plain ``pip install``. Users add
their own architectures with Hydra's ``--config-dir``.

Bad input stops the command before anything runs, with one paragraph on stderr that names
the key and what is allowed, and exit status 2. Hydra would report composition errors (an
unknown key, a value of the wrong type, a missing option) itself, in several lines and in
its own terms, so ``main`` composes and validates the config first with ``compose`` (and,
for a multirun, every job of the sweep), which turns those errors into ``ConfigError``.
The Python API (``sim.run``, ``compose``) raises the same ``ConfigError``.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from .compose import CONFIG_DIR, _composition_error, _expose_plugins, compose
from .config import (
    ConfigError,
    SimConfig,
    register,
    shipped_config_dir,
    to_config,
)
from .run import simulate

_expose_plugins()
EXIT_BAD_CONFIG = 2
# A multirun is checked job by job up to this many jobs, value by value beyond.
MAX_CHECKED_JOBS = 256


def config_dir() -> Path:
    """Where the shipped configs are: the package data, or the clone's ``configs/``."""
    return shipped_config_dir()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def _main(cfg: DictConfig) -> dict[str, Any]:
    """One job: run the scenario and return its summary (sweepers read it).

    In a sweep, a job whose run directory already holds a complete summary of the same
    config is skipped (a restarted sweep resumes), and a job that fails is recorded
    (error.txt, a summary with ``status: failed``) and returns instead of raising, so
    the other jobs of the sweep go on.
    """
    from hydra.types import RunMode

    hc = HydraConfig.get()
    outdir = Path(hc.runtime.output_dir)
    if hc.mode != RunMode.MULTIRUN:
        return _job(cfg, outdir)
    try:
        sim_cfg = to_config(cfg)
    except ConfigError as exc:
        return _record_failure(outdir, f"ConfigError: {exc}")
    done = _finished_summary(sim_cfg, outdir)
    if done is not None:
        print(f"sim: job {hc.job.num} already done in {outdir}, skipped", file=sys.stderr)
        return done
    try:
        return _job(cfg, outdir)
    except Exception as exc:
        import traceback

        return _record_failure(outdir, "".join(traceback.format_exception(exc)))


def _finished_summary(cfg: SimConfig, outdir: Path) -> dict[str, Any] | None:
    """The summary of a complete earlier run of ``cfg`` in ``outdir``, if there is one."""
    import json


    try:
        summary = json.loads((outdir / "summary.json").read_text())
        same = (outdir / "config.yaml").read_text() == OmegaConf.to_yaml(
            OmegaConf.structured(cfg))
    except (OSError, ValueError):
        return None
    if not same or summary.get("status") != "ok" or (outdir / "error.txt").exists():
        return None
    if cfg.run.replications > 1 and (summary.get("replications") or {}).get("n") \
            != cfg.run.replications:
        return None
    if cfg.run.report and not (outdir / "report.html").is_file():
        return None
    return summary


def _record_failure(outdir: Path, error: str) -> dict[str, Any]:
    """Record a failed sweep job (keeping any error.txt the run wrote) and go on."""
    outdir.mkdir(parents=True, exist_ok=True)
    if not (outdir / "error.txt").is_file():
        (outdir / "error.txt").write_text(error)
    last = error.strip().splitlines()[-1] if error.strip() else "error"
    print(f"sim: job in {outdir} failed: {last}", file=sys.stderr)
    return {"status": "failed", "error": error}


def _job(cfg: DictConfig, outdir: Path) -> dict[str, Any]:
    try:
        sim_cfg = to_config(cfg)
    except ConfigError as exc:
        print(f"sim: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    result = simulate(sim_cfg, outdir=outdir, progress=sim_cfg.run.progress)
    if sim_cfg.run.report:
        from .report import build_report  # matplotlib: loaded only when a report is built

        build_report(outdir)
    s = result.summary
    legit, slo = s["legit"], s["slo"]
    verdict = "SLO met" if slo["met"] else (
        f"SLO breached at t={slo['first_breach_s']:.0f} s, bottleneck {slo['bottleneck']}")
    print(f"{s['name']}: {legit['joined']:,} of {legit['arrived']:,} clients joined "
          f"({legit['abandoned']:,} abandoned, {legit['in_flight']:,} in flight), "
          f"{legit['attempts']:,} attempts; {verdict}; wrote {outdir}")
    return s


def check_command_line(argv: list[str]) -> None:
    """Compose and validate what ``argv`` asks for; raise ConfigError on bad input.

    Hydra's informational flags (``--help``, ``--cfg``, ``--info``, ...) and unknown flags
    are left to Hydra.
    """
    from hydra._internal.utils import get_args_parser

    if any(a == "--version" for a in argv):
        return
    parser = get_args_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown or args.help or args.hydra_help or args.info or args.shell_completion \
            or args.experimental_rerun or args.config_path:
        return
    config_name = args.config_name or "config"
    overrides: list[str] = list(args.overrides)
    for job in _jobs(overrides) if args.multirun else [overrides]:
        cfg = compose(job, config_dir=args.config_dir, config_name=config_name)
        if not args.cfg:  # --cfg shows a config that composes, valid or not
            to_config(cfg)


def _jobs(overrides: list[str]) -> list[list[str]]:
    """The override lists of a multirun's jobs (Hydra's basic sweeper: the product)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as exc:
        raise _composition_error(exc) from None
    axes: list[list[str]] = []
    for o, line in zip(parsed, overrides, strict=True):
        if o.is_sweep_override() and o.is_discrete_sweep():
            key = o.get_key_element()
            axes.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:  # a plain override (or an interval, which only optimizing sweepers take)
            axes.append([line])
    n_jobs = 1
    for axis in axes:
        n_jobs *= len(axis)
    if n_jobs <= MAX_CHECKED_JOBS:
        return [list(job) for job in itertools.product(*axes)]
    # Too many jobs to compose each: vary one key at a time around the first values.
    first = [axis[0] for axis in axes]
    jobs = [first]
    for i, axis in enumerate(axes):
        for value in axis[1:]:
            jobs.append([*first[:i], value, *first[i + 1:]])
    return jobs


def main(argv: list[str] | None = None) -> Any:
    register()
    args = sys.argv[1:] if argv is None else argv
    try:
        check_command_line(args)
    except ConfigError as exc:
        print(f"sim: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    _expose_plugins()
    return _main()


if __name__ == "__main__":
    main()
