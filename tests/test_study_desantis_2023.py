"""Smoke run of experiments/desantis_2023 at small scale (--smoke): outputs and their sense."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def read(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One --smoke run (about a minute), read by both tests."""
    out = tmp_path_factory.mktemp("desantis_smoke")
    subprocess.run([sys.executable, str(ROOT / "experiments/desantis_2023/run.py"), "--smoke",
                    "--out", str(out)], check=True, cwd=ROOT, timeout=300)
    return out


def test_desantis_smoke(smoke: Path) -> None:
    tmp_path = smoke
    for name in ("results.csv", "summary.csv", "capacity.csv", "capacity_steps.csv",
                 "sensitivity.csv", "sensitivity_summary.csv", "baseline.png",
                 "reference_timeseries.png", "capacity.png", "sensitivity.png",
                 "run_time.txt"):
        assert (tmp_path / name).stat().st_size > 0, name
    rows = read(tmp_path / "results.csv")
    # One row per (audience, seed), every audience on the same seeds.
    assert [(int(r["audience"]), int(r["seed"])) for r in rows] == \
        [(3000, 1), (3000, 2), (5000, 1), (5000, 2)]
    # The room never holds more listeners than the 16 servers' slots (200 each here).
    assert all(int(r["listeners_peak"]) <= 16 * 200 for r in rows)
    assert all(int(r["fanout.slots_refused"]) >= 0 for r in rows)
    summary = {int(r["audience"]): r for r in read(tmp_path / "summary.csv")}
    # The small crowd holds on every seed; the larger one breaks on every seed, at a named
    # tier, after the start.
    assert (summary[3000]["slo_met_seeds"], summary[3000]["seeds"]) == ("2", "2")
    assert summary[5000]["slo_met_seeds"] == "0"
    tiers = ("edge", "auth", "token_store", "join", "fanout")
    assert all(r["bottleneck"] in tiers for r in rows if r["audience"] == "5000")
    assert summary[5000]["bottlenecks"].split(" ")[0] in tiers
    assert float(summary[5000]["first_breach_s_mean"]) > 100
    # Each summary figure is the mean of its seeds' figures, inside its interval.
    for a, s in summary.items():
        ratios = [float(r["join_ratio"]) for r in rows if int(r["audience"]) == a]
        mean = float(s["join_ratio_mean"])
        assert abs(mean - sum(ratios) / len(ratios)) < 1e-12
        assert float(s["join_ratio_low"]) <= mean <= float(s["join_ratio_high"])
    cap = read(tmp_path / "capacity.csv")
    # The capacity search ends with a config that holds on every seed, above the baseline.
    assert cap[1]["held"] == "True" and cap[1]["seeds_met"] == cap[1]["seeds"] == "2"
    assert float(cap[1]["join.max_rate_rps"]) > 25
    steps = read(tmp_path / "capacity_steps.csv")
    assert [s["seeds_met"] for s in steps if s["audience"] == "5000"][-1] == "2"
    assert all(s["seeds_met"] != s["seeds"] for s in steps[:-1] if s["audience"] == "5000")


def test_desantis_smoke_sensitivity(smoke: Path) -> None:
    tmp_path = smoke
    base = [r for r in read(tmp_path / "results.csv") if r["audience"] == "5000"]
    sens = read(tmp_path / "sensitivity.csv")
    by: dict[str, list[dict[str, str]]] = {}
    for r in sens:
        by.setdefault(r["variant"], []).append(r)
    # The reference rows are the baseline's; every variant runs on the same seeds.
    assert [r["join_ratio"] for r in by["reference"]] == [r["join_ratio"] for r in base]
    assert all([r["seed"] for r in v] == ["1", "2"] for v in by.values())
    assert set(by) == {"reference", "exact_mode", *(
        f"{a}={b}" for a, vals in (("reaction_median_s", (10, 90)), ("early_share", (0.05, 0.3)),
                                   ("tail_share", (0.15, 0.45)),
                                   ("session_mean_s", (900, 3600)), ("timeout_s", (3, 10)),
                                   ("slo_p99_max_s", (5, 20))) for b in vals)}
    assert {r["mode"] for r in by["exact_mode"]} == {"exact"}
    # The SLO's bound only judges the same runs: the crowd and who joined do not move,
    # and a looser bound never holds on fewer seeds than a tighter one.
    for v in ("slo_p99_max_s=5", "slo_p99_max_s=20"):
        assert [r["join_ratio"] for r in by[v]] == [r["join_ratio"] for r in base]
    held = {v: sum(r["slo_met"] == "True" for r in rows) for v, rows in by.items()}
    assert held["slo_p99_max_s=5"] <= held["reference"] <= held["slo_p99_max_s=20"]
    # Moving an assumption of the crowd moves the figures.
    assert [r["join_ratio"] for r in by["session_mean_s=900"]] != \
        [r["join_ratio"] for r in base]


def test_desantis_fitted_crowd_smoke(tmp_path: Path) -> None:
    """``fitted.py --smoke``: the audience is the one whose expected room peaks at the
    (scaled) reported room, every variant runs on both seeds, and the table's verdicts
    follow from the rows: the preset's room cannot exceed its slots (16 × 200 here,
    under 80% of the reported room), so it never has the room of the reported size."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("desantis_fitted",
                                                  ROOT / "experiments/desantis_2023/fitted.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    base = mod.COMMON + mod.SMOKE
    fit = mod.fit_audience(base, mod.SMOKE_ROOM)
    # Rounded to 100 users: the expected room is the target within half a step's share.
    assert abs(fit["expected_peak"] - mod.SMOKE_ROOM) <= 50 * fit["peak_share"]
    mod.main(["--smoke", "--out", str(tmp_path)])
    rows = read(tmp_path / "fitted.csv")
    assert sorted((r["variant"], int(r["seed"])) for r in rows) == \
        sorted((v, s) for v, _ in mod.VARIANTS for s in (1, 2))
    preset = [r for r in rows if r["variant"] == "the preset"]
    assert all(int(r["listeners_peak"]) <= 16 * 200 for r in preset)
    text = mod.table([{**r, "seed": int(r["seed"]), "listeners_end": int(r["listeners_end"]),
                       "listeners_peak": int(r["listeners_peak"]),
                       "join_ratio": float(r["join_ratio"]),
                       "breach_after_start_min": (float(r["breach_after_start_min"])
                                                  if r["breach_after_start_min"] else None)}
                      for r in rows], fit, mod.SMOKE_ROOM)
    line = next(ln for ln in text.splitlines() if ln.startswith("| the preset |"))
    assert line.endswith("| no |")  # not the reported room


def test_desantis_fitted_block_is_fitted_csv() -> None:
    """The README's fitted block is the table of the kept fitted.csv, and each figure the
    text after it quotes is in that table."""
    import importlib.util

    study = ROOT / "experiments/desantis_2023"
    spec = importlib.util.spec_from_file_location("desantis_fitted_kept", study / "fitted.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = [{**r, "seed": int(r["seed"]), "listeners_end": int(r["listeners_end"]),
             "listeners_peak": int(r["listeners_peak"]), "join_ratio": float(r["join_ratio"]),
             "breach_after_start_min": (float(r["breach_after_start_min"])
                                        if r["breach_after_start_min"] else None)}
            for r in read(study / "fitted.csv")]
    fit = mod.fit_audience(mod.COMMON, mod.REPORTED_ROOM)
    assert {r["audience"] for r in read(study / "fitted.csv")} == {f"{fit['audience']}"}
    text = mod.table(rows, fit, mod.REPORTED_ROOM)
    readme = (study / "README.md").read_text()
    block = readme.split("<!-- fitted:begin -->\n", 1)[1].split("<!-- fitted:end -->", 1)[0]
    assert block == text
    after = readme.split("<!-- fitted:end -->", 1)[1].split("## Findings", 1)[0]
    for quoted in ("518,925 [518,447–519,801]", "669,186", "80.4%"):
        assert quoted in after and quoted in text, quoted


def test_capacity_sensitivity_smoke(tmp_path: Path) -> None:
    """``capacity_sensitivity.py --smoke``: the answer of failure_points.csv and the answer
    with its margin, under the reference and each variant run, on every seed; the margin
    raises every knob."""
    spec = importlib.util.spec_from_file_location(
        "desantis_capacity_sensitivity", ROOT / "experiments/desantis_2023/capacity_sensitivity.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(["--smoke", "--out", str(tmp_path), "--jobs", "1"])
    rows = read(tmp_path / "capacity_sensitivity.csv")
    assert len(rows) == 3 * 2 * 2  # variants x levels x seeds
    assert {r["variant"] for r in rows} >= {"reference"}
    answer = {k: float(v) for k, v in rows[0].items() if k.startswith("knob:")}
    margin = {k: float(v) for k, v in next(r for r in rows if r["level"] != rows[0]["level"])
              .items() if k.startswith("knob:")}
    assert set(answer) == set(margin) and len(answer) == 2
    assert all(margin[k] >= answer[k] * mod.MARGIN - 1e-6 for k in answer)
    text = mod.table([{**r, "seed": int(r["seed"]), "audience": int(r["audience"]),
                       "slo_met": r["slo_met"] == "True"} for r in rows],
                     list(dict.fromkeys(r["level"] for r in rows)))
    assert "| reference |" in text and f"the answer ×{mod.MARGIN:g}" in text


def test_capacity_sensitivity_block_is_its_csv() -> None:
    """The README's capacity-sensitivity block is what the script writes from the
    committed capacity_sensitivity.csv."""
    study = ROOT / "experiments/desantis_2023"
    spec = importlib.util.spec_from_file_location("desantis_capacity_sensitivity_kept",
                                                  study / "capacity_sensitivity.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = [{**r, "seed": int(r["seed"]), "audience": int(r["audience"]),
             "slo_met": r["slo_met"] == "True"}
            for r in read(study / "capacity_sensitivity.csv")]
    text = mod.table(rows, list(dict.fromkeys(r["level"] for r in rows)))
    readme = (study / "README.md").read_text()
    block = readme.split("<!-- capacity_sensitivity:begin -->\n", 1)[1].split(
        "<!-- capacity_sensitivity:end -->")[0]
    assert block == text
