"""summary.json against its schema (``sim.summary``): real runs, and the checker itself.

Two small runs between them write every block a summary can have: exact mode with the
waiting room, a mixed attack under every mitigation, an autoscaler with a warm pool and
the three client-side policies; cohort mode with HLS polling, station outages (so
metastability) and replications. Each summary.json must have every key of the schema
that is not optional, each of its type, and no key the schema does not know.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest

import sim
from sim import summary as schema
from sim.analysis.replications import REPLICATED_METRICS
from sim.sweep import FIGURES, REPLICATED

RUNS = {
    "exact_everything": [
        "architecture=spaces_waiting_room", "attack=mixed", "mitigation=all",
        "autoscaler=warm_pool", "clients.retry_budget.enabled=true",
        "clients.adaptive_throttling.enabled=true", "clients.circuit_breaker.enabled=true",
        "arrivals.audience=3000", "run.horizon_s=400",
        "attack.vectors.l7_join_flood.rate_rps=500", "run.resolution_s=0"],
    "cohort_hls_replicated": [
        "architecture=spaces_hls", "arrivals.audience=20000", "run.horizon_s=400",
        "run.resolution_s=0.5", "run.replications=2",
        "architecture.stations.auth.outages=[{start_s:320,end_s:330,capacity_share:0.0}]"],
}
OPTIONAL_BLOCKS = {"metastability", "waiting_room", "polling", "batch_means", "replications"}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The summary.json of each run of ``RUNS``, as read back from disk."""
    out = {}
    for name, overrides in RUNS.items():
        path = tmp_path_factory.mktemp(name)
        sim.run(["run.report=false", "run.progress=false", *overrides], outdir=path)
        out[name] = json.loads((path / "summary.json").read_text())
    return out


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_real_run_matches_the_schema(written: dict[str, dict[str, Any]], name: str) -> None:
    assert schema.validate(written[name]) == []
    assert written[name]["status"] == "ok"


def test_the_runs_write_every_optional_block(written: dict[str, dict[str, Any]]) -> None:
    assert set().union(*(set(s) & OPTIONAL_BLOCKS for s in written.values())) \
        == OPTIONAL_BLOCKS
    s = written["exact_everything"]
    assert "policies" in s["legit"]
    assert set(s["mitigation"]) == {"name", "station", "scrubbing", "rate_limit_per_source",
                                    "waf", "challenge"}
    assert any("autoscaler" in st for st in s["stations"].values())
    assert any("slots" in st for st in s["stations"].values())
    assert "warm_pool_instance_s" in s["cost"]["stations"]["join"]


def _valid() -> dict[str, Any]:
    station = {"offered": 1, "served": 1, "rejected": 0, "timed_out": 0, "wasted": 0,
               "peak_queue": 0, "in_system": 0, "shed": 0, "crashes": 0, "killed": 0,
               "retry_rejected": 0, "outage_s": 0.0, "instances_max": 1,
               "utilization_mean": 0.1,
               "wait_s": {"mean": None, "p50": None, "p99": None, "n": 0}}
    legit = dict.fromkeys(("arrived", "joined", "abandoned", "in_flight", "attempts",
                           "attempts_failed", "attempts_rejected", "attempts_timed_out",
                           "retries", "wasted", "retry_budget_denied", "throttled",
                           "breaker_rejected"), 0)
    return {
        "schema": 1, "name": "x", "status": "ok", "mode": "exact",
        "resolution": {"requested": "auto", "mode": "exact", "tick_s": 0.0,
                       "scenario_tick_s": 0.1, "binding": None, "estimated_visits": 1,
                       "estimated_exact_s": 0.0, "reason": "r", "warning": None},
        "seed": 1, "horizon_s": 10.0, "sim_time_s": 10.0,
        "arrival_peak": {"t_s": 0.0, "batch": None},
        "legit": {**legit, "attempts_per_client": None, "join_ratio": None,
                  "expected_arrivals": 0.0},
        "listeners": dict.fromkeys(("peak", "end", "sessions_ended", "evicted", "reconnects",
                                    "reconnected", "lost"), 0),
        "join_latency_s": {"mean": None, "p50": None, "p90": None, "p99": None, "max": None,
                           "n": 0},
        "attack": {"offered": 0, "mitigated": 0, "served": 0, "vectors": {}, "links": {}},
        "mitigation": {"name": "none", "station": None},
        "stations": {"s": station},
        "slo": {"met": None, "first_breach_s": None, "bottleneck": None},
        "cost": {"usd": 0.0, "stations": {"s": {"instance_s": 1.0,
                                                "price_per_instance_hour": 0.1, "usd": 0.0}}},
        "perf": {"wall_s": 0.1, "events": 3, "events_per_s": 30.0},
    }


def test_a_hand_made_summary_passes() -> None:
    assert schema.validate(_valid()) == []


def test_missing_unknown_and_mistyped_keys_are_found() -> None:
    s = _valid()
    del s["legit"]["joined"]
    s["stations"]["s"]["surprise"] = 1
    s["slo"]["met"] = "yes"
    s["seed"] = 1.5
    s["join_latency_s"]["n"] = True  # a bool is not a count
    assert schema.validate(s) == [
        "seed: 1.5 is not int",
        "legit.joined: missing",
        "join_latency_s.n: True is not int",
        "stations.s.surprise: not in the schema",
        "slo.met: 'yes' is not bool | None",
    ]


def test_an_uncollected_summary_has_its_own_shape() -> None:
    s = {"schema": 1, "name": "x", "status": "failed", "partial": "not collected"}
    assert schema.validate(s) == []
    assert schema.validate({**s, "status": "gone"}) != []


def test_every_named_path_is_in_the_schema() -> None:
    paths = {*schema.PATHS, *FIGURES, *REPLICATED, *REPLICATED_METRICS}
    assert [p for p in sorted(paths) if not schema.resolves(p)] == []
    assert not schema.resolves("legit.join_rate")
    assert not schema.resolves("stations.*.wait_s.p95")


def test_conform_gives_every_required_key_of_an_older_summary() -> None:
    old = {"legit": {"joined": 3}, "stations": {"s": {"served": 2}}, "extra": 1}
    s = schema.conform(old)
    assert s["legit"]["joined"] == 3 and s["legit"]["arrived"] is None
    assert s["slo"]["met"] is None and s["stations"]["s"]["wait_s"]["p99"] is None
    assert "metastability" not in s and s["extra"] == 1  # type: ignore[typeddict-item]
    assert old == {"legit": {"joined": 3}, "stations": {"s": {"served": 2}}, "extra": 1}


def test_the_order_of_the_blocks_is_the_schemas() -> None:
    s = _valid()
    shuffled = dict(reversed(list(s.items())))
    assert list(schema.in_schema_order(shuffled)) == list(s)  # type: ignore[arg-type]


def test_the_mitigations_are_the_optional_blocks_of_mitigation() -> None:
    hints = typing.get_type_hints(schema.Mitigation)
    assert [k for k in hints if k in schema.Mitigation.__optional_keys__] \
        == list(schema.MITIGATIONS)


def test_a_run_directory_reads_an_older_summary_through_its_type(tmp_path: Path) -> None:
    """The report indexes every always-written key; what the file lacks is still seen."""
    from sim.report.load import RunData, input_problems

    old = {"status": "ok", "legit": {"joined": 3}}
    run = RunData(path=tmp_path, summary=old)  # type: ignore[arg-type]
    assert run.summary["slo"]["met"] is None and run.summary["legit"]["arrived"] is None
    assert run.written == old and run.stations == []
    assert input_problems(run)[0].startswith("summary.json lacks horizon_s, legit.arrived")
