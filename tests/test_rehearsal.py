"""The testbed and the rehearsal: a real service on 127.0.0.1, real load, end to end.

Needs the ``rehearsal`` extra (Locust, Starlette, uvicorn); without it every test here
is skipped with the reason. The default tier starts the testbed, joins through it,
fills a tiny queue to see its 503s, and reads its timing log back with sim-calibrate's
reader; the client-side formulas are checked against the simulator's. The slow tier
runs ``experiments/rehearsal/run.py --smoke --no-crowd`` (about three to four minutes
of wall time, little CPU).
"""

from __future__ import annotations

import importlib.util
import json
import random
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# Found, not imported: importing Locust patches threading with gevent for the whole test
# process (and the tests run Locust as a program).
for _module in ("locust", "starlette", "uvicorn"):
    if importlib.util.find_spec(_module) is None:
        pytest.skip("needs the rehearsal extra: pip install -e '.[test,rehearsal]'",
                    allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # testbed/ is a folder of the repository, not installed

from sim.calibrate import read_timing_log  # noqa: E402
from sim.config import ArrivalsConfig  # noqa: E402
from sim.model.arrivals import rate_function  # noqa: E402
from sim.model.backoff import Backoff as SimBackoff  # noqa: E402
from testbed.clients import Backoff, arrival_times, flash_crowd_rate  # noqa: E402
from testbed.harness import Testbed  # noqa: E402

TINY = """\
seed: 2
cache_hit_ratio: 0.5
room_key_rps: 100
connections: 50
slots: 3
tiers:
  edge:        {workers: 2, queue_limit: 5, service: {dist: deterministic, mean_s: 0.001, cv: 0}}
  auth:        {workers: 2, queue_limit: 5, service: {dist: exponential, mean_s: 0.002, cv: 1}}
  token_store: {workers: 1, queue_limit: 5, service: {dist: gamma, mean_s: 0.002, cv: 0.5}}
  join:        {workers: 1, queue_limit: 2, service: {dist: lognormal, mean_s: 0.05, cv: 0.5}}
  fanout:      {workers: 2, queue_limit: 5, service: {dist: lognormal, mean_s: 0.002, cv: 0.5}}
"""


def post(host: str, session_s: float = 0.5) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(f"{host}/join", data=json.dumps(
        {"session_s": session_s}).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_testbed_serves_rejects_and_logs(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY)
    log = tmp_path / "timing.tsv"
    with Testbed(log, tmp_path / "tiny.yaml") as tb:
        assert tb.host.startswith("http://127.0.0.1:")
        assert post(tb.host) == (200, {"joined": True})
        answers: list[tuple[int, dict[str, object]]] = []
        threads = [threading.Thread(target=lambda: answers.append(post(tb.host, 60)))
                   for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    # Stopped by SIGTERM: uvicorn shuts down (the tiers stop, the log is flushed and
    # closed), then re-raises the signal, so the status is 0 or -SIGTERM.
    assert tb.proc.returncode in (0, -signal.SIGTERM)
    codes = sorted(a[0] for a in answers)
    assert 200 in codes and 503 in codes
    reasons = {a[1]["reason"] for a in answers if a[0] == 503}
    assert reasons <= {"queue_full", "slots_full"} and reasons
    parsed = read_timing_log(log)
    assert parsed.declared["pool"]["join"] == {"workers": "1", "queue_limit": "2"}
    assert parsed.declared["slots"]["fanout"] == {"limit": "3"}
    assert {"edge", "auth", "join", "fanout", "room_key"} <= set(parsed.tier)
    assert set(parsed.status) & {"queue_full", "slots_full"}
    served = parsed.service_s[parsed.tier == "edge"]
    assert (served[served > 0] >= 0.001).all()  # a sleep is never shorter than asked


def test_testbed_refuses_a_bad_config(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(TINY.replace("room_key_rps", "room_key"))
    proc = subprocess.run([sys.executable, "-m", "testbed", "--config",
                           str(tmp_path / "bad.yaml")], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "unknown key(s) room_key" in proc.stderr


def test_clients_follow_the_simulator() -> None:
    """Backoff delays, the flash-crowd curve and the arrival counts of the load generator
    are the simulator's."""
    rng = random.Random(1)
    for policy in ("full_jitter", "equal_jitter", "exponential", "decorrelated_jitter"):
        sim_b = SimBackoff(policy, 0.5, 8.0)
        ours = Backoff(policy, 0.5, 8.0)
        for a in (1, 2, 5, 9):
            lo, hi, cap = sim_b.bounds(a, 1.0)
            d = ours.delay(a, 1.0, rng)
            assert min(lo, cap) - 1e-12 <= d <= min(max(lo, hi), cap) + 1e-12, (policy, a)
    crowd = {"kind": "flash_crowd", "audience": 3000.0, "t0_s": 20.0, "early_share": 0.1,
             "early_window_s": 20.0, "push_window_s": 10.0, "reaction_median_s": 4.0,
             "reaction_sigma": 0.7, "tail_share": 0.2, "tail_tau_s": 30.0}
    ts = np.linspace(0, 120, 241)
    truth = rate_function(ArrivalsConfig(**crowd))(ts)  # type: ignore[arg-type]
    assert np.allclose([flash_crowd_rate(crowd)(t) for t in ts], truth, rtol=1e-9, atol=1e-9)
    times = arrival_times(crowd, 120.0, seed=3)
    expected = float(truth.sum() * (ts[1] - ts[0]))  # the curve is smooth at 0.5 s
    assert abs(len(times) - expected) < 4 * expected**0.5
    assert times == sorted(times) and times[0] >= 0 and times[-1] < 120


@pytest.mark.slow
def test_rehearsal_smoke(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "experiments/rehearsal/run.py"), "--smoke",
                    "--no-crowd", "--out", str(tmp_path)], check=True, cwd=ROOT, timeout=480)
    res = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "rehearsal.png").stat().st_size > 0
    assert res["predicted_failure_rps"] > 0
    lo, hi = res["predicted_interval"]
    assert lo <= res["predicted_failure_rps"] <= hi
    steps = res["rate"]["steps"]
    assert len(steps) == 3
    # The smoke steps are at half and 1.4 times the prediction: the service holds at the
    # first and fails at the last, so the measured failure point is bracketed.
    assert steps[0]["slo_met"] and not steps[-1]["slo_met"]
    assert res["measured_failure_rps"] is not None
    for s in steps:
        assert set(s["predicted"]) >= {"p99_s", "join_share", "slo_met_share"}
        assert 0 <= s["join_share"] <= 1 and s["arrived"] > 0
    # Calibrated at no more than half of the capacity the calibration itself finds.
    assert res["calibration"]["rate_rps"] <= 0.5 * res["calibration"]["capacity_rps"]
    assert (tmp_path / "calibration" / "calibration.json").exists()


def _study() -> Any:
    spec = importlib.util.spec_from_file_location("rehearsal_run",
                                                  ROOT / "experiments/rehearsal/run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(("verdicts", "held"), [
    ((True, True, True), True), ((True, False, True), True), ((False, True, False), False),
    ((True, False), True), ((False, False, True, True), True), ((False,), False),
    ((False, False, False), False)])
def test_a_step_fails_where_more_than_half_of_its_runs_fail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verdicts: tuple[bool, ...],
        held: bool) -> None:
    """A step's real runs decide it as the failure-point sweeper's replications do, and
    its figures are the runs' means, each run kept with its own seed."""
    study = _study()
    seen: list[tuple[int, Path]] = []

    def fake(arrivals: dict[str, Any], duration_s: float, seed: int, out: Path,
             keep_raw: bool = True) -> dict[str, Any]:
        k = len(seen)
        seen.append((seed, out))
        assert not keep_raw
        return {"slo_met": verdicts[k], "p99_s": 0.1 * (k + 1), "join_share": 1.0 - 0.1 * k,
                "worst_success_ratio": None if k == 0 else 0.9, "arrived": 100 + k,
                "testbed_cpu_share": 0.1, "locust_cpu_share": 0.2, "load_avg_1min": 0.5,
                "client_dispersion_20ms": 1.0 + k, "seed": seed}

    monkeypatch.setattr(study, "real_step", fake)
    n = len(verdicts)
    step = study.real_runs({"kind": "constant", "rate": 50.0}, 30.0, 207, n, tmp_path)
    assert step["slo_met"] is held  # a tie holds, as a replication's tie does
    assert step["slo_met_share"] == pytest.approx(sum(verdicts) / n)
    assert [s for s, _ in seen] == [207 + 1000 * k for k in range(n)]
    assert [o for _, o in seen] == [tmp_path / str(k) for k in range(n)]
    assert step["p99_s"] == pytest.approx(np.mean([0.1 * (k + 1) for k in range(n)]))
    assert step["p99_range_s"] == pytest.approx([0.1, 0.1 * n])
    assert step["client_dispersion_20ms"] == pytest.approx(np.mean([1.0 + k for k in range(n)]))
    expected_ratio = 0.9 if n > 1 else None  # a run that judged no window is left out
    assert step["worst_success_ratio"] == expected_ratio
    assert step["real_runs"] == n and len(step["runs"]) == n


def test_extend_adds_runs_on_the_seeds_that_follow(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """More real runs of one step continue its seeds and folders, and its figures and
    verdict become those of all its runs."""
    study = _study()
    seen: list[tuple[dict[str, Any], int, Path]] = []

    def fake(arrivals: dict[str, Any], duration_s: float, seed: int, out: Path,
             keep_raw: bool = True) -> dict[str, Any]:
        seen.append((arrivals, seed, out))
        return {"slo_met": False, "p99_s": 2.0, "seed": seed}

    monkeypatch.setattr(study, "real_step", fake)
    old = [{"slo_met": True, "p99_s": 0.5, "seed": 203 + 1000 * k} for k in range(3)]
    res = {"meta": {"step_s": 90}, "rate": {"steps": [
        {"value": 66.7, "runs": [{"slo_met": True, "p99_s": 0.2, "seed": 200}]},
        {"value": 105.7, "runs": old, **study.aggregate(old)}]}}
    study.extend(res, "rate", 105.7, 2, tmp_path)
    assert [(a["rate"], s, o) for a, s, o in seen] == [
        (105.7, 3203, tmp_path / "steps" / "105.7" / "3"),
        (105.7, 4203, tmp_path / "steps" / "105.7" / "4")]
    step = res["rate"]["steps"][1]
    assert step["value"] == 105.7 and step["real_runs"] == 5 and len(step["runs"]) == 5
    assert step["slo_met"] is True  # 2 of 5 failed: not more than half
    assert step["p99_s"] == pytest.approx((3 * 0.5 + 2 * 2.0) / 5)
    with pytest.raises(SystemExit, match="no step at 100"):
        study.extend(res, "rate", 100.0, 1, tmp_path)


def test_p99_verdict_is_met_not_met_or_undecided() -> None:
    v = _study().p99_verdict
    assert v(1.0, [1.10, 1.05]) is True  # mean 1.075: within 15% of the real mean
    assert v(1.0, [0.90, 0.86]) is True
    assert v(1.0, [2.0, 2.1, 2.05]) is False  # the interval lies wholly above the band
    assert v(1.0, [0.5, 0.52, 0.51]) is False  # ... wholly below
    assert v(1.0, [0.5, 1.5, 2.5]) is None  # mean 1.5, but the runs reach into the band
    assert v(1.0, [1.5]) is False  # one run outside: nothing to say it could be inside


def test_the_knee_itself_is_not_judged_by_its_p99() -> None:
    """Below the knee: the real step held and every replication of the simulator met the
    SLO. A step the simulator meets in only some replications is the knee, not below."""
    study = _study()

    def step(v: float, met: bool, p99: float) -> dict[str, Any]:
        return {"value": v, "slo_met": met, "p99_s": p99,
                "runs": [{"p99_s": p99}, {"p99_s": p99}]}

    steps = [step(60, True, 0.25), step(100, True, 0.40), step(110, True, 1.8),
             step(120, False, 8.0)]
    curve = {60: {"p99_s": 0.24, "slo_met_share": 1.0},
             100: {"p99_s": 0.37, "slo_met_share": 1.0},
             110: {"p99_s": 3.6, "slo_met_share": 0.4},
             120: {"p99_s": 7.5, "slo_met_share": 0.0}}
    a = study.compare({"value": 112.0, "interval": [110, 114]}, steps, curve)
    assert set(a["p99_verdict_below_knee"]) == {60, 100}
    assert a["p99_within_15pct"] is True
    assert a["measured"] == 115 and a["relative_error"] == pytest.approx(-3 / 115)
    curve[100]["p99_s"] = 0.2  # 50% low on two identical runs: not met
    assert study.compare({"value": 112.0}, steps, curve)["p99_within_15pct"] is False
