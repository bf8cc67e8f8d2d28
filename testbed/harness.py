"""Running a load test: the testbed as a process, Locust as a process.

``Testbed`` starts ``python -m testbed`` on a free port of 127.0.0.1, waits until it
answers ``/health``, and stops it with SIGTERM (its timing log is then flushed and
closed); it reads the process's CPU time from ``/proc``. ``run_locust`` writes a plan
(``testbed.clients``), runs Locust headless on it with its CSV output, and returns the
CPU seconds Locust used, so that a load test can say whether the machine, rather than
the service, was the limit. ``arrivals_per_second`` counts the first attempts of the
clients' events per second (what ``sim-calibrate arrivals`` reads). Both processes are
started from the repository's root, where ``testbed`` is importable.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Testbed:
    """One testbed process, logging to ``log``."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, log: Path, config: Path | None = None) -> None:
        self.port = free_port()
        self.host = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "testbed", "--port", str(self.port), "--log", str(log)]
        if config is not None:
            cmd += ["--config", str(config)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the testbed exited: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"{self.host}/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the testbed did not answer on {self.host} in {timeout_s} s")

    def cpu_s(self) -> float:
        """User and system CPU seconds the process has used."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Testbed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_locust(plan: dict[str, Any], out: Path, host: str) -> float:
    """Run the plan against ``host``; Locust's CSVs go to ``out/locust_*``, the clients'
    events to ``plan["events"]``. Returns Locust's CPU seconds."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps(plan, indent=1) + "\n")
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "testbed/locustfile.py"),
           "--headless", "--host", host, "--csv", str(out / "locust"), "--csv-full-history",
           "--only-summary", "--loglevel", "WARNING"]
    env = {**os.environ, "REHEARSAL_PLAN": str(out / "plan.json")}
    with (out / "locust.log").open("w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # 1: Locust's exit status when requests failed
        raise RuntimeError(f"locust exited with {proc.returncode}; see {out / 'locust.log'}")
    return usage.ru_utime + usage.ru_stime


def arrivals_per_second(events: Path, duration_s: float) -> list[tuple[int, int]]:
    """First attempts per second, from the clients' events file (plain, or gzipped if
    its name ends in ``.gz``): ``(t_s, arrivals)``."""
    counts = [0] * max(1, math.floor(duration_s))
    opener = gzip.open if events.suffix == ".gz" else open
    with opener(events, "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] == "arrival":
                counts[min(len(counts) - 1, int(float(row["t_s"])))] += 1
    return list(enumerate(counts))
