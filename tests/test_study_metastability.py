"""The metastability study: its script runs at small scale and writes its outputs, and
the behaviour it studies holds at that scale: after a 10 s outage, retries keep the
database down, while the same trigger without retries, or with a retry budget, passes;
the network trigger's burst brings the database down too, and the failure is still
there at the end of the long horizon."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

STUDY = Path(__file__).resolve().parents[1] / "experiments" / "metastability"


def study_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("metastability_run", STUDY / "run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # the worker processes find one_run by module name
    spec.loader.exec_module(mod)
    return mod


def test_smoke_run_writes_results_figures_and_findings(tmp_path: Path) -> None:
    mod = study_module()
    mod.main(["--smoke", "--out", str(tmp_path), "--jobs", "2"])
    for name in ("results.csv", "results.json", "timeline.png", "levers.png",
                 "sensitivity.png", "findings.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    with (tmp_path / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["group"] for r in rows} == {
        "counterfactual", "lever", "lever_started", "network_offered", "network_started",
        "long_offered", "long_started", "netlong_offered", "netlong_started", "load",
        "depth", "slowdown", "timeout", "slo"}
    text = (tmp_path / "findings.md").read_text()
    for title in ("**Counterfactuals**", "**Levers × trigger length**",
                  "slowdown counting only the requests it starts",
                  "**Bronson et al.'s trigger**", "judged over a 300 s horizon",
                  "**Bronson et al.'s trigger, judged over a 300 s horizon**",
                  "**The clients' timeout**", "**How the SLO judges it**"):
        assert title in text, title

    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    by = {r["label"]: r for r in runs if r["group"] in ("counterfactual", "lever")}
    down = by["trigger + retries (the preset)"]
    # Metastable: the trigger ended at 40 s, yet at the horizon every request is still
    # tried twice and almost nothing gets through.
    assert down["trigger_end_s"] == 40.0
    assert down["stays_down"] is True
    assert down["amplification_end"] > 1.7
    assert down["goodput_end_qps"] < 0.1 * mod.LOAD_QPS
    for label in ("trigger, no retries", "retry budget (AWS SDK quota, shared)"):
        ok = by[label]
        assert ok["recovered"] is True and ok["stays_down"] is False, label
        assert ok["goodput_end_qps"] > 0.9 * mod.LOAD_QPS, label
    assert by["no trigger"]["first_breach_s"] is None

    # Bronson et al.'s trigger: the database never stops, yet the burst of requests the
    # network held (first attempts and their retries) puts it into its slow mode, and
    # the retries keep it there.
    net = [r for r in runs if r["group"] == "network_offered"
           and r["label"] == "none (retry once, at once)"]
    assert len(net) == 1 and net[0]["stays_down"] is True
    assert net[0]["goodput_end_qps"] < 0.1 * mod.LOAD_QPS
    # Judged over the long horizon, the preset's failure is still there at its end.
    long = [r for r in runs if r["group"] == "long_offered"
            and r["label"] == "none (retry once, at once)"]
    assert len(long) == 1 and long[0]["stays_down"] is True
    netlong = [r for r in runs if r["group"] == "netlong_offered"
               and r["label"] == "none (retry once, at once)"]
    assert len(netlong) == 1 and netlong[0]["stays_down"] is True

    # --tables runs nothing: it rewrites the tables from results.json, every figure per
    # seed with its [min–max] (one seed here, so min = max).
    (tmp_path / "findings.md").unlink()
    mod.main(["--tables", "--out", str(tmp_path)])
    again = (tmp_path / "findings.md").read_text()
    assert again.startswith("Tables rewritten by `python experiments/metastability/run.py "
                            "--tables`")
    assert "nothing was rerun" in again.splitlines()[0]
    assert again.split("\n", 1)[1] == text.split("\n", 1)[1]
    assert "| 0 [0–0] |" in again

    # --only reruns the groups named and keeps every other run's figures; the tables
    # say so. A group the study does not have is an error naming the groups it has.
    before = {(r["group"], r["label"], r["seed"]): r for r in runs}
    mod.main(["--smoke", "--only", "netlong_started", "--out", str(tmp_path), "--jobs", "2"])
    after = json.loads((tmp_path / "results.json").read_text())
    assert {(r["group"], r["label"], r["seed"]) for r in after["runs"]} == set(before)
    for r in after["runs"]:
        if r["group"] != "netlong_started":
            assert r == before[(r["group"], r["label"], r["seed"])]
    head = (tmp_path / "findings.md").read_text().splitlines()[0]
    assert "run afterwards by `python experiments/metastability/run.py --smoke --only " \
           "netlong_started`" in head
    with pytest.raises(SystemExit, match=r"no group netlong in this study.*netlong_offered"):
        mod.main(["--smoke", "--only", "netlong", "--out", str(tmp_path)])


def test_readme_tables_are_those_of_results_json() -> None:
    """The README's results block is what run.py writes from the committed results.json
    (past its first line, which dates the writing), each figure with its [min–max]."""
    mod = study_module()
    runs, meta = mod.read_results(STUDY / "results.json", mod.RUN_COLS)
    text = mod.findings(runs, {**meta, "tables_date": "-"})
    readme = (STUDY / "README.md").read_text()
    block = readme.split("<!-- results:begin -->\n", 1)[1].split("<!-- results:end -->")[0]
    assert block.split("\n", 1)[1] == text.split("\n", 1)[1]
    first = block.split("\n")[0]
    assert f"`{meta['command']}` on {meta['date']}" in first
    if meta.get("rerun"):  # groups rerun alone (--only) say so
        assert f"run afterwards by {meta['rerun']}" in first
    assert "| trigger + retries (the preset) | 3/3 [44%–100%] | — | 1.82 [1.81–1.82] |" in block


def test_lever_sizes_as_above_are_the_long_tables_scenarios() -> None:
    """Each lever-size row marked "as above" is the same scenario (overrides, seeds) as
    that lever's row of the long-horizon table, and no other size is."""
    mod = study_module()
    runs = mod.plan(False, 3)
    for counts in mod.COUNTS:
        long_runs = {mod.canonical(r["overrides"]) for r in runs
                     if r["group"] == f"long_{counts}"}
        sizes = [r for r in runs if r["group"] == f"size_{counts}"]
        assert sizes
        for r in sizes:
            same = mod.canonical(r["overrides"]) in long_runs
            assert same == r["label"].endswith("(as above)"), r["label"]
