"""One load test in one command: ``python -m testbed.loadtest``.

    python -m testbed.loadtest --rate 50 --duration 60 --out loadtest
    python -m testbed.loadtest --crowd 3000 --duration 90 --out crowd

Starts the testbed on a free port of 127.0.0.1, runs Locust headless against it with
clients that behave like the simulator's (``testbed/locustfile.py``), and stops the
testbed. Constant arrivals at ``--rate`` per second, or with ``--crowd AUDIENCE`` a
flash crowd of that audience (the push at ``--t0`` seconds; the rest of its shape in
``CROWD``); ``--plan FILE`` gives a whole plan instead (``testbed.clients``). Writes in
``--out``: ``timing.tsv`` (the service's timing log), Locust's ``locust_*.csv``,
``events.csv`` (the clients' arrivals, attempts, joins and abandonments),
``arrivals.csv`` (first attempts per second) and ``plan.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .clients import DEFAULT_CLIENTS
from .harness import Testbed, arrivals_per_second, run_locust

# A flash crowd scaled to the testbed: early birds over 20 s, a push over 10 s with a
# lognormal reaction (median 4 s), a tail decaying over 30 s.
CROWD = {"kind": "flash_crowd", "early_share": 0.1, "early_window_s": 20.0,
         "push_window_s": 10.0, "reaction_median_s": 4.0, "reaction_sigma": 0.7,
         "tail_share": 0.2, "tail_tau_s": 30.0}


def make_plan(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    if args.plan:
        plan: dict[str, Any] = json.loads(Path(args.plan).read_text())
    elif args.crowd:
        plan = {"arrivals": {**CROWD, "audience": args.crowd, "t0_s": args.t0}}
    else:
        plan = {"arrivals": {"kind": "constant", "rate": args.rate}}
    plan.setdefault("duration_s", args.duration)
    plan.setdefault("seed", args.seed)
    plan.setdefault("clients", DEFAULT_CLIENTS)
    plan["events"] = str(out / "events.csv")
    return plan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed.loadtest",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=50.0, help="constant arrivals per second")
    ap.add_argument("--crowd", type=float, help="a flash crowd of this audience instead")
    ap.add_argument("--t0", type=float, default=20.0, help="the flash crowd's push (s)")
    ap.add_argument("--plan", help="a plan file (JSON) instead of --rate/--crowd")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--config", help="the testbed's tiers (default: testbed/default.yaml)")
    ap.add_argument("--out", default="loadtest")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    plan = make_plan(args, out)
    with Testbed(out / "timing.tsv", Path(args.config).resolve() if args.config else None
                 ) as tb:
        cpu0 = tb.cpu_s()
        locust_cpu = run_locust(plan, out, tb.host)
        tb_cpu = tb.cpu_s() - cpu0
    counts = arrivals_per_second(out / "events.csv", float(plan["duration_s"]))
    (out / "arrivals.csv").write_text("t_s,arrivals\n" + "".join(f"{t},{n}\n"
                                                                 for t, n in counts))
    d = float(plan["duration_s"])
    print(f"[loadtest] {sum(n for _, n in counts)} clients arrived in {d:g} s; CPU: testbed "
          f"{tb_cpu / d:.0%}, locust {locust_cpu / d:.0%} of a core; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
