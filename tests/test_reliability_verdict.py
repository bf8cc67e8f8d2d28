"""Never a wrong GO: the verdict needs the load, tells the size of a failure, refuses
damaged run directories, and lists what a scenario changed from the defaults.

Each test draws several cases from small real runs (a flash crowd brought forward to
t0 = 60 s so that its peak comes early, a few thousand clients, exact or coarse cohort
mode) and, where a real run cannot reach a case cheaply, from configs composed as the
command composes them. Horizons are placed relative to the peak the model's own rate
function gives, not to a number tuned for one case.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

import sim
from sim.compose import compose
from sim.config import to_config
from sim.model.arrivals import rate_function
from sim.report import ReportSettings, build_report, build_study, load_run, load_sweep
from sim.report.__main__ import main as report_main
from sim.report.assumptions import REMOVED, config_diff, default_config
from sim.report.describe import fmt_num, fmt_pct, verdict
from sim.report.saturation import saturations
from sim.report.verdict import (
    GO,
    GO_UNMEASURED,
    NO_GO,
    NOT_JUDGED,
    run_failed,
    run_verdict,
)

EARLY = ["arrivals.t0_s=60", "arrivals.early_window_s=60", "run.progress=false",
         "run.report=false"]


def _peak_s(overrides: list[str]) -> float:
    """The arrival peak of a scenario, on a 0.01 s grid of the model's rate function."""
    cfg = to_config(compose(overrides))
    t = np.arange(0.0, 3600.0, 0.01)
    r = rate_function(cfg.arrivals)(t)
    return float(t[int(np.argmax(r))])


def _run(tmp_path: Path, overrides: list[str], name: str = "run") -> Path:
    out = tmp_path / name
    sim.run(overrides, outdir=out)
    return out


# -- 1. no verdict without the load ----------------------------------------------------------

def _attack(rate: float, start: float, end: float) -> list[str]:
    v = "attack.vectors.l7_join_flood"
    return ["attack=l7_join_flood", f"{v}.rate_rps={rate}", f"{v}.start_s={start}",
            f"{v}.end_s={end}"]


# (case, audience, horizon as a function of the peak, extra overrides, expected decision,
#  words the reason must hold)
LOAD_CASES = [
    ("half_way_to_the_peak", 3000, lambda p: 0.5 * p, [], NOT_JUDGED,
     "ends before the peak of the arrival curve"),
    ("just_before_the_peak", 8000, lambda p: p - 4.0, [], NOT_JUDGED,
     "ends before the peak of the arrival curve"),
    ("past_the_peak", 3000, lambda p: p + 90.0, [], GO_UNMEASURED, "holds throughout"),
    ("attack_on_at_the_horizon", 2000, lambda p: p + 90.0,
     _attack(20, 30, 400), NOT_JUDGED, "l7_join_flood is still on at the horizon"),
    ("attack_after_the_horizon", 5000, lambda p: p + 60.0,
     _attack(20, 300, 400), NOT_JUDGED, "l7_join_flood starts at t = 300 s"),
    ("attack_over_before_the_horizon", 2000, lambda p: p + 90.0,
     _attack(20, 30, 150), GO_UNMEASURED, "holds throughout"),
    ("no_window_judged", 3000, lambda p: p + 90.0, ["slo.min_attempts=1000000"],
     NOT_JUDGED, "no SLO window was judged"),
]


@pytest.mark.parametrize(("case", "audience", "horizon", "extra", "decision", "words"),
                         LOAD_CASES, ids=[c[0] for c in LOAD_CASES])
def test_no_verdict_without_the_load(tmp_path: Path, case: str, audience: int, horizon,
                                     extra: list[str], decision: str, words: str) -> None:
    base = [*EARLY, f"arrivals.audience={audience}"]
    h = round(horizon(_peak_s(base)), 1)
    out = _run(tmp_path, [*base, f"run.horizon_s={h}", *extra])
    run = load_run(out)
    v = run_verdict(run)
    assert v.decision == decision, (case, v.reason)
    assert words in v.reason, (case, v.reason)
    if decision == NOT_JUDGED:
        # The run held its SLO as far as it went, but neither the verdict, the SLO line
        # nor a sweep may read that as a pass.
        assert run.summary["slo"]["met"] is True
        assert verdict(run.summary, ["x"]).text != "SLO met"
        assert run_failed(run) is None


@pytest.mark.parametrize(("overrides", "words"), [
    # No legit client at all: a constant rate of one client in a million seconds.
    (["arrivals=constant", "arrivals.rate=1e-6", "run.horizon_s=60"],
     "no legit client arrived"),
    # A few clients only: no 60 s window reaches slo.min_attempts.
    (["arrivals=constant", "arrivals.rate=0.2", "run.horizon_s=60"],
     "no SLO window was judged"),
    (["arrivals=ramp", "arrivals.rate_start=0.01", "arrivals.rate_end=0.3",
      "run.horizon_s=90"], "no SLO window was judged"),
], ids=["no_arrivals", "too_few_to_judge", "slow_ramp"])
def test_no_verdict_without_clients(tmp_path: Path, overrides: list[str], words: str) -> None:
    out = _run(tmp_path, [*overrides, "run.progress=false", "run.report=false"])
    run = load_run(out)
    v = run_verdict(run)
    assert v.decision == NOT_JUDGED and words in v.reason, v.reason
    assert run_failed(run) is None


def test_no_verdict_in_the_report_of_the_crowd_cut_at_290s(tmp_path: Path) -> None:
    """The crowd of 600,000 cut off before its push notification used to say GO."""
    out = _run(tmp_path, ["arrivals.audience=600000", "run.resolution_s=0.5",
                          "run.horizon_s=290", "run.progress=false", "run.report=true"])
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert "> ## NO VERDICT" in md and '<p class="word">NO VERDICT' in html
    assert "GO on this scenario" not in md and "GO on this scenario" not in html
    assert "ends before the peak of the arrival curve at t = 361 s" in md
    assert "held, but not judged over the load" in md


@pytest.mark.parametrize("blind", [0, 1, 3])
def test_failure_point_search_needs_its_load(good_dir: Path, tmp_path: Path,
                                             blind: int) -> None:
    """Probes that held with a horizon short of the peak (the first ``blind`` of them)
    leave the failure point unestablished: no GO from the search."""
    top = tmp_path / "fp"
    probes = [(1000, True), (2000, True), (3000, True), (6000, False), (8000, False)]
    for i, (value, held) in enumerate(probes):
        job = top / str(i)
        shutil.copytree(good_dir, job, ignore=shutil.ignore_patterns("report.*", "figures"))
        (job / ".hydra").mkdir(exist_ok=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- arrivals.audience={value}\n")
        if not held:
            _summary(job, lambda s: {**s, "slo": {**s["slo"], "met": False,
                                                  "first_breach_s": 130.0,
                                                  "bottleneck": "join",
                                                  "worst_success_ratio": 0.5}})
        elif i < blind:  # cut off before the crowd's peak at about 121 s
            _summary(job, lambda s: {**s, "horizon_s": 100.0})
            cfg = yaml.safe_load((job / "config.yaml").read_text())
            cfg["run"]["horizon_s"] = 100.0
            (job / "config.yaml").write_text(yaml.safe_dump(cfg))
    (top / "multirun.yaml").write_text(yaml.safe_dump({
        "name": "search", "arrivals": {"kind": "flash_crowd", "audience": 2000},
        "report": {"headroom": 1.5}, "run": {"seed": 1},
        "hydra": {"overrides": {"task": ["arrivals.audience=2000"],
                                "hydra": ["hydra/sweeper=failure_point"]}}}))
    (top / "failure_point.json").write_text(json.dumps({
        "param": "arrivals.audience", "value": 4500.0, "interval": [4000.0, 5000.0],
        "confidence": 0.95, "direction": "up", "n": 1, "replications": 1,
        "per_replication": [{"seed": 1, "status": "found"}],
        "probes": [{"value": v} for v, _ in probes]}))
    study = build_study(load_sweep(top), ReportSettings())
    decision = study.base.verdict.decision
    if blind:
        assert decision == NOT_JUDGED, study.base.verdict.reason
        assert f"{blind} of the 5 probes" in study.base.verdict.reason
    else:  # 4,000 >= 1.5 x 2,000
        assert decision == GO, study.base.verdict.reason


# -- 2. the size of the failure --------------------------------------------------------------

FAILURE_CASES = [
    # A hot room key far below the crowd: join at its ceiling and its queue limit.
    ("join_ceiling", {"join"}, ["arrivals.audience=6000",
                                "architecture.stations.join.max_rate_rps=40"]),
    # Auth cut to one worker: auth worker-bound and full.
    ("auth_workers", {"auth"}, ["arrivals.audience=8000",
                                "architecture.stations.auth.instances=1",
                                "architecture.stations.auth.workers_per_instance=1",
                                "architecture.stations.auth.service.mean_s=0.05",
                                "architecture.stations.auth.queue_limit=200"]),
    # Both at once, in cohort mode: neither may hide the other.
    ("auth_and_join", {"auth", "join"}, ["arrivals.audience=10000",
                                         "architecture.stations.auth.instances=1",
                                         "architecture.stations.auth.workers_per_instance=1",
                                         "architecture.stations.auth.service.mean_s=0.02",
                                         "architecture.stations.auth.queue_limit=300",
                                         "architecture.stations.join.max_rate_rps=20",
                                         "architecture.stations.join.queue_limit=200"]),
]


def _first_full(run, name: str) -> float | None:  # type: ignore[no-untyped-def]
    """When the station's queue first reached its limit or its workers were all busy."""
    s, cfg = run.series, run.config["architecture"]["stations"][name]
    util = np.divide(s[f"{name}.busy"], s[f"{name}.capacity"],
                     out=np.zeros(len(s["t_s"])), where=s[f"{name}.capacity"] > 0)
    full = util >= 0.95
    if cfg.get("queue_limit"):
        full |= s[f"{name}.queue"] >= 0.99 * cfg["queue_limit"]
    return float(s["t_s"][np.argmax(full)]) if full.any() else None


@pytest.mark.parametrize(("case", "tiers", "overrides"), FAILURE_CASES,
                         ids=[c[0] for c in FAILURE_CASES])
def test_verdict_tells_the_size_of_the_failure(tmp_path: Path, case: str, tiers: set[str],
                                               overrides: list[str]) -> None:
    out = _run(tmp_path, [*EARLY, "run.horizon_s=400", *overrides])
    run = load_run(out)
    v = run_verdict(run)
    assert v.decision == NO_GO, (case, v.reason)
    legit = run.summary["legit"]
    share = fmt_pct(legit["joined"] / legit["arrived"])
    assert (f"{share} of the {fmt_num(legit['arrived'])} clients who arrived joined "
            f"({fmt_num(legit['joined'])}); {fmt_num(legit['abandoned'])} gave up") \
        in v.reason, case
    # Every station whose queue hit its limit or whose workers were all busy is named,
    # and no later than the series shows it.
    named = {s.station: s for s in saturations(run)}
    for name in run.stations:
        first = _first_full(run, name)
        if first is None:
            continue
        assert name in named, (case, name, v.reason)
        assert named[name].first_s is not None and named[name].first_s <= first
        assert named[name].text in v.reason
    # In the order they saturated.
    tail = v.reason.split("in order:", 1)[1]
    positions = [tail.index(f" {s.station} ") if f" {s.station} " in tail
                 else tail.index(s.station) for s in named.values()]
    assert positions == sorted(positions), (case, v.reason)
    firsts = [s.first_s for s in named.values()]
    assert firsts == sorted(firsts)
    assert tiers <= set(named), (case, v.reason)  # never only the bottleneck


def test_size_in_a_held_run(tmp_path: Path) -> None:
    """A run that holds says so with its numbers, and that no tier saturated."""
    out = _run(tmp_path, [*EARLY, "arrivals.audience=2000", "run.horizon_s=240"])
    v = run_verdict(load_run(out))
    assert v.decision == GO_UNMEASURED
    arrived = json.loads((out / "summary.json").read_text())["legit"]["arrived"]
    assert f"All {fmt_num(arrived)} clients who arrived joined." in v.reason
    assert "No tier saturated." in v.reason


# -- 3. damaged run directories ------------------------------------------------------------

@pytest.fixture(scope="module")
def good_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run that holds, with its GO report already written."""
    out = tmp_path_factory.mktemp("good")
    sim.run([*EARLY, "arrivals.audience=2000", "run.horizon_s=240", "run.report=true"],
            outdir=out)
    assert "GO on this scenario" in (out / "report.md").read_text()
    return out


def _summary(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    s = json.loads((path / "summary.json").read_text())
    (path / "summary.json").write_text(json.dumps(edit(s)))


def _cut_bytes(path: Path, share: float) -> None:
    data = (path / "timeseries.csv").read_bytes()
    (path / "timeseries.csv").write_bytes(data[:int(len(data) * share)])


def _keep_lines(path: Path, share: float) -> None:
    lines = (path / "timeseries.csv").read_text().splitlines(keepends=True)
    (path / "timeseries.csv").write_text("".join(lines[:max(1, int(len(lines) * share))]))


def _drop(s: dict, *keys: str) -> dict:  # type: ignore[type-arg]
    for key in keys:
        head, _, leaf = key.rpartition(".")
        (s[head] if head else s).pop(leaf, None)
    return s


DAMAGE = [
    ("empty_summary", lambda p: _summary(p, lambda s: {}), "summary.json is an empty object"),
    ("summary_without_legit", lambda p: _summary(p, lambda s: _drop(s, "legit")),
     "summary.json lacks legit.arrived"),
    ("summary_without_slo_met", lambda p: _summary(p, lambda s: _drop(s, "slo.met")),
     "summary.json lacks slo.met"),
    ("summary_without_horizon", lambda p: _summary(p, lambda s: _drop(s, "horizon_s")),
     "summary.json lacks horizon_s"),
    ("series_cut_mid_row", lambda p: _cut_bytes(p, 0.63), "timeseries.csv"),
    ("series_cut_at_a_quarter", lambda p: _keep_lines(p, 0.25), "before the horizon"),
    ("series_cut_near_the_end", lambda p: _keep_lines(p, 0.9), "before the horizon"),
    ("series_header_only", lambda p: _keep_lines(p, 0.0), "no rows"),
    ("series_missing", lambda p: (p / "timeseries.csv").unlink(), "no timeseries.csv"),
    ("config_missing", lambda p: (p / "config.yaml").unlink(), "config.yaml"),
]


@pytest.mark.parametrize(("case", "damage", "words"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_report_refuses_damaged_run_dirs(good_dir: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch, case: str,
                                         damage, words: str) -> None:
    # The figures are not what is tested here, and the slowest part of a report.
    monkeypatch.setattr("sim.report.build.write_figures", lambda run, out: [])
    path = tmp_path / case
    shutil.copytree(good_dir, path)
    if case == "series_cut_mid_row":  # the control: undamaged, it is a GO, exit code 0
        assert report_main([str(path)]) == 0
        assert "GO on this scenario" in (path / "report.md").read_text()
        capsys.readouterr()
    damage(path)
    code = report_main([str(path)])
    err = capsys.readouterr().err
    assert code != 0, case
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err  # one paragraph
    assert str(path) in err and words in err, (case, err)
    md = (path / "report.md").read_text()  # the earlier GO report is replaced
    assert "> ## NO VERDICT" in md and "GO on this scenario" not in md
    assert words in md


def test_report_command_on_a_damaged_dir_has_no_traceback(good_dir: Path,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "cut"
    shutil.copytree(good_dir, path)
    _cut_bytes(path, 0.5)
    proc = subprocess.run([sys.executable, "-m", "sim.report", str(path)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "incomplete" in proc.stderr
    assert "NO VERDICT" in (path / "report.html").read_text()


# -- 4. what differs from the defaults -------------------------------------------------------

def _fresh_config(overrides: list[str]) -> dict:  # type: ignore[type-arg]
    """config.yaml as a run with these overrides writes it."""
    cfg = to_config(compose(overrides))
    return yaml.safe_load(OmegaConf.to_yaml(OmegaConf.structured(cfg)))


@pytest.mark.parametrize("overrides", [
    [], ["architecture=single_station", "arrivals=constant"], ["architecture=spaces_hls"],
    ["architecture=spaces_waiting_room"], ["experiment=x_spaces_2024"],
    ["attack=mixed", "mitigation=all"], ["arrivals=flash_crowd_on_diurnal"],
    ["experiment=metastable_retry"],
], ids=["defaults", "single_station", "spaces_hls", "waiting_room", "x_spaces_2024",
        "mixed_attack", "sum_of_curves", "metastable_retry"])
def test_config_diff_of_a_fresh_run(overrides: list[str]) -> None:
    defaults = default_config()
    assert defaults is not None
    config = _fresh_config(overrides)
    rows, newer = config_diff(config, defaults)
    assert newer == 0, overrides  # a fresh run has every key of its schema
    keys = {r[0]: r for r in rows}
    for block in ("stations", "routes"):
        mine = config["architecture"][block]
        base = defaults["architecture"][block]
        for name in base:
            if name not in mine:
                row = keys.get(f"architecture.{block}.{name}")
                assert row is not None and row[1] == REMOVED, (overrides, name, rows)
        for name in mine:
            if name not in base:
                assert f"architecture.{block}.{name}" in keys, (overrides, name)
    if not overrides:
        assert rows == []


@pytest.mark.parametrize("dropped", [
    ["run.exact_budget_s"], ["slo.trigger_end_s", "report.headroom"],
    ["architecture.stations.edge.concurrency", "clients.timeout_s"],
])
def test_config_diff_counts_keys_older_than_the_schema(dropped: list[str]) -> None:
    config = _fresh_config([])
    for key in dropped:
        head, _, leaf = key.rpartition(".")
        node = config
        for part in head.split("."):
            node = node[part]
        del node[leaf]
    rows, newer = config_diff(config, default_config())
    assert newer == len(dropped) and rows == []


def test_report_lists_removed_stations(tmp_path: Path) -> None:
    out = _run(tmp_path, ["architecture=single_station", "arrivals=constant",
                          "arrivals.rate=20", "run.horizon_s=30", "run.progress=false",
                          "run.report=false"])
    build_report(out)
    md = (out / "report.md").read_text()
    assert "not in this config" not in md
    for name in ("edge", "auth", "token_store", "join", "fanout"):
        assert f"| architecture.stations.{name} | {REMOVED} |" in md
    for name in ("edge", "auth", "token_store", "join"):
        assert f"| architecture.routes.{name} | {REMOVED} |" in md


@pytest.mark.parametrize("horizon", [120, 250])
def test_the_command_line_does_not_say_met_before_the_peak(tmp_path: Path, horizon: int) -> None:
    """The one line the command prints: a run cut before the push's peak is not "SLO met"."""
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "arrivals.audience=20000", f"run.horizon_s={horizon}",
         "slo.window_s=30", "run.report=false", "run.progress=false",
         f"hydra.run.dir={tmp_path}"], capture_output=True, text=True, timeout=300,
        check=False)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert "SLO met" not in line and "SLO not judged over the load: the horizon" in line, line
