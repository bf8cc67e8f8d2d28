"""The metastability study: its script runs at small scale and writes its outputs, and
the behaviour it studies holds at that scale: after a 10 s outage, retries keep the
database down, while the same trigger without retries, or with a retry budget, passes."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

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
    assert {r["group"] for r in rows} == {"counterfactual", "lever", "load", "depth",
                                          "slowdown"}
    text = (tmp_path / "findings.md").read_text()
    assert "**Counterfactuals**" in text and "**Levers × trigger length**" in text

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
