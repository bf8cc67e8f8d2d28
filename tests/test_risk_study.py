"""The launch_risk study runs at small scale and writes what its README says; the risk
benchmark runs at a tiny scale (it measures nothing here)."""

from __future__ import annotations

import csv
import importlib.util
import json
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
    assert [r["variant"] for r in rows] == [name for name, _ in mod.VARIANTS[:2]]
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
    assert "| variant | P(fail) |" in (tmp_path / "findings.md").read_text()


def test_readme_and_findings_are_those_of_results_json() -> None:
    """The README's results block and findings.md are what run.py writes from the
    committed results.json, and each row's counts are its variant's risk.json's."""
    mod = study_module()
    data = json.loads((STUDY / "results.json").read_text())
    text = mod.findings(data["rows"], data["meta"]["beliefs"], data["meta"]["samples"])
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
