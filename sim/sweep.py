"""The results of a sweep: one table per multirun directory, and the sweep's progress.

A sweep (``sim -m ...``, any sweeper, any launcher) leaves one directory per job. At the
end of the sweep ``SweepTable`` (a Hydra callback named in ``configs/config.yaml``'s
``hydra.callbacks``) writes ``sweep.csv`` and ``sweep.json`` into the multirun
directory: per job, its overrides (one column per swept key), its status, its error if it
failed, and its summary figures (with replication means and half-widths when the job
ran replications). The table is built from the files the jobs wrote, so it is the same
whichever launcher ran them (joblib, Ray, submitit), and ``write_sweep_table(DIR)``
rebuilds it at any time, for instance after an interrupted sweep.

Progress: each job, when it ends, prints how many jobs of the sweep have finished in this
invocation (run, failed or skipped as already done; each appends its number to
``.sim_sweep_done``) out of the total the sweep started with (known for Hydra's basic
sweeper, the product of the swept values).

Jobs lost on a cluster (a cancelled SLURM job, a dead Ray node): at the start of a sweep
on Ray or submitit, ``SweepTable`` swaps Hydra's launcher for sim's subclass of it
(``hydra_plugins.sim_failure_point.lost_jobs``), which records a lost job in its run
directory and waits for the others. Any job not ok in the table (failed, interrupted,
missing) makes the command exit 1; the same command run again reruns those jobs only.

Callbacks run where Hydra runs them: ``on_multirun_*`` in the command's process,
``on_job_end`` in the job's process (a joblib worker, a Ray worker, a SLURM node). So
they share nothing but the sweep directory.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from . import summary as schema

TOTAL_FILE = ".sim_sweep.json"
DONE_FILE = ".sim_sweep_done"  # one line per job that ended in this invocation
# Set in the command's process at the end of a sweep (and its directory at the start),
# for the command's exit status and messages.
outcome: dict[str, Any] = {}

# The summary figures of the table (dotted paths into summary.json, ``sim.summary``).
FIGURES = schema.SWEEP_COLUMNS
# With replications: mean and half-width of these.
REPLICATED = schema.SWEEP_REPLICATED
summary_value = schema.value  # the value at a dotted path of a summary; None where there is none


def _job_dirs(sweep_dir: Path) -> list[Path]:
    dirs = [p.parent.parent for p in sweep_dir.glob("**/.hydra/overrides.yaml")]

    def key(p: Path) -> tuple[int, str]:
        rel = p.relative_to(sweep_dir).as_posix()
        return (int(rel) if rel.isdigit() else 1 << 30, rel)

    return sorted(dirs, key=key)


def job_row(job_dir: Path, sweep_dir: Path) -> dict[str, Any]:
    """One job of a sweep: its overrides, status, error and summary figures."""
    overrides: list[str] = yaml.safe_load(
        (job_dir / ".hydra" / "overrides.yaml").read_text()) or []
    row: dict[str, Any] = {"job": job_dir.relative_to(sweep_dir).as_posix(),
                           "overrides": overrides}
    summary: dict[str, Any] | None = None
    if (job_dir / "summary.json").is_file():
        try:
            summary = json.loads((job_dir / "summary.json").read_text())
        except ValueError:
            summary = None
    error = (job_dir / "error.txt").read_text() if (job_dir / "error.txt").is_file() else None
    if summary is None:
        row["status"] = ("interrupted" if error and error.startswith("Interrupted")
                         else "failed" if error else "missing")
    elif summary.get(schema.STATUS) == "interrupted":
        row["status"] = "interrupted"
    else:
        row["status"] = "failed" if error else summary.get(schema.STATUS, "ok")
    row["error"] = error.strip().splitlines()[-1] if error and error.strip() else None
    figures = {k: summary_value(summary, k) for k in FIGURES if k != schema.STATUS} if summary \
        else {}
    reps = summary_value(summary, schema.REPLICATION_METRICS) if summary else None
    if reps:
        figures[schema.REPLICATION_COUNT] = summary_value(summary, schema.REPLICATION_COUNT)
        for k in REPLICATED:
            m = reps.get(k) or {}
            figures[f"{k}.mean"] = m.get("mean")
            figures[f"{k}.half_width"] = m.get("half_width")
    row["figures"] = figures
    return row


def _split(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def write_sweep_table(sweep_dir: str | Path) -> tuple[Path, Path]:
    """Write ``sweep.csv`` and ``sweep.json`` for the jobs found under ``sweep_dir``.

    Both are written to a temporary name and renamed into place. In the CSV, no two
    columns share a name (a figure whose name is also a swept key becomes
    ``summary.<name>``), and a text cell that a spreadsheet would read as a formula (it
    starts with =, +, -, @, a tab or a carriage return and is not a number) is prefixed
    with a quote; numbers, negative ones included, stay numbers.
    """
    from .run import atomic_write, atomic_write_text

    sweep = Path(sweep_dir)
    rows = [job_row(d, sweep) for d in _job_dirs(sweep)]
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(_split(o)[0] for o in r["overrides"]))
    figure_cols: dict[str, None] = {}
    for r in rows:
        figure_cols.update(dict.fromkeys(r["figures"]))
    json_path = sweep / "sweep.json"
    atomic_write_text(json_path, json.dumps(
        {"sweep_dir": str(sweep), "jobs": len(rows),
         "failed": sum(r["status"] == "failed" for r in rows), "rows": rows},
        indent=2) + "\n")
    fixed = ("job", "status", "error", "overrides")
    key_names = [f"override.{k}" if k in fixed else k for k in keys]
    figure_names = [f"summary.{c}" if c in keys or c in fixed else c for c in figure_cols]
    header = unique_names(["job", *key_names, "status", "error", *figure_names, "overrides"])

    def table(fh: Any) -> None:
        w = csv.writer(fh)
        w.writerow([safe_cell(h) for h in header])
        for r in rows:
            values = dict(_split(o) for o in r["overrides"])
            w.writerow([safe_cell(v) for v in (
                r["job"], *(values.get(k, "") for k in keys), r["status"], r["error"] or "",
                *("" if r["figures"].get(c) is None else r["figures"][c]
                  for c in figure_cols),
                " ".join(r["overrides"]))])

    csv_path = sweep / "sweep.csv"
    atomic_write(csv_path, table)
    return csv_path, json_path


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: formula-like strings get a leading quote.

    Only strings are touched, and a string that reads as a number (``-5``, ``+1e3``) is
    left as it is, so negative values stay numeric.
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def unique_names(names: list[str]) -> list[str]:
    """``names`` with any repeated name numbered (``name.2``), so columns are unique."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        candidate = n
        while candidate in seen:
            seen[n] += 1
            candidate = f"{n}.{seen[n]}"
        seen.setdefault(n, 1)
        seen.setdefault(candidate, 1)
        out.append(candidate)
    return out


def _sweep_total(config: DictConfig) -> int | None:
    """How many jobs the basic sweeper will launch (None for other sweepers)."""
    from .compat.hydra import parse_overrides

    target = str(OmegaConf.select(config, "hydra.sweeper._target_", default=""))
    if not target.endswith("BasicSweeper"):
        return None
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    lines = [f"{k}={v}" for k, v in params.items()]
    lines += list(OmegaConf.select(config, "hydra.overrides.task", default=[]) or [])
    try:
        parsed = parse_overrides(lines)
    except Exception:
        return None
    sizes: dict[str, int] = {}
    for o in parsed:
        if o.sweep and not o.enumerable:
            return None  # a glob: its options are known only to Hydra's config loader
        values = o.values()
        sizes[o.key] = len(values) if values is not None else 1
    total = 1
    for n in sizes.values():
        total *= n
    return total


class SweepTable(Callback):
    """Writes the sweep table at the end of a multirun and reports jobs finished."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from .run import atomic_write_text

        sweep = Path(config.hydra.sweep.dir)
        sweep.mkdir(parents=True, exist_ok=True)
        atomic_write_text(sweep / TOTAL_FILE, json.dumps({"total": _sweep_total(config)})
                          + "\n")
        (sweep / DONE_FILE).write_text("")
        outcome.clear()
        outcome["dir"] = sweep
        keep_waiting_when_a_job_is_lost(config)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        """Count this job as finished (ran, failed or skipped) and print the count.

        Each job appends its number to a file of the sweep directory (one short append
        is atomic), so the count is of jobs that ended in this invocation, whatever
        process ran them; jobs still running or never started are not counted.
        """
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        try:
            hc = HydraConfig.get()
        except ValueError:
            return
        if hc.mode != RunMode.MULTIRUN:
            return
        sweep = Path(hc.sweep.dir)
        with (sweep / DONE_FILE).open("a") as fh:
            fh.write(f"{hc.job.num}\n")
        done = len(set((sweep / DONE_FILE).read_text().split()))
        total = None
        if (sweep / TOTAL_FILE).is_file():
            total = json.loads((sweep / TOTAL_FILE).read_text()).get("total")
        of = f" of {total}" if total else ""
        print(f"[sweep] {done}{of} jobs done (job {hc.job.num} finished)", file=sys.stderr,
              flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        if not sweep.is_dir():
            return
        csv_path, json_path = write_sweep_table(sweep)
        table = json.loads(json_path.read_text())
        # Failed, interrupted (a job stopped by a signal or lost on a cluster) or missing:
        # any job that did not finish makes the command fail; its rerun runs it.
        unfinished = sum(r["status"] != "ok" for r in table["rows"])
        outcome.update(dir=sweep, jobs=table["jobs"], failed=unfinished, csv=csv_path)
        failed = f", {unfinished} not finished (see the status and error columns)" \
            if unfinished else ""
        print(f"[sweep] {table['jobs']} jobs{failed}; wrote {csv_path} and {json_path.name}",
              file=sys.stderr, flush=True)
        mixed = mixed_modes(table["rows"])
        if mixed:
            print(f"[sweep] warning: {mixed}", file=sys.stderr, flush=True)
        if config.get("run", {}).get("report", True):
            _sweep_report(sweep)


def keep_waiting_when_a_job_is_lost(config: DictConfig) -> None:
    """Run the sweep with sim's version of its cluster launcher, if it has one.

    Hydra's Ray and submitit launchers raise at the first job that ended without a
    result (a cancelled SLURM job, a dead Ray node) and abandon the others; sim's
    subclasses of them (``hydra_plugins.sim_failure_point.lost_jobs``) record such a job
    and wait for the rest. The swap is of ``hydra.launcher._target_`` in the command's
    config, before the sweeper instantiates the launcher from it; every setting stays.
    """
    from omegaconf import open_dict, read_write

    from hydra_plugins.sim_failure_point.lost_jobs import REPLACES

    target = OmegaConf.select(config, "hydra.launcher._target_", default=None)
    if target in REPLACES:
        with read_write(config.hydra), open_dict(config.hydra.launcher):
            config.hydra.launcher._target_ = REPLACES[target]


def mixed_modes(rows: list[dict[str, Any]]) -> str | None:
    """What to say when the jobs of a sweep ran in different modes or at different ticks
    (``run.resolution_s: auto`` decides per job, from each job's own size), else None.

    The modes agree within the differential suite's bounds, but a difference between two
    jobs that is smaller than those bounds may then be the modes', not the swept key's.
    """
    seen: dict[str, int] = {}
    for r in rows:
        f = r.get("figures") or {}
        if f.get(schema.MODE) is None:
            continue
        tick = f.get(schema.TICK_S)
        mode = f[schema.MODE]
        label = "exact" if mode == "exact" else f"cohort at {tick:g} s" if tick else "cohort"
        seen[label] = seen.get(label, 0) + 1
    if len(seen) < 2:
        return None
    finest = min((float(k.split()[2]) for k in seen if k.startswith("cohort at")),
                 default=None)
    pin = (f"run.resolution_s={finest:g}" if finest is not None else "run.resolution_s=0")
    parts = ", ".join(f"{n} {'job' if n == 1 else 'jobs'} {k}" for k, n in seen.items())
    return (f"the jobs ran in different modes ({parts}): run.resolution_s=auto chose per "
            f"job. To compare like with like, set {pin} for every job.")


def _sweep_report(sweep: Path) -> None:
    """Build the sweep's launch-review report; a failure to build it is told, not raised,
    so the sweep's own results stay (``sim-report DIR`` rebuilds it)."""
    from .report import build_report

    try:
        html = build_report(sweep)
    except Exception as exc:  # the jobs' results must survive a report error
        print(f"[sweep] report not written ({type(exc).__name__}: {exc}); "
              f"run sim-report {sweep}", file=sys.stderr, flush=True)
        return
    print(f"[sweep] report: {html}", file=sys.stderr, flush=True)
