"""``run.resolution_s: auto``: the mode and tick are chosen for the user, and said.

- a small scenario runs in exact mode, a launch-size one in cohort mode, with the tick
  the scenario's time scales allow; the summary and the report say which and why;
- the tick follows every time scale that bounds it (drawn widely, not a few cases);
- an explicit tick coarser than the scenario allows runs, with one warning naming the
  key and the tick it should be; an explicit 0 is exact mode, as always;
- a bad value is one clear paragraph naming the key and the allowed values.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.cli import compose
from sim.config import ConfigError, to_config
from sim.resolution import (
    BACKOFF_TICKS,
    EVENT_TICKS,
    ROUND_TICKS,
    TIMEOUT_TICKS,
    choose,
    scenario_tick,
    time_scales,
)

SIM = Path(sys.executable).with_name("sim")
QUICK = ["run.report=false", "run.progress=false"]


def cfg_of(overrides: list[str]):
    return to_config(compose(overrides))


def test_auto_is_the_default_and_small_runs_are_exact() -> None:
    res = sim.run([*QUICK, "arrivals.audience=3000", "run.horizon_s=300"])
    r = res.summary["resolution"]
    assert r["requested"] == "auto"
    assert res.summary["mode"] == r["mode"] == "exact"
    assert r["tick_s"] == 0.0
    assert "run.exact_budget_s" in r["reason"]
    assert r["estimated_exact_s"] <= 10.0


def test_launch_scale_is_cohort_mode_at_the_scenario_tick() -> None:
    c = choose(cfg_of(["arrivals.audience=2e6"]))
    assert c.mode == "cohort"
    assert c.tick_s == c.scenario_tick_s > 0
    assert c.binding in c.reason
    # The budget moves the line: with a large budget the same run is exact.
    assert choose(cfg_of(["arrivals.audience=2e6", "run.exact_budget_s=1e6"])).mode == "exact"
    assert choose(cfg_of(["arrivals.audience=3000", "run.exact_budget_s=0"])).mode == "cohort"


def test_the_estimate_follows_the_work() -> None:
    base = choose(cfg_of(["arrivals.audience=100000"])).estimated_visits
    double = choose(cfg_of(["arrivals.audience=200000"])).estimated_visits
    assert double == pytest.approx(2 * base, rel=1e-6)
    flood = choose(cfg_of(["arrivals.audience=100000", "attack=l7_join_flood",
                           "attack.vectors.l7_join_flood.rate_rps=1000"])).estimated_visits
    assert flood > base + 1000 * 100  # a flood of at least 100 s adds its requests


@pytest.mark.parametrize("seed", range(40))
def test_tick_is_bounded_by_every_time_scale(seed: int) -> None:
    rng = np.random.default_rng(seed)
    timeout = float(rng.choice([0.2, 1.0, 2.5, 5.0, 30.0]))
    base = float(rng.choice([0.01, 0.05, 0.3, 1.0, 4.0]))
    metrics = float(rng.choice([0.1, 1.0, 5.0]))
    policy = str(rng.choice(["full_jitter", "decorrelated_jitter", "fixed", "none"]))
    ov = [f"clients.timeout_s={timeout}", f"clients.retry.base_s={base}",
          f"clients.retry.policy={policy}", f"run.metrics_tick_s={metrics}"]
    if rng.random() < 0.5:
        ov += ["attack=l7_join_flood",
               f"attack.vectors.l7_join_flood.ramp_s={float(rng.choice([0.5, 5, 60]))}"]
    cfg = cfg_of(ov)
    tick, binding = scenario_tick(cfg)
    scales = time_scales(cfg)
    assert tick in ROUND_TICKS
    limit = min(s / n for _, s, n in scales)
    assert tick <= limit * (1 + 1e-9), (tick, scales)
    assert tick > limit / 2.6, (tick, limit)  # rounded down to the next round tick only
    assert any(k == binding and abs(s / n - limit) < 1e-12 for k, s, n in scales)
    keys = {k: (s, n) for k, s, n in scales}
    assert keys["clients.timeout_s"] == (timeout, TIMEOUT_TICKS)
    if policy != "none":
        assert keys["clients.retry.base_s"] == (base, BACKOFF_TICKS)
    else:
        assert "clients.retry.base_s" not in keys
    if "attack=l7_join_flood" in ov:
        assert keys["attack.vectors.l7_join_flood.ramp_s"][1] == EVENT_TICKS


def test_coarse_explicit_tick_warns_once_naming_the_key(tmp_path: Path) -> None:
    out = subprocess.run([str(SIM), *QUICK, "arrivals.audience=20000", "run.horizon_s=300",
                          "run.resolution_s=0.5", f"hydra.run.dir={tmp_path}"],
                         capture_output=True, text=True, check=True)
    warnings = [ln for ln in out.stderr.splitlines() if "warning" in ln.lower()]
    assert len(warnings) == 1, out.stderr
    assert "run.resolution_s" in warnings[0] and "clients.timeout_s" in warnings[0]
    assert "run.resolution_s=0.1" in warnings[0]
    import json
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["mode"] == "cohort" and s["resolution"]["tick_s"] == 0.5
    assert s["resolution"]["warning"] and "0.1" in s["resolution"]["warning"]
    # config.yaml keeps what was asked, not what was derived.
    assert "resolution_s: 0.5" in (tmp_path / "config.yaml").read_text()


def test_fine_or_zero_tick_does_not_warn() -> None:
    assert choose(cfg_of(["run.resolution_s=0.05"])).warning is None
    zero = choose(cfg_of(["run.resolution_s=0"]))
    assert zero.mode == "exact" and zero.warning is None


def test_report_says_mode_tick_and_why(tmp_path: Path) -> None:
    sim.run(["run.progress=false", "arrivals.audience=3000", "run.horizon_s=300",
             "run.exact_budget_s=0"], outdir=tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "cohort mode at 0.1 s ticks" in md
    assert "run.exact_budget_s" in md


@pytest.mark.parametrize("value", ["fast", "-0.1", "nan", "true"])
def test_bad_resolution_is_one_paragraph(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        sim.run([*QUICK, f"run.resolution_s={value}"])
    msg = str(info.value)
    assert "run.resolution_s" in msg and "auto" in msg
    assert len(msg.strip().splitlines()) == 1 and "Traceback" not in msg


def test_auto_config_is_written_as_auto(tmp_path: Path) -> None:
    sim.run([*QUICK, "arrivals.audience=2000", "run.horizon_s=200"], outdir=tmp_path)
    assert "resolution_s: auto" in (tmp_path / "config.yaml").read_text()
