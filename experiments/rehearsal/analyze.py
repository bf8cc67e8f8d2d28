"""Why the real steps differ from the predicted ones: tier times and burstiness per run.

    python experiments/rehearsal/analyze.py [FOLDER]    # default: this folder

For every run under a rehearsal's output folder whose timing log is still there (the
calibration's is kept; ``run.py`` summarises each step's with ``step_figures`` into
``results.json`` and ``analysis.csv`` and drops it), from the testbed's timing log and
the clients' events (plain or gzipped): each tier's mean service time and mean queue
wait, and the index of dispersion (variance over mean) of arrivals counted in 20 ms
and 100 ms bins, for the clients' first attempts (as the load generator made them) and
for requests entering the edge (as the service saw them). A Poisson process, which the
simulator assumes, has an index of 1 at every bin width; a burstier stream has more.
"""

from __future__ import annotations

import csv
import gzip
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent

BINS_S = (0.02, 0.1)


def lines(path: Path) -> Iterator[str]:
    """The lines of ``path``, or of ``path.gz`` if only that exists."""
    if path.exists():
        with path.open() as fh:
            yield from fh
    else:
        with gzip.open(f"{path}.gz", "rt") as fh:
            yield from fh


def dispersion(t: np.ndarray, bin_s: float, trim_s: float = 5.0) -> float:
    """Variance over mean of counts per bin, away from the ends."""
    t = np.sort(t)
    t = t[(t > t[0] + trim_s) & (t < t[-1] - trim_s)]
    counts = np.histogram(t, bins=np.arange(t[0], t[-1], bin_s))[0]
    return float(counts.var() / counts.mean())


def step_figures(folder: Path) -> dict[str, Any]:
    sums: dict[str, list[float]] = {}
    edge: list[float] = []
    for line in lines(folder / "timing.tsv"):
        f = line.rstrip("\n").split("\t")
        if len(f) != 7 or f[0].startswith("#") or f[0] == "t_s" or f[3] == "-":
            continue
        s = sums.setdefault(f[2], [0.0, 0.0, 0.0])
        s[0] += 1
        s[1] += float(f[5])
        s[2] += float(f[4])
        if f[2] == "edge":
            edge.append(float(f[0]) - float(f[4]))
    arrivals = [float(r["t_s"]) for r in csv.DictReader(lines(folder / "events.csv"))
                if r["kind"] == "arrival"]
    name = folder.name if folder.name == "calibration" else f"{folder.parent.name}/{folder.name}"
    row: dict[str, Any] = {"step": name}
    for tier, (n, svc, wait) in sums.items():
        if tier != "room_key":
            row[f"{tier}_service_ms"] = round(1000 * svc / n, 2)
            row[f"{tier}_wait_ms"] = round(1000 * wait / n, 2)
    for b in BINS_S:
        row[f"client_dispersion_{int(b * 1000)}ms"] = round(dispersion(np.array(arrivals), b), 2)
        row[f"edge_dispersion_{int(b * 1000)}ms"] = round(dispersion(np.array(edge), b), 2)
    return row


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for folder in sorted({f.parent for f in out.rglob("timing.tsv")}):
        row = step_figures(folder)
        print(folder.relative_to(out), {k: v for k, v in row.items()
                                        if "dispersion" in k or k.startswith("join")})


if __name__ == "__main__":
    main()
