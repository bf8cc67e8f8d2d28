"""The x_spaces_2024 study: its script runs at small scale and writes its outputs, and
the finding it rests on holds at that scale: listener slots for 8M do not keep the join
path up, while the same crowd without a per-listener write of the room key gets in."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

STUDY = Path(__file__).resolve().parents[1] / "experiments" / "x_spaces_2024"


def study_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("x_spaces_2024_run", STUDY / "run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # the worker processes find one_run by module name
    spec.loader.exec_module(mod)
    return mod


def test_smoke_run_writes_results_figures_and_findings(tmp_path: Path) -> None:
    mod = study_module()
    mod.main(["--smoke", "--out", str(tmp_path), "--jobs", "1"])
    for name in ("results.csv", "results.json", "timeline.png", "sweep.png", "levers.png",
                 "hot_key.png", "findings.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    with (tmp_path / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["group"] for r in rows} == {"counterfactual", "sweep", "lever", "hot_key",
                                          "hypotheses"}
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    for r in runs:  # every client is accounted for
        assert r["joined"] + r["abandoned"] <= r["arrived"]
        assert 0.0 <= r["join_ratio"] <= 1.0
    text = (tmp_path / "findings.md").read_text()
    assert "**Counterfactuals**" in text and "**Levers**" in text

    # Every group on the smoke seeds; each seed its own crowd, every variant of a seed the
    # same crowd (common random numbers).
    seeds = mod.SEEDS[:2]
    for group in ("counterfactual", "sweep", "lever", "hot_key"):
        assert sorted({r["seed"] for r in runs if r["group"] == group}) == seeds, group
    for s in seeds:
        assert len({r["arrived"] for r in runs if r["seed"] == s
                    and r["group"] != "hypotheses"}) == 1, s
    crowds = [r for r in runs if r["group"] == "counterfactual" and r["label"] == "crowd alone"]
    assert sorted(r["seed"] for r in crowds) == seeds
    assert len({r["arrived"] for r in crowds}) == len(seeds)
    # The tables give the mean [min–max] over those seeds, and the cell is theirs.
    row = next(line for line in text.splitlines() if line.startswith("| crowd alone |"))
    ratios = [r["join_ratio"] for r in crowds]
    assert f"| {mod._cell(mod.mean_min_max(ratios), 0.01, '.1f', '%')} |" in row
    assert "seeds 1, 2" in text

    for crowd in crowds:
        # Capacity for 8M listeners: the slots were there and mostly idle, yet the join
        # path failed at the room key (its queue deeper than the client timeout) within
        # minutes of the start, and most of the crowd did not get in.
        assert crowd["listener_slots"] == 8_000_000
        assert crowd["peak_listeners"] < 0.25 * crowd["listener_slots"]
        assert crowd["bottleneck"] == "join"
        assert mod.T0_S < crowd["first_breach_s"] < mod.T0_S + 120
        assert crowd["join_peak_queue"] / mod.HOT_KEY_RPS > mod.TIMEOUT_S
        assert crowd["join_ratio"] < 0.5
    hls = [r for r in runs if r["group"] == "lever" and r["label"].startswith("HLS")
           and r["attack_rps"] == 0]
    assert len(hls) == len(seeds)
    for r in hls:
        assert r["slo_met"] and r["join_ratio"] > 0.99


def test_smoke_hypotheses_against_the_reported_facts(tmp_path: Path) -> None:
    """The hypotheses group at a tenth of the fitted crowd: the base holds and puts the
    (scaled) ~100,000 in the room at 17:00; undersizing the room key or the edge to half
    the base's peak demand, or adding the flood, makes 17:00 "not available"; and a run
    of that group alone keeps the other groups' rows."""
    mod = study_module()
    cache = tmp_path / "cache"
    mod.main(["--smoke", "--out", str(tmp_path), "--jobs", "1", "--cache", str(cache),
              "--groups", "counterfactual,hypotheses"])
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    hyp = [r for r in runs if r["group"] == "hypotheses"]
    by: dict[str, list[dict]] = {}
    for r in hyp:
        by.setdefault(r["hypothesis"], []).append(r)
    assert set(by) == {"base", "base (SFU)", "hot room key", "join-path auth", "edge",
                       "SFU slots (on x_spaces_2024)", "HLS origin", "the flood"}
    for rs in by.values():  # every hypothesis on the same seeds, each seed its own crowd
        assert sorted(r["seed"] for r in rs) == mod.SEEDS[:2]
    assert len({r["arrived"] for r in by["base"]}) == 2

    scale = mod.SMOKE_AUDIENCE
    for r in by["base"] + by["base (SFU)"]:
        assert r["slo_met"] and not r["unavailable_1700"] and r["join_ratio"] > 0.99
        # the fitted crowd puts the (scaled) reported count in the room at 17:00
        assert abs(r["listeners_start"] - scale * mod.REPORTED_START) \
            <= mod.COUNT_TOL * scale * mod.REPORTED_START
        assert r["listeners_later"] is None  # 18:40 is past the smoke horizon
    peak_join = sum(r["peak_join_rps"] for r in by["base"]) / len(by["base"])
    for r in by["hot room key"]:
        assert r["capacity"] == round(mod.UNDERSIZE * peak_join)
        assert f"join.max_rate_rps={r['capacity']}" in " ".join(r["overrides"])
        assert r["unavailable_1700"] and r["bottleneck"] == "join"
        assert r["join_ratio"] < 0.5
    for name in ("edge", "the flood"):
        for r in by[name]:
            assert r["unavailable_1700"] and not r["slo_met"], name
    for r in by["SFU slots (on x_spaces_2024)"]:  # the slots fill after 17:00, not at it
        assert r["peak_listeners"] <= r["capacity"]
    verdict = {v["hypothesis"]: v["verdict"] for v in mod.verdicts(
        [{**r, "result": r} for r in runs], scale)}
    assert verdict["base"].startswith("holds in 2/2 seeds")
    assert verdict["hot room key"] != verdict["base"]

    # A run of the hypotheses alone (from the cache) keeps the counterfactual rows.
    before = [r for r in runs if r["group"] == "counterfactual"]
    mod.main(["--smoke", "--out", str(tmp_path), "--jobs", "1", "--cache", str(cache),
              "--cached-only", "--groups", "hypotheses"])
    again = json.loads((tmp_path / "results.json").read_text())
    assert [r for r in again["runs"] if r["group"] == "counterfactual"] == before
    assert len([r for r in again["runs"] if r["group"] == "hypotheses"]) == len(hyp)
    assert "**The board's question" in (tmp_path / "findings.md").read_text()
    with (tmp_path / "results.csv").open() as fh:
        assert {r["group"] for r in csv.DictReader(fh)} == {"counterfactual", "hypotheses"}


def test_sensitivity_smoke_moves_one_assumption_at_a_time(tmp_path: Path) -> None:
    """``sensitivity.py --smoke``: every variant on both headline cells and two seeds,
    the crowd alone without the flood and the other with it, and a row of the table per
    variant."""
    spec = importlib.util.spec_from_file_location("x_spaces_2024_sensitivity",
                                                  STUDY / "sensitivity.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(["--smoke", "--out", str(tmp_path)])
    with (tmp_path / "sensitivity.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(mod.VARIANTS) * len(mod.CELLS) * 2
    for r in rows:
        served = int(r["attack_served"])
        assert (served == 0) == (r["cell"] == "crowd alone"), r
    timeout = [r for r in rows if r["variant"].startswith("client timeout 10")]
    preset = [r for r in rows if r["variant"] == "the preset"]
    assert [r["arrived"] for r in timeout] == [r["arrived"] for r in preset]  # same crowd
    text = mod.table([{**r, "join_ratio": float(r["join_ratio"]),
                       "outage_min": float(r["outage_min"]), "slo_met": r["slo_met"] == "True",
                       "recovered": r["recovered"] == "True", "seed": int(r["seed"])}
                      for r in rows])
    assert all(f"| {v} |" in text for v, _ in mod.VARIANTS)


def convergence_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("x_spaces_2024_convergence",
                                                  STUDY / "convergence.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # the worker processes find _fine by module name
    spec.loader.exec_module(mod)
    return mod


def test_convergence_checks_the_cells_the_answers_rest_on() -> None:
    """The check picks, from the committed results, every counterfactual and hypotheses
    run of its seed and each named sweep and lever cell, each scenario once."""
    mod = convergence_module()
    runs = json.loads((STUDY / "results.json").read_text())["runs"]
    rows = mod.chosen(runs, mod.SEED)
    assert all(r["seed"] == mod.SEED for r in rows)
    assert len({tuple(r["overrides"]) for r in rows}) == len(rows)
    picked = {(r["group"], r["label"]) for r in rows}
    assert set(mod.CELLS) <= picked, set(mod.CELLS) - picked
    for group in mod.WHOLE_GROUPS:
        want = {tuple(r["overrides"]) for r in runs
                if r["group"] == group and r["seed"] == mod.SEED}
        assert want <= {tuple(r["overrides"]) for r in rows}, group


def test_convergence_smoke_compares_two_ticks(tmp_path: Path) -> None:
    mod = convergence_module()
    mod.main(["--smoke", "--out", str(tmp_path), "--jobs", "1"])
    with (tmp_path / "convergence.csv").open() as fh:
        recs = list(csv.DictReader(fh))
    assert len(recs) == 3
    assert all((float(r["tick_s"]), float(r["tick_s_fine"])) == (1.0, mod.SMOKE_TICK_S)
               for r in recs)
    for r in recs:  # a verdict named as differing differs
        for k in filter(None, r["verdicts_differ"].split(",")):
            assert r[k] != r[f"{k}_fine"]


def capacity_sensitivity_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("x_spaces_2024_capacity_sensitivity",
                                                  STUDY / "capacity_sensitivity.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_capacity_sensitivity_sizes_every_hls_tier_from_the_capacity_rows() -> None:
    """Both levels size the same HLS tiers, each with the margin at least the smallest
    size, every size read from the committed capacity rows."""
    mod = capacity_sensitivity_module()
    cap = json.loads((STUDY / "results.json").read_text())["meta"]["capacity"]
    (_, least), (_, margin) = mod.levels(cap)
    assert set(least) == set(margin) and len(least) == len(mod.HLS_TIERS)
    assert {k.split(".")[2] for k in least} == set(mod.HLS_TIERS)
    assert all(margin[k] >= least[k] for k in least)
    by_key = {r["key"]: r for r in cap}
    assert all(margin[k] == by_key[k]["with_margin"] for k in margin)


def test_capacity_sensitivity_smoke(tmp_path: Path) -> None:
    mod = capacity_sensitivity_module()
    mod.main(["--smoke", "--out", str(tmp_path), "--jobs", "1"])
    with (tmp_path / "capacity_sensitivity.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 2  # three variants, two levels, one seed
    assert all("experiment=x_spaces_2024_hls" in r["overrides"] for r in rows)
    assert all("attack.vectors.l7_join_flood.rate_rps=0" in r["overrides"] for r in rows)


def test_convergence_block_is_its_csv() -> None:
    """The README's convergence block is what convergence.py writes from the committed
    convergence.csv."""
    mod = convergence_module()
    with (STUDY / "convergence.csv").open() as fh:
        recs = [{k: mod._parse(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    for r in recs:  # labels are text even where they read as numbers
        r["label"] = str(r["label"])
    readme = (STUDY / "README.md").read_text()
    block = readme.split("<!-- convergence:begin -->\n", 1)[1].split(
        "<!-- convergence:end -->")[0]
    assert block == mod.table(recs)
