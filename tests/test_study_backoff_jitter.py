"""The backoff_jitter study: its script runs at small scale and writes its outputs, and
the optimistic-concurrency row it relies on behaves as defined."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from sim.cli import compose
from sim.config import to_config
from sim.run import Scenario

STUDY = Path(__file__).resolve().parents[1] / "experiments" / "backoff_jitter"


def study_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("backoff_jitter_run", STUDY / "run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quick_run_writes_results_figures_and_findings(tmp_path: Path) -> None:
    study_module().main(["--quick", "--out", str(tmp_path)])
    for name in ("results.csv", "summary.csv", "calls_time.png", "sensitivity.png",
                 "findings.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    with (tmp_path / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    policies = {r["policy"] for r in rows}
    assert policies == {"no jitter", "decorrelated", "equal", "full", "no backoff"}
    assert {r["variant"] for r in rows} == {"published", "slow"}
    for r in rows:
        n, calls = int(r["clients"]), int(r["calls"])
        assert n <= calls  # every client writes at least once
        assert float(r["time_ms"]) > 0
    text = (tmp_path / "findings.md").read_text()
    assert "| check |" in text and "calls, best first" in text


def writers(*overrides: str) -> dict[str, int]:
    cfg = to_config(compose([
        "experiment=backoff_jitter", "run.report=false", "run.progress=false",
        "run.horizon_s=5",
        "architecture.stations.network.service.dist=deterministic",
        "architecture.stations.join.service.dist=deterministic", *overrides]))
    sc = Scenario(cfg)
    sc.run()
    lg = sc.collect().summary["legit"]
    return {"joined": lg["joined"], "attempts": lg["attempts"],
            "conflicts": sc.topology.stations["join"].conflicts}  # type: ignore[attr-defined]


def test_two_overlapping_writes_the_second_to_commit_retries() -> None:
    # Both read at 20 ms and commit at 40 ms: the first commits, the second conflicts,
    # backs off (10 ms, no jitter), reads again and commits.
    out = writers("arrivals.count=2", "clients.retry.policy=exponential")
    assert out == {"joined": 2, "attempts": 3, "conflicts": 1}


def test_serial_writes_all_commit() -> None:
    out = writers("arrivals.kind=sum", "arrivals.t0_s=300",
                  "arrivals.components=[{kind: batch, count: 1, t0_s: 0},"
                  " {kind: batch, count: 1, t0_s: 1}, {kind: batch, count: 1, t0_s: 2}]")
    assert out == {"joined": 3, "attempts": 3, "conflicts": 0}


@pytest.mark.parametrize("policy", ["exponential", "decorrelated_jitter", "equal_jitter",
                                    "full_jitter", "immediate"])
def test_every_policy_gets_every_writer_through(policy: str) -> None:
    out = writers("arrivals.count=12", f"clients.retry.policy={policy}", "run.horizon_s=60")
    assert out["joined"] == 12
    assert out["attempts"] == 12 + out["conflicts"]


@pytest.mark.slow
def test_published_calls_and_ordering_at_100_clients() -> None:
    """Validation against the reference rerun of the post's simulator at 100 clients, 30 seeds:
    mean calls within 5% per policy, and the published ordering of calls and time."""
    mod = study_module()
    calls: dict[str, float] = {}
    time_ms: dict[str, float] = {}
    for label, policy, base_s in mod.POLICIES:
        cfg = mod.base_config(policy, base_s, 10.0, 2.0)
        runs = [mod.one_run(cfg, 100, seed) for seed in range(30)]
        calls[label] = sum(c for c, _ in runs) / len(runs)
        time_ms[label] = sum(t for _, t in runs) / len(runs)
        assert calls[label] == pytest.approx(mod.PUBLISHED[100][label][0], rel=0.05), label
    assert max(calls["full"], calls["equal"]) < calls["decorrelated"] < calls["no jitter"]
    assert calls["full"] < 0.5 * calls["no jitter"]
    assert time_ms["full"] < time_ms["equal"] < time_ms["no jitter"] / 3


def test_reference_rows_shown_are_the_kept_rerun_of_the_post_simulator() -> None:
    """The rows marked "reference" in ``findings.md`` (and the README's results block)
    are the seeded rerun of the post's simulator kept in ``reference/``, to the digit,
    for every policy at every client count they show."""
    names = {"Exponential": "no jitter", "Decorr": "decorrelated", "EqualJitter": "equal",
             "FullJitter": "full", "None": "no backoff"}
    with (STUDY / "reference" / "aws_simulator_66cb169.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    kept = {(int(r["clients"]), names[r["Algorithm"]]): (int(r["calls"]), int(r["time"]))
            for r in rows}
    assert len(kept) == len(rows)
    order = ["no jitter", "decorrelated", "equal", "full", "no backoff"]
    shown = 0
    for text in ((STUDY / "findings.md").read_text(), (STUDY / "README.md").read_text()):
        for line in text.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 7 or cells[1] not in ("calls, reference", "time ms, reference"):
                continue
            n, which = int(cells[0]), 0 if cells[1].startswith("calls") else 1
            for policy, cell in zip(order, cells[2:], strict=True):
                assert int(cell.replace(",", "")) == kept[(n, policy)][which], (n, policy)
                shown += 1
    assert shown >= 2 * 2 * 3 * 5  # both files, calls and time, three sizes, five policies
