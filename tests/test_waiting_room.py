"""The waiting room: FIFO admission at a rate, attempt timers that start on admission.

One fast station (10 workers × 0.1 s = 100 requests/s) behind a room that lets 40 users
through per second while 100 arrive per second for 60 s. Clients time out after 2 s
and do not retry, so any attempt whose timer ran while its user waited in the room
(up to ~36 s) would time out. FIFO at 40/s: the user arriving at t is let through at
100·t/40, a wait of 1.5·t; the 2,400 users let through in 60 s arrived before 24 s, so
their mean wait is 1.5 × 12 = 18 s.
"""

from __future__ import annotations

import pytest

import sim

BASE = ["architecture=single_station", "arrivals=constant", "arrivals.rate=100",
        "clients=patient", "clients.timeout_s=2", "run.horizon_s=60", "run.report=false",
        "run.progress=false", "architecture.waiting_room.enabled=true",
        "architecture.waiting_room.admit_rps=40"]


def _run(extra: list[str]) -> dict:
    return sim.run([*BASE, *extra]).summary


def _ledger(s: dict) -> None:
    leg = s["legit"]
    assert leg["arrived"] == leg["joined"] + leg["abandoned"] + leg["in_flight"]
    room = s["waiting_room"]
    assert room["entered"] == room["admitted"] + room["abandoned"] + room["waiting_end"]


@pytest.mark.parametrize("resolution", [0.0, 0.1])
def test_room_admits_at_its_rate_and_timers_wait(resolution: float) -> None:
    s = _run([f"run.resolution_s={resolution}"])
    room, leg = s["waiting_room"], s["legit"]
    _ledger(s)
    assert abs(room["admitted"] - 40 * 60) <= 0.01 * 2400
    assert room["entered"] == leg["arrived"]
    # Nobody timed out although most waited far longer than the 2 s timeout.
    assert leg["attempts_timed_out"] == 0
    assert leg["attempts"] == room["admitted"]
    assert room["wait_s"]["max"] > 30
    assert room["wait_s"]["mean"] == pytest.approx(18.0, rel=0.05)
    # Join latency counts from the press of join: room included.
    assert s["join_latency_s"]["mean"] == pytest.approx(18.0, rel=0.06)
    assert room["waiting_end"] == pytest.approx(6000 - 2400, rel=0.05)


def test_cohort_mode_matches_exact() -> None:
    exact = _run(["run.resolution_s=0"])
    cohort = _run(["run.resolution_s=0.1"])
    arrived = exact["legit"]["arrived"]
    # The modes draw different Poisson arrivals (about ±80 here): compare the room's
    # figures net of the arrivals each mode saw.
    # Cohort mode's bucket banks one tick's worth (4 users) more at the start.
    assert abs(cohort["waiting_room"]["admitted"] - exact["waiting_room"]["admitted"]) <= 4 + 2
    gap = [r["legit"]["arrived"] - r["waiting_room"]["peak_size"] for r in (exact, cohort)]
    assert abs(gap[0] - gap[1]) <= 0.01 * arrived
    assert cohort["waiting_room"]["wait_s"]["mean"] == pytest.approx(
        exact["waiting_room"]["wait_s"]["mean"], rel=0.03)
    assert cohort["legit"]["joined"] == pytest.approx(exact["legit"]["joined"], rel=0.02)


@pytest.mark.parametrize("resolution", [0.0, 0.1])
def test_room_patience(resolution: float) -> None:
    s = _run([f"run.resolution_s={resolution}", "architecture.waiting_room.patience_s=5"])
    room = s["waiting_room"]
    _ledger(s)
    assert room["abandoned"] > 0
    assert s["legit"]["abandoned"] == room["abandoned"]
    # Held at most the room's patience (plus one admission gap or tick).
    assert room["wait_s"]["max"] <= 5 + max(resolution, 1 / 40) + 1e-9
    # About 100 − 40 per second leave once the room holds 5 s of arrivals.
    assert room["abandoned"] == pytest.approx(60 * (100 - 40) - 5 * 100, rel=0.1)


@pytest.mark.parametrize("resolution", [0.0, 0.1])
def test_retries_bypass_the_room(resolution: float) -> None:
    s = _run([f"run.resolution_s={resolution}", "architecture.waiting_room.admit_rps=200",
              "architecture.stations.server.queue_limit=5",
              "architecture.stations.server.service.mean_s=0.2", "clients.retry.policy=fixed",
              "clients.retry.base_s=0.5", "clients.retry.max_attempts=3"])
    _ledger(s)
    leg, room = s["legit"], s["waiting_room"]
    # Retries happened, and none of them went through the room.
    assert leg["attempts"] > 1.5 * leg["arrived"]
    assert room["entered"] == leg["arrived"]
    assert room["admitted"] >= leg["arrived"] - 50


def test_room_off_by_default() -> None:
    s = sim.run([*BASE[:-2], "run.resolution_s=0.1"]).summary
    assert "waiting_room" not in s


@pytest.mark.parametrize(("key", "value"), [("admit_rps", 0), ("burst", 0.5),
                                              ("patience_s", -1)])
def test_bad_room_config(key: str, value: float) -> None:
    with pytest.raises(sim.ConfigError, match=f"architecture.waiting_room.{key}"):
        sim.run([*BASE, f"architecture.waiting_room.{key}={value}"])


@pytest.mark.parametrize("resolution", [0.0, 0.1])
def test_load_gate(resolution: float) -> None:
    """Admission while the station holds at most 20 requests: 300 users/s arrive at a
    100/s station; the room lets through about what the station serves, the station
    never holds much more than the threshold, and nobody times out in its queue."""
    s = sim.run([*BASE[:-1], "architecture.waiting_room.admit_rps=1e6", "arrivals.rate=300",
                 "run.horizon_s=30", f"run.resolution_s={resolution}",
                 "architecture.waiting_room.watch=server",
                 "architecture.waiting_room.max_in_system=20"]).summary
    _ledger(s)
    room, server = s["waiting_room"], s["stations"]["server"]
    assert room["admitted"] == pytest.approx(100 * 30, rel=0.05)
    assert server["peak_queue"] <= 20 + 1
    assert s["legit"]["attempts_timed_out"] == 0
    assert room["waiting_end"] == pytest.approx(300 * 30 - 100 * 30, rel=0.05)


def test_load_gate_config() -> None:
    with pytest.raises(sim.ConfigError, match=r"architecture\.waiting_room\.watch"):
        sim.run([*BASE, "architecture.waiting_room.watch=server"])
    with pytest.raises(sim.ConfigError, match=r"architecture\.waiting_room\.watch"):
        sim.run([*BASE, "architecture.waiting_room.watch=nowhere",
                 "architecture.waiting_room.max_in_system=5"])


def test_small_load_gate_cohort_matches_exact() -> None:
    """A gate at 5 requests on a 2-worker station (156 requests/s) fed 120 users/s: the
    station drains its 6 requests within one 50 ms tick, so a room that decides once per
    tick starves it (at most 6 per tick) and holds users seconds longer than exact mode.
    Cohort mode lets users through one at a time at such a station, as exact mode does:
    joined within 2% of arrivals and p99 join latency within 10%, means over 3 seeds."""
    gate = ["architecture.stations.server.instances=2",
            "architecture.stations.server.workers_per_instance=1",
            "architecture.stations.server.service.mean_s=0.0128",
            "architecture.stations.server.queue_limit=6", "arrivals.rate=120",
            "run.horizon_s=30", "clients.timeout_s=20", "architecture.waiting_room.admit_rps=175",
            "architecture.waiting_room.burst=50", "architecture.waiting_room.watch=server",
            "architecture.waiting_room.max_in_system=5"]
    exact, cohort = [], []
    for seed in (1, 2, 3):
        exact.append(_run([*gate, f"run.seed={seed}", "run.resolution_s=0"]))
        cohort.append(_run([*gate, f"run.seed={seed}", "run.resolution_s=auto",
                            "run.exact_budget_s=0"]))
    for s in exact + cohort:
        _ledger(s)
    assert cohort[0]["resolution"]["tick_s"] >= 0.05  # the gate's 6 drain within a tick

    def mean(runs: list[dict], f) -> float:
        return sum(f(s) for s in runs) / len(runs)

    arrived = mean(exact, lambda s: s["legit"]["arrived"])
    joined = [mean(r, lambda s: s["legit"]["joined"]) for r in (exact, cohort)]
    assert abs(joined[1] - joined[0]) <= 0.02 * arrived
    p99 = [mean(r, lambda s: s["join_latency_s"]["p99"]) for r in (exact, cohort)]
    assert p99[1] == pytest.approx(p99[0], rel=0.10)
