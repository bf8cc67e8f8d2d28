"""The guard before long or impossible runs, and no traceback a user can reach: bad
values are drawn from each kind that once hung or died in numpy, and each must stop
before the run with one paragraph naming the key, unless ``run.force=true``."""

from __future__ import annotations

import random

import pytest

import sim
import sim.cli
from sim.compose import compose
from sim.config import ConfigError, to_config
from sim.model import ArrivalCurve, rate_function, visit_ratios
from sim.resolution import (
    WALL_LIMIT_S,
    RunTooLarge,
    estimate,
    estimate_visits,
    guard,
)

SMALL = ["architecture=single_station", "arrivals=constant", "clients=patient",
         "run.horizon_s=60", "slo.window_s=30", "run.report=false", "run.progress=false"]
DRAW = random.Random(20261203)

# (overrides, the key the message must name as what drives the cost, a value drawn
# from a range that is far too large or too fine)
TOO_LARGE = [
    (["arrivals=flash_crowd", f"arrivals.audience={DRAW.choice([1e13, 1e14, 1e15]):g}"],
     "arrivals.audience"),
    ([*SMALL, f"arrivals.rate={DRAW.choice([1e8, 3e8, 1e9]):g}"], "arrivals.rate"),
    ([f"run.horizon_s={DRAW.choice([1e9, 5e9]):g}", "run.metrics_tick_s=1000"],
     "run.horizon_s"),
    ([*SMALL, "run.horizon_s=1200", "autoscaler=simple",
      f"autoscaler.sync_period_s={DRAW.choice([1e-7, 1e-6]):g}"], "autoscaler.sync_period_s"),
    (["architecture=spaces_hls", "run.horizon_s=60", "slo.window_s=30",
      f"architecture.polling.tick_s={DRAW.choice([1e-9, 1e-8, 1e-7]):g}"],
     "architecture.polling.tick_s"),
    (["experiment=x_spaces_2024", "run.resolution_s=0"], "rate_rps"),
]


@pytest.mark.parametrize(("overrides", "key"), TOO_LARGE,
                         ids=[k for _, k in TOO_LARGE])
def test_a_run_too_large_is_refused_naming_its_key(overrides: list[str], key: str) -> None:
    cfg = to_config(compose(overrides))
    with pytest.raises(RunTooLarge) as err:
        guard(cfg)
    text = str(err.value)
    assert "\n" not in text
    assert key in text.split("What drives it:")[1], text
    assert "run.force=true" in text and "To run faster" in text
    forced = to_config(compose([*overrides, "run.force=true"]))
    forced_estimate = guard(forced)  # forced: the estimate, no refusal
    assert forced_estimate.wall_s + forced_estimate.memory_bytes > 0


def test_exact_mode_over_an_hour_suggests_the_cohort_tick() -> None:
    cfg = to_config(compose(["experiment=x_spaces_2024", "run.resolution_s=0"]))
    est = estimate(cfg)
    assert est.mode == "exact" and est.wall_s > WALL_LIMIT_S
    with pytest.raises(RunTooLarge, match=r"run\.resolution_s=0\.1 \(or run\.resolution_s=auto\)"):
        guard(cfg)
    # The same scenario at auto's choice runs: cohort mode, well within the hour.
    auto = estimate(to_config(compose(["experiment=x_spaces_2024"])))
    assert auto.mode == "cohort" and auto.wall_s < WALL_LIMIT_S


def test_small_runs_pass_and_auto_keeps_its_choices() -> None:
    cfg = to_config(compose(SMALL))
    est = guard(cfg)
    assert est.wall_s < 60 and not est.notable and est.memory_bytes < 2**30
    # The estimate behind auto still uses the run's own arrival curve (same grid, same
    # figure), so auto chooses as it did.
    default = to_config(compose([]))
    arch = default.architecture
    visits = sum(visit_ratios(arch.entry, arch.routes, list(arch.stations)).values())
    arrivals = ArrivalCurve(rate_function(default.arrivals),
                            default.run.horizon_s).expected_total
    assert estimate_visits(default) == arrivals * 1.5 * visits


@pytest.mark.parametrize(("overrides", "key"), [
    (["run.horizon_s=100", "run.metrics_tick_s=100"], "run.metrics_tick_s"),
    (["run.horizon_s=100", "run.warmup_s=100"], "run.warmup_s"),
])
def test_ticks_and_warm_up_as_long_as_the_horizon_are_refused(overrides: list[str],
                                                               key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        to_config(compose(overrides))


def command(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the command in this process up to its checks; its exit status and stderr."""
    with pytest.raises(SystemExit) as stop:
        sim.cli.main(args)
    return int(stop.value.code or 0), capsys.readouterr().err


def test_the_command_refuses_with_one_paragraph(capsys: pytest.CaptureFixture[str]) -> None:
    for args, key in [([*SMALL, "arrivals.rate=1e9"], "arrivals.rate"),
                      ([*SMALL, "slo.window_s=60"], "slo.window_s"),
                      ([*SMALL, "run.metrics_tick_s=60"], "run.metrics_tick_s")]:
        code, err = command(args, capsys)
        assert code == 2, err
        assert err.startswith("sim: ") and err.count("\n") == 1 and key in err
        assert "Traceback" not in err


def test_output_directories_that_cannot_be_used(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "file").write_text("x")
    for where, words in [(tmp_path / "file", "is a file"),
                         (tmp_path / "file" / "run", "lies under a file"),
                         ("/proc/sim-run", "Cannot write")]:
        code, err = command([*SMALL, f"hydra.run.dir={where}"], capsys)
        assert code == 2 and words in err and str(where) in err, err
        assert err.count("\n") == 1 and "Traceback" not in err


FAILURE_POINT = ["-m", *SMALL, "hydra/sweeper=failure_point",
                 "hydra.sweeper.param=arrivals.rate", "hydra.sweeper.low=50",
                 "hydra.sweeper.high=200"]


@pytest.mark.parametrize(("override", "key"), [
    (f"hydra.sweeper.low={DRAW.choice([201, 500, 1e4])}", "hydra.sweeper.low"),
    (f"hydra.sweeper.rel_tol={DRAW.choice([-0.01, -1])}", "hydra.sweeper.rel_tol"),
    (f"hydra.sweeper.abs_tol={DRAW.choice([-0.5, -3])}", "hydra.sweeper.abs_tol"),
    ("hydra.sweeper.param=arivals.rate", "hydra.sweeper.param"),
    ("hydra.sweeper.param=arrivals.kind", "hydra.sweeper.param"),
    (f"hydra.sweeper.replications={DRAW.choice([0, -2])}", "hydra.sweeper.replications"),
    ("hydra.sweeper.direction=sideways", "hydra.sweeper.direction"),
    ("hydra.sweeper.metric=legit.join_ratio", "hydra.sweeper.metric"),
])
def test_failure_point_settings_are_checked(override: str, key: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, err = command([*FAILURE_POINT, override], capsys)
    assert code == 2, err
    assert err.startswith("sim: Invalid configuration: ") and key in err
    assert "allowed" in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_run_that_fails_inside_is_one_paragraph(tmp_path, capsys,  # type: ignore[no-untyped-def]
                                                  monkeypatch) -> None:
    """Whatever goes wrong inside the model, the command says it in one paragraph and
    keeps the traceback in error.txt (here: a client's attempt that raises)."""
    from sim.model import clients

    def boom(self, c):  # type: ignore[no-untyped-def]
        raise RuntimeError("an error inside the model")

    monkeypatch.setattr(clients.Clients, "_attempt", boom)
    code, err = command([*SMALL, f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 1 and err.startswith("sim: the run failed (") and "Traceback" not in err
    assert "Traceback" in (tmp_path / "error.txt").read_text()


IMMEDIATE = ["architecture=single_station", "arrivals=constant", "clients=patient",
             "run.horizon_s=20", "slo.window_s=10", "run.report=false",
             "run.progress=false", "run.resolution_s=0",
             "architecture.stations.server.queue_limit=0",
             "clients.retry.policy=immediate", "clients.retry.max_attempts=300"]


def test_immediate_retries_against_a_full_queue_do_not_recurse() -> None:
    """300 immediate attempts rejected at one instant by a full queue: each client either
    joins or gives up after its 300th, and the books balance."""
    s = sim.run(IMMEDIATE).summary
    legit = s["legit"]
    assert legit["attempts"] > legit["arrived"] and legit["abandoned"] > 0
    assert legit["joined"] + legit["abandoned"] + legit["in_flight"] == legit["arrived"]
    assert s["stations"]["server"]["rejected"] >= 299 * legit["abandoned"]
