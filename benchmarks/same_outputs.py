"""Check that two source trees of ``sim`` give the same outputs, bit for bit.

A change meant to leave the numbers alone (a refactoring, an optimisation) is checked
here: each scenario of ``SCENARIOS`` runs once with ``PYTHONPATH`` pointing at one tree
and once at the other, each in a fresh process, through ``sim.run.simulate`` (building,
running, collecting, batch means or replications). The summaries must be equal as JSON
(``perf``, the wall time and events, left out), keys in the same order, and every
time-series column equal to the last bit (compared as the raw float64 bytes, NaN where
NaN), with the same columns in the same order. Each tree runs with its own ``configs/``.

The scenarios are small (seconds each) and cover the paths a summary is made of: the
default launch over a short horizon, an attack with mitigations, a small exact-mode
queue, cohort mode, autoscalers, the waiting room, HLS polling, station failures,
client-side policies and replications; two larger ones (a backlog held all through the
crowd, the flagship flood) take about ten seconds each.

Usage::

    python benchmarks/same_outputs.py /tmp/before /tmp/after   # trees holding sim/
    python benchmarks/same_outputs.py A B --scenario attack --keep /tmp/outputs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SMALL = ["arrivals.audience=20000", "run.horizon_s=600"]
SCENARIOS: dict[str, list[str]] = {
    "default": SMALL,
    "attack": [*SMALL, "attack=mixed", "mitigation=all"],
    "exact": ["architecture=single_station", "arrivals=constant", "clients=patient",
              "arrivals.rate=50", "run.horizon_s=300", "run.resolution_s=0"],
    "cohort": ["run.resolution_s=0.5", "attack=l7_join_flood", "mitigation=waf",
               "run.horizon_s=900"],
    "hpa": [*SMALL, "autoscaler=hpa"],
    "warm_pool": [*SMALL, "autoscaler=warm_pool"],
    "waiting_room": [*SMALL, "architecture=spaces_waiting_room"],
    "hls": [*SMALL, "architecture=spaces_hls"],
    "failures": ["experiment=metastable_retry"],
    "policies": [*SMALL, "clients.retry_budget.enabled=true",
                 "clients.adaptive_throttling.enabled=true",
                 "clients.circuit_breaker.enabled=true"],
    "replications": ["architecture=single_station", "arrivals=constant",
                     "arrivals.rate=40", "run.horizon_s=200", "run.replications=3"],
    # Cohort mode where a tier queues all along (a backlog served in arrival order),
    # and the flagship scenario's flood: about ten seconds each.
    "backlog": ["arrivals.audience=2e6"],
    "flagship": ["experiment=x_spaces_2024"],
}

CHILD = r"""
import json, sys
from pathlib import Path
import numpy as np
import sim.config
# The tree's own configs, not those an installed copy of the package points at.
sim.config.shipped_config_dir = lambda: Path(sim.__file__).resolve().parents[1] / "configs"
from sim.cli import compose
from sim.config import to_config
from sim.run import simulate
out = sys.argv[1]
cfg = to_config(compose(["run.report=false", "run.progress=false", *sys.argv[2:]]))
res = simulate(cfg)
s = dict(res.summary)
s.pop("perf", None)
with open(out + ".json", "w") as fh:
    json.dump(s, fh, indent=1, default=str)
np.savez(out + ".npz", names=np.asarray(list(res.timeseries)),
         **{f"c{i}": np.asarray(v, dtype=float) for i, v in enumerate(res.timeseries.values())})
"""


def run_tree(tree: Path, overrides: list[str], out: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    subprocess.run([sys.executable, "-c", CHILD, str(out), *overrides], env=env,
                   check=True, cwd=tempfile.gettempdir(), capture_output=True, text=True)


def differences(a: Path, b: Path) -> list[str]:
    """What differs between the outputs ``a`` and ``b`` (file stems); empty if nothing."""
    out = []
    sa, sb = (json.loads(Path(f"{p}.json").read_text()) for p in (a, b))
    if sa != sb:
        keys = sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k))
        out.append(f"summary differs at {', '.join(keys)}")
    elif Path(f"{a}.json").read_bytes() != Path(f"{b}.json").read_bytes():
        out.append("summary keys in another order")
    with np.load(f"{a}.npz") as za, np.load(f"{b}.npz") as zb:
        na, nb = list(za["names"]), list(zb["names"])
        if na != nb:
            out.append(f"columns differ: only before {sorted(set(na) - set(nb))}, only "
                       f"after {sorted(set(nb) - set(na))}, or in another order")
        cols_b = {n: zb[f"c{i}"] for i, n in enumerate(nb)}
        for i, n in enumerate(na):
            if n in cols_b and za[f"c{i}"].tobytes() != cols_b[n].tobytes():
                out.append(f"series {n} differs")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("before", type=Path, help="tree with the sim package before the change")
    p.add_argument("after", type=Path, help="tree with the sim package after the change")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    p.add_argument("--keep", type=Path, help="write the outputs here (else a temporary "
                   "directory, removed)")
    args = p.parse_args(argv)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for name in args.scenario or list(SCENARIOS):
            runs = {label: root / f"{name}-{label}" for label in ("before", "after")}
            for label, tree in (("before", args.before), ("after", args.after)):
                run_tree(tree, SCENARIOS[name], runs[label])
            diff = differences(runs["before"], runs["after"])
            failed += bool(diff)
            print(f"{name}: {'DIFFERENT: ' + '; '.join(diff) if diff else 'identical'}",
                  flush=True)
    print(f"{len(args.scenario or SCENARIOS) - failed} identical, {failed} different")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
