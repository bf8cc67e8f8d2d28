"""The risk study (``hydra/sweeper=risk``): beliefs as distributions, the design, P(fail)
and its interval, the sensitivity of failure to each input, and the sweeper end to end.

The correctness checks are against answers known in closed form: P(fail) of one loss
station (M/M/c/c, Erlang B) under an uncertain arrival rate, and the Sobol' indices of
the Ishigami function.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from queueing import erlang_b as erlang_b_recursion
from scipy import optimize, special, stats

from hydra_plugins.sim_risk.batch import run_sample
from hydra_plugins.sim_risk.settings import flatten_inputs, plan_study
from sim.analysis.risk import answer, wilson
from sim.analysis.risk_design import batches, make_design, saltelli_base, unit_points
from sim.analysis.risk_inputs import FORMS, BadDistribution, parse
from sim.analysis.risk_sensitivity import sensitivity, sobol_indices
from sim.compose import compose
from sim.config import ConfigError

# -- distributions ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "frozen"), [
    ("uniform(10, 30)", stats.uniform(10, 20)),
    ("loguniform(1e3,1e6)", stats.loguniform(1e3, 1e6)),
    ("normal(5,2)", stats.norm(5, 2)),
    ("lognormal(60,0.5)", stats.lognorm(0.5, scale=60)),
    ("triangular(0,1,4)", stats.triang(0.25, loc=0, scale=4)),
])
def test_each_distribution_is_its_inverse_cdf(text: str, frozen: object) -> None:
    u = np.array([0.01, 0.2, 0.5, 0.8, 0.99])
    d = parse("k", text)
    assert d.value(u) == pytest.approx(frozen.ppf(u), rel=1e-9)  # type: ignore[attr-defined]


def test_choice_and_whole_numbers() -> None:
    d = parse("k", "choice(a, b, 3)")
    assert d.value(np.array([0.1, 0.5, 0.9])) == ["a", "b", 3] and not d.numeric
    whole = parse("k", "uniform(1,10)", integer=True).value(np.array([0.0, 0.44, 1.0]))
    assert whole == [1, 5, 10] and all(isinstance(v, int) for v in whole)
    assert parse("k", "uniform(1,2)").text == "uniform(1, 2)"


@pytest.mark.parametrize(("text", "why"), [
    ("uniform(5", "name(arguments)"), ("uniform(5,1)", "lo must be below hi"),
    ("gamma(1,2)", "'gamma' is not a known distribution"), ("normal(1)", "takes 2"),
    ("normal(1,-2)", "positive"), ("loguniform(0,5)", "0 < lo"),
    ("triangular(0,5,4)", "lo <= mode <= hi"), ("uniform(a,b)", "not a finite number"),
    ("choice()", "at least one value"), (7, "not a string"),
])
def test_a_malformed_distribution_is_one_paragraph(text: object, why: str) -> None:
    with pytest.raises(BadDistribution) as info:
        parse("arrivals.rate", text)
    msg = str(info.value)
    assert len(msg.strip().splitlines()) == 1
    assert "hydra.sweeper.inputs.arrivals.rate" in msg and why in msg
    assert all(form in msg for form in FORMS)


# -- the design ---------------------------------------------------------------------------

def test_latin_hypercube_uses_each_stratum_once_and_repeats_with_its_seed() -> None:
    pts, base = unit_points("lhs", 3, 40, seed=7)
    assert base is None and pts.shape == (40, 3)
    for i in range(3):
        assert sorted((pts[:, i] * 40).astype(int)) == list(range(40))
    again, _ = unit_points("lhs", 3, 40, seed=7)
    other, _ = unit_points("lhs", 3, 40, seed=8)
    assert np.array_equal(pts, again) and not np.array_equal(pts, other)


def test_design_values_seeds_and_batches() -> None:
    inputs = [parse("a", "uniform(0,1)"), parse("b", "choice(x,y)")]
    d1, d2 = (make_design(inputs, "sobol", 16, seed=3) for _ in range(2))
    assert d1.values == d2.values and d1.seeds == d2.seeds and d1.seeds[0] == 3
    assert len(set(d1.seeds)) == 16 and {v["b"] for v in d1.values} == {"x", "y"}
    assert [list(r) for r in batches(5, 2)] == [[0, 1], [2, 3], [4]]
    assert saltelli_base(100, 3) == 16 and saltelli_base(3, 3) == 1
    salt = make_design(inputs, "saltelli", 100, seed=3)
    assert salt.size == 16 * 4 and salt.base == 16


def test_nested_inputs_name_dotted_keys() -> None:
    nested = {"arrivals": {"rate": "uniform(1,2)"}, "architecture.stations.server":
              {"instances": "choice(1,2)"}}
    assert flatten_inputs(nested) == {"arrivals.rate": "uniform(1,2)",
                                      "architecture.stations.server.instances": "choice(1,2)"}


# -- P(fail) and its interval -------------------------------------------------------------

def test_wilson_interval() -> None:
    assert wilson(0, 10) == pytest.approx((0.0, 1.96**2 / (10 + 1.96**2)), rel=1e-3)
    lo, hi = wilson(7, 8)
    assert lo == pytest.approx(0.5291, abs=1e-4) and hi == pytest.approx(0.9776, abs=1e-4)
    assert wilson(5, 5)[1] == 1.0 and wilson(0, 0) == (0.0, 1.0)


def test_the_interval_covers_p_as_often_as_it_says() -> None:
    rng = np.random.default_rng(1)
    p, n = 0.07, 80
    hits = [lo <= p <= hi for lo, hi in (wilson(int(k), n) for k in rng.binomial(n, p, 4000))]
    assert 0.93 <= np.mean(hits) <= 0.975


# -- sensitivity --------------------------------------------------------------------------

ISHIGAMI_S1 = (0.3139, 0.4424, 0.0)
ISHIGAMI_ST = (0.5576, 0.4424, 0.2437)


def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_indices_of_the_ishigami_function() -> None:
    """Known analytically: S1 = (0.314, 0.442, 0), ST = (0.558, 0.442, 0.244)."""
    inputs = [parse(k, "uniform(-3.141592653589793,3.141592653589793)") for k in "abc"]
    design = make_design(inputs, "saltelli", 2**12 * 5, seed=11)
    x = np.array([[v[k] for k in "abc"] for v in design.values])
    per = sobol_indices(design.unit, ishigami(x), list("abc"), seed=1)
    for i, k in enumerate("abc"):
        assert per[k]["S1"] == pytest.approx(ISHIGAMI_S1[i], abs=0.03)
        assert per[k]["ST"] == pytest.approx(ISHIGAMI_ST[i], abs=0.03)
    block = sensitivity(design.unit, ishigami(x), list("abc"), saltelli=True)
    assert block["method"] == "sobol" and block["ranking"] == ["a", "b", "c"]


def test_rank_measure_orders_monotone_inputs_and_says_when_nothing_varies() -> None:
    unit, _ = unit_points("lhs", 3, 400, seed=2)
    y = (unit[:, 0] + 0.3 * unit[:, 1] > 0.8).astype(float)
    block = sensitivity(unit, y, ["big", "small", "none"], saltelli=False)
    assert block["method"] == "spearman" and block["ranking"] == ["big", "small", "none"]
    assert block["inputs"]["none"]["index"] < 0.1
    flat = sensitivity(unit, np.zeros(400), ["big", "small", "none"], saltelli=True)
    assert flat["method"] == "spearman" and "held" in flat["note"]


# -- P(fail) known in closed form ---------------------------------------------------------

SERVERS, SERVICE_S, LEVEL = 5, 0.1, 0.05
STATION = ["architecture=single_station", "arrivals=constant", "clients=patient",
           "architecture.stations.server.queue_limit=0",
           f"architecture.stations.server.workers_per_instance={SERVERS}",
           f"architecture.stations.server.service.mean_s={SERVICE_S}", "run.horizon_s=200",
           "run.report=false", "run.progress=false"]
BLOCKING = {"metric": "legit.join_ratio", "fail_below": 1 - LEVEL, "fail_above": None}


def erlang_b(c: int, a: float) -> float:
    """Blocking of M/M/c/c at offered load ``a`` erlangs (any real a > 0)."""
    return float(math.exp(c * math.log(a) - a - special.gammaln(c + 1))
                 / special.gammaincc(c + 1, a))


def test_erlang_b_matches_the_recursion() -> None:
    for c, a in ((10, 9.0), (1, 0.3), (40, 35.5)):
        assert erlang_b(c, a) == pytest.approx(erlang_b_recursion(c, a), rel=1e-9)


def test_p_fail_of_one_loss_station_is_the_share_of_rates_above_erlang_b() -> None:
    """One station of c servers and no queue, clients that never retry: a share
    B(c, λ·s) of arrivals is blocked (Erlang B). With λ ~ uniform(10, 40) and failure
    when more than 5% are blocked, P(fail) = P(λ > λ*) where B(c, λ*·s) = 5%."""
    lo, hi = 10.0, 40.0
    rate_star = optimize.brentq(lambda r: erlang_b(SERVERS, r * SERVICE_S) - LEVEL, lo, hi)
    expected = (hi - rate_star) / (hi - lo)
    config = compose(STATION)
    study = plan_study(config, {"inputs": {"arrivals.rate": f"uniform({lo},{hi})"},
                                "samples": 60, "seed": 5, **BLOCKING})
    records = {j: {**run_sample(config, v, study.design.seeds[j], study.judging),
                   "sample": j} for j, v in enumerate(study.design.values)}
    risk = study.answer(records)
    lo_p, hi_p = risk["interval"]
    assert risk["judged"] == 60 and risk["errors"] == 0 and risk["finished"]
    assert lo_p <= expected <= hi_p, (expected, risk["text"])
    assert abs(risk["p_fail"] - expected) < 0.1
    failed = [v["arrivals.rate"] for j, v in enumerate(study.design.values)
              if records[j]["failed"]]
    assert min(failed) > rate_star - 2.0  # failure comes with the rates above λ*


# -- settings checked against the config --------------------------------------------------

@pytest.mark.parametrize(("inputs", "words"), [
    ({"arrivals.rat": "uniform(1,2)"}, ["hydra.sweeper.inputs.arrivals.rat", "no key"]),
    ({"architecture": "choice(spaces)"}, ["block of keys", "config group"]),
    ({"arrivals.rate": "normal(5,10)"}, ["arrivals.rate", "can draw -", "positive"]),
    ({"architecture.stations.server.queue_limit": "uniform(-5,100)"},
     ["queue_limit", "can draw -5", ">= 0"]),
    ({"arrivals.rate": "uniform(1"}, ["arrivals.rate", "uniform(lo,hi)", "choice(a,b,...)"]),
    ({"name": "uniform(1,2)"}, ["draws numbers", "choice(a,b,...)"]),
])
def test_bad_inputs_are_refused_before_anything_runs(inputs: dict[str, str],
                                                     words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        plan_study(compose(STATION), {"inputs": inputs, "samples": 20})
    msg = str(info.value)
    assert len(msg.strip().splitlines()) == 1 and all(w in msg for w in words), msg


def test_a_key_set_to_null_takes_the_kind_of_number_its_validation_asks_for() -> None:
    unlimited = [o for o in STATION if "queue_limit" not in o]  # queue_limit: null
    study = plan_study(compose(unlimited), {"inputs": {
        "architecture.stations.server.queue_limit": "loguniform(1,100)"}, "samples": 5})
    drawn = [v["architecture.stations.server.queue_limit"] for v in study.design.values]
    assert all(isinstance(v, int) and 1 <= v <= 100 for v in drawn)


GROUPS = {"mitigation": ["none", "waf", "challenge"], "arrivals": ["constant", "ramp"]}


@pytest.mark.parametrize("samples", [5, 12, 31])
@pytest.mark.parametrize("batch", [1, 3, 25])
def test_config_group_inputs_cut_jobs_by_their_choices(samples: int, batch: int) -> None:
    """Every sample is in one job; a job's samples share their group choices, which are
    its overrides; no job is larger than the batch."""
    study = plan_study(compose(STATION), {"inputs": {
        "arrivals.rate": "uniform(10,40)", "mitigation": "choice(none,waf,challenge)"},
        "samples": samples, "batch": batch}, groups=GROUPS)
    assert study.groups == ("mitigation",)
    seen = sorted(s["sample"] for js in study.plan.values() for s in js)
    assert seen == list(range(samples))
    for b, js in study.plan.items():
        assert 1 <= len(js) <= batch
        assert study.overrides[b] == [f"mitigation={js[0]['inputs']['mitigation']}"]
        assert {s["inputs"]["mitigation"] for s in js} == {js[0]["inputs"]["mitigation"]}
    drawn = {v["mitigation"] for v in study.design.values}
    assert drawn <= {"none", "waf", "challenge"} and (samples < 3 or len(drawn) == 3)


def test_value_inputs_alone_keep_consecutive_jobs_and_no_overrides() -> None:
    study = plan_study(compose(STATION), {"inputs": {"arrivals.rate": "uniform(10,40)"},
                                          "samples": 10, "batch": 4}, groups=GROUPS)
    assert study.groups == () and study.overrides == {}
    assert [[s["sample"] for s in js] for js in study.plan.values()] == [
        [0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


@pytest.mark.parametrize(("text", "words"), [
    ("choice(none,wafx)", ["'wafx' is not an option of the config group mitigation",
                           "challenge, none, waf"]),
    ("uniform(0,1)", ["mitigation is a config group, drawn only with choice",
                      "choice(a,b,...) among challenge, none, waf"]),
    ("choice(", ["not of the form name(arguments)"]),
])
def test_a_bad_group_input_is_one_paragraph(text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        plan_study(compose(STATION), {"inputs": {"mitigation": text}, "samples": 4},
                   groups=GROUPS)
    msg = str(info.value)
    assert len(msg.strip().splitlines()) == 1 and msg.startswith("Invalid configuration")
    assert "hydra.sweeper.inputs.mitigation" in msg and all(w in msg for w in words), msg


def test_a_job_composed_with_other_choices_records_an_error() -> None:
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(compose(STATION))
    assert isinstance(plain, dict)
    cfg = OmegaConf.create({**plain, "hydra": {"runtime": {"choices": {"mitigation": "none"}}}})
    record = run_sample(cfg, {"mitigation": "waf"}, 1, BLOCKING, groups=("mitigation",))
    assert record["failed"] is None and "composed with mitigation=none" in record["error"]


@pytest.mark.parametrize(("given", "key"), [
    ({}, "hydra.sweeper.inputs"), ({"samples": 1}, "hydra.sweeper.samples"),
    ({"sampler": "random"}, "hydra.sweeper.sampler"), ({"batch": 0}, "hydra.sweeper.batch"),
    ({"metric": "legit.join_ratio"}, "hydra.sweeper.metric"),
    ({"confidence": 1.0}, "hydra.sweeper.confidence"),
])
def test_bad_settings_are_refused(given: dict[str, object], key: str) -> None:
    settings = {"inputs": {"arrivals.rate": "uniform(10,20)"}, **given}
    if not given:
        settings = {}
    with pytest.raises(ConfigError) as info:
        plan_study(compose(STATION), settings)
    assert key in str(info.value)


def test_an_answer_with_missing_samples_is_not_finished() -> None:
    config = compose(STATION)
    study = plan_study(config, {"inputs": {"arrivals.rate": "uniform(10,40)"},
                                "samples": 4, **BLOCKING})
    records = {0: {"failed": True}, 1: {"failed": False}, 2: {"error": "ValueError: x"}}
    risk = answer(study.design, study.inputs, records, study.settings)
    assert not risk["finished"] and risk["pending"] == 1 and risk["errors"] == 1
    assert risk["judged"] == 2 and risk["p_fail"] == 0.5
    assert "1 ended in an error, 1 not run yet" in risk["text"]


# -- the sweeper, end to end --------------------------------------------------------------

def risk_sweep(args: list[str], cwd: Path, timeout: float = 300
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", "-m", "hydra/sweeper=risk", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          check=False)


def test_sweeper_writes_risk_json_and_report_and_resumes(tmp_path: Path) -> None:
    """Eight samples in two jobs of four, through the default (joblib) launcher; the
    same command again runs only what is missing and gives the same risk.json."""
    out = tmp_path / "risk"
    args = ['hydra.sweeper.inputs.arrivals.rate="uniform(10,40)"', "hydra.sweeper.samples=8",
            "hydra.sweeper.batch=4", "hydra.sweeper.metric=legit.join_ratio",
            f"hydra.sweeper.fail_below={1 - LEVEL}", *STATION[:-2], "run.progress=false",
            f"hydra.sweep.dir={out}"]
    proc = risk_sweep(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    risk = json.loads((out / "risk.json").read_text())
    assert risk["samples"] == 8 and risk["finished"] and risk["judged"] == 8
    assert len(risk["jobs"]) == 8 and risk["sensitivity"]["method"] == "spearman"
    assert {j["batch_job"] for j in risk["jobs"]} == {0, 1}
    assert risk["inputs"]["arrivals.rate"]["distribution"] == "uniform(10, 40)"
    assert "P(fail) = " in proc.stderr
    report = (out / "report.md").read_text()
    assert "launch review by risk" in report and "uniform(10, 40)" in report
    assert (out / "figures" / "risk_sensitivity.png").is_file()
    # Lose job 1's verdicts: the rerun runs job 1 only, and gives the same answer.
    edited = {**risk, "jobs": [j if j["batch_job"] == 0 else {**j, "failed": None}
                               for j in risk["jobs"]]}
    (out / "risk.json").write_text(json.dumps(edited))
    (out / "1" / "risk_batch.json").unlink()
    again = risk_sweep(args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "round 1 of 1: jobs 1..1 (4 samples)" in again.stderr
    assert json.loads((out / "risk.json").read_text()) == risk
    # Verdicts of other code (``sim.provenance``: an engine fixed since) are not kept:
    # every job runs again, and the same code gives the same answer.
    assert risk["fingerprint"]["code"] and all(
        r["code"] == risk["fingerprint"]["code"]
        for job in (0, 1) for r in json.loads((out / str(job) / "risk_batch.json").read_text()))
    (out / "risk.json").write_text(json.dumps(
        {**risk, "fingerprint": {**risk["fingerprint"], "code": "0" * 16}}))
    for job in (0, 1):
        path = out / str(job) / "risk_batch.json"
        path.write_text(json.dumps([{**r, "code": "0" * 16}
                                    for r in json.loads(path.read_text())]))
    other = risk_sweep(args, tmp_path)
    assert other.returncode == 0, other.stderr
    assert "round 1 of 1: jobs 0..1 (8 samples)" in other.stderr
    assert json.loads((out / "risk.json").read_text()) == risk


def test_a_config_group_input_composes_each_job_with_its_choice(tmp_path: Path) -> None:
    """``arrivals`` drawn between two of its options: each job is launched with its
    samples' choice (its overrides and Hydra's choices say so) and runs it."""
    out = tmp_path / "risk"
    proc = risk_sweep(['hydra.sweeper.inputs.arrivals="choice(constant,ramp)"',
                       "hydra.sweeper.samples=6", "hydra.sweeper.batch=2",
                       "hydra.sweeper.metric=legit.join_ratio", "hydra.sweeper.fail_below=0.5",
                       *STATION[:-2], "run.horizon_s=120", "run.progress=false",
                       f"hydra.sweep.dir={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    risk = json.loads((out / "risk.json").read_text())
    assert risk["judged"] == 6 and risk["errors"] == 0
    assert risk["inputs"]["arrivals"]["distribution"] == "choice(constant, ramp)"
    for job in risk["jobs"]:
        d = out / str(job["batch_job"]) / ".hydra"
        assert f"arrivals={job['inputs']['arrivals']}" in (d / "overrides.yaml").read_text()
        hydra_cfg = (d / "hydra.yaml").read_text()
        assert f"arrivals: {job['inputs']['arrivals']}\n" in hydra_cfg
    assert {j["inputs"]["arrivals"] for j in risk["jobs"]} == {"constant", "ramp"}


def test_command_refuses_a_malformed_distribution(tmp_path: Path) -> None:
    proc = risk_sweep(['hydra.sweeper.inputs.arrivals.rate="uniform(5"', *STATION,
                       f"hydra.sweep.dir={tmp_path / 'x'}"], tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    msg = proc.stderr.strip()
    assert len(msg.splitlines()) == 1 and msg.startswith("sim: Invalid configuration")
    assert "hydra.sweeper.inputs.arrivals.rate" in msg and "lognormal(median,sigma)" in msg


def test_command_refuses_a_sweep_beside_the_inputs(tmp_path: Path) -> None:
    """A key swept on the command line beside the drawn inputs is bad input: one
    paragraph naming it, exit status 2, no traceback, no job run."""
    out = tmp_path / "x"
    proc = risk_sweep(['hydra.sweeper.inputs.arrivals.rate="uniform(10,40)"',
                       "hydra.sweeper.samples=2", *STATION, "run.horizon_s=100,200",
                       f"hydra.sweep.dir={out}"], tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    msg = proc.stderr.strip().splitlines()[-1]
    assert msg.startswith("sim: Invalid configuration") and "run.horizon_s=100,200" in msg
    assert "allowed: one value for run.horizon_s" in msg
    assert not (out / "risk.json").exists()


def test_a_saltelli_study_gives_sobol_indices() -> None:
    """Two inputs of one loss station, one of them inert for the blocking judged (the SLO
    window): the Saltelli design's Sobol' indices put the rate first."""
    config = compose(STATION)
    study = plan_study(config, {"inputs": {"arrivals.rate": "uniform(10,40)",
                                           "slo.window_s": "uniform(50,70)"},
                                "samples": 32, "sampler": "saltelli", **BLOCKING})
    assert study.design.size == 32 and study.design.base == 8
    records = {j: {**run_sample(config, v, study.design.seeds[j], study.judging),
                   "sample": j} for j, v in enumerate(study.design.values)}
    sens = study.answer(records)["sensitivity"]
    assert sens["method"] == "sobol" and sens["ranking"][0] == "arrivals.rate"
    assert sens["inputs"]["arrivals.rate"]["ST"] > 0.5
    # Each sample has its own seed, so near the threshold the inert input's rows can
    # flip by noise alone: its index is small, not zero, at N = 8.
    assert sens["inputs"]["slo.window_s"]["ST"] < sens["inputs"]["arrivals.rate"]["ST"] / 2


@pytest.mark.slow
def test_the_same_study_on_ray_gives_the_same_risk_json(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    args = ['hydra.sweeper.inputs.arrivals.rate="uniform(10,40)"', "hydra.sweeper.samples=8",
            "hydra.sweeper.batch=4", "hydra.sweeper.metric=legit.join_ratio",
            f"hydra.sweeper.fail_below={1 - LEVEL}", *STATION]
    joblib = risk_sweep([*args, f"hydra.sweep.dir={tmp_path / 'joblib'}"], tmp_path)
    ray = risk_sweep([*args, "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2",
                      f"hydra.sweep.dir={tmp_path / 'ray'}"], tmp_path, timeout=600)
    assert joblib.returncode == 0 and ray.returncode == 0, ray.stderr[-2000:]
    assert json.loads((tmp_path / "ray" / "risk.json").read_text()) \
        == json.loads((tmp_path / "joblib" / "risk.json").read_text())


def verdict_of(failed: int, judged: int, limit: float = 0.05, **extra: int) -> str:
    from sim.report.risk import risk_verdict

    lo, hi = wilson(failed, judged)
    risk = {"samples": judged, "judged": judged, "failed": failed, "p_fail": failed / judged,
            "interval": [lo, hi], "confidence": 0.95, "pending": 0, "errors": 0,
            "not_judged": 0, **extra}
    return risk_verdict(risk, limit).decision


def test_the_report_judges_by_the_upper_bound_of_p_fail() -> None:
    from sim.report.risk import max_p_fail

    assert verdict_of(0, 100) == "GO"            # upper bound 3.7% < 5%
    assert verdict_of(0, 50) == "NO-GO"          # upper bound 7.1%: not shown safe
    assert verdict_of(0, 50, limit=0.1) == "GO"
    assert verdict_of(10, 100) == "NO-GO"
    assert verdict_of(0, 100, pending=3) == "NO VERDICT"
    assert verdict_of(0, 100, not_judged=1) == "NO VERDICT"
    assert max_p_fail({"report": {"max_p_fail": 0.1}}) == 0.1
    assert max_p_fail({}) == 0.05 and max_p_fail({}, 0.2) == 0.2


def test_report_of_a_risk_study_from_risk_json_alone(tmp_path: Path) -> None:
    """A risk.json (two inputs, failure above a line) gives the report by risk: its
    verdict, the tornado and the shaded failure region, the stated distributions; and
    sim-report says so with exit status 0."""
    from sim.report import build_report
    from sim.report.__main__ import main as sim_report

    inputs = [parse("arrivals.audience", "loguniform(1e5,1e6)"),
              parse("attack.vectors.l7_join_flood.rate_rps", "triangular(0,0,1e6)"),
              parse("arrivals.push_window_s", "uniform(60,600)")]
    design = make_design(inputs, "lhs", 40, seed=1)
    records = {j: {"failed": v["arrivals.audience"] / 1e6 + v[inputs[1].key] / 1e6 > 0.8,
                   "metric_value": None} for j, v in enumerate(design.values)}
    risk = answer(design, inputs, records, {"confidence": 0.95, "metric": "slo.met"})
    (tmp_path / "risk.json").write_text(json.dumps(risk))
    html = build_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert html.is_file() and "NO-GO" in md and "loguniform(100000, 1e+06)" in md
    assert set(risk["sensitivity"]["ranking"][:2]) == {"arrivals.audience", inputs[1].key}
    assert "kernel-smoothed estimate of P(fail)" in md
    for name in ("risk_sensitivity.png", "risk_region.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 0
    assert sim_report([str(tmp_path)]) == 0
