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

The same checks refuse, before Hydra starts, a run the guard estimates too long or too
large (``sim.resolution.guard``), an SLO window as long as the horizon, an output
directory that cannot be written, and bad failure-point settings. While the command runs,
SIGINT, SIGTERM and SIGHUP stop it with what was computed kept (``sim.run``), one line on
stderr and exit status 128 + n; a sweep passes the signal to its workers and ends them.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from .compat.hydra import args_parser, expose_plugins, parse_overrides, share_config_store
from .compose import CONFIG_DIR, compose, composition_error
from .config import (
    ConfigError,
    SimConfig,
    check_overrides,
    config_groups,
    register,
    shipped_config_dir,
    to_config,
)
from .resolution import guard
from .run import (
    Interrupted,
    OutputError,
    atomic_write_text,
    check_writable,
    is_complete,
    mark_complete,
    simulate,
    stop_on_signals,
)
from .summary import Summary

expose_plugins()
EXIT_BAD_CONFIG = 2
EXIT_FAILED = 1  # a run failed, its results could not be written, or a sweep job failed
# A multirun is checked job by job up to this many jobs, value by value beyond.
MAX_CHECKED_JOBS = 256
# The command's process id, inherited by a sweep's worker processes, which tell
# themselves apart from the command by it.
COMMAND_PID_ENV = "SIM_COMMAND_PID"
# Seconds a stopped sweep gives its workers to write what their jobs computed.
WORKER_GRACE_S = 10.0
# The output directory of the running single run, for the message when a signal stops it.
_current: dict[str, Path] = {}


def config_dir() -> Path:
    """Where the shipped configs are: the package data, or the clone's ``configs/``."""
    return shipped_config_dir()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def _main(cfg: DictConfig) -> Mapping[str, Any]:
    """One job: run the scenario and return its summary (sweepers read it).

    In a sweep, a job whose run directory already holds a complete run of the same
    config (marked complete, status ok) is skipped (a restarted sweep resumes), and a job
    that fails is recorded (error.txt, a summary with ``status: failed``) and returns
    instead of raising, so the other jobs of the sweep go on. A job stopped by a signal
    keeps what it computed; in a worker process it then ends the worker.
    """
    from hydra.types import RunMode

    hc = HydraConfig.get()
    outdir = Path(hc.runtime.output_dir)
    if hc.mode != RunMode.MULTIRUN:
        _current["outdir"] = outdir
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
        with stop_on_signals():
            return _run(sim_cfg, outdir)
    except Interrupted as stop:
        if os.environ.get(COMMAND_PID_ENV, str(os.getpid())) != str(os.getpid()):
            _wait_for_the_end(stop.exit_code)  # a worker: its results are written
        raise
    except Exception as exc:
        import traceback

        return _record_failure(outdir, "".join(traceback.format_exception(exc)))


def _finished_summary(cfg: SimConfig, outdir: Path) -> dict[str, Any] | None:
    """The summary of a complete earlier run of ``cfg`` in ``outdir``, if there is one.

    Complete means marked complete (``sim.run.mark_complete``, written after every other
    file) by the same code (``sim.provenance``), with a summary of status ok and the same
    config.yaml.
    """
    import json

    if not is_complete(outdir, same_code=True):
        return None
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
    with suppress(OSError):
        outdir.mkdir(parents=True, exist_ok=True)
        if not (outdir / "error.txt").is_file():
            atomic_write_text(outdir / "error.txt", error)
    last = error.strip().splitlines()[-1] if error.strip() else "error"
    print(f"sim: job in {outdir} failed: {last}", file=sys.stderr)
    return {"status": "failed", "error": error}


def _run(sim_cfg: SimConfig, outdir: Path) -> Summary:
    """Run, build the report if asked, mark the directory complete; return the summary."""
    result = simulate(sim_cfg, outdir=outdir, progress=sim_cfg.run.progress)
    if sim_cfg.run.report:
        from .report import build_report  # matplotlib: loaded only when a report is built

        build_report(outdir)
    if result.summary.get("status") == "ok":
        mark_complete(outdir)
    return result.summary


def _job(cfg: DictConfig, outdir: Path) -> Summary:
    """A single run: its failures are one paragraph and an exit status, no traceback."""
    try:
        sim_cfg = to_config(cfg)
    except ConfigError as exc:
        print(f"sim: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    try:
        s = _run(sim_cfg, outdir)
    except ConfigError as exc:  # the guard refused the run
        print(f"sim: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    except OutputError as exc:
        print(f"sim: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_FAILED) from None
    except Exception as exc:
        last = f"{type(exc).__name__}: {exc}".splitlines()[0]
        print(f"sim: the run failed ({last}). What it computed is kept in {outdir}, with "
              f"the full traceback in error.txt; please report it with config.yaml if the "
              f"config is valid.", file=sys.stderr)
        raise SystemExit(EXIT_FAILED) from None
    legit, slo = s["legit"], s["slo"]
    verdict = "SLO met" if slo["met"] else (
        f"SLO breached at t={slo['first_breach_s']:.0f} s, bottleneck {slo['bottleneck']}"
        if slo["first_breach_s"] is not None else "SLO not judged")
    if slo["met"]:
        from .analysis.coverage import load_gaps

        gaps = load_gaps(s, OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
        if gaps:
            verdict = f"SLO not judged over the load: {gaps[0]}"
    print(f"{s['name']}: {legit['joined']:,} of {legit['arrived']:,} clients joined "
          f"({legit['abandoned']:,} abandoned, {legit['in_flight']:,} in flight), "
          f"{legit['attempts']:,} attempts; {verdict}; wrote {outdir}")
    return s


def check_command_line(argv: list[str]) -> None:
    """Compose and validate what ``argv`` asks for; raise ConfigError on bad input.

    Hydra's informational flags (``--help``, ``--cfg``, ``--info``, ...) and unknown flags
    are left to Hydra.
    """
    if any(a == "--version" for a in argv):
        return
    args, unknown = args_parser().parse_known_args(argv)
    if unknown or args.help or args.hydra_help or args.info or args.shell_completion \
            or args.experimental_rerun or args.config_path:
        return
    config_name = args.config_name or "config"
    overrides: list[str] = list(args.overrides)
    check_overrides(overrides, config_dir=args.config_dir)
    for job in _jobs(overrides, args.config_dir) if args.multirun else [overrides]:
        cfg = compose(job, config_dir=args.config_dir, config_name=config_name)
        if args.cfg:  # --cfg shows a config that composes, valid or not
            continue
        sim_cfg = to_config(cfg)
        check_windows(sim_cfg)
        if args.multirun and "hydra/sweeper=failure_point" in overrides:
            from hydra_plugins.sim_failure_point.failure_point_sweeper import check_settings

            check_settings(cfg, _sweeper_settings(overrides))
        else:
            guard(sim_cfg)
    if not args.cfg:
        check_output_dir(overrides, args.multirun)


def check_windows(cfg: SimConfig) -> None:
    """The SLO window must be shorter than the horizon, or nothing is judged.

    (The library accepts it, for short test scenarios with the default 60 s window; a
    command-line run is a study, and a study that judges nothing is refused.)
    """
    r, w = cfg.run, cfg.slo.window_s
    if w >= r.horizon_s:
        raise ConfigError(f"Invalid configuration: slo.window_s = {w!r}; allowed: a window "
                          f"shorter than run.horizon_s ({r.horizon_s:g}), or the run judges "
                          f"no full window. Lower slo.window_s or raise run.horizon_s.")


def check_output_dir(overrides: list[str], multirun: bool) -> None:
    """The run's (or sweep's) directory must be a directory this process can write.

    Hydra creates it before the run starts and would fail there with a traceback, so it
    is checked (and created) here; ``OutputError`` names the path and the cause.
    """
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    given = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+") == key]
    target = Path(given[-1].strip("'\"")) if given else Path.cwd() / (
        "multirun" if multirun else "outputs")
    if "${" not in str(target):
        check_writable(target)


def _sweeper_settings(overrides: list[str]) -> dict[str, Any]:
    """The ``hydra.sweeper.*`` values of the command line, parsed as YAML values."""
    import yaml

    out: dict[str, Any] = {}
    for o in overrides:
        key, _, value = o.partition("=")
        key = key.lstrip("+")
        if key.startswith("hydra.sweeper."):
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                parsed = value
            if isinstance(parsed, str):
                # YAML reads 1e5 as text; Hydra, which composes the sweeper, as a number.
                with suppress(ValueError):
                    parsed = float(parsed)
            out[key.removeprefix("hydra.sweeper.")] = parsed
    return out


def group_options(group: str, config_dir: str | None = None) -> list[str] | None:
    """The option names of config group ``group`` (shipped, and in ``config_dir``),
    sorted; None if no such group exists."""
    dirs = [CONFIG_DIR / group] + ([Path(config_dir) / group] if config_dir else [])
    found = [d for d in dirs if d.is_dir()]
    if not found:
        return None
    return sorted({p.stem for d in found for p in d.glob("*.yaml")})


def _glob_axis(o: Any, config_dir: str | None) -> list[str]:
    """A glob override's jobs: the group's options it matches; a glob over anything but
    a config group, or one that matches nothing, is refused with the key named."""
    group = o.key.lstrip("+~")
    options = group_options(group, config_dir)
    if options is None:
        groups = ", ".join(sorted(config_groups(config_dir)))
        raise ConfigError(f"Invalid configuration: {o.line}: glob() chooses among the "
                          f"options of a config group, and {group} is not one; allowed: "
                          f"a glob over one of the groups ({groups}), or a list of "
                          f"values ({group}=a,b,c) or range() for any key.")
    matched = o.glob(options)
    if not matched:
        raise ConfigError(f"Invalid configuration: {o.line} matches no option of "
                          f"{group}; allowed options: {', '.join(options)}.")
    return [f"{o.key}={m}" for m in matched]


def _jobs(overrides: list[str], config_dir: str | None = None) -> list[list[str]]:
    """The override lists of a multirun's jobs (Hydra's basic sweeper: the product)."""
    try:
        parsed = parse_overrides(overrides)
    except Exception as exc:
        raise composition_error(exc) from None
    axes: list[list[str]] = []
    for o in parsed:
        values = o.values()
        if o.glob([]) is not None:
            axes.append(_glob_axis(o, config_dir))
        elif values is not None:
            axes.append([f"{o.key}={v}" for v in values])
        else:  # a plain override (or an interval, which only optimizing sweepers take)
            axes.append([o.line])
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
    """The command: check everything, run under signal handling, report a failed sweep.

    Exit status: 0 when everything ran, 2 for bad input (one paragraph naming the key),
    1 when a run failed or a sweep had a failed job, 128 + n when signal n (SIGINT,
    SIGTERM, SIGHUP) stopped it (what was computed is kept, marked interrupted).
    """
    from . import sweep

    register()
    share_config_store()  # the command's process only: Hydra's --help is much faster
    args = sys.argv[1:] if argv is None else argv
    try:
        check_command_line(args)
    except (ConfigError, OutputError) as exc:
        print(f"sim: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    expose_plugins()
    os.environ[COMMAND_PID_ENV] = str(os.getpid())
    sweep.outcome.clear()
    _current.clear()
    try:
        with stop_on_signals(on_signal=_stop_workers):
            ret = _main()
    except KeyboardInterrupt as exc:
        _stopped(exc if isinstance(exc, Interrupted) else Interrupted())
    failed = sweep.outcome.get("failed")
    if failed:
        print(f"sim: {failed} of {sweep.outcome['jobs']} sweep jobs failed; the others "
              f"finished. See the status and error columns of {sweep.outcome['csv']}.",
              file=sys.stderr)
        raise SystemExit(EXIT_FAILED)
    return ret


def _stopped(stop: Interrupted) -> None:
    """A signal stopped the command: end the workers, say where the results are, exit."""
    from . import sweep

    _end_workers()
    sweep_dir = sweep.outcome.get("dir")
    if sweep_dir is not None:
        with suppress(Exception):
            sweep.write_sweep_table(sweep_dir)
    where = sweep_dir or _current.get("outdir")
    kept = f"what was computed is kept in {where} (status interrupted, error.txt)" \
        if where else "nothing was written yet"
    again = ("run the same command again to resume: finished jobs are skipped"
             if sweep_dir else "run the same command again to start over")
    print(f"sim: {stop}; {kept}; {again}.", file=sys.stderr, flush=True)
    raise SystemExit(stop.exit_code)


def _children() -> list[int]:
    """This process's child processes (a sweep's workers), from /proc where there is one.

    The launcher's resource tracker is left out: it is not a worker, and it ends by
    itself when the command does, after cleaning up what the workers shared.
    """
    me = os.getpid()
    proc = Path("/proc")
    if not proc.is_dir():
        import multiprocessing

        return [p.pid for p in multiprocessing.active_children() if p.pid]
    kids = []
    for d in proc.iterdir():
        if d.name.isdigit():
            with suppress(OSError, ValueError, IndexError):
                stat = (d / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[1]) == me and fields[0] != "Z" and b"resource_tracker" \
                        not in (d / "cmdline").read_bytes():
                    kids.append(int(d.name))
    return kids


def _wait_for_the_end(exit_code: int) -> None:
    """A sweep's worker whose job was stopped and written waits for the command to end
    it rather than exit at once: the launcher takes a worker that dies for a broken pool
    and kills the others, which may still be writing what they computed. A signal sent
    to this worker alone (the command goes on) ends it after twice the command's grace.
    """
    sys.stderr.flush()
    time.sleep(2 * WORKER_GRACE_S)
    os._exit(exit_code)


def _stop_workers(signum: int) -> None:
    """Pass the signal on to the workers and give them a moment to write their results:
    until every job that started has written its error.txt (or finished), or
    WORKER_GRACE_S."""
    from . import sweep

    kids = _children()
    for pid in kids:
        with suppress(OSError):
            os.kill(pid, signum)
    deadline = time.monotonic() + WORKER_GRACE_S
    sweep_dir = sweep.outcome.get("dir")
    while kids and time.monotonic() < deadline:
        alive = set(_children())
        kids = [k for k in kids if k in alive]
        if not kids or (sweep_dir is not None and _jobs_settled(Path(sweep_dir))):
            return
        time.sleep(0.05)


def _jobs_settled(sweep_dir: Path) -> bool:
    """Every job directory that holds a config also holds its summary (a stopped or
    failed run writes it last, after error.txt) or is complete."""
    for job in sweep_dir.iterdir():
        if (job / "config.yaml").is_file() and not (job / "summary.json").is_file() \
                and not is_complete(job):
            return False
    return True


def _end_workers() -> None:
    """Kill what is left of the workers and reap them, so that none outlives the command."""
    import signal

    kids = _children()
    for pid in kids:
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for pid in kids:
        with suppress(OSError):
            os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
