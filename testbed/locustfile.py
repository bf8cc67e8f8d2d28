"""Locust clients that behave like the simulator's: ``locust -f testbed/locustfile.py``.

    REHEARSAL_PLAN=plan.json locust -f testbed/locustfile.py --headless \\
        --host http://127.0.0.1:8089 --csv out/locust --csv-full-history

The plan (``testbed.clients``) says the arrival curve, how long to run and what a
client does. The load shape (``ArrivalShape``) turns the curve into users: each Locust
user is one client, spawned a little before its own arrival time (drawn beforehand as
a non-homogeneous Poisson process) and waiting for it, so first attempts follow the
curve, not Locust's even spawning. A client then tries to join: each attempt has the
plan's timeout; after a failure (503, timeout, connection error) it backs off per the
retry policy (an impatient client retries after ``impatient_retry_s`` instead), and it
abandons after ``max_attempts`` attempts or when the next attempt would start beyond
its patience. A joined client listens (the service holds its slot for the session it
drew) and sends nothing more.

Locust's CSV files keep the attempts (``join attempt``) and two client-level entries,
``joined`` (response time: first attempt to joined) and ``abandoned``. The plan's
``events`` file gets one line per arrival, attempt, join and abandonment
(``kind,t_s,value_s,outcome,attempt``; ``t_s`` seconds since the start, ``value_s`` the
attempt's or the join's latency), from which the SLO is judged as the simulator judges
it.
"""

from __future__ import annotations

import bisect
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, LoadTestShape, events, task

from testbed.clients import Backoff, arrival_times, load_plan, session_sampler

PLAN = load_plan(os.environ.get("REHEARSAL_PLAN"))
CLIENTS: dict[str, Any] = PLAN["clients"]
DURATION_S = float(PLAN["duration_s"])
TIMES = arrival_times(PLAN["arrivals"], DURATION_S, int(PLAN["seed"]))
LEAD_S = 2.0  # users are spawned this long before their arrival
RNG = random.Random(int(PLAN["seed"]) + 1)
STATE: dict[str, Any] = {"t0": None, "next": 0, "written": False}
LINES: list[str] = []


def clock() -> float:
    """Seconds since the test started."""
    if STATE["t0"] is None:
        STATE["t0"] = time.monotonic()
    return time.monotonic() - STATE["t0"]


def record(kind: str, t_s: float, value_s: float = 0.0, outcome: str = "",
           attempt: int = 0) -> None:
    LINES.append(f"{kind},{t_s:.4f},{value_s:.4f},{outcome},{attempt}")


@events.test_start.add_listener
def _start(**_: Any) -> None:
    clock()


@events.test_stop.add_listener
def _write(**_: Any) -> None:
    if STATE["written"]:
        return
    STATE["written"] = True
    path = Path(PLAN["events"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("kind,t_s,value_s,outcome,attempt\n" + "\n".join(LINES) + "\n")


class ArrivalShape(LoadTestShape):
    """Users = clients whose arrival is due within ``LEAD_S``; stops at ``duration_s``."""

    def tick(self) -> tuple[int, float] | None:
        t = clock()
        if t >= DURATION_S:
            return None
        n = bisect.bisect_right(TIMES, t + LEAD_S)
        return max(n, 1), 1000.0


class Listener(FastHttpUser):
    """One client of the plan: arrives, tries to join, then listens."""

    network_timeout = float(CLIENTS["timeout_s"])
    connection_timeout = float(CLIENTS["timeout_s"])

    @task
    def journey(self) -> None:
        i = STATE["next"]
        STATE["next"] += 1
        if i < len(TIMES):
            gevent.sleep(max(0.0, TIMES[i] - clock()))
            self.try_to_join()
        gevent.sleep(1e9)  # listening: nothing more to send

    def try_to_join(self) -> None:
        c, retry = CLIENTS, CLIENTS["retry"]
        backoff = Backoff(retry["policy"], float(retry["base_s"]), float(retry["cap_s"]))
        impatient = RNG.random() < float(c["impatient_share"])
        session = session_sampler(c["session"], RNG)()
        born = clock()
        record("arrival", born)
        attempt, previous = 1, 0.0
        while True:
            start = clock()
            outcome = self.attempt(session)
            end = clock()
            record("attempt", end, end - start, outcome, attempt)
            if outcome == "ok":
                record("joined", end, end - born, "ok", attempt)
                self.fire("joined", end - born, None)
                return
            delay = (float(c["impatient_retry_s"]) if impatient
                     else backoff.delay(attempt, previous, RNG))
            if attempt >= int(retry["max_attempts"]) or end + delay - born > float(
                    c["patience_s"]):
                record("abandoned", end, end - born, outcome, attempt)
                self.fire("abandoned", end - born, RuntimeError(outcome))
                return
            gevent.sleep(delay)
            attempt, previous = attempt + 1, delay

    def attempt(self, session_s: float) -> str:
        """One join attempt: ``ok``, ``rejected`` (503), ``timeout`` or ``error``."""
        with self.client.post("/join", json={"session_s": session_s}, name="join attempt",
                              catch_response=True) as r:
            if r.status_code == 200:
                r.success()
                return "ok"
            if r.status_code == 503:
                r.failure("503")
                return "rejected"
            text = repr(r.error).lower()
            r.failure(text[:80] or f"status {r.status_code}")
            return "timeout" if "timed out" in text or "timeout" in text else "error"

    def fire(self, name: str, seconds: float, exc: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type="CLIENT", name=name, response_time=seconds * 1000.0,
            response_length=0, exception=exc, context={})
