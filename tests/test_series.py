"""timeseries.csv against its column names (``sim.series``): real runs, and the readers.

Each run below writes its time series; its header must be exactly the columns
``sim.series.columns`` declares for the parts the run has (read from its summary.json
and config.yaml), in the same order. Between them the runs have every optional group
of columns: an attack with every mitigation, autoscalers, the waiting room, HLS
polling, the client-side policies, a station with outages and one that sheds.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import sim
from sim import series
from sim.series import Layout, StationLayout

SHORT = ["arrivals.audience=3000", "run.horizon_s=400"]
RUNS = {
    "default": [],
    "mixed_attack": ["attack=mixed", "mitigation=all"],
    "autoscaled": ["autoscaler=target_tracking"],
    "waiting_room": ["architecture=spaces_waiting_room"],
    "hls_policies_outage": [
        "architecture=spaces_hls", "clients.retry_budget.enabled=true",
        "clients.circuit_breaker.enabled=true",
        "architecture.stations.auth.outages=[{start_s:320,end_s:330,capacity_share:0.0}]",
        "architecture.stations.join.shed_queue_age_s=2.0"],
}


def _header(path: Path) -> list[str]:
    with (path / "timeseries.csv").open(newline="") as fh:
        return next(csv.reader(fh))


def layout(summary: dict[str, Any], config: dict[str, Any]) -> Layout:
    """The parts of a run that have columns, from what it wrote."""
    stations_cfg = config["architecture"]["stations"]

    def station(name: str, st: dict[str, Any]) -> StationLayout:
        sc = stations_cfg[name]
        scaler = st.get("autoscaler")
        return StationLayout(
            name, crashes=bool(sc["outages"] or sc["failures"] or sc["crash"]["enabled"]),
            shed=sc["shed_queue_age_s"] is not None, slots="slots" in st,
            autoscaler_metrics=tuple(scaler["metrics"]) if scaler else None)

    return Layout(
        stations=tuple(station(n, st) for n, st in summary["stations"].items()),
        vectors=tuple(summary["attack"]["vectors"]),
        mitigations=tuple(k for k in summary["mitigation"] if k not in ("name", "station")),
        links=tuple(summary["attack"]["links"]),
        policies="policies" in summary["legit"],
        waiting_room="waiting_room" in summary, polling="polling" in summary)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, tuple[list[str], Layout]]:
    """Each run's timeseries.csv header and its layout."""
    out = {}
    for name, overrides in RUNS.items():
        path = tmp_path_factory.mktemp(name)
        sim.run(["run.report=false", "run.progress=false", *SHORT, *overrides], outdir=path)
        summary = json.loads((path / "summary.json").read_text())
        config = yaml.safe_load((path / "config.yaml").read_text())
        out[name] = (_header(path), layout(summary, config))
    return out


def _mitigation_columns(cols: list[str]) -> set[str]:
    return {c for c in cols if c.startswith("mitigation.")}


@pytest.mark.parametrize("name", list(RUNS))
def test_a_real_run_writes_exactly_the_declared_columns(
        written: dict[str, tuple[list[str], Layout]], name: str) -> None:
    header, parts = written[name]
    declared = series.columns(parts)
    assert len(header) == len(set(header))
    assert sorted(header) == sorted(declared)
    # In the same order, but for the mitigations among themselves: a summary lists them
    # in another order than the filters run.
    mitig = _mitigation_columns(declared)
    assert [c for c in header if c not in mitig] == [c for c in declared if c not in mitig]


def test_the_runs_have_every_optional_group(
        written: dict[str, tuple[list[str], Layout]]) -> None:
    every = {c for header, _ in written.values() for c in header}
    for group in (series.POLICIES, series.WAITING_ROOM, series.POLLING, series.JUDGED):
        assert set(group) <= every
    parts = [p for _, p in written.values()]
    stations = [st for p in parts for st in p.stations]
    assert any(st.crashes for st in stations) and any(st.shed for st in stations)
    assert any(st.slots for st in stations)
    assert any(st.autoscaler_metrics for st in stations)
    assert any(p.vectors for p in parts) and any(p.mitigations for p in parts)
    assert any(p.links for p in parts)


def test_names_read_back_from_columns() -> None:
    cols = series.columns(Layout(
        stations=(StationLayout("fanout", slots=True, autoscaler_metrics=("listeners",)),),
        vectors=("volumetric", "bot_listeners"), mitigations=("waf",), links=("edge",)))
    assert series.attack_vectors(cols) == ["volumetric", "bot_listeners"]
    assert series.mitigations(cols) == ["waf"]
    assert series.slot_stations(cols) == ["fanout"]
    assert series.join_percentiles(reversed(cols)) == list(series.JOIN_PERCENTILES)
    assert series.station("join", series.QUEUE) == "join.queue"
    assert series.autoscaler_metric("fanout", "listeners") == "fanout.metric.listeners"
    assert series.SLO_JOIN_P99 == "slo.join_p99_s"
