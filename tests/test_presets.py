"""A smoke run of every option of every config group, at small scale, in exact mode.

The options are the YAML files in ``configs/<group>/``, listed when the tests are
collected, so a new preset is tested without touching this file. Each runs through
``sim.run`` with overrides that shrink it (a few thousand clients, a short horizon, a
weak attack) and must produce a summary with the stable schema of DESIGN.md.
"""

from __future__ import annotations

from typing import Any

import pytest
from omegaconf import OmegaConf

import sim
from sim.cli import CONFIG_DIR, compose

HORIZON_S = 400.0  # past the default flash crowd's push wave (t0 = 300 s)
AUDIENCE = 2000
STATIONS = {"spaces": {"edge", "auth", "token_store", "join", "fanout"},
            "single_station": {"server"}}
BASE = ["run.report=false", "run.progress=false", "run.resolution_s=0"]


def options() -> list[tuple[str, str]]:
    found = []
    for group in sorted(p for p in CONFIG_DIR.iterdir() if p.is_dir()):
        for option in sorted(group.glob("*.yaml")):
            found.append((group.name, option.stem))
    return found


OPTIONS = options()


def test_every_group_has_options() -> None:
    groups = {g for g, _ in OPTIONS}
    assert {"arrivals", "attack", "architecture", "autoscaler", "clients", "slo"} <= groups
    assert ("experiment", "x_spaces_2024") in OPTIONS or "experiment" not in groups


def shrink_curve(prefix: str, curve: dict[str, Any]) -> list[str]:
    """Overrides that cut one arrival curve down to about AUDIENCE clients per horizon."""
    per_s = AUDIENCE / HORIZON_S
    kind = curve.get("kind", "constant")
    if kind == "flash_crowd":
        t0 = min(float(curve.get("t0_s", 300.0)), HORIZON_S / 2)
        return [f"{prefix}.audience={AUDIENCE}", f"{prefix}.t0_s={t0}",
                f"{prefix}.early_window_s={min(float(curve.get('early_window_s', t0)), t0)}",
                f"{prefix}.push_window_s={min(float(curve.get('push_window_s', 60)), 60)}"]
    if kind == "constant":
        return [f"{prefix}.rate={per_s}"]
    if kind == "ramp":
        return [f"{prefix}.rate_start=0", f"{prefix}.rate_end={2 * per_s}",
                f"{prefix}.start_s=0", f"{prefix}.end_s={HORIZON_S}"]
    if kind == "diurnal":
        return [f"{prefix}.base_rate={per_s}"]
    if kind == "batch":  # clients that start together contend: keep the batch small
        return [f"{prefix}.count={min(int(curve.get('count', 100)), 100)}"]
    if kind == "trace":
        rate = sim.config.read_trace(f"{prefix}.path", curve["path"])[1]
        return [f"{prefix}.scale={per_s / max(*rate, 1e-09)}"]
    raise AssertionError(f"no small-scale overrides for arrival kind {kind!r}")


def small_overrides(choice: list[str]) -> list[str]:
    """Overrides that run the composed ``choice`` at small scale in exact mode."""
    cfg = OmegaConf.to_container(compose([*choice, *BASE]), resolve=True)
    assert isinstance(cfg, dict)
    out = [*BASE]
    run = cfg["run"]
    if run["horizon_s"] > HORIZON_S:
        out.append(f"run.horizon_s={HORIZON_S}")
    if run["warmup_s"] >= min(run["horizon_s"], HORIZON_S):
        out.append("run.warmup_s=0")
    out.append(f"run.metrics_tick_s={min(run['metrics_tick_s'], 5)}")
    arrivals = cfg["arrivals"]
    if arrivals["kind"] == "sum":
        for i, comp in enumerate(arrivals["components"]):
            # Components are plain mappings: "++" sets a key whether or not it is there.
            out += ["++" + o for o in shrink_curve(f"arrivals.components.{i}", comp)]
    else:
        out += shrink_curve("arrivals", arrivals)
    for name, vector in cfg["attack"]["vectors"].items():
        if vector["rate_rps"] > 20:
            out.append(f"attack.vectors.{name}.rate_rps=20")
    return out


def check_schema(summary: dict[str, Any], stations: set[str]) -> None:
    assert summary["schema"] == 1
    lg = summary["legit"]
    for key in ("arrived", "joined", "abandoned", "in_flight", "attempts"):
        assert isinstance(lg[key], int) and lg[key] >= 0, key
    assert lg["arrived"] == lg["joined"] + lg["abandoned"] + lg["in_flight"]
    lat = summary["join_latency_s"]
    for key in ("mean", "p50", "p90", "p99", "max"):
        assert lat[key] is None or (isinstance(lat[key], float) and lat[key] >= 0), key
    for key in ("offered", "mitigated", "served"):
        assert isinstance(summary["attack"][key], int), key
    assert set(summary["stations"]) == stations
    for name, part in summary["stations"].items():
        for key in ("offered", "served", "rejected", "timed_out", "peak_queue",
                    "instances_max"):
            assert isinstance(part[key], int) and part[key] >= 0, (name, key)
        assert isinstance(part["utilization_mean"], float)
        assert 0.0 <= part["utilization_mean"] <= 1.0
        for key in ("mean", "p50", "p99"):
            w = part["wait_s"][key]
            assert w is None or (isinstance(w, float) and w >= 0), (name, key)
    slo = summary["slo"]
    assert set(slo) >= {"met", "first_breach_s", "bottleneck"}
    assert isinstance(slo["met"], bool)
    if slo["met"]:
        assert slo["first_breach_s"] is None
    else:
        assert isinstance(slo["first_breach_s"], float)
        assert slo["bottleneck"] in stations
    perf = summary["perf"]
    assert isinstance(perf["wall_s"], float) and perf["wall_s"] >= 0
    assert isinstance(perf["events"], int) and perf["events"] > 0


@pytest.mark.parametrize(("group", "option"), OPTIONS,
                         ids=[f"{g}={o}" for g, o in OPTIONS])
def test_preset_runs_at_small_scale(group: str, option: str) -> None:
    choice = [f"{group}={option}"]
    overrides = [*choice, *small_overrides(choice)]
    res = sim.run(overrides)
    s = res.summary
    assert s["status"] == "ok"
    assert s["mode"] == "exact"
    arch = res.config.architecture
    check_schema(s, STATIONS.get(arch.name, set(arch.stations)))
    # Small, but not empty: the scenario did run clients through the join path.
    assert 0 < s["legit"]["arrived"] < 20 * AUDIENCE, s["legit"]
    assert s["legit"]["joined"] > 0
    assert next(iter(res.timeseries)) == "t_s"


def test_default_scenario_at_small_scale() -> None:
    res = sim.run(small_overrides([]))
    assert res.config.name == "default_launch"
    check_schema(res.summary, STATIONS["spaces"])
    assert res.summary["legit"]["arrived"] == pytest.approx(AUDIENCE, rel=0.2)
