"""Build the report of a run directory, or of every run in a multirun plus an index.

``build_report`` decides which by looking for ``summary.json``: in the directory itself
(one run), else in its subdirectories and one level below (a Hydra multirun, where jobs
sit in ``0/``, ``1/``... possibly under a time-stamped folder). It writes only into the
directories it reports on: ``figures/``, ``report.md`` and ``report.html``. It does not
compare runs beyond the index table (failure points and confidence intervals over a
sweep belong to the launch-review report that builds on this one).
"""

from __future__ import annotations

from pathlib import Path

from .figures import write_figures
from .load import SUMMARY, RunData, check_path, find_runs, load_run
from .render import index_context, render, run_context

FIGURES_DIR = "figures"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"


def build_report(path: str | Path) -> Path:
    """Write the report of a run or multirun directory; return the path of report.html.

    Raises ``ReportError`` (a ``ValueError``) with one paragraph naming the path when it
    is neither a run directory nor a multirun directory, or its summary cannot be read.
    """
    path = Path(path)
    check_path(path)
    if (path / SUMMARY).is_file():
        return build_run_report(load_run(path))
    runs = [load_run(p) for p in find_runs(path)]
    for run in runs:
        build_run_report(run)
    return build_index(path, runs)


def build_run_report(run: RunData) -> Path:
    """figures/*.png, report.md and report.html for one run; returns report.html."""
    figures = write_figures(run, run.path / FIGURES_DIR)
    context = run_context(run, figures)
    (run.path / REPORT_MD).write_text(render("run.md", **context), encoding="utf-8")
    html = run.path / REPORT_HTML
    html.write_text(render("run.html", **context), encoding="utf-8")
    return html


def build_index(top: Path, runs: list[RunData]) -> Path:
    """The multirun index, one row per run, linking to each run's report."""
    context = index_context(top, runs)
    (top / REPORT_MD).write_text(render("index.md", **context), encoding="utf-8")
    html = top / REPORT_HTML
    html.write_text(render("index.html", **context), encoding="utf-8")
    return html
