"""The launch-review report of a run or a sweep: report.md and a self-contained report.html.

``build_report(path)`` reads what a run wrote (summary.json, timeseries.csv, config.yaml
and Hydra's records) and writes ``figures/*.png``, ``report.md`` (renders on GitHub) and
``report.html`` (figures embedded as data URIs, inline CSS, no script, nothing fetched)
into the same directory. The front page is a GO/NO-GO verdict against the SLO and the
headroom requirement (``verdict``), given only for a run that covered its load
(``coverage``) from a directory that has what the verdict reads (``load``), with the
size of a failure and every tier that saturated (``saturation``); then the scenario, the
findings, the figures, and the assumptions with the commands that regenerate it
(``assumptions``). For a multirun
directory (a grid sweep, a failure-point sweep, several sweeps side by side, an
attribution) the sweep is read as a study (``study``): a load parameter, variants, a
failure point per variant. The ``sim-report PATH`` command (``python -m sim.report
PATH``) wraps it.
"""

from .build import build_report, build_run_report
from .figures import FIGURE_NAMES, SWEEP_FIGURE_NAMES, write_figures, write_sweep_figures
from .load import ReportError, RunData, SweepData, find_runs, load_run, load_sweep
from .study import Study, build_study
from .verdict import FailurePoint, LaunchVerdict, ReportSettings, headroom_verdict, run_verdict

__all__ = ["FIGURE_NAMES", "SWEEP_FIGURE_NAMES", "FailurePoint", "LaunchVerdict",
           "ReportError", "ReportSettings", "RunData", "Study", "SweepData",
           "build_report", "build_run_report", "build_study", "find_runs",
           "headroom_verdict", "load_run", "load_sweep", "run_verdict", "write_figures",
           "write_sweep_figures"]
