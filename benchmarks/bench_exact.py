"""Exact mode against ciw and a minimal hand-written SimPy model, on one M/M/c queue.

The queue: Poisson arrivals, ``c`` workers, exponential service, unlimited FIFO (M/M/10
at rho = 0.9 by default, about 180k customers over the horizon). Each contender runs the
same queue ``--reps`` times, interleaved (sim, ciw, simpy, sim, ...) so that drifts of
the machine hit all three alike; the script prints the median customers per second of
wall time of each and the ratios sim/ciw and sim/simpy of those medians.

Before the timed runs, each contender runs once at a tenth of the size, untimed (the
first run in a process pays for imports and first allocations). Only the simulation
itself is timed: building the model (composing the Hydra config,
creating the ciw network) is not. For sim the timer wraps ``Scenario.run``, which
includes sampling the arrival times; ciw samples its arrivals while it runs.

Every contender also reports its mean wait in queue (customers arriving after the first
tenth of the horizon), printed next to the Erlang C value, so a contender that got
faster by simulating something else shows at once.

Usage::

    python benchmarks/bench_exact.py                 # M/M/10, rho 0.9, 180k customers, 5 reps
    python benchmarks/bench_exact.py --customers 2000 --reps 1   # a smoke run
    python benchmarks/bench_exact.py --only sim      # one contender
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import simpy


@dataclass
class Queue:
    servers: int
    rho: float
    mean_service_s: float
    horizon_s: float

    @property
    def arrival_rate(self) -> float:
        return self.rho * self.servers / self.mean_service_s

    @property
    def warmup_s(self) -> float:
        return self.horizon_s / 10


@dataclass
class Outcome:
    wall_s: float
    customers: int  # customers whose service started before the horizon
    mean_wait_s: float


def erlang_c_wait(q: Queue) -> float:
    """Mean wait in queue of M/M/c (Erlang C over c·mu - lambda)."""
    a = q.arrival_rate * q.mean_service_s
    b = 1.0
    for k in range(1, q.servers + 1):
        b = a * b / (k + a * b)
    c_prob = q.servers * b / (q.servers - a * (1.0 - b))
    return c_prob / (q.servers / q.mean_service_s - q.arrival_rate)


# -- the contenders ---------------------------------------------------------------------

def run_sim(q: Queue, seed: int) -> Outcome:
    from sim.cli import compose
    from sim.config import to_config
    from sim.run import Scenario

    cfg = to_config(compose([
        "architecture=single_station", "arrivals=constant", "clients=patient",
        "run.report=false", "run.progress=false",
        f"architecture.stations.server.workers_per_instance={q.servers}",
        f"architecture.stations.server.service.mean_s={q.mean_service_s}",
        f"arrivals.rate={q.arrival_rate}", f"run.horizon_s={q.horizon_s}",
        f"run.warmup_s={q.warmup_s}", f"run.seed={seed}",
    ]))
    scenario = Scenario(cfg)
    t0 = time.perf_counter()
    scenario.run()
    wall = time.perf_counter() - t0
    st = scenario.topology.stations["server"]
    return Outcome(wall, st.served + st.busy, st.wait_sum / st.wait_n)


def run_ciw(q: Queue, seed: int) -> Outcome:
    import ciw

    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=q.arrival_rate)],
        service_distributions=[ciw.dists.Exponential(rate=1.0 / q.mean_service_s)],
        number_of_servers=[q.servers],
    )
    state = random.getstate()
    rng = ciw.rng
    try:
        ciw.seed(seed)
        sim = ciw.Simulation(network)
        t0 = time.perf_counter()
        sim.simulate_until_max_time(q.horizon_s)
        wall = time.perf_counter() - t0
    finally:
        random.setstate(state)
        ciw.rng = rng
    records = sim.get_all_records(only=["service"])
    started = sum(1 for r in records if r.service_start_date < q.horizon_s)
    # Customers still in service at the horizon have no record yet: count them too.
    started += sum(s.busy for node in sim.nodes[1:-1] for s in node.servers)
    waits = [r.waiting_time for r in records if r.arrival_date >= q.warmup_s]
    return Outcome(wall, started, statistics.fmean(waits))


def run_simpy(q: Queue, seed: int) -> Outcome:
    """The textbook SimPy model: a source process and one process per customer."""
    env = simpy.Environment()
    workers = simpy.Resource(env, capacity=q.servers)
    rng = random.Random(seed)
    lam, mu = q.arrival_rate, 1.0 / q.mean_service_s
    warmup = q.warmup_s
    waits: list[float] = []
    started = [0]

    def customer(env: simpy.Environment):  # type: ignore[no-untyped-def]
        arrived = env.now
        with workers.request() as req:
            yield req
            started[0] += 1
            if arrived >= warmup:
                waits.append(env.now - arrived)
            yield env.timeout(rng.expovariate(mu))

    def source(env: simpy.Environment):  # type: ignore[no-untyped-def]
        while True:
            yield env.timeout(rng.expovariate(lam))
            env.process(customer(env))

    env.process(source(env))
    t0 = time.perf_counter()
    env.run(until=q.horizon_s)
    wall = time.perf_counter() - t0
    return Outcome(wall, started[0], statistics.fmean(waits))


CONTENDERS: dict[str, Callable[[Queue, int], Outcome]] = {
    "sim": run_sim, "ciw": run_ciw, "simpy": run_simpy,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", type=int, default=10)
    p.add_argument("--rho", type=float, default=0.9)
    p.add_argument("--mean-service-s", type=float, default=0.1)
    p.add_argument("--customers", type=int, default=180_000,
                   help="expected arrivals over the horizon (sets the horizon)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--only", choices=sorted(CONTENDERS), action="append",
                   help="run only this contender (repeatable)")
    args = p.parse_args(argv)

    rate = args.rho * args.servers / args.mean_service_s
    q = Queue(args.servers, args.rho, args.mean_service_s, args.customers / rate)
    names = args.only or list(CONTENDERS)
    print(f"M/M/{q.servers} at rho={q.rho}: lambda={q.arrival_rate:g}/s, "
          f"mean service {q.mean_service_s:g} s, horizon {q.horizon_s:g} s "
          f"(~{args.customers:,} customers), {args.reps} interleaved reps; "
          f"Python {platform.python_version()}, simpy {simpy.__version__}")
    small = Queue(q.servers, q.rho, q.mean_service_s, q.horizon_s / 10)
    for name in names:
        CONTENDERS[name](small, 999)
    rates: dict[str, list[float]] = {n: [] for n in names}
    waits: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(args.reps):
        for name in names:
            out = CONTENDERS[name](q, 1000 + rep)
            rates[name].append(out.customers / out.wall_s)
            waits[name].append(out.mean_wait_s)
            print(f"  rep {rep + 1} {name:>5}: {out.customers:>8,} customers in "
                  f"{out.wall_s:6.3f} s = {out.customers / out.wall_s:>9,.0f}/s, "
                  f"mean wait {out.mean_wait_s:.4f} s", flush=True)
    print(f"Erlang C mean wait: {erlang_c_wait(q):.4f} s")
    med = {n: statistics.median(rates[n]) for n in names}
    for n in names:
        print(f"{n:>5}: median {med[n]:>9,.0f} customers/s "
              f"(min {min(rates[n]):,.0f}, max {max(rates[n]):,.0f}); "
              f"mean wait over reps {statistics.fmean(waits[n]):.4f} s")
    for other in ("ciw", "simpy"):
        if "sim" in med and other in med and not math.isclose(med[other], 0.0):
            print(f"sim/{other}: {med['sim'] / med[other]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
