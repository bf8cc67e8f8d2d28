"""The ``sim-report PATH`` command (also ``python -m sim.report PATH``).

Builds the report of a run or multirun directory and prints where it wrote it. A path
that is not a run or multirun directory, or a summary that cannot be read, is a usage
error: one paragraph on stderr and exit code 2, no traceback. Anything else that fails
is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys

from .build import build_report
from .load import ReportError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim-report",
        description="Build report.md, a self-contained report.html and figures/ for a run "
                    "directory (written by `python -m sim`), or for every run of a multirun "
                    "directory (`python -m sim -m ...`) plus an index at the top.")
    p.add_argument("path", help="a run directory (with summary.json) or a multirun directory")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        html = build_report(args.path)
    except ReportError as exc:
        print(f"sim-report: {exc}", file=sys.stderr)
        return 2
    print(f"sim-report: wrote {html} and {html.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
