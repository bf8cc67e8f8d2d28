"""Bad input stops before anything runs, with one paragraph naming the key and what is
allowed: through the Python API (``sim.run``, ``compose``, ``to_config`` raise
``sim.config.ConfigError``, never a Hydra or OmegaConf exception) and through the
command (stderr, exit status 2, no traceback, no run directory).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim.cli import compose
from sim.config import ConfigError, to_config

SIM = Path(sys.executable).with_name("sim")
QUICK = ["run.report=false", "run.progress=false"]
STATIONS = ["auth", "edge", "fanout", "join", "token_store"]


def assert_one_paragraph(msg: str) -> None:
    assert msg.strip(), "empty message"
    assert "\n\n" not in msg.strip(), msg
    assert "Traceback" not in msg
    assert len(msg.strip().splitlines()) == 1, msg


def config_error(overrides: list[str], tmp_path: Path | None = None) -> str:
    outdir = tmp_path / "out" if tmp_path is not None else None
    with pytest.raises(ConfigError) as info:
        sim.run([*overrides, *QUICK], outdir=outdir)
    assert type(info.value) is ConfigError
    if outdir is not None:
        assert not outdir.exists(), "something was written before the config was checked"
    msg = str(info.value)
    assert_one_paragraph(msg)
    return msg


# (overrides, words the message must contain: the full key, then what is allowed)
CASES: dict[str, tuple[list[str], list[str]]] = {
    "unknown station key": (["architecture.stations.edge.workerz=3"],
                            ["architecture.stations.edge.workerz", "workers_per_instance",
                             "queue_limit", "service"]),
    "unknown key added with +": (["+arrivals.foo=1"],
                                 ["arrivals.foo", "audience", "t0_s", "kind"]),
    "unknown run key": (["run.sede=3"], ["run.sede", "seed", "horizon_s"]),
    "unknown top-level key": (["+nmae=x"], ["nmae", "the top level", "arrivals", "run"]),
    "undefined station": (["architecture.stations.edgy.instances=3"],
                          ["architecture.stations.edgy", *STATIONS]),
    "new station on the command line": (["+architecture.stations.new.instances=3"],
                                        ["architecture.stations.new", "--config-dir"]),
    "negative rate": (["arrivals=constant", "arrivals.rate=-5"],
                      ["arrivals.rate", "-5", "positive"]),
    "negative rate of an unused curve": (["arrivals.rate=-5"], ["arrivals.rate", "positive"]),
    "zero audience": (["arrivals.audience=0"], ["arrivals.audience", "positive"]),
    "zero workers": (["architecture=single_station",
                      "architecture.stations.server.workers_per_instance=0"],
                     ["architecture.stations.server.workers_per_instance", ">= 1"]),
    "zero instances": (["architecture.stations.auth.instances=0"],
                       ["architecture.stations.auth.instances", ">= 1"]),
    "negative service time": (["architecture.stations.join.service.mean_s=-0.1"],
                              ["architecture.stations.join.service.mean_s", "positive"]),
    "negative queue limit": (["architecture.stations.join.queue_limit=-1"],
                             ["architecture.stations.join.queue_limit", ">= 0"]),
    "route to a missing station": (["+architecture.routes.join.nowhere=1.0"],
                                   ["architecture.routes.join.nowhere", *STATIONS]),
    "routes that do not add up": (["architecture.routes.auth.join=0.5"],
                                  ["architecture.routes.auth", "add up to 1"]),
    "unknown entry": (["architecture.entry=gateway"], ["architecture.entry", *STATIONS]),
    "wrong type": (["run.seed=abc"], ["run.seed", "abc", "an integer"]),
    "wrong type, float": (["arrivals.audience=lots"], ["arrivals.audience", "a number"]),
    "wrong type, bool": (["architecture.stations.edge.drop_expired=maybe"],
                         ["architecture.stations.edge.drop_expired", "true or false"]),
    "negative seed": (["run.seed=-1"], ["run.seed", ">= 0"]),
    "unknown group option": (["architecture=nope"],
                             ["architecture", "nope", "single_station", "spaces"]),
    "unknown retry policy": (["clients.retry.policy=bogus"],
                             ["clients.retry.policy", "bogus", "full_jitter",
                              "decorrelated_jitter", "none"]),
    "unknown service distribution": (["architecture.stations.edge.service.dist=weibull"],
                                     ["architecture.stations.edge.service.dist",
                                      "exponential", "lognormal"]),
    "cap below base": (["clients.retry.cap_s=0.5"], ["clients.retry.cap_s", "base_s"]),
    "zero max attempts": (["clients.retry.max_attempts=0"],
                          ["clients.retry.max_attempts", ">= 1"]),
    "share above one": (["clients.impatient_share=1.5"],
                        ["clients.impatient_share", "[0, 1]"]),
    "warm-up past the horizon": (["run.warmup_s=5000"], ["run.warmup_s", "run.horizon_s"]),
    "shares above one": (["arrivals.early_share=0.6", "arrivals.tail_share=0.6"],
                         ["arrivals.tail_share", "early_share"]),
    "attack into a missing station": (["attack=l7_join_flood",
                                       "attack.vectors.l7_join_flood.enter=gateway"],
                                      ["attack.vectors.l7_join_flood.enter", *STATIONS]),
    "autoscaler on a missing station": (["autoscaler=hpa", "autoscaler.stations=[nope]"],
                                        ["autoscaler.stations", "nope", *STATIONS]),
    "deleting a schema key": (["~run.seed"], ["run.seed", "cannot be deleted"]),
    "override syntax": (["run.seed=[1"], ["Invalid override", "key=value"]),
    "cohort tick longer than the metrics tick": (["run.resolution_s=5"],
                                                 ["run.resolution_s", "metrics_tick_s"]),
    "unknown success test": (["slo.success_test=binomal"],
                             ["slo.success_test", "binomal", "ratio", "binomial"]),
    "success confidence of 1": (["slo.success_test=binomial", "slo.success_confidence=1"],
                                ["slo.success_confidence", "strictly between 0 and 1"]),
}


@pytest.mark.parametrize(("overrides", "words"), CASES.values(), ids=CASES.keys())
def test_bad_override_raises_config_error(overrides: list[str], words: list[str],
                                          tmp_path: Path) -> None:
    msg = config_error(overrides, tmp_path)
    for word in words:
        assert word in msg, (word, msg)


def test_compose_raises_config_error_not_hydra_errors() -> None:
    for overrides in (["run.sede=3"], ["architecture=nope"], ["run.seed=abc"]):
        with pytest.raises(ConfigError):
            compose(overrides)


# -- trace files --------------------------------------------------------------------------

TRACES = {
    "no header": ("0,10\n60,10\n", "header"),
    "wrong header": ("time,rate\n0,10\n60,10\n", "header"),
    "not a number": ("t_s,rate\n0,10\n60,lots\n", "line 3"),
    "missing column": ("t_s,rate\n0,10\n60\n", "line 3"),
    "negative rate": ("t_s,rate\n0,10\n60,-1\n", "line 3"),
    "time going back": ("t_s,rate\n0,10\n60,10\n30,10\n", "line 4"),
    "one row": ("t_s,rate\n0,10\n", "two rows"),
    "empty": ("", "header"),
    "not text": (b"\xff\xfe\x00\x01garbage", "UTF-8"),
}


@pytest.mark.parametrize(("content", "word"), TRACES.values(), ids=TRACES.keys())
def test_malformed_trace(content: str | bytes, word: str, tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    msg = config_error(["arrivals=trace", f"arrivals.path={path}"], tmp_path)
    assert "arrivals.path" in msg and str(path) in msg and word in msg, msg


def test_missing_trace(tmp_path: Path) -> None:
    msg = config_error(["arrivals=trace", f"arrivals.path={tmp_path / 'nope.csv'}"], tmp_path)
    assert "arrivals.path" in msg and "nope.csv" in msg and "not found" in msg


def test_missing_relative_trace_says_where_it_looked() -> None:
    msg = config_error(["arrivals=trace", "arrivals.path=nope.csv"])
    assert "current directory" in msg and "shipped configs" in msg


def test_trace_in_a_sum_is_checked(tmp_path: Path) -> None:
    msg = config_error(["arrivals=flash_crowd_on_diurnal",
                        f"arrivals.components=[{{kind: trace, path: {tmp_path / 'x.csv'}}}]"])
    assert "arrivals.components[0].path" in msg


# -- plain dicts --------------------------------------------------------------------------

DICTS = {
    "unknown key": ({"run": {"sede": 3}}, ["run.sede", "seed"]),
    "nested unknown key": ({"architecture": {"name": "a", "entry": "s", "stations": {
        "s": {"service": {"mean": 1}}}}}, ["architecture.stations.s.service.mean", "mean_s"]),
    "wrong type": ({"run": {"seed": "abc"}}, ["run.seed", "an integer"]),
    "missing mandatory": ({}, ["architecture.", "missing"]),
    "not a mapping": ({"run": 3}, ["run", "seed"]),
}


@pytest.mark.parametrize(("cfg", "words"), DICTS.values(), ids=DICTS.keys())
def test_to_config_on_dicts(cfg: dict[str, object], words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        to_config(cfg)
    msg = str(info.value)
    assert_one_paragraph(msg)
    for word in words:
        assert word in msg, (word, msg)


# -- the command --------------------------------------------------------------------------

COMMAND_CASES = {
    "unknown key": (["architecture.stations.edge.workerz=3"],
                    ["architecture.stations.edge.workerz", "workers_per_instance"]),
    "unknown key added with +": (["+arrivals.foo=1"], ["arrivals.foo", "audience"]),
    "wrong type": (["run.seed=abc"], ["run.seed", "an integer"]),
    "unknown group option": (["architecture=nope"], ["architecture", "single_station"]),
    "missing trace": (["arrivals=trace", "arrivals.path=/no/such/trace.csv"],
                      ["arrivals.path", "not found"]),
    "bad value in a sweep": (["-m", "run.seed=1,2", "arrivals.audience=1000,-1"],
                             ["arrivals.audience", "positive"]),
}


@pytest.mark.parametrize(("args", "words"), COMMAND_CASES.values(), ids=COMMAND_CASES.keys())
def test_command_reports_bad_input(args: list[str], words: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [str(SIM), *args, f"hydra.run.dir={out}", f"hydra.sweep.dir={out}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.startswith("sim: "), proc.stderr
    assert_one_paragraph(proc.stderr)
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)
    assert not out.exists(), "a run directory was made before the config was checked"
