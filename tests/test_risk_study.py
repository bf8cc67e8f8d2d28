"""The launch_risk study runs at small scale and writes what its README says; the risk
benchmark runs at a tiny scale (it measures nothing here)."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "experiments" / "launch_risk"


def study_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("launch_risk_run", STUDY / "run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_smoke_run_writes_one_risk_study_per_variant(tmp_path: Path) -> None:
    mod = study_module()
    mod.main(["--smoke", "--out", str(tmp_path)])
    with (tmp_path / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["variant"] for r in rows] == [name for name, _ in mod.SMOKE_VARIANTS]
    for r in rows:
        risk = json.loads((Path(r["dir"]) / "risk.json").read_text())
        assert risk["samples"] == mod.SMOKE_SAMPLES and risk["finished"]
        assert set(risk["inputs"]) == set(mod.SMOKE_BELIEFS)
        assert (Path(r["dir"]) / "report.html").is_file()
        assert r["decision"] in ("GO", "NO-GO", "NO VERDICT")
    # Every variant draws the same samples (common random numbers).
    inputs = [[j["inputs"] for j in json.loads((Path(r["dir"]) / "risk.json").read_text())
               ["jobs"]] for r in rows]
    assert inputs[0] == inputs[1]
    text = (tmp_path / "findings.md").read_text()
    assert "| variant | P(fail) |" in text
    # The convergence check reran each variant's sample nearest the line at a finer tick.
    with (tmp_path / "tick_check.csv").open() as fh:
        checks = list(csv.DictReader(fh))
    assert [c["variant"] for c in checks] == [name for name, _ in mod.SMOKE_VARIANTS]
    assert all(float(c["tick_s_finer"]) == mod.CHECK_TICK_S for c in checks)
    assert f"rerun at a {mod.CHECK_TICK_S:g} s tick" in text


def test_the_samples_checked_are_those_nearest_the_line() -> None:
    """The convergence check picks, where the verdicts differ, the samples either side of
    each change of verdict along the driving input; where they do not, the samples whose
    worst window's failed share is nearest the SLO's 1%; never one that was not judged."""
    mod = study_module()
    rng = random.Random(7)
    def dist(j: dict) -> float:
        return abs(math.log(max(1 - j["figures"]["slo.worst_success_ratio"], 1e-6) / 0.01))
    for case in range(60):
        x = [rng.uniform(0, 1) for _ in range(20)]
        cut = rng.uniform(0.2, 0.8) if case % 3 else 2.0  # every third: all hold
        jobs = [{"sample": i, "error": None, "not_judged": None if i % 7 else "x",
                 "failed": xi > cut, "inputs": {"a": xi, "b": rng.random()},
                 "figures": {"slo.worst_success_ratio": 0.9 if xi > cut else 1.0}}
                for i, xi in enumerate(x)]
        risk = {"jobs": jobs, "sensitivity": {"ranking": ["a", "b"]}}
        picked = mod.nearest_the_line(risk, 2)
        judged = [j for j in jobs if j["not_judged"] is None]
        assert len(picked) == 2 and all(j["not_judged"] is None for j in picked)
        if any(j["failed"] for j in judged) and not all(j["failed"] for j in judged):
            below = max((j for j in judged if not j["failed"]), key=lambda j: j["inputs"]["a"])
            above = min((j for j in judged if j["failed"]), key=lambda j: j["inputs"]["a"])
            assert {j["sample"] for j in picked} == {below["sample"], above["sample"]}
        else:
            rest = [j for j in judged if j not in picked]
            assert all(dist(p) <= dist(r) for p in picked for r in rest)


def test_readme_and_findings_are_those_of_results_json() -> None:
    """The README's results block and findings.md are what run.py writes from the
    committed results.json, and each row's counts are its variant's risk.json's."""
    mod = study_module()
    data = json.loads((STUDY / "results.json").read_text())
    text = mod.findings(data["rows"], data["meta"]["beliefs"], data["meta"]["samples"],
                        data.get("tick_check") or [])
    assert (STUDY / "findings.md").read_text() == text
    readme = (STUDY / "README.md").read_text()
    block = readme.split("<!-- results:begin -->\n", 1)[1].split("<!-- results:end -->")[0]
    assert block == text
    for row in data["rows"]:
        risk = json.loads((STUDY / "variants" / mod.slug(row["variant"]) / "risk.json")
                          .read_text())
        assert (risk["failed"], risk["judged"]) == (row["failed"], row["judged"]), row["variant"]


@pytest.mark.benchmark
def test_bench_risk_runs() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_risk.py"),
                          "--samples", "2", "--reps", "1"],
                         capture_output=True, text=True, check=True, timeout=600)
    for line in ("batched: median", "process per sample: median",
                 "ratio batched / process per sample:"):
        assert line in out.stdout, out.stdout


def test_ratio_judged_reads_the_ratio_test_off_binomial_runs() -> None:
    """A binomial-test variant's samples judged as a ratio: every sample that failed, and
    every other whose worst judged window's share is under 99%; unjudged samples are
    left out, and the ratio test never fails fewer."""
    mod = study_module()
    rng = random.Random(11)
    for _ in range(50):
        jobs = []
        for i in range(30):
            ratio = rng.choice([None, 1.0, rng.uniform(0.97, 1.0)])
            judged = rng.random() > 0.1
            jobs.append({"sample": i, "error": None, "not_judged": None if judged else "x",
                         "failed": judged and (rng.random() < 0.2 or (ratio or 1) < 0.975),
                         "figures": {"slo.worst_success_ratio": ratio}})
        failed, n = mod.ratio_judged({"jobs": jobs})
        judged = [j for j in jobs if j["not_judged"] is None]
        assert n == len(judged)
        assert failed == sum(j["failed"] or (j["figures"]["slo.worst_success_ratio"] or 1) < 0.99
                             for j in judged)
        assert failed >= sum(j["failed"] for j in judged)
