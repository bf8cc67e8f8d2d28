"""Attribution (``sim-attribute``): counterfactual variants on the same random numbers.

Constructed cases with a known answer on one M/M/10 station (100 requests per second):

- an attack of 80 rps on a crowd of 50 per second: only the attack makes it fail;
- a crowd at 80 per second with a 3 s surge to 140, clients with a 1 s timeout retrying
  every 0.5 s, expired requests still served, and a negligible attack of 2 rps: without
  retries the surge passes (the SLO asks 80% of attempts to succeed), with them the
  station is held down by retries (a metastable failure), attack or not.

Plus the common-random-numbers check, determinism of the table, replications, the
conclusions on hand-made outcome tables, and bad command lines.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.analysis.attribution import (
    Factor,
    build_attribution,
    design,
    necessary,
    outcome,
    sufficient,
    to_markdown,
    write_attribution,
)
from sim.attribute import (
    console_text,
    main,
    plan,
    run_attribution,
    short_variants,
    split_overrides,
)

BASE = ["architecture=single_station", "run.report=false", "run.progress=false"]
VECTOR = "l7_join_flood"
ON_SERVER = ["attack=l7_join_flood", f"attack.vectors.{VECTOR}.enter=server",
             f"attack.vectors.{VECTOR}.stop_after=null"]
# Only the attack: 50/s of legit clients, 80 rps of attack for a minute.
ATTACK_CASE = [*BASE, *ON_SERVER, "arrivals=constant", "arrivals.rate=50",
               "run.horizon_s=120", f"attack.vectors.{VECTOR}.rate_rps=80",
               f"attack.vectors.{VECTOR}.start_s=30", f"attack.vectors.{VECTOR}.end_s=90"]
# Crowd and retries: a surge tips a station near capacity into a retry storm.
RETRY_CASE = [*BASE, *ON_SERVER, "~arrivals", "arrivals.kind=sum",
              "arrivals.components=[{kind:constant,rate:80},"
              "{kind:ramp,start_s:60,end_s:63,rate_start:60,rate_end:60}]",
              "run.horizon_s=150", "clients.timeout_s=1", "clients.patience_s=null",
              "clients.retry.policy=fixed", "clients.retry.base_s=0.5",
              "clients.retry.cap_s=0.5", "clients.retry.max_attempts=10",
              "slo.join_success_min=0.8", f"attack.vectors.{VECTOR}.rate_rps=2",
              f"attack.vectors.{VECTOR}.start_s=0", f"attack.vectors.{VECTOR}.end_s=600"]
COHORT = ["run.resolution_s=0.1"]


def attribute(argv: list[str], out: Path) -> dict:
    p, args = plan(argv)
    return run_attribution(p, out, args.design, n_jobs=1, verbose=False)


def by_name(att: dict) -> dict[str, dict]:
    return {v["name"]: v for v in att["variants"]}


@pytest.mark.parametrize("mode", [[], COHORT], ids=["exact", "cohort"])
def test_only_the_attack_is_needed(tmp_path: Path, mode: list[str]) -> None:
    att = attribute([*ATTACK_CASE, *mode], tmp_path)
    assert att["factors"] == [VECTOR, "retries"]
    assert att["mode"] == ("cohort" if mode else "exact")
    v = by_name(att)
    assert set(v) == {"crowd+l7_join_flood+retries", "crowd+l7_join_flood", "crowd+retries",
                      "crowd"}
    assert att["variants"][0]["name"] == "crowd+l7_join_flood+retries"  # full run first
    assert att["variants"][-1]["name"] == "crowd"  # crowd alone last
    assert v["crowd+l7_join_flood+retries"]["failed"]
    assert v["crowd+l7_join_flood"]["failed"]
    assert not v["crowd+retries"]["failed"]
    assert not v["crowd"]["failed"]
    assert att["necessary"] == [VECTOR]
    assert att["sufficient"] == [[VECTOR]]
    assert att["crowd_alone"]["failed"] is False
    assert "Necessary: l7_join_flood" in att["conclusion"]
    # Without retries nobody makes a second attempt; with them, the attack drives retries.
    assert v["crowd+l7_join_flood"]["attempts_per_client"] == pytest.approx(1.0)
    assert v["crowd+l7_join_flood+retries"]["attempts_per_client"] > 2
    for name, var in v.items():
        summary = json.loads((tmp_path / var["dir"] / "summary.json").read_text())
        assert summary["status"] == "ok"
        assert summary["slo"]["met"] is (not var["failed"])
        assert (VECTOR in summary["attack"]["vectors"]) is (VECTOR in var["factors_on"]), name
        if "retries" not in var["factors_on"]:
            assert summary["legit"]["retries"] == 0, name


@pytest.mark.parametrize("mode", [[], COHORT], ids=["exact", "cohort"])
def test_crowd_and_retries_are_needed_together(tmp_path: Path, mode: list[str]) -> None:
    att = attribute([*RETRY_CASE, *mode], tmp_path)
    v = by_name(att)
    assert v["crowd+l7_join_flood+retries"]["failed"]
    assert v["crowd+retries"]["failed"]  # the attack is not needed
    assert not v["crowd+l7_join_flood"]["failed"]  # the surge alone passes
    assert not v["crowd"]["failed"]
    assert att["necessary"] == ["retries"]
    assert att["sufficient"] == [["retries"]]
    # The retry storm: clients make several attempts, most never join, no recovery.
    full = v["crowd+l7_join_flood+retries"]
    assert full["attempts_per_client"] > 3
    assert full["join_ratio"] < 0.6 < v["crowd"]["join_ratio"]
    assert full["recovered"] is False


def _column(path: Path, name: str) -> list[str]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    i = rows[0].index(name)
    return [r[i] for r in rows[1:]]


@pytest.mark.parametrize("mode", [[], COHORT], ids=["exact", "cohort"])
def test_variants_share_the_crowd(tmp_path: Path, mode: list[str]) -> None:
    """Common random numbers: the crowd alone sees exactly the full run's arrivals."""
    att = attribute([*ATTACK_CASE, *mode], tmp_path)
    v = by_name(att)
    full_dir = tmp_path / v["crowd+l7_join_flood+retries"]["dir"]
    crowd_dir = tmp_path / v["crowd"]["dir"]
    full_arr = _column(full_dir / "timeseries.csv", "legit.arrivals")
    crowd_arr = _column(crowd_dir / "timeseries.csv", "legit.arrivals")
    assert sum(float(x) for x in full_arr) > 5000
    assert full_arr == crowd_arr
    full = json.loads((full_dir / "summary.json").read_text())
    crowd = json.loads((crowd_dir / "summary.json").read_text())
    assert full["legit"]["arrived"] == crowd["legit"]["arrived"]
    assert full["seed"] == crowd["seed"]
    # ... while what was switched off did change: the attack is gone, so is the overload.
    assert full["attack"]["offered"] > 4000 and crowd["attack"]["offered"] == 0
    assert _column(full_dir / "timeseries.csv", "server.offered") != \
        _column(crowd_dir / "timeseries.csv", "server.offered")


def test_table_is_deterministic(tmp_path: Path) -> None:
    a = attribute(RETRY_CASE, tmp_path / "a")
    b = attribute(RETRY_CASE, tmp_path / "b")
    assert (tmp_path / "a" / "attribution.md").read_text() == \
        (tmp_path / "b" / "attribution.md").read_text()
    assert a == b
    assert json.loads((tmp_path / "a" / "attribution.json").read_text()) == \
        json.loads((tmp_path / "b" / "attribution.json").read_text())


def test_replications_majority(tmp_path: Path) -> None:
    att = attribute([*ATTACK_CASE, "run.replications=3"], tmp_path)
    assert att["replications"] == 3
    v = by_name(att)
    full = v["crowd+l7_join_flood+retries"]
    assert full["replications"] == 3 and full["breached_replications"] == 3
    assert full["failed"]
    assert att["necessary"] == [VECTOR]
    seeds = [json.loads((tmp_path / full["dir"] / f"rep_{i}" / "summary.json").read_text())
             ["seed"] for i in range(3)]
    assert seeds[0] == 1 and len(set(seeds)) == 3
    crowd_seeds = [json.loads((tmp_path / v["crowd"]["dir"] / f"rep_{i}" / "summary.json")
                              .read_text())["seed"] for i in range(3)]
    assert crowd_seeds == seeds  # the same seeds for every variant
    assert "3 of 3 breached" in (tmp_path / "attribution.md").read_text()


def test_user_factor(tmp_path: Path) -> None:
    """A factor of one's own: off = twice the workers, which absorbs the attack."""
    att = attribute([*ATTACK_CASE, "--factor",
                     "small_server=architecture.stations.server.workers_per_instance=20"],
                    tmp_path)
    assert att["factors"] == [VECTOR, "retries", "small_server"]
    assert len(att["variants"]) == 8
    assert att["necessary"] == [VECTOR, "small_server"]
    assert att["sufficient"] == [[VECTOR, "small_server"]]
    v = by_name(att)
    assert v["crowd+l7_join_flood+retries+small_server"]["failed"]
    assert not v["crowd+l7_join_flood+retries"]["failed"]  # twice the workers hold
    assert "architecture.stations.server.workers_per_instance=20" in \
        v["crowd+l7_join_flood+retries"]["overrides"]
    assert "architecture.stations.server.workers_per_instance=20" not in \
        v["crowd+l7_join_flood+retries+small_server"]["overrides"]


def test_chosen_factors(tmp_path: Path) -> None:
    """``--factors`` keeps the others on in every variant."""
    att = attribute([*ATTACK_CASE, "--factors", "l7_join_flood"], tmp_path)
    assert att["factors"] == [VECTOR]
    assert [v["name"] for v in att["variants"]] == ["crowd+l7_join_flood", "crowd"]
    assert att["necessary"] == [VECTOR]
    assert any("retries stays on" in n for n in att["notes"])
    text = (tmp_path / "variants" / "crowd" / "config.yaml").read_text()
    assert "policy: full_jitter" in text  # retries on, the vector gone
    assert "l7_join_flood:" not in text.split("attack:", 1)[1].split("slo:", 1)[0]


# -- conclusions on hand-made tables ---------------------------------------------------------

def _table(fails: set[frozenset[str]], names: list[str]) -> dict[frozenset[str], bool]:
    return {frozenset(s): frozenset(s) in fails for s in design(names)}


def test_conclusions_on_known_tables() -> None:
    names = ["a", "b", "retries"]
    # Either attack suffices: nothing is necessary, two minimal sufficient sets.
    fails = {frozenset(s) for s in design(names) if {"a", "b"} & set(s)}
    t = _table(fails, names)
    assert necessary(t, names) == []
    assert sufficient(t, names) == [["a"], ["b"]]
    # Attack and retries together only.
    fails = {frozenset(s) for s in design(names) if {"a", "retries"} <= set(s)}
    t = _table(fails, names)
    assert necessary(t, names) == ["a", "retries"]
    assert sufficient(t, names) == [["a", "retries"]]
    # The crowd alone fails: every set fails, nothing is necessary, [] is sufficient.
    t = _table({frozenset(s) for s in design(names)}, names)
    assert necessary(t, names) == [] and sufficient(t, names) == [[]]
    # Nothing fails.
    t = _table(set(), names)
    assert necessary(t, names) == [] and sufficient(t, names) == []


def _variant(on: list[str], failed: bool) -> dict:
    return {"name": "+".join(["crowd", *on]), "factors_on": on, "dir": "x",
            **outcome([{"slo": {"met": not failed, "first_breach_s": 10.0 if failed else None,
                                "recovered_s": None, "bottleneck": "s" if failed else None},
                        "legit": {"join_ratio": 0.5, "attempts_per_client": 1.0}}])}


def test_conclusion_text_and_non_monotone() -> None:
    f = [Factor("a", "attack", ("~attack.vectors.a",), "attack"),
         Factor("b", "user", ("x=1",), "yours")]
    att = build_attribution(f, [_variant(["a", "b"], False), _variant(["a"], True),
                                _variant(["b"], False), _variant([], False)])
    assert att["necessary"] == []  # the full run holds
    assert att["sufficient"] == [["a"]]
    assert att["non_monotone"] == [{"fails": ["a"], "holds": ["a", "b"]}]
    assert "no failure to attribute" in att["conclusion"]
    assert "Not monotone" in att["conclusion"]
    att = build_attribution(f, [_variant(["a", "b"], True), _variant(["a"], True),
                                _variant(["b"], True), _variant([], True)])
    assert "the crowd alone fails" in att["conclusion"]
    assert att["sufficient"] == [[]]
    assert "| crowd | none (crowd alone) | no | 10 s |" in to_markdown(att)


def _three_factor_attribution() -> dict:
    """Flood a needs b or retries: eight variants, the full design's order."""
    f = [Factor("a", "attack", ("~attack.vectors.a",), "attack"),
         Factor("b", "user", ("x=1",), "yours"),
         Factor("retries", "retries", ("clients.retry.policy=none",), "retries")]
    sets = design([x.name for x in f])
    return build_attribution(f, [_variant(list(s), "a" in s and len(s) > 1) for s in sets],
                             notes=["A note of the plan."])


def test_console_prints_conclusion_and_short_table(tmp_path: Path) -> None:
    """The console gets the conclusion and the rows it is read from; the files get the
    whole table."""
    att = _three_factor_attribution()
    names = [v["name"] for v in att["variants"]]
    assert len(names) == 8
    short = [v["name"] for v in short_variants(att)]
    # The full scenario, each factor off alone, the crowd alone, in the table's order.
    assert short == ["crowd+a+b+retries", "crowd+a+b", "crowd+a+retries", "crowd+b+retries",
                     "crowd"]
    text = console_text(att, tmp_path)
    lines = text.splitlines()
    assert lines[0] == att["conclusion"] and lines[1] == "A note of the plan."
    rows = [line for line in lines if line.startswith("| crowd")]
    assert [r.split(" | ")[0][2:] for r in rows] == short
    assert "5 of the 8 variants: the full scenario, each factor switched off alone, the " \
           "crowd alone." in text
    assert f"The full table (8 variants) is in {tmp_path / 'attribution.md'}" in text
    # The file has all eight rows.
    _, md = write_attribution(tmp_path, att)
    md_rows = [line.split(" | ")[0][2:] for line in md.read_text().splitlines()
               if line.startswith("| crowd")]
    assert md_rows == names
    # With two factors the short table is the whole table, and says nothing is left out.
    two = build_attribution([Factor("a", "attack", ("~attack.vectors.a",), "attack"),
                             Factor("b", "user", ("x=1",), "yours")],
                            [_variant(list(s), "a" in s) for s in design(["a", "b"])])
    text = console_text(two, tmp_path)
    assert len([line for line in text.splitlines() if line.startswith("| crowd")]) == 4
    assert "of the 4 variants" not in text


def test_outcome_majority_of_replications() -> None:
    def s(met: bool, rec: float | None = None) -> dict:
        return {"slo": {"met": met, "first_breach_s": None if met else 100.0,
                        "recovered_s": rec, "bottleneck": None if met else "join"},
                "legit": {"join_ratio": 0.9 if met else 0.3, "attempts_per_client": 1.5}}

    o = outcome([s(False, 200.0), s(False), s(True)])
    assert o["failed"] and o["breached_replications"] == 2
    assert o["recovered_replications"] == 1 and o["recovered"] is False
    assert o["recovered_s"] == 200.0 and o["first_breach_s"] == 100.0
    assert o["join_ratio"] == pytest.approx(0.5) and o["bottleneck"] == "join"
    o = outcome([s(False), s(True), s(True)])
    assert not o["failed"] and o["slo_met"]
    o = outcome([s(False), s(True)])  # a tie is not a majority
    assert not o["failed"]


def test_designs() -> None:
    assert design(["a"]) == [("a",), ()]
    assert len(design(list("abcdef"))) == 64
    with pytest.raises(ValueError, match="at most 6 factors"):
        design(list("abcdefg"))
    one = design(list("abcdefg"), "one_at_a_time")
    assert len(one) == 16 and one[0] == tuple("abcdefg") and one[-1] == ()
    assert split_overrides("a=1,b=[2,3],c={x: 1, y: 2},d='p,q'") == \
        ["a=1", "b=[2,3]", "c={x: 1, y: 2}", "d='p,q'"]


# -- bad input ---------------------------------------------------------------------------------

BAD = [
    ([*ATTACK_CASE, "--factor", "big=architecture.stations.nope.instances=3"],
     ["--factor big", "architecture.stations.nope"]),
    (["architecture=single_station", "attack=none", "clients=patient"],
     ["no factors to attribute"]),
    ([*ATTACK_CASE, "--factor", "big="], ["has no override"]),
    ([*ATTACK_CASE, "--factor", "big"], ["has no override"]),
    ([*ATTACK_CASE, "--factor", "big=run.horizon_s=120"], ["changes nothing"]),
    ([*ATTACK_CASE, "--factor", "retries=run.seed=2"], ["already a factor"]),
    ([*ATTACK_CASE, "--factor", "big=architecture.stations.server.instances=[["],
     ["--factor big", "Invalid override"]),
    ([*ATTACK_CASE, "arrivals.rate=10,20"], ["is a sweep"]),
    ([*ATTACK_CASE, "arrivals.rate=-1"], ["arrivals.rate"]),
    ([*ATTACK_CASE, *(f"--factor=f{i}=run.seed={i + 2}" for i in range(5))],
     ["7 factors", "--design one_at_a_time"]),
    ([*ATTACK_CASE, "--bogus"], ["unrecognized arguments: --bogus"]),
    ([*ATTACK_CASE, "--jobs", "0"], ["--jobs"]),
    ([*ATTACK_CASE, "--factors", "l7_join_flood,nope"],
     ["--factors: 'nope' is not a factor", "allowed: l7_join_flood, retries"]),
]


@pytest.mark.parametrize(("argv", "words"), BAD, ids=[
    "unknown_key", "no_factors", "empty_override", "no_equals", "changes_nothing",
    "name_taken", "bad_syntax", "sweep", "bad_scenario", "too_many", "unknown_flag",
    "jobs", "unknown_factor"])
def test_bad_input(argv: list[str], words: list[str], tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sim-attribute: ")
    assert "\n" not in err and "Traceback" not in err
    for w in words:
        assert w in err, err
    assert not (tmp_path / "out").exists()  # nothing ran


def test_console_script(tmp_path: Path) -> None:
    """The installed command, as a user runs it: files written and parseable."""
    exe = Path(sys.executable).with_name("sim-attribute")
    assert exe.is_file(), f"console script not installed next to {sys.executable}"
    out = tmp_path / "att"
    proc = subprocess.run([str(exe), *ATTACK_CASE, "--out", str(out), "--jobs", "2"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    att = json.loads((out / "attribution.json").read_text())
    assert set(att) >= {"factors", "variants", "necessary", "sufficient"}
    for v in att["variants"]:
        assert set(v) >= {"name", "factors_on", "failed", "first_breach_s", "recovered_s",
                          "join_ratio", "attempts_per_client", "dir"}
        assert (out / v["dir"] / "summary.json").is_file()
        assert (out / v["dir"] / "timeseries.csv").is_file()
    md = (out / "attribution.md").read_text()
    assert "| variant | factors on | SLO met |" in md
    assert att["conclusion"] in md
    # The console: the conclusion first, then the short table, then where the rest is.
    assert proc.stdout.startswith(att["conclusion"] + "\n")
    assert "| variant | factors on | SLO met |" in proc.stdout
    assert f"The full table ({len(att['variants'])} variants) is in " \
           f"{out / 'attribution.md'}" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "sim.attribute", "attack=none",
                          "clients=patient"], capture_output=True, text=True, cwd=tmp_path,
                         timeout=300, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "no factors to attribute" in bad.stderr
