"""The report of a run or a sweep: figures over time, report.md and a self-contained report.html.

``build_report(path)`` reads what a run wrote (summary.json, timeseries.csv, config.yaml
and Hydra's overrides) and writes ``figures/*.png``, ``report.md`` (renders on GitHub)
and ``report.html`` (figures embedded as data URIs, inline CSS, nothing fetched from
anywhere) into the same directory; for a multirun directory it does so for every run
and adds an index. The ``sim-report PATH`` command (``python -m sim.report PATH``) wraps
it. This is the preliminary report: it restates one run's results and the analysis
layer's SLO verdict; headroom, failure points with confidence intervals and the
GO/NO-GO launch review are left to later layers built on the same pieces
(``load``, ``describe``, ``figures``, ``render``).
"""

from .build import build_index, build_report, build_run_report
from .figures import FIGURE_NAMES, write_figures
from .load import ReportError, RunData, find_runs, load_run

__all__ = ["FIGURE_NAMES", "ReportError", "RunData", "build_index", "build_report",
           "build_run_report", "find_runs", "load_run", "write_figures"]
