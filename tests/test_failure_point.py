"""Failure-point search: the state machine alone, then the Hydra sweeper end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis.failure_point import (
    Allowed,
    FailurePointSearch,
    Judgement,
    answer_text,
    judge,
    parse_allowed,
)


def drive(search: FailurePointSearch, fails) -> dict:  # type: ignore[no-untyped-def]
    while True:
        probes = search.next_probes()
        if not probes:
            break
        for p in probes:
            search.record(p, fails(p.seed, p.value))
        search.end_round()
    return search.answer()


@pytest.mark.parametrize(("low", "high"), [(50, 200), (10, 40), (150, 400)])
def test_bisection_finds_a_threshold_that_rises_with_load(low: float, high: float) -> None:
    rng = np.random.default_rng(0)
    truth = {s: 97.0 + rng.normal(0, 1.0) for s in (1, 2, 3, 4)}
    a = drive(FailurePointSearch(low, high, list(truth), rel_tol=0.001),
              lambda seed, v: v > truth[seed])
    assert a["direction"] == "up" and a["n"] == 4
    assert a["value"] == pytest.approx(np.mean(list(truth.values())), abs=0.2)
    lo, hi = a["interval"]
    assert lo < a["value"] < hi
    for rep in a["per_replication"]:
        assert rep["holds_at"] <= truth[rep["seed"]] <= rep["fails_at"]


def test_integer_parameter_that_fails_below_a_value() -> None:
    """Instances of a station: fails with 6 or fewer, holds with 7 or more."""
    for low, high, direction in [(2, 30, "auto"), (10, 30, "down")]:
        a = drive(FailurePointSearch(low, high, [1, 2], integer=True, direction=direction),
                  lambda seed, v: v <= 6)
        assert a["direction"] == "down"
        assert a["fails_at"] == 6 and all(r["fails_at"] == 6 and r["holds_at"] == 7
                                       for r in a["per_replication"])


@pytest.mark.parametrize(("threshold", "low", "high", "direction"),
                         [(7, 2, 30, "auto"), (13, 1, 16, "down"), (20, 30, 60, "down"),
                          (3, 8, 9, "down")])
def test_integer_knob_that_holds_with_more_names_both_sides(
        threshold: int, low: float, high: float, direction: str) -> None:
    """Servers: the SLO fails with fewer than ``threshold``. The answer names the smallest
    value that holds and the largest that fails, adjacent, and says larger values hold."""
    a = drive(FailurePointSearch(low, high, [1, 2, 3], integer=True, direction=direction),
              lambda seed, v: v < threshold)
    assert a["status"] == "found" and a["direction"] == "down"
    assert a["larger_values"] == "hold" and a["integer"] is True
    assert (a["holds_at"], a["fails_at"], a["width"]) == (threshold, threshold - 1, 1)
    assert a["interval"] == [threshold - 1, threshold]
    # The capacity answer is the smallest count that holds, not the step's middle.
    assert (a["value"], a["midpoint"]) == (threshold, threshold - 0.5)
    for rep in a["per_replication"]:
        assert (rep["holds_at"], rep["fails_at"]) == (threshold, threshold - 1)


@pytest.mark.parametrize(("thresholds", "low", "high"),
                         [((96, 96), 40, 160), ((41, 44, 43), 10, 20), ((5, 9), 1, 100)])
def test_integer_knob_that_fails_with_more_names_both_sides(
        thresholds: tuple[int, ...], low: float, high: float) -> None:
    """Audience: replication i holds up to ``thresholds[i]``. Across replications the
    bracket is the conservative one: held in every replication, failed in some."""
    seeds = list(range(1, len(thresholds) + 1))
    a = drive(FailurePointSearch(low, high, seeds, integer=True),
              lambda seed, v: v > thresholds[seed - 1])
    assert a["status"] == "found" and a["direction"] == "up"
    assert a["larger_values"] == "fail"
    assert a["holds_at"] == min(thresholds) and a["fails_at"] == min(thresholds) + 1
    assert a["value"] == min(thresholds)  # the largest value that holds in every one
    for rep in a["per_replication"]:
        t = thresholds[rep["seed"] - 1]
        assert (rep["holds_at"], rep["fails_at"], rep["width"]) == (t, t + 1, 1)


@pytest.mark.parametrize("direction", ["up", "down"])
def test_continuous_bracket_and_its_width(direction: str) -> None:
    """A rate (up) or a capacity (down): every replication's bracket holds its own
    threshold, is no wider than rel_tol of its middle, and the overall bracket held in
    every replication and failed in some."""
    rng = np.random.default_rng(7)
    truth = {s: 97.0 + rng.normal(0, 3.0) for s in (1, 2, 3)}
    up = direction == "up"
    a = drive(FailurePointSearch(50, 200, list(truth), rel_tol=0.002, direction=direction),
              lambda seed, v: v > truth[seed] if up else v < truth[seed])
    assert a["status"] == "found" and a["larger_values"] == ("fail" if up else "hold")
    for rep in a["per_replication"]:
        h, f, t = rep["holds_at"], rep["fails_at"], truth[rep["seed"]]
        assert (h <= t <= f) if up else (f <= t <= h)
        assert rep["width"] == pytest.approx(abs(f - h)) and rep["width"] <= 0.002 * f
    lo_truth, hi_truth = min(truth.values()), max(truth.values())
    if up:
        assert a["holds_at"] <= lo_truth < a["fails_at"] <= hi_truth
    else:
        assert lo_truth <= a["fails_at"] < hi_truth <= a["holds_at"]
    assert a["width"] == pytest.approx(abs(a["fails_at"] - a["holds_at"]))


@pytest.mark.parametrize("blind_at", ["low", "bisection"])
def test_a_probe_that_cannot_judge_stops_the_search(blind_at: str) -> None:
    """A probe that could not judge is neither held nor failed: the search stops after
    its round and gives no bracket, only which probe could not judge and why."""
    why = ["the horizon of 60 s ends before the peak of the arrival curve at t = 320 s"]
    s = FailurePointSearch(10, 200, [1, 2])
    rounds = 0
    while probes := s.next_probes():
        rounds += 1
        for p in probes:
            blind = (p.value == 10) if blind_at == "low" else (rounds == 3 and p.seed == 2)
            if blind:
                s.record(p, None, unjudged=why)
            else:
                s.record(p, p.value > 97)
        s.end_round()
    a = s.answer()
    assert rounds == (1 if blind_at == "low" else 3)
    assert a["status"] == "not_judged" and s.finished
    assert a["value"] is a["holds_at"] is a["fails_at"] is a["interval"] is None
    assert a["not_judged"][0]["reasons"] == why
    assert all(r["holds_at"] is None and r["fails_at"] is None and r["value"] is None
               for r in a["per_replication"])
    assert {r["status"] for r in a["per_replication"]} <= {"not_judged", "stopped"}
    blind = [p for p in a["probes"] if p.get("not_judged")]
    assert blind and all(p["failed"] is None for p in blind)


def test_never_failing_and_errors_are_reported() -> None:
    a = drive(FailurePointSearch(1, 2, [1], max_expand=3), lambda seed, v: False)
    assert a["value"] is None and a["per_replication"][0]["status"] == "holds_throughout"
    s = FailurePointSearch(1, 2, [1, 2])
    for p in s.next_probes():
        s.record(p, None if p.seed == 2 else p.value > 1.5, "boom" if p.seed == 2 else None)
    s.end_round()
    a = drive(s, lambda seed, v: v > 1.5)
    assert a["n"] == 1 and a["per_replication"][1]["status"] == "error"


def test_bad_search_arguments() -> None:
    with pytest.raises(ValueError, match="low must be less than high"):
        FailurePointSearch(5, 5, [1])
    with pytest.raises(ValueError, match="direction"):
        FailurePointSearch(1, 5, [1], direction="sideways")


# -- whole numbers: the value that holds, and never a value the config refuses ----------

def expected_replication(t: int, direction: str, lowest: int, highest: int | None
                         ) -> tuple[str, float | None, float | None, str | None]:
    """What a replication whose threshold is ``t`` must answer, over the allowed range
    [lowest, highest]: (status, holds_at, fails_at, limit). ``down``: holds at ``t`` and
    above (servers); ``up``: holds at ``t`` and below (a whole rate)."""
    if direction == "down":
        if t <= lowest:
            return "holds_throughout", lowest, None, "minimum"
        if highest is not None and t > highest:
            return "fails_throughout", None, highest, "maximum"
        return "found", t, t - 1, None
    if t < lowest:
        return "fails_throughout", None, lowest, "minimum"
    if highest is not None and t >= highest:
        return "holds_throughout", highest, None, "maximum"
    return "found", t, t + 1, None


Search = tuple[int, int | None, int, int, str, list[int]]


@st.composite
def integer_searches(draw: st.DrawFn) -> Search:
    """A monotone whole-number knob: an allowed range (minimum 0 or 1, maybe a maximum),
    a bracket inside it, a direction, and one threshold per replication, anywhere from
    below the minimum to past the maximum."""
    lowest = draw(st.sampled_from([0, 1]))
    low = draw(st.integers(lowest, 300))
    high = draw(st.integers(low + 1, low + 400))
    highest = draw(st.one_of(st.none(), st.integers(high, high + 2000)))
    direction = draw(st.sampled_from(["up", "down"]))
    top = (highest if highest is not None else high + 3000) + 3
    thresholds = draw(st.lists(st.integers(lowest - 3, top), min_size=1, max_size=4))
    return lowest, highest, low, high, direction, thresholds


@settings(max_examples=300, deadline=None, derandomize=True)
@given(case=integer_searches())
def test_whole_number_answer_is_the_boundary_that_holds(case: Search) -> None:
    """Generated monotone thresholds and brackets: no probe leaves the allowed range;
    each replication names its threshold (``down``: the smallest value that holds;
    ``up``: the largest) as ``value`` and ``holds_at``, the adjacent failing value as
    ``fails_at``, or, with no threshold in range, the allowed bound it held (or failed)
    at; across replications ``value`` is the boundary that held in every one."""
    lowest, highest, low, high, direction, thresholds = case
    allowed = Allowed(float(lowest), None if highest is None else float(highest),
                      text="generated")
    s = FailurePointSearch(low, high, list(range(len(thresholds))), integer=True,
                           direction=direction, max_expand=40, max_probes=60,
                           allowed=allowed, rel_tol=0.0)  # to adjacent values everywhere
    down = direction == "down"
    a = drive(s, lambda seed, v: v < thresholds[seed] if down else v > thresholds[seed])
    for p in a["probes"]:
        assert p["value"] == round(p["value"]) and p["value"] >= lowest
        assert highest is None or p["value"] <= highest
    expected = [expected_replication(t, direction, lowest, highest) for t in thresholds]
    for rep, (status, holds, fails, limit) in zip(a["per_replication"], expected,
                                                  strict=True):
        assert (rep["status"], rep["holds_at"], rep["fails_at"], rep["limit"]) == \
            (status, holds, fails, limit), rep
        assert rep["value"] == (holds if status == "found" else None)
    statuses = {e[0] for e in expected}
    if statuses == {"found"}:
        boundary = max(thresholds) if down else min(thresholds)
        assert (a["status"], a["value"], a["holds_at"]) == ("found", boundary, boundary)
        assert a["fails_at"] == (boundary - 1 if down else boundary + 1)
        lo, hi = a["interval"]
        assert lo <= a["value"] <= hi and lo == round(lo) and hi == round(hi)
        assert lowest <= lo and (highest is None or hi <= highest)
        # The bound the report judges on is on the holding side of what held; with every
        # replication alike it is that value, the interval the step from failing to it.
        assert hi >= boundary if down else lo <= boundary
        if len(set(thresholds)) == 1:
            assert sorted([lo, hi]) == sorted([boundary, a["fails_at"]])
    elif len({(e[0], e[3]) for e in expected}) == 1:
        status, _, _, limit = expected[0]
        assert a["status"] == status and a["value"] is None
        bound = lowest if limit == "minimum" else highest
        assert a["limit"]["side"] == limit and a["limit"]["value"] == bound
        verb = "holds" if status == "holds_throughout" else "fails"
        end = "smallest" if limit == "minimum" else "largest"
        assert (f"the SLO {verb} at the {end} allowed value {bound:,}"
                in answer_text({"param": "k", **a}))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(low=st.floats(0.01, 100), span=st.floats(0.5, 200),
       closed=st.booleans(), truth=st.floats(-5, 400), direction=st.sampled_from(["up",
                                                                                   "down"]))
def test_continuous_search_stays_in_range(low: float, span: float, closed: bool,
                                          truth: float, direction: str) -> None:
    """A rate or a share: an open minimum of 0 ("a positive finite number") is
    approached by halving, never probed; a closed one (">= 0") is probed at most at
    0. The continuous ``value`` stays the middle of the brackets."""
    allowed = Allowed(0.0, min_open=not closed, text="generated")
    s = FailurePointSearch(low, low + span, [1], direction=direction, allowed=allowed,
                           rel_tol=0.01, max_expand=12)
    a = drive(s, lambda seed, v: v > truth if direction == "up" else v < truth)
    assert all(p["value"] > 0 if not closed else p["value"] >= 0 for p in a["probes"])
    if a["status"] == "found":
        assert a["value"] == pytest.approx(a["midpoint"])
        assert a["value"] == pytest.approx((a["holds_at"] + a["fails_at"]) / 2)


@pytest.mark.parametrize(("low", "high"), [(1, 16), (4, 32), (2, 3)])
def test_instances_that_always_hold_stop_at_one(low: int, high: int) -> None:
    """The bug: servers that hold at every count, searched downwards, were widened to 0
    (and below), which the config refuses. Now the search probes 1 at the lowest and
    says that it holds there: no failure point in range."""
    s = FailurePointSearch(low, high, [1, 2], integer=True, direction="down",
                           allowed=Allowed(1.0, text="an integer >= 1"))
    a = drive(s, lambda seed, v: False)
    assert min(p["value"] for p in a["probes"]) == 1
    assert a["status"] == "holds_throughout" and a["value"] is None
    assert a["limit"] == {"side": "minimum", "value": 1.0, "holds": True,
                          "allowed": "an integer >= 1"}
    assert answer_text({"param": "join.instances", **a}) == (
        "join.instances: the SLO holds at the smallest allowed value 1 in all 2 "
        "replications: no failure point in range (allowed: an integer >= 1)")


def test_whole_number_without_a_stated_minimum_keeps_above_zero() -> None:
    """With no range from the config, a search from a positive ``low`` never probes 0
    (for a whole number: stops at 1), as before for a continuous one."""
    a = drive(FailurePointSearch(3, 9, [1], integer=True, direction="down"),
              lambda seed, v: False)
    assert [p["value"] for p in a["probes"]] == [3, 9, 1]
    assert a["limit"]["value"] == 1 and a["limit"]["allowed"] == "a whole number >= 1"
    a = drive(FailurePointSearch(0.5, 2, [1], direction="down", max_expand=4),
              lambda seed, v: False)
    assert all(p["value"] > 0 for p in a["probes"]) and a["limit"] is None


@pytest.mark.parametrize("threshold", [3, 9, 57, 99, 140, 2_345, 31_000])
def test_default_tolerance_is_exact_for_counts_and_one_percent_above(threshold: int) -> None:
    """By default a whole number is bisected to adjacent values while 1% of the bracket
    is less than one (a count of servers, exact), and to 1% above (a write rate)."""
    a = drive(FailurePointSearch(1, 4 * threshold, [1], integer=True, direction="down"),
              lambda seed, v: v < threshold)
    assert a["fails_at"] < threshold <= a["holds_at"] == a["value"]
    width = a["holds_at"] - a["fails_at"]
    assert width == 1 if threshold < 100 else width <= 0.01 * (a["holds_at"] + a["fails_at"]) / 2


@pytest.mark.parametrize(("rel_tol", "max_probes"), [(0.05, 20), (None, 2)])
def test_whole_number_search_stopped_early_says_where_the_answer_lies(
        rel_tol: float | None, max_probes: int) -> None:
    """Write rates in the thousands with a 5% tolerance, or a probe budget too small to
    reach adjacent values: ``value`` is still a value that held, and the sentence gives
    the range the smallest holding value lies in instead of calling it the answer."""
    threshold = 3_111
    s = FailurePointSearch(1_000, 8_000, [1], integer=True, direction="down",
                           rel_tol=rel_tol, max_probes=max_probes)
    a = drive(s, lambda seed, v: v < threshold)
    assert a["fails_at"] < threshold <= a["holds_at"] == a["value"]
    assert a["width"] > 1
    text = answer_text({"param": "join.max_rate_rps", **a})
    assert (f"the smallest value that holds lies from {a['fails_at'] + 1:,.0f} to "
            f"{a['holds_at']:,.0f} (the search stopped before adjacent values") in text
    assert "the answer is" not in text


def test_bracket_outside_the_allowed_range_is_refused() -> None:
    with pytest.raises(ValueError, match="outside the values the parameter allows"):
        FailurePointSearch(0, 16, [1], integer=True, allowed=Allowed(1.0))
    with pytest.raises(ValueError, match=r"an integer from 1 to 10,000"):
        FailurePointSearch(5, 20_000, [1], integer=True,
                           allowed=parse_allowed("an integer from 1 to 10,000"))


@pytest.mark.parametrize(("text", "expected"), [
    ("an integer >= 1", Allowed(1.0, text="an integer >= 1")),
    ("null (unlimited) or >= 0", Allowed(0.0, text="null (unlimited) or >= 0")),
    ("a positive finite number", Allowed(0.0, min_open=True, text="a positive finite number")),
    ("a finite number >= 0", Allowed(0.0, text="a finite number >= 0")),
    ("a number in [0, 1]", Allowed(0.0, 1.0, text="a number in [0, 1]")),
    ("null or a number in (0, 1]", Allowed(0.0, 1.0, True, text="null or a number in (0, 1]")),
    ("an integer from 1 to 10,000", Allowed(1.0, 10_000.0, text="an integer from 1 to 10,000")),
    ("a number from 1 to 1e6", Allowed(1.0, 1e6, text="a number from 1 to 1e6")),
    ("an integer >= max(1, min_instances=2)",
     Allowed(text="an integer >= max(1, min_instances=2)")),
    ("greater than run.warmup_s (0)", Allowed(text="greater than run.warmup_s (0)")),
])
def test_the_config_s_words_give_the_range(text: str, expected: Allowed) -> None:
    assert parse_allowed(text) == expected


def test_the_range_comes_from_the_config_validation() -> None:
    """The sweeper reads each key's range from the validation of the default scenario,
    and refuses a bracket outside it before anything runs."""
    from hydra_plugins.sim_failure_point.failure_point_sweeper import (
        allowed_for,
        check_settings,
    )
    from sim.compose import compose
    from sim.config import ConfigError

    cfg = compose([])
    for key, integer, expected in [
            ("architecture.stations.join.instances", True, (1.0, None, False)),
            ("arrivals.audience", False, (0.0, None, True)),
            ("clients.impatient_share", False, (0.0, 1.0, False))]:
        a = allowed_for(cfg, key, integer, 1.0)
        assert (a.minimum, a.maximum, a.min_open) == expected, key
    key = "architecture.stations.fanout.instances"
    with pytest.raises(ConfigError, match=r"hydra\.sweeper\.low = 0; allowed: a value "
                       r"architecture\.stations\.fanout\.instances allows \(an integer >= 1\)"):
        check_settings(cfg, {"param": key, "low": 0, "high": 8, "direction": "down"})


def test_report_says_the_search_held_down_to_the_smallest_allowed() -> None:
    from sim.report import ReportSettings, headroom_verdict
    from sim.report.verdict import from_sweeper

    key = "architecture.stations.join.instances"
    s = FailurePointSearch(1, 16, [1, 2], integer=True, direction="down",
                           allowed=Allowed(1.0, text="an integer >= 1"))
    fp = from_sweeper({"param": key, **drive(s, lambda seed, v: False)}, [], {})
    assert fp.status == "holds_throughout" and fp.limit == "smallest"
    assert fp.text == "none down to 1 (the smallest allowed)"
    v = headroom_verdict(fp, 4, ReportSettings())
    assert "the SLO holds down to " + key + " = 1, the smallest value the config allows" \
        in v.reason


def test_report_names_the_whole_number_value_that_holds() -> None:
    """The figures label a whole-number ``value`` for what it is."""
    from sim.report.verdict import from_sweeper

    s = FailurePointSearch(2, 40, [1, 2], integer=True, direction="down")
    fp = from_sweeper({"param": "k", **drive(s, lambda seed, v: v < 20)}, [], {})
    assert (fp.value, fp.value_name, fp.low, fp.high) == (20, "smallest value that holds",
                                                          19, 20)
    s = FailurePointSearch(10, 400, [1], integer=True)
    fp = from_sweeper({"param": "k", **drive(s, lambda seed, v: v > 150)}, [], {})
    assert (fp.value, fp.value_name) == (150, "largest value that holds")


# -- the search on real runs -------------------------------------------------------------

STATION = ["architecture=single_station", "arrivals=constant", "clients=patient",
           "clients.timeout_s=2", "architecture.stations.server.drop_expired=true",
           "architecture.stations.server.workers_per_instance=1", "run.horizon_s=100",
           "run.report=false", "run.progress=false"]


def simulate(overrides: list[str]) -> Judgement:
    """Run one scenario in this process and judge it as the sweeper judges a probe."""
    from omegaconf import OmegaConf

    from sim.api import run

    result = run(overrides)
    config = OmegaConf.to_container(OmegaConf.structured(result.config))
    assert isinstance(config, dict)
    return judge(result.summary, config)


def search_runs(search: FailurePointSearch, key: str, base: list[str],
                integer: bool) -> dict:  # type: ignore[type-arg]
    """Drive ``search`` with real runs of ``base`` with ``key`` set to each probe."""
    while probes := search.next_probes():
        for p in probes:
            value = str(round(p.value)) if integer else f"{p.value:.10g}"
            j = simulate([*base, f"{key}={value}", f"run.seed={p.seed}"])
            search.record(p, j.failed, unjudged=j.unjudged)
        search.end_round()
    return search.answer()


@pytest.mark.parametrize("rate", [25, 47])
def test_servers_of_a_station_holds_at_and_fails_at_match_their_runs(rate: int) -> None:
    """Instances of one-worker servers (10/s each) against ``rate`` arrivals per second:
    the search names the smallest count that holds and the largest that fails, adjacent,
    and runs at those two counts and one further on each side agree. Fewer servers
    than rate / 10 cannot hold."""
    key = "architecture.stations.server.instances"
    base = [*STATION, f"arrivals.rate={rate}"]
    a = search_runs(FailurePointSearch(1, 12, [3], integer=True), key, base, integer=True)
    assert a["status"] == "found" and a["larger_values"] == "hold"
    holds, fails = int(a["holds_at"]), int(a["fails_at"])
    assert holds == fails + 1 and fails >= math.ceil(rate / 10) - 1
    for n, failed in [(holds + 1, False), (holds, False), (fails, True), (fails - 1, True)]:
        assert simulate([*base, f"{key}={n}", "run.seed=3"]) == Judgement(failed), n


@pytest.mark.parametrize("instances", [2, 4])
def test_whole_arrival_rate_holds_at_and_fails_at_match_their_runs(instances: int) -> None:
    """Whole arrivals per second against ``instances`` one-worker servers: the largest
    rate that holds and the smallest that fails are adjacent, agree with their own runs,
    and the capacity (10/s a server) lies at or above the rate that held."""
    key = "arrivals.rate"
    base = [*STATION, f"architecture.stations.server.instances={instances}"]
    a = search_runs(FailurePointSearch(5, 80, [5], integer=True), key, base, integer=True)
    assert a["status"] == "found" and a["larger_values"] == "fail"
    holds, fails = int(a["holds_at"]), int(a["fails_at"])
    assert fails == holds + 1 and holds <= 10 * instances
    for r, failed in [(holds - 1, False), (holds, False), (fails, True), (fails + 1, True)]:
        assert simulate([*base, f"{key}={r}", "run.seed=5"]) == Judgement(failed), r


def test_continuous_rate_bracket_matches_its_runs() -> None:
    """A continuous rate: the bracket is narrower than rel_tol, held at one end and
    failed at the other when rerun, and lies near the capacity of 30/s."""
    key = "arrivals.rate"
    base = [*STATION, "architecture.stations.server.instances=3"]
    a = search_runs(FailurePointSearch(10, 60, [2], rel_tol=0.02), key, base, integer=False)
    assert a["status"] == "found" and not a["integer"]
    holds, fails = a["holds_at"], a["fails_at"]
    assert fails - holds == pytest.approx(a["width"]) and 0 < a["width"] <= 0.02 * fails
    assert 20 < holds < fails < 36
    assert simulate([*base, f"{key}={holds:.10g}", "run.seed=2"]) == Judgement(False)
    assert simulate([*base, f"{key}={fails:.10g}", "run.seed=2"]) == Judgement(True)


@pytest.mark.parametrize(("overrides", "why"), [
    (["arrivals=flash_crowd", "arrivals.audience=3000", "run.horizon_s=120"],
     "ends before the peak of the arrival curve"),
    (["arrivals=flash_crowd", "arrivals.audience=3000", "arrivals.t0_s=100",
      "arrivals.early_window_s=60",
      "run.horizon_s=110"], "ends before the peak of the arrival curve"),
    (["arrivals=constant", "arrivals.rate=0.2", "run.horizon_s=100"],
     "no SLO window was judged"),
])
def test_probes_that_cannot_judge_give_no_failure_point(overrides: list[str],
                                                        why: str) -> None:
    """A horizon short of the arrival peak, or too little load to judge one window:
    the runs hold their SLO trivially, and the search stops at the first round naming
    the probe and the reason instead of reporting a failure point."""
    base = ["architecture=single_station", "clients=patient", "run.report=false",
            "run.progress=false", *overrides]
    key, low, high = (("arrivals.audience", 1000, 3000) if "flash_crowd" in overrides[0]
                      else ("arrivals.rate", 0.2, 0.4))
    a = search_runs(FailurePointSearch(low, high, [1]), key,
                    [o for o in base if not o.startswith(key + "=")], integer=False)
    assert a["status"] == "not_judged" and a["value"] is None and a["holds_at"] is None
    assert len(a["probes"]) == 2  # one round: low and high, then it stopped
    first = a["not_judged"][0]
    assert first["value"] == low and any(why in r for r in first["reasons"])


# -- the report's reading of the answer --------------------------------------------------

@pytest.mark.parametrize(("threshold", "scenario", "decision"),
                         [(20, 24, "NO-GO"), (20, 30, "GO"), (5, 12, "GO")])
def test_report_names_both_sides_of_a_whole_number_knob(threshold: int, scenario: int,
                                                        decision: str) -> None:
    """Servers that fail below ``threshold``: the verdict says where it holds and where
    it fails, and judges the scenario's count against the smallest count that holds."""
    from sim.report import ReportSettings, headroom_verdict
    from sim.report.verdict import from_sweeper

    key = "architecture.stations.fanout.instances"
    s = FailurePointSearch(2, 40, [1, 2, 3], integer=True, direction="down")
    answer = {"param": key, **drive(s, lambda seed, v: v < threshold)}
    fp = from_sweeper(answer, [], {})
    assert (fp.holds_at, fp.fails_at, fp.integer) == (threshold, threshold - 1, True)
    v = headroom_verdict(fp, scenario, ReportSettings(headroom=1.5))
    assert v.decision == decision
    assert (f"the SLO holds at {threshold} and above and fails at {threshold - 1}"
            in v.reason)
    assert f"upper confidence bound, {threshold}," in v.reason
    assert fp.text.startswith(f"holds at {threshold} and above")


def test_report_names_both_sides_of_a_whole_load() -> None:
    from sim.report import ReportSettings, headroom_verdict
    from sim.report.verdict import from_sweeper

    s = FailurePointSearch(10, 400, [1, 2], integer=True)
    answer = {"param": "arrivals.rate", **drive(s, lambda seed, v: v > 150)}
    v = headroom_verdict(from_sweeper(answer, [], {}), 100, ReportSettings(headroom=1.5))
    assert v.decision == "GO"
    assert "the SLO holds at 150 and below and fails at 151" in v.reason


def test_report_gives_no_verdict_when_a_probe_could_not_judge() -> None:
    from sim.report import ReportSettings, headroom_verdict
    from sim.report.verdict import from_sweeper

    s = FailurePointSearch(1000, 3000, [1])
    why = "the horizon of 120 s ends before the peak of the arrival curve at t = 330 s"
    for p in s.next_probes():
        s.record(p, None, unjudged=[why])
    s.end_round()
    assert not s.next_probes()
    fp = from_sweeper({"param": "arrivals.audience", **s.answer()}, [], {})
    v = headroom_verdict(fp, 2000, ReportSettings())
    assert v.decision == "NO VERDICT" and fp.status == "not_judged"
    assert "probe at arrivals.audience = 1,000" in v.reason and why in v.reason
    assert fp.text == "not judged"


def sweeper(args: list[str], cwd: Path, timeout: float = 300
            ) -> subprocess.CompletedProcess[str]:
    """``sim -m hydra/sweeper=failure_point ARGS`` in a subprocess, run in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "sim", "-m", "hydra/sweeper=failure_point",
                           *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, check=False)


def test_sweeper_finds_the_capacity_of_one_station(tmp_path: Path) -> None:
    """M/M/10 with 0.1 s service (capacity c·μ = 100/s), clients with a 2 s deadline that
    servers honour: the SLO (99% of attempts succeed in every minute) starts to fail
    within 5% of c·μ. Probes run through the default (joblib) launcher."""
    out = tmp_path / "fp"
    proc = sweeper([
         "hydra.sweeper.param=arrivals.rate", "hydra.sweeper.low=40",
         "hydra.sweeper.high=160", "hydra.sweeper.replications=2",
         "hydra.sweeper.rel_tol=0.02", "architecture=single_station", "arrivals=constant",
         "clients=patient", "clients.timeout_s=2",
         "architecture.stations.server.drop_expired=true", "run.horizon_s=200",
         "run.report=false", "run.progress=false", f"hydra.sweep.dir={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads((out / "failure_point.json").read_text())
    assert answer["param"] == "arrivals.rate" and answer["finished"]
    assert answer["status"] == "found" and answer["larger_values"] == "fail"
    assert answer["value"] == pytest.approx(100.0, rel=0.05)
    lo, hi = answer["interval"]
    assert lo <= answer["value"] <= hi and hi - lo < 10
    assert answer["holds_at"] < answer["fails_at"] <= answer["holds_at"] + 0.05 * hi
    assert answer["width"] == pytest.approx(answer["fails_at"] - answer["holds_at"])
    assert answer["n"] == 2 and len(answer["probes"]) >= 8
    assert "arrivals.rate: the SLO holds at" in proc.stderr
    table = json.loads((out / "sweep.json").read_text())
    assert table["jobs"] == len(answer["probes"]) and table["failed"] == 0


def test_sweeper_needs_its_settings(tmp_path: Path) -> None:
    proc = sweeper(["hydra.sweeper.low=1", "run.progress=false",
                    f"hydra.sweep.dir={tmp_path / 'x'}"], tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "hydra.sweeper.param" in proc.stderr and "hydra.sweeper.high" in proc.stderr


def test_sweeper_refuses_a_sweep_of_another_key(tmp_path: Path) -> None:
    """The search varies one parameter: another key swept on the command line is bad
    input, one paragraph naming it, exit status 2, no traceback, no probe run."""
    out = tmp_path / "x"
    proc = sweeper(["hydra.sweeper.param=arrivals.rate", "hydra.sweeper.low=40",
                    "hydra.sweeper.high=160", "architecture=single_station",
                    "arrivals=constant", "run.horizon_s=100,200", "run.progress=false",
                    f"hydra.sweep.dir={out}"], tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    msg = proc.stderr.strip().splitlines()[-1]
    assert msg.startswith("sim: Invalid configuration") and "run.horizon_s=100,200" in msg
    assert "searches one parameter" in msg and "allowed: one value for run.horizon_s" in msg
    assert not (out / "failure_point.json").exists()


def test_sweeper_stops_at_probes_that_cannot_judge(tmp_path: Path) -> None:
    """A flash crowd whose peak (about t = 330 s) lies past the 120 s horizon: every
    probe holds trivially. The sweeper stops after the first round, failure_point.json
    names the probe and the reason, and the report gives no verdict."""
    from sim.report import ReportSettings, build_study, load_sweep

    out = tmp_path / "fp"
    proc = sweeper([
         "hydra.sweeper.param=arrivals.audience", "hydra.sweeper.low=1000",
         "hydra.sweeper.high=3000", "hydra.sweeper.replications=2",
         "architecture=single_station", "arrivals=flash_crowd", "arrivals.audience=2000",
         "clients=patient", "run.horizon_s=120", "run.report=false", "run.progress=false",
         f"hydra.sweep.dir={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads((out / "failure_point.json").read_text())
    assert answer["status"] == "not_judged" and answer["finished"]
    assert answer["value"] is answer["holds_at"] is answer["fails_at"] is None
    assert len(answer["probes"]) == 4 and len(answer["not_judged"]) == 4
    first = answer["not_judged"][0]
    assert first["value"] == 1000
    assert any("ends before the peak of the arrival curve" in r for r in first["reasons"])
    assert "could not judge the SLO" in proc.stderr
    verdict = build_study(load_sweep(out), ReportSettings()).verdict
    assert verdict.decision == "NO VERDICT"
    assert "probe at arrivals.audience = 1,000" in verdict.reason
    assert "ends before the peak of the arrival curve" in verdict.reason


def test_sweeper_says_instances_hold_at_the_smallest_allowed(tmp_path: Path) -> None:
    """Servers that hold at every count (5 requests per second for one-worker servers
    that serve 10), searched downwards from 2..6: the sweeper probes 1, the smallest
    count the config allows, never 0, and says it holds there with no failure point in
    range, in its last line and in failure_point.json; the command succeeds."""
    out = tmp_path / "fp"
    key = "architecture.stations.server.instances"
    proc = sweeper([
         f"hydra.sweeper.param={key}", "hydra.sweeper.low=2", "hydra.sweeper.high=6",
         "hydra.sweeper.direction=down", "hydra.sweeper.replications=1", *STATION,
         "arrivals.rate=5", f"hydra.sweep.dir={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads((out / "failure_point.json").read_text())
    assert sorted(p["value"] for p in answer["probes"]) == [1, 2, 6]
    assert answer["status"] == "holds_throughout" and answer["value"] is None
    assert answer["limit"]["side"] == "minimum" and answer["limit"]["value"] == 1
    assert answer["allowed"]["text"] == "an integer >= 1"
    said = (f"{key}: the SLO holds at the smallest allowed value 1: no failure point in "
            f"range (allowed: an integer >= 1)")
    assert answer["text"] == said and said in proc.stderr
    table = json.loads((out / "sweep.json").read_text())
    assert table["jobs"] == 3 and table["failed"] == 0
