"""Smoke run of experiments/architectures at small scale (--smoke): outputs and their sense;
and the study's reading of several seeds (brackets, ranking, bottleneck, re-judged SLO)."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def study() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "architectures_run", ROOT / "experiments/architectures/run.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_architectures_smoke(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "experiments/architectures/run.py"), "--smoke",
                    "--seeds", "1,2", "--out", str(tmp_path)], check=True, cwd=ROOT,
                   timeout=300)
    assert (tmp_path / "architectures.png").stat().st_size > 0
    rows = {r["variant"]: r for r in rows_of(tmp_path / "results.csv")}
    assert set(rows) == {"sfu", "hls_cdn", "sfu_waiting_room"}
    for r in rows.values():
        assert r["seeds"] == "1;2"
        assert float(r["join_ratio_min"]) > 0.99
        assert float(r["join_ratio_min"]) <= float(r["join_ratio"]) <= float(r["join_ratio_max"])
        assert float(r["egress_gb"]) > 0
        assert r["bottleneck_seeds"] == "2/2" and r["slo_met_at_reference"] == "2/2"
    # Same crowd (common random numbers): the same listeners, give or take sessions.
    sfu, hls = rows["sfu"], rows["hls_cdn"]
    assert abs(float(sfu["peak_listeners"]) - float(hls["peak_listeners"])) < 0.01 * float(
        sfu["peak_listeners"])
    assert hls["polls_failed_share"] == "0.0"
    assert rows["sfu_waiting_room"]["room_wait_mean_s"] != ""
    sens = rows_of(tmp_path / "sensitivity.csv")
    assert {r["setting"] for r in sens} >= {"base", "SLO p99 ≤ 5 s", "SLO p99 ≤ 20 s"}
    assert all(r["ranking"] for r in sens)
    check = rows_of(tmp_path / "slo_check.csv")
    assert check and all(r["run_met"] == r["rejudged_met"] for r in check)
    conv = rows_of(tmp_path / "convergence.csv")
    assert {r["mode"] for r in conv if r["variant"] == "sfu"} == {"cohort", "exact"}
    tables = (tmp_path / "tables.md").read_text()
    assert "| `sfu` |" in tables
    # --tables writes the same tables again from the CSVs alone.
    subprocess.run([sys.executable, str(ROOT / "experiments/architectures/run.py"), "--tables",
                    "--out", str(tmp_path)], check=True, cwd=ROOT, timeout=120)
    assert (tmp_path / "tables.md").read_text() == tables


def test_brackets_over_seeds() -> None:
    """Holds up to: below every seed's first break; breaks by: where every seed has
    broken; seeds that bracket differently are said to disagree."""
    m = study()
    same = m.seeds_bracket({1: [(1, True), (2, True), (3, False)],
                            2: [(1, True), (2, True), (3, False)]})
    assert (same["fp_low"], same["fp_high"], same["seeds_agree"]) == (2, 3, True)
    split = m.seeds_bracket({1: [(1, True), (2, True), (3, False), (4, False)],
                             2: [(1, True), (2, False), (3, True), (4, False)]})
    assert (split["fp_low"], split["fp_high"], split["seeds_agree"]) == (1, 3, False)
    never = m.seeds_bracket({1: [(1, True), (2, True)], 2: [(1, True), (2, False)]})
    assert (never["fp_low"], never["fp_high"]) == (1, None)


def test_ranking_bottleneck_and_rejudge() -> None:
    m = study()
    rows = [{"variant": "a", "fp_low": 400, "fp_high": 450},
            {"variant": "b", "fp_low": 1000, "fp_high": None},
            {"variant": "c", "fp_low": 400, "fp_high": 450}]
    assert m.ranking(rows) == "b > a = c"
    assert m.modal_bottleneck(["fanout", "join", "fanout"]) == (
        "fanout", "2/3", "fanout:2;join:1")
    assert m.modal_bottleneck([None, None]) == ("", "2/2", "-:2")
    run = {"worst_success_ratio": 0.995, "worst_p99_s": 13.5, "join_success_min": 0.99}
    assert m.rejudge(run, 20.0) and not m.rejudge(run, 10.0)
    assert not m.rejudge({**run, "worst_success_ratio": 0.98}, 20.0)
