"""Build, run, collect and write one scenario.

The lifecycle is explicit: ``build`` turns a validated config into a SimPy model (every
component made inside this process from the config, nothing shared), ``Scenario.run``
advances it to the horizon, ``collect`` gathers the summary and time series, and
``write`` puts them in a run directory. If the simulation raises, what it computed so
far is still collected and written, with the error, before the exception propagates.

What a run directory promises (README "What a run promises"): each file is written to a
temporary name beside it and renamed into place, the summary after the time series and
the completion marker (``mark_complete``) last of all; an earlier run's files are removed
before a new run writes; a stop signal (``stop_on_signals``) ends the simulation between
two events and the partial results are written with the status ``interrupted``; and a
run the guard (``sim.resolution.guard``) estimates too long or too large does not start.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import simpy
from omegaconf import OmegaConf

from . import series as cols
from .analysis.metastability import amplification, metastability, trigger_end, unique_clients
from .analysis.replications import batch_means_block, replication_block, replication_seed
from .analysis.slo import evaluate
from .atomic import TMP_SUFFIX, atomic_write, atomic_write_text
from .compat.simpy import events_scheduled, schedule_stop
from .config import SimConfig, autoscaled_stations, station_autoscaler
from .engine import Sampler, Streams, TickRecorder
from .model import (
    ArrivalCurve,
    AttackVector,
    Autoscaler,
    Clients,
    CohortClients,
    build_topology,
    rate_function,
    visit_ratios,
)
from .model.attacks import attack_block, evict_bots, register_attack_series
from .model.failures import StationFailures
from .model.hls import ListenerPolling
from .model.mitigation import Mitigations, overhead_s
from .model.peak import arrival_peak
from .model.waiting_room import WaitingRoom
from .provenance import code_digest
from .resolution import choose, guard, resolved
from .summary import (
    SCHEMA,
    Cost,
    CostStation,
    Metastability,
    Slo,
    Status,
    Summary,
    Uncollected,
    in_schema_order,
)
from .summary import Station as StationSummary


@dataclass
class Result:
    """What one run produced: the summary, the time series and the config it ran."""

    config: SimConfig
    summary: Summary  # or, if even collecting failed, ``Uncollected`` (``sim.summary``)
    timeseries: dict[str, np.ndarray] = field(repr=False)
    error: str | None = None

    def write(self, outdir: str | Path) -> Path:
        """Write config.yaml, timeseries.csv (error.txt) and, last, summary.json into ``outdir``.

        Each file goes to a temporary name beside it and is renamed into place, so a file
        is either whole or absent. The summary comes last, and an earlier run's summary
        and completion marker are removed first: a summary never stands beside files it
        does not describe. The report is built from these files by ``sim.report`` (the
        command does it after the run, or ``sim-report DIR`` later), and the command then
        marks the directory complete (``mark_complete``).
        """
        out = Path(outdir)
        out.mkdir(parents=True, exist_ok=True)
        for name in (COMPLETE_FILE, SUMMARY_FILE):
            (out / name).unlink(missing_ok=True)
        write_config(self.config, out)
        write_timeseries(self.timeseries, out / TIMESERIES_FILE)
        if self.error:
            atomic_write_text(out / ERROR_FILE, self.error)
        else:
            (out / ERROR_FILE).unlink(missing_ok=True)
        atomic_write_text(out / SUMMARY_FILE,
                          json.dumps(self.summary, indent=2, sort_keys=False) + "\n")
        return out


# The files of a run directory. Hydra's own (.hydra/, the job's log) belong to the
# current invocation and are left alone.
CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
TIMESERIES_FILE = "timeseries.csv"
ERROR_FILE = "error.txt"
COMPLETE_FILE = ".sim_complete"
RUN_FILES = (COMPLETE_FILE, SUMMARY_FILE, TIMESERIES_FILE, ERROR_FILE, CONFIG_FILE,
             "report.md", "report.html")
RUN_DIRS = ("figures",)


class OutputError(RuntimeError):
    """The run directory cannot be used or written; the message is one paragraph."""


def write_config(cfg: SimConfig, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / CONFIG_FILE, OmegaConf.to_yaml(OmegaConf.structured(cfg)))


def write_timeseries(ts: dict[str, np.ndarray], path: Path) -> None:
    names = list(ts)
    cols = [np.asarray(ts[n], dtype=float) for n in names]

    def rows(fh: IO[str]) -> None:
        w = csv.writer(fh)
        w.writerow(names)
        for row in zip(*cols, strict=True):
            w.writerow(["" if math.isnan(v) else (int(v) if v.is_integer() else f"{v:.6g}")
                        for v in row])

    atomic_write(path, rows)


def prepare_outdir(outdir: str | Path) -> Path:
    """Make ``outdir`` ready for a run: a writable directory with no earlier run's files.

    A path that is a file, lies under a file or cannot be written raises ``OutputError``
    naming it. The files an earlier run left (summary, time series, report, figures,
    error, completion marker, temporary files of a killed write) are removed, so the new
    run's files never stand beside an old run's.
    """
    out = Path(outdir)
    check_writable(out)
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for name in RUN_DIRS:
        if (out / name).is_dir() and not (out / name).is_symlink():
            shutil.rmtree(out / name)
    for tmp in out.glob(f".*{TMP_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
    return out


def check_writable(out: Path) -> None:
    """Create ``out`` if needed and prove it writable; ``OutputError`` if it is not."""
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            what = "is a file" if parent == out else f"lies under a file ({parent})"
            raise OutputError(
                f"Cannot write the run to {out}: that path {what}. Choose a directory "
                f"(hydra.run.dir=DIR for a run, hydra.sweep.dir=DIR for a sweep, or the "
                f"outdir argument of sim.run).")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write_probe.{os.getpid()}{TMP_SUFFIX}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise OutputError(
            f"Cannot write the run to {out}: {exc.strerror or exc} ({type(exc).__name__}). "
            f"Choose a directory you can write (hydra.run.dir=DIR for a run, "
            f"hydra.sweep.dir=DIR for a sweep), or free space on its disk.") from None


def mark_complete(outdir: str | Path) -> None:
    """Mark a run directory complete: every file of the run is in place, status ok.

    Written last, after the report; a restarted sweep skips only directories with this
    marker made by the same code (``sim.provenance``) and a summary of the same config
    with status ok.
    """
    out = Path(outdir)
    files = sorted(n for n in RUN_FILES if n != COMPLETE_FILE and (out / n).is_file())
    atomic_write_text(out / COMPLETE_FILE, json.dumps(
        {"status": "ok", "files": files, "code": code_digest()}) + "\n")


def is_complete(outdir: str | Path, same_code: bool = False) -> bool:
    """Whether ``outdir`` holds a run marked complete whose files are all still there;
    with ``same_code``, marked by the code running now (``sim.provenance``: a run of
    another version of the simulator, or one older than the digest, is not)."""
    out = Path(outdir)
    try:
        marker = json.loads((out / COMPLETE_FILE).read_text())
    except (OSError, ValueError):
        return False
    if same_code and marker.get("code") != code_digest():
        return False
    return marker.get("status") == "ok" and all(
        (out / name).is_file() for name in marker.get("files", []))


# -- signals --------------------------------------------------------------------------------

STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM",
                                                                     "SIGHUP")) if s)


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal (SIGINT, SIGTERM, SIGHUP); exit status 128 + its number."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        self.signum = int(signum)
        super().__init__(f"stopped by {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __reduce__(self) -> tuple[Any, tuple[int]]:  # crosses process boundaries whole
        return (Interrupted, (self.signum,))


def interruption(exc: BaseException) -> Interrupted | None:
    """The interruption ``exc`` is (a plain KeyboardInterrupt is a SIGINT), or None."""
    if isinstance(exc, Interrupted):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted(signal.SIGINT)
    return None


@contextmanager
def _stop_between_events(env: simpy.Environment) -> Iterator[list[int]]:
    """While the simulation runs, a stop signal ends it between two events.

    A signal handled by raising (``stop_on_signals``, or Python's own Ctrl-C) would
    otherwise land in the middle of an event, say halfway through a metrics sample, and
    leave the state it was changing half done. Here the handler only schedules an urgent
    event that stops ``env.run`` before the next one; the yielded list then holds the
    signal's number, and the caller raises ``Interrupted``. Signals that are ignored or
    left to the system's default action (SIGTERM in a notebook) stay as they are.
    """
    stopped: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return

    def handler(signum: int, frame: Any) -> None:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        if not stopped:
            stopped.append(signum)
            schedule_stop(env)

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    taken = [s for s, h in previous.items() if callable(h)]
    for s in taken:
        signal.signal(s, handler)
    try:
        yield stopped
    finally:
        # After a stop, a command's own handler (``stop_on_signals``) stays ignored while
        # the partial results are written; any other handler (Ctrl-C in a notebook) is
        # put back.
        for s in taken:
            if not (stopped and getattr(previous[s], "stops_the_run", False)):
                signal.signal(s, previous[s])


@contextmanager
def stop_on_signals(on_signal: Callable[[int], None] | None = None) -> Iterator[None]:
    """While inside, SIGINT, SIGTERM and SIGHUP raise ``Interrupted`` in the main thread.

    The first signal is the one that counts: the others are ignored from then on, so
    writing what the run computed is not cut short by a second Ctrl-C or a second kill.
    ``on_signal(signum)`` runs first (a sweep passes the signal on to its workers).
    Outside the main thread (where Python cannot take signals) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        if on_signal is not None:
            on_signal(signum)
        raise Interrupted(signum)

    handler.stops_the_run = True  # type: ignore[attr-defined]
    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class Scenario:
    """The SimPy model of one config."""

    def __init__(self, cfg: SimConfig) -> None:
        # The mode and tick (run.resolution_s: auto, exact or a tick) are decided once,
        # here; the model sees the chosen tick as a number, the summary says why.
        self.given = cfg
        self.resolution = choose(cfg)
        cfg = resolved(cfg, self.resolution)
        self.cfg = cfg
        r = cfg.run
        self.env = simpy.Environment()
        self.streams = Streams(r.seed)
        self.cohort_mode = r.resolution_s > 0
        self.topology = build_topology(self.env, cfg.architecture, self.streams, r.warmup_s,
                                       r.resolution_s, overhead_s(cfg))
        self.pool = self.topology.end_pool
        c = cfg.clients
        session = Sampler(self.streams.generator("clients.session"), c.session.dist,
                          c.session.mean_s, c.session.cv)
        if self.cohort_mode:
            self.clients: Clients = CohortClients(
                self.env, c, self.topology.network, self.streams.generator("clients"),
                session, r.warmup_s, self.pool, r.resolution_s, r.horizon_s,
                policy_gen=self.streams.generator("clients.policies"))
        else:
            self.clients = Clients(self.env, c, self.topology.network,
                                   self.streams.generator("clients"), session, r.warmup_s,
                                   self.pool, policy_gen=self.streams.generator("clients.policies"))
        self.clients.track_unique(r.metrics_tick_s, cfg.slo.window_s)
        self.curve = ArrivalCurve(rate_function(cfg.arrivals), r.horizon_s)
        wr = cfg.architecture.waiting_room
        self.room = (WaitingRoom(self.env, wr, self.clients, r.resolution_s, r.horizon_s,
                                 self.topology.stations.get(wr.watch or ""))
                     if wr.enabled else None)
        self.clients.room = self.room
        poll = cfg.architecture.polling
        self.polling = (ListenerPolling(
            self.env, poll, self.topology.network, self.clients,
            self.streams.generator("polling"), r.resolution_s, r.horizon_s,
            poll.enter or next(iter(self.topology.pools)))
            if poll.rps_per_listener > 0 else None)
        self.attacks = [
            AttackVector(self.env, name, v, self.topology.network,
                         self.streams.generator(f"attack.{name}"), r.horizon_s, self.pool,
                         r.resolution_s)
            for name, v in cfg.attack.vectors.items()
        ]
        # Gates where traffic enters (links, scrubbing) and around the mitigating station.
        self.mitigations = Mitigations(self.env, cfg, self.topology.stations, self.attacks,
                                       self.streams)
        self.clients.entry = self.mitigations.entry  # type: ignore[assignment]
        if isinstance(self.clients, CohortClients):
            m = cfg.mitigation
            self.clients.bundle_births = not (
                self.room is not None
                or (m.challenge.enabled and m.challenge.clearance)
                or any(st.retry_ratio_max is not None
                       for st in cfg.architecture.stations.values()))
        self.autoscalers: dict[str, Autoscaler] = {}
        a, arch = cfg.autoscaler, cfg.architecture
        names = autoscaled_stations(a, arch)
        if names:
            start = a.event_start_s if a.event_start_s is not None else (
                cfg.arrivals.t0_s if cfg.arrivals.kind == "flash_crowd" else 0.0)
            visits = visit_ratios(arch.entry, arch.routes, list(arch.stations))
            rate = self.curve.rate

            def forecast(name: str) -> Callable[[float], float]:
                return lambda t: float(rate(np.asarray([t]))[0]) * visits[name]

            for name in names:
                self.autoscalers[name] = Autoscaler(
                    self.env, name, self.topology.stations[name],
                    self.topology.pools.get(name), station_autoscaler(a, name),
                    arch.stations[name], self._resizer(name),
                    self.streams.generator(f"autoscaler.{name}"), start, forecast(name))
        self.failures = {
            name: StationFailures(self.env, self.topology.stations[name],
                                  self.topology.pools.get(name), sc,
                                  self.streams.generator(f"failures.{name}"), self._evict)
            for name, sc in arch.stations.items()
            if sc.outages or sc.failures or sc.crash.enabled}
        self.recorder = TickRecorder(self.env, r.metrics_tick_s, r.horizon_s)
        self._reporters()
        self.wall_s = 0.0
        self.events = 0

    def _resizer(self, name: str):
        st = self.topology.stations[name]
        pool = self.topology.pools.get(name)

        def resize(n: int, workers: int | None = None) -> None:
            st.set_instances(n, workers)
            if pool is not None:
                # Crashed or lost instances (``st.down``) hold no slots.
                evicted = pool.resize(st.serving)
                self._evict(evicted, pool.last_evicted)

        return resize

    def _evict(self, evicted: list[Any], count: int) -> None:
        """Listeners whose instance went away (exact: their records; cohort: a count)."""
        if self.pool is not None:  # bots holding slots lose theirs (sim.model.attacks)
            evicted, count = evict_bots(self.attacks, evicted, count, self.pool.in_use)
        if evicted:
            self.clients.evict(evicted)
        elif count and isinstance(self.clients, CohortClients):
            self.clients.evict_count(count)

    def _reporters(self) -> None:
        """Each component adds its columns of the time series, in a fixed order."""
        rec = self.recorder
        self.clients.register_series(rec)
        register_attack_series(rec, self.attacks)
        self._mitigation_series()
        if self.room is not None:
            self.room.register_series(rec)
        if self.polling is not None:
            self.polling.register_series(rec)
        for name in self.topology.stations:
            self.topology.register_series(rec, name, name in self.failures)
            scaler = self.autoscalers.get(name)
            if scaler is not None:
                scaler.register_series(rec)
        stations, cl = list(self.topology.stations.values()), self.clients

        def touch(now: float) -> None:
            for st in stations:
                st._touch(now)
            cl._touch(now)

        rec.before_sample.append(touch)

    def _mitigation_series(self) -> None:
        """What each mitigation removed, and the legit requests each link lost."""
        rec = self.recorder
        for m_name, f in self.mitigations.filters.items():
            for attr in cols.MITIGATION_COUNTS:  # each the filter's attribute of that name
                rec.add(cols.mitigation(m_name, attr), "count", _getter(f, attr))
        for st_name, bw in self.mitigations.bandwidth.items():
            rec.add(cols.link_legit_lost(st_name), "count", _getter(bw, "legit_lost"))

    def _scheduled_changes(self) -> list[float]:
        """When the scenario changes a station's capacity or load on a schedule: the
        starts of outages, server losses and attack vectors."""
        cfg = self.cfg
        times = [v.start_s for v in cfg.attack.vectors.values()]
        for sc in cfg.architecture.stations.values():
            times += [o.start_s for o in sc.outages]
            times += [f.at_s for f in sc.failures]
        return times

    def run(self, progress: bool = False) -> None:
        r = self.cfg.run
        env = self.env
        gen = self.streams.generator("arrivals")
        if isinstance(self.clients, CohortClients):
            # Capacity the run changes on its own (an autoscaler, overload crashes): no
            # quiet windows at all (``sim.model.quiet``).
            decided = bool(self.autoscalers) or any(
                sc.crash.enabled for sc in self.cfg.architecture.stations.values())
            self.clients.hold_windows(None if decided else self._scheduled_changes())
            self.clients.start_counts(self.curve.sample_counts(gen, r.resolution_s))
            for a in self.attacks:
                a.start_counts(r.resolution_s)
        else:
            self.clients.start_arrivals(self.curve.sample_times(gen))
            for a in self.attacks:
                a.start_exact()
        if self.room is not None:
            self.room.start()
        if self.polling is not None:
            self.polling.start()
        for scaler in self.autoscalers.values():
            for proc in scaler.processes():
                env.process(proc)
        for failures in self.failures.values():
            for proc in failures.processes():
                env.process(proc)
        if progress:
            self.recorder.progress = _Progress(self, r.horizon_s)
        env.process(self.recorder.process())
        t0 = time.perf_counter()
        try:
            with _stop_between_events(env) as stopped:
                env.run(until=r.horizon_s + 1e-9)
        finally:
            self.wall_s = time.perf_counter() - t0
            # SimPy numbers events with an itertools.count: its next value is how many
            # events were scheduled, which is what the run cost.
            self.events = events_scheduled(env)
        if stopped:
            raise Interrupted(stopped[0])

    def cost(self) -> Cost:
        """Instance-seconds per station × its price per instance-hour, in USD."""
        now = float(self.env.now)
        per: dict[str, CostStation] = {}
        for name in self.topology.stations:
            price = self.cfg.architecture.stations[name].price_per_instance_hour
            scaler = self.autoscalers.get(name)
            per[name] = (scaler.cost(now, price) if scaler is not None
                         else self.topology.station_cost(name, now, price))
        return {"usd": sum(p["usd"] for p in per.values()), "stations": per}

    def collect(self, error: str | None = None) -> Result:
        """The summary and time series: each component's block, the judgements on them."""
        cfg = self.cfg
        ts = self.recorder.series()
        slo, meta = self._judge(ts)
        summary: Summary = {
            "schema": SCHEMA,
            "name": cfg.name,
            "status": "failed" if error else "ok",
            "mode": self.resolution.mode,
            "resolution": self.resolution.as_dict(),
            "seed": cfg.run.seed,
            "horizon_s": cfg.run.horizon_s,
            "sim_time_s": float(self.env.now),
            "arrival_peak": arrival_peak(cfg.arrivals),
            "legit": self.clients.ledger(self.curve.expected_total),
            "listeners": self.clients.listeners_block(),
            "join_latency_s": self.clients.join_latency(),
            "attack": attack_block(self.attacks, self.mitigations.links()),
            "mitigation": self.mitigations.summary(),  # type: ignore[typeddict-item]
            "stations": self._stations(ts),
            "slo": slo,
            "cost": self.cost(),
            "perf": {"wall_s": self.wall_s, "events": self.events,
                     "events_per_s": self.events / self.wall_s if self.wall_s > 0 else None},
        }
        if meta is not None:
            summary["metastability"] = meta
        if self.room is not None:
            summary["waiting_room"] = self.room.summary()
        if self.polling is not None:
            summary["polling"] = self.polling.summary()
        summary = in_schema_order(summary)
        return Result(self.given, summary, ts, error)

    def _judge(self, ts: dict[str, np.ndarray]) -> tuple[Slo, Metastability | None]:
        """The SLO judgement and, with a trigger, metastability; adds their columns."""
        cfg, cl = self.cfg, self.clients
        if not len(ts[cols.TIME]):
            return {"met": None, "first_breach_s": None, "bottleneck": None}, None
        ts[cols.AMPLIFICATION] = amplification(
            ts[cols.ATTEMPTS],
            unique_clients(len(ts[cols.TIME]), cl.unique_delta, ts[cols.FIRST_ATTEMPTS],
                           cl._window_rows), cl._window_rows)
        caps = {n: sc.max_rate_rps for n, sc in cfg.architecture.stations.items()
                if sc.max_rate_rps}
        lat, lat_sd, lat_k3, _ = cl.latencies()
        slo, extra = evaluate(ts, lat, cfg.slo, list(self.topology.stations), lat_sd, caps,
                              lat_k3)
        ts.update(extra)
        trigger = trigger_end(cfg)
        meta = (metastability(ts, trigger, cfg.run.warmup_s) if trigger is not None
                else None)
        return slo, meta

    def _stations(self, ts: dict[str, np.ndarray]) -> dict[str, StationSummary]:
        t = ts[cols.TIME]
        dt = np.diff(np.concatenate([[0.0], t]))
        after = t > self.cfg.run.warmup_s
        out: dict[str, StationSummary] = {}
        for name in self.topology.stations:
            start = self.cfg.architecture.stations[name].instances
            out[name] = self.topology.station_block(name, ts, after, dt, start)
            scaler = self.autoscalers.get(name)
            if scaler is not None:
                out[name]["autoscaler"] = scaler.summary()
        return out


def _getter(obj: Any, attr: str):
    return lambda: getattr(obj, attr)


class _Progress:
    """Prints simulated time against the horizon, at most every two seconds of wall time."""

    def __init__(self, scenario: Scenario, horizon_s: float) -> None:
        self.scenario = scenario
        self.horizon_s = horizon_s
        self.last = 0.0

    def __call__(self, t: float, wall: float) -> None:
        if wall - self.last < 2.0 and t < self.horizon_s:
            return
        self.last = wall
        n = events_scheduled(self.scenario.env)
        rate = n / wall if wall > 0 else 0.0
        print(f"[sim] t={t:,.0f}/{self.horizon_s:,.0f} s ({100 * t / self.horizon_s:.0f}%), "
              f"{rate / 1e3:,.0f}k events/s, wall {wall:,.1f} s", file=sys.stderr, flush=True)


def simulate(cfg: SimConfig, outdir: str | Path | None = None,
             progress: bool = False) -> Result:
    """Run one validated config; write into ``outdir`` if given, even if the run fails.

    Before anything runs, ``guard`` refuses a run estimated to take over an hour or half
    the machine's memory (``run.force=true`` runs it anyway), and the output directory is
    checked and cleared of an earlier run's files. If the simulation raises, or a signal
    stops it (``Interrupted``), what it computed so far is written with ``error.txt`` and
    the status ``failed`` or ``interrupted`` before the exception propagates.
    """
    estimate = guard(cfg)
    out = prepare_outdir(outdir) if outdir is not None else None
    if out is not None:
        write_config(cfg, out)
    if estimate.notable:
        print(f"[sim] {estimate.line()}", file=sys.stderr, flush=True)
    try:
        scenario = Scenario(cfg)
    except BaseException as exc:
        if out is not None and interruption(exc) is not None:
            atomic_write_text(out / ERROR_FILE, _error_text(exc, None).replace(
                "summary.json and timeseries.csv hold what was computed up to then "
                "(status: interrupted)", "before the simulation started"))
        raise
    if scenario.resolution.warning:
        print(f"[sim] warning: {scenario.resolution.warning}", file=sys.stderr, flush=True)
    try:
        scenario.run(progress=progress)
    except BaseException as exc:
        _keep_partial(scenario, exc, out)
        raise
    result = scenario.collect()
    try:
        _add_intervals(result, progress)
    except BaseException as exc:
        result.error = _error_text(exc, None)
        result.summary["status"] = "failed"
        _mark_stopped(result, exc)
        _write(result, out)
        raise
    _write(result, out)
    return result


def _error_text(exc: BaseException, scenario: Scenario | None) -> str:
    """error.txt: for a signal, what stopped the run and when; otherwise the traceback."""
    stop = interruption(exc)
    if stop is None:
        return "".join(traceback.format_exception(exc))
    where = (f" at t={float(scenario.env.now):,.0f} s of {scenario.cfg.run.horizon_s:,.0f} s"
             if scenario is not None else "")
    return (f"Interrupted: {stop}{where}. summary.json and timeseries.csv hold what was "
            f"computed up to then (status: interrupted).\n")


def _keep_partial(scenario: Scenario, exc: BaseException, out: Path | None) -> None:
    """Write what a stopped or failed run computed; if even that fails, say so in error.txt.

    The summary and time series are collected as they stand; should collecting them
    fail too (a state left inconsistent by the error), error.txt holds both errors and
    a summary with the status says the results are missing.
    """
    error = _error_text(exc, scenario)
    try:
        result = scenario.collect(error=error)
    except Exception as again:
        error += ("\nCollecting the partial results failed as well:\n"
                  + "".join(traceback.format_exception(again)))
        status: Status = "interrupted" if interruption(exc) is not None else "failed"
        uncollected: Uncollected = {"schema": SCHEMA, "name": scenario.cfg.name,
                                    "status": status, "partial": "not collected"}
        result = Result(scenario.given, cast(Summary, uncollected), {}, error)
    _mark_stopped(result, exc)
    _write(result, out)


def _mark_stopped(result: Result, exc: BaseException) -> None:
    if interruption(exc) is not None:
        result.summary["status"] = "interrupted"


def _write(result: Result, out: Path | None) -> None:
    """Write ``result`` into ``out``; a failed write leaves no summary claiming success.

    If the disk is full or the directory went away, what can still be written says so
    (error.txt, a summary with status ``failed``) and ``OutputError`` names the directory
    and the cause.
    """
    if out is None:
        return
    try:
        result.write(out)
    except OSError as exc:
        cause = f"{exc.strerror or exc} ({type(exc).__name__})"
        with suppress(OSError):
            (out / SUMMARY_FILE).unlink(missing_ok=True)
            atomic_write_text(out / ERROR_FILE, f"Writing the results failed: {cause}\n"
                              + "".join(traceback.format_exception(exc)))
            atomic_write_text(out / SUMMARY_FILE, json.dumps(
                {**result.summary, "status": "failed"}, indent=2) + "\n")
        raise OutputError(f"Could not write the results to {out}: {cause}. The run's "
                          f"results are not complete there; free space or choose another "
                          f"directory (hydra.run.dir=DIR) and run again.") from None


def _add_intervals(result: Result, progress: bool) -> None:
    """Replications 1..N-1 (``run.replications``), or batch means for a single run.

    The top-level figures stay those of replication 0 (seed ``run.seed``), so a
    replicated summary reads like a single run's; the ``replications`` block holds the
    means and Student t intervals over all N. If a replication fails or a signal stops
    it, the block keeps the replications that finished, with ``complete: false`` and
    ``requested: N``, before the exception propagates.
    """
    cfg = result.config
    r = cfg.run
    if r.replications <= 1:
        means = batch_means_block(result.timeseries, cfg.architecture.stations, r.warmup_s,
                                  r.confidence)
        if means is not None:
            result.summary["batch_means"] = means
        return
    seeds = [replication_seed(r.seed, i) for i in range(r.replications)]
    summaries = [result.summary]
    try:
        for i, seed in enumerate(seeds[1:], start=1):
            if progress:
                print(f"[sim] replication {i + 1}/{r.replications} (seed {seed})",
                      file=sys.stderr, flush=True)
            rep = Scenario(replace(cfg, run=replace(r, seed=seed, replications=1)))
            rep.run(progress=False)
            summaries.append(rep.collect().summary)
    except BaseException:
        block = replication_block(summaries, seeds[:len(summaries)], r.confidence)
        block["complete"] = False
        block["requested"] = r.replications
        result.summary["replications"] = block
        raise
    result.summary["replications"] = replication_block(summaries, seeds, r.confidence)
