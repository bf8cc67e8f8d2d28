"""The ``sim-report PATH`` command (also ``python -m sim.report PATH``).

Builds the report of a run or multirun directory and prints where it wrote it. A path
that is not a run or multirun directory, or a summary that cannot be read, is a usage
error: one paragraph on stderr and exit code 2, no traceback. A run directory that can be
read but lacks what the verdict needs (a summary without its keys, a time series cut
short, no config.yaml) still gets its report, which says NO VERDICT, so that no earlier
report is left standing; the command then says what is missing, in one paragraph on
stderr, and exits with code 1. Anything else that fails is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .build import build_report, incomplete_runs
from .load import ReportError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim-report",
        description="Build report.md, a self-contained report.html and figures/ for a run "
                    "directory (written by `python -m sim`), or for every run of a multirun "
                    "directory (`python -m sim -m ...`) plus an index at the top.")
    p.add_argument("path", help="a run directory (with summary.json) or a multirun directory")
    p.add_argument("--headroom", type=float, default=None,
                   help="required failure point ÷ expected peak (default: the sweep's "
                        "report.headroom, 1.5)")
    p.add_argument("--expected-peak", type=float, default=None,
                   help="the expected peak of the swept key (default: report.expected_peak, "
                        "else the scenario's own value of the key)")
    p.add_argument("--sweep-key", default=None,
                   help="the swept key that carries the load (default: report.sweep_key, "
                        "else the failure-point sweeper's param or the first numeric key)")
    p.add_argument("--rebuild-jobs", action="store_true",
                   help="rebuild every job's report of a sweep, not only missing or stale ones")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.headroom is not None and not 1.0 <= args.headroom <= 100.0:
        print(f"sim-report: --headroom = {args.headroom}; allowed: a number from 1 to 100 "
              f"(failure point ÷ expected peak).", file=sys.stderr)
        return 2
    if args.expected_peak is not None and not args.expected_peak > 0:
        print(f"sim-report: --expected-peak = {args.expected_peak}; allowed: a positive "
              f"number.", file=sys.stderr)
        return 2
    try:
        html = build_report(args.path, rebuild_jobs=args.rebuild_jobs,
                            headroom=args.headroom, expected_peak=args.expected_peak,
                            sweep_key=args.sweep_key)
        incomplete = incomplete_runs(args.path)
    except ReportError as exc:
        print(f"sim-report: {exc}", file=sys.stderr)
        return 2
    if incomplete:
        print(f"sim-report: {incomplete_text(incomplete, html)}", file=sys.stderr)
        return 1
    print(f"sim-report: wrote {html} and {html.with_suffix('.md')}")
    return 0


def incomplete_text(incomplete: list[tuple[Path, list[str]]], html: Path) -> str:
    """One paragraph: which run directories lack what, and what the report says."""
    parts = [f"{path} is incomplete ({'; '.join(problems)})" for path, problems in incomplete]
    return (f"{'; '.join(parts)}. No verdict can be given from "
            f"{'it' if len(incomplete) == 1 else 'them'}: {html} says NO VERDICT. Rerun the "
            f"scenario (the report's Reproduce section has the command) or restore the "
            f"files the run wrote.")


if __name__ == "__main__":
    sys.exit(main())
