"""Build the launch-review report of a run directory or of a sweep.

``build_report`` decides which by looking for ``summary.json``: in the directory itself
(one run), else in its subdirectories and one level below (a Hydra multirun, where jobs
sit in ``0/``, ``1/``... possibly under a time-stamped folder). A run gets its verdict,
findings, figures over time and assumptions; a sweep gets the verdict against the
headroom requirement, failure points per variant, sweep curves, the comparison of
variants and a table of its jobs (each job keeps its own report). It writes only into the
directories it reports on: ``figures/``, ``report.md`` and ``report.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from .aside import Aside
from .figures import write_figures, write_sweep_figures
from .load import (
    SUMMARY,
    RunData,
    check_path,
    find_runs,
    input_problems,
    load_run,
    load_sweep,
)
from .render import figure_context, render, run_context, sweep_context
from .study import build_study
from .verdict import ReportSettings

FIGURES_DIR = "figures"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"


def build_report(path: str | Path, *, rebuild_jobs: bool = False,
                 **settings: Any) -> Path:
    """Write the report of a run or multirun directory; return the path of report.html.

    ``settings`` (``headroom``, ``expected_peak``, ``sweep_key``) override the ``report``
    block of the run's or sweep's config. In a sweep, each job's own report is written
    where it is missing or older than the job's summary (all of them with
    ``rebuild_jobs``). Raises ``ReportError`` (a ``ValueError``) with one paragraph naming
    the path when it is neither a run directory nor a multirun directory, or its summary
    cannot be read.
    """
    path = Path(path)
    if (path / "risk.json").is_file():  # a risk study (hydra/sweeper=risk): sim/report/risk.py
        from .risk import build_risk_report
        return build_risk_report(path, **settings)
    check_path(path)
    if (path / SUMMARY).is_file():
        return build_run_report(load_run(path))
    sweep = load_sweep(path)
    for run in sweep.runs:
        html = run.path / REPORT_HTML
        if rebuild_jobs or not html.is_file() \
                or html.stat().st_mtime < (run.path / SUMMARY).stat().st_mtime:
            build_run_report(run)
    study = build_study(sweep, ReportSettings.from_config(sweep.config, **settings))
    figures = write_sweep_figures(study, path / FIGURES_DIR)
    context = sweep_context(study, figures)
    atomic_write_text(path / REPORT_MD, render("sweep.md", **context))
    html = path / REPORT_HTML
    atomic_write_text(html, render("sweep.html", **context))
    return html


def incomplete_runs(path: str | Path) -> list[tuple[Path, list[str]]]:
    """The run directories under ``path`` (itself, or a sweep's jobs) that lack what the
    verdict reads, each with what it lacks; their reports say NO VERDICT."""
    path = Path(path)
    if (path / "risk.json").is_file():  # a risk study: its samples, not its jobs' files
        from .risk import incomplete_samples
        return incomplete_samples(path)
    check_path(path)
    dirs = [path] if (path / SUMMARY).is_file() else find_runs(path)
    out = []
    for d in dirs:
        problems = input_problems(load_run(d))
        if problems:
            out.append((d, problems))
    return out


def build_run_report(run: RunData) -> Path:
    """figures/*.png, report.md and report.html for one run; returns report.html. The
    figures are drawn beside the description of the run where a second core can
    (``sim.report.aside``)."""
    drawing = Aside(write_figures, run, run.path / FIGURES_DIR)
    context = run_context(run, None)
    context.update(figure_context(run, drawing.result()))
    atomic_write_text(run.path / REPORT_MD, render("run.md", **context))
    html = run.path / REPORT_HTML
    atomic_write_text(html, render("run.html", **context))
    return html


__all__ = ["build_report", "build_run_report", "find_runs", "incomplete_runs"]
