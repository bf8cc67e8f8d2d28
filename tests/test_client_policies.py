"""Client policies: retry budget, adaptive throttling, circuit breaker.

Each policy against a hand-worked trajectory (the policy objects on their own), then in
small simulations whose outcome can be worked out by hand or from theory, in exact and
cohort mode; conservation with every policy on; cohort against exact with a policy on.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from queueing import erlang_b
from scipy.optimize import brentq

from sim.cli import compose
from sim.config import ConfigError, to_config
from sim.model.client_policies import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    AdaptiveThrottle,
    CircuitBreaker,
    RetryBudget,
    Tag,
)
from sim.run import Result, Scenario

MODES = ("0", "0.1")  # run.resolution_s: exact mode, cohort mode

BASE = ["architecture=single_station", "arrivals=constant", "run.report=false",
        "run.progress=false", "clients.impatient_share=0", "clients.patience_s=null",
        "clients.reconnect=false"]


def run(*overrides: str) -> tuple[Scenario, Result]:
    sc = Scenario(to_config(compose([*BASE, *overrides])))
    sc.run()
    return sc, sc.collect()


# -- retry budget ---------------------------------------------------------------------------

def test_token_bucket_arithmetic() -> None:
    """The AWS SDK quota, step by step: 500 tokens, 5 per retry, 10 after a timeout,
    a success gives back what its retry paid, or 1."""
    b = RetryBudget(500, 5, 10, 1, per_client=False)
    assert b.acquire(30, timed_out=True, spent=0) == (30, 10)  # 300 taken
    assert b.tokens == 200
    assert b.acquire(50, timed_out=False, spent=0) == (40, 5)  # only 40 fit
    assert b.tokens == 0
    assert b.acquire(1, timed_out=False, spent=0) == (0, 5)
    b.refund(3, paid=10)  # three successes after paid timeout retries
    assert b.tokens == 30
    b.refund(4, paid=0)  # four first-attempt successes
    assert b.tokens == 34
    assert b.acquire(4, timed_out=True, spent=0) == (3, 10)
    assert b.tokens == 4
    b.refund(1000, paid=5)
    assert b.tokens == 500  # never above the capacity
    # Per client: the user's own bucket, which only drains during one join.
    p = RetryBudget(500, 5, 10, 1, per_client=True)
    assert p.acquire(1, timed_out=True, spent=490) == (1, 10)
    assert p.acquire(1, timed_out=True, spent=495) == (0, 10)
    assert p.tokens == 500  # no shared state


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("failure", "cost"), [("rejected", 5), ("timed_out", 10)])
def test_shared_budget_pays_for_exactly_capacity_over_cost_retries(mode: str, failure: str,
                                                                    cost: int) -> None:
    """A station that is down for the whole run: no success ever refunds, so the 500
    tokens pay for exactly 500 / cost retries, and every other retry is denied."""
    extra = (["architecture.stations.server.queue_limit=0"] if failure == "rejected"
             else ["clients.timeout_s=1"])
    _, r = run("arrivals.rate=50", "run.horizon_s=20", f"run.resolution_s={mode}",
               "clients.retry.policy=fixed", "clients.retry.base_s=0.5",
               "clients.retry.max_attempts=2", "clients.retry_budget.enabled=true",
               "+architecture.stations.server.outages=[{start_s: 0, end_s: 1000, "
               "capacity_share: 0.0}]", *extra)
    lg = r.summary["legit"]
    assert lg["retries"] == 500 // cost
    assert lg[f"attempts_{failure}"] == lg["attempts_failed"]
    # Every first-attempt failure asked for its one retry: granted or denied. The
    # granted ones (all in the first seconds) failed too, at max_attempts, and were
    # abandoned without asking: failures = first attempts + retries.
    assert lg["retry_budget_denied"] == lg["attempts_failed"] - 2 * lg["retries"]
    assert lg["retry_budget_denied"] > 500
    assert r.timeseries["legit.retry_budget_denied"].sum() == lg["retry_budget_denied"]
    assert lg["arrived"] == lg["joined"] + lg["abandoned"] + lg["in_flight"]


@pytest.mark.parametrize("mode", MODES)
def test_per_client_budget_rarely_binds(mode: str) -> None:
    """Per client, 500 tokens pay for 50 timeout retries: a user making 5 attempts
    never runs out, so the run is the same as without a budget."""
    common = ("arrivals.rate=50", "run.horizon_s=20", f"run.resolution_s={mode}",
              "clients.timeout_s=1", "clients.retry.max_attempts=5",
              "+architecture.stations.server.outages=[{start_s: 0, end_s: 1000, "
              "capacity_share: 0.0}]")
    _, on = run(*common, "clients.retry_budget.enabled=true",
                "clients.retry_budget.scope=per_client")
    _, off = run(*common)
    assert on.summary["legit"]["retry_budget_denied"] == 0
    for key in ("attempts", "retries", "abandoned", "joined"):
        assert on.summary["legit"][key] == off.summary["legit"][key]
    # With a quota of 25 tokens a user pays for two timeout retries, not a third.
    _, small = run(*common, "clients.retry_budget.enabled=true",
                   "clients.retry_budget.scope=per_client", "clients.retry_budget.capacity=25")
    lg = small.summary["legit"]
    assert lg["retry_budget_denied"] > 0
    assert lg["attempts"] <= 3 * lg["arrived"]


# -- adaptive throttling --------------------------------------------------------------------

def test_throttle_probability_by_hand() -> None:
    """max(0, (requests − k·accepts) / (requests + 1)) over a trailing window of 10 s."""
    th = AdaptiveThrottle(k=2.0, window_s=10.0, per_client=False)
    assert th.probability(0.0) == 0.0
    th.record(0.05, 100)
    assert th.probability(0.1) == pytest.approx(100 / 101)
    th.accepted(1.0, 30)
    assert th.probability(1.0) == pytest.approx((100 - 60) / 101)
    th.accepted(2.0, 20)  # 2 × 50 accepts cover the 100 requests
    assert th.probability(2.0) == 0.0
    th.record(5.0, 50)
    assert th.probability(5.0) == pytest.approx((150 - 100) / 151)
    # 10 s after the first requests they leave the window (buckets of 0.1 s).
    assert th.probability(10.15) == pytest.approx(max(0.0, (50 - 100) / 51))
    assert th.probability(12.05) == pytest.approx(50 / 51)  # the accepts left too
    assert th.probability(15.05) == 0.0  # nothing left
    # Per client: no accepts (a success ends the join), the user's earlier attempts.
    pc = AdaptiveThrottle(k=2.0, window_s=10.0, per_client=True)
    assert pc.probability(3.0, attempt=1, born_s=0.0) == 0.0
    assert pc.probability(3.0, attempt=3, born_s=0.0) == pytest.approx(2 / 3)
    # Earlier attempts spread over 20 s, half of them in the 10 s window.
    assert pc.probability(20.0, attempt=5, born_s=0.0) == pytest.approx(2 / 3)


def test_throttle_measured_against_the_formula() -> None:
    """Exact mode, 200 requests/s (no retries) to an Erlang loss station (5 workers,
    mean 0.05 s, no queue): the share of requests refused locally matches the formula
    applied to the requests and accepts the run recorded in each trailing 10 s window,
    and the fixed point of the formula with Erlang B for the accepts."""
    lam, c, mean, window, k = 200.0, 5, 0.05, 10.0, 2.0
    _, r = run(f"arrivals.rate={lam}", "run.horizon_s=200", "clients=patient",
               f"architecture.stations.server.workers_per_instance={c}",
               f"architecture.stations.server.service.mean_s={mean}",
               "architecture.stations.server.queue_limit=0",
               "clients.adaptive_throttling.enabled=true",
               f"clients.adaptive_throttling.window_s={window}")
    ts = r.timeseries
    requests, accepts = ts["legit.arrivals"], ts["legit.joined"]
    span = int(window)  # 1 s ticks

    def trailing(x: np.ndarray) -> np.ndarray:  # the window before each tick
        cum = np.concatenate([[0.0], np.cumsum(x)])
        idx = np.arange(len(x))
        return cum[idx] - cum[np.maximum(0, idx - span)]

    p_formula = np.maximum(0.0, (trailing(requests) - k * trailing(accepts))
                           / (trailing(requests) + 1))
    after = ts["t_s"] > 40
    expected = float((requests * p_formula)[after].sum())
    measured = float(ts["legit.throttled"][after].sum())
    se = math.sqrt(float((requests * p_formula * (1 - p_formula))[after].sum()))
    assert abs(measured - expected) < 4 * se + 0.02 * expected, (measured, expected, se)

    def gap(p: float) -> float:
        sent = lam * (1 - p)
        acc = sent * (1 - erlang_b(c, sent * mean))
        return p - max(0.0, (lam * window - k * acc * window) / (lam * window + 1))

    p_theory = brentq(gap, 0.0, 0.999)  # 0.156
    p_run = measured / float(requests[after].sum())
    # The throttle sends less while the station is full (its accepts dip), so the
    # station blocks a little less than Erlang B for Poisson arrivals says: the run's
    # share sits slightly below the fixed point (0.149 against 0.156 on this seed).
    assert p_run == pytest.approx(p_theory, abs=0.015)
    assert r.summary["legit"]["throttled"] == int(ts["legit.throttled"].sum())


# -- circuit breaker ------------------------------------------------------------------------

def test_breaker_state_sequence_by_hand() -> None:
    br = CircuitBreaker(failure_ratio=None, failure_count=3, min_requests=1, window_s=10.0,
                        cooldown_s=5.0, probes=2, per_client=False)
    g = br.gen
    assert br.admit(0.0, 10) == 10
    br.outcome(1.0, g, 5, 0)
    br.outcome(1.0, g, 0, 2)
    assert br.state == CLOSED
    br.outcome(2.0, g, 0, 1)  # the third failure in the window
    assert br.state == OPEN
    br.outcome(2.5, g, 0, 5)  # answers to requests sent while closed: ignored
    assert br.opened == 1
    assert br.admit(6.9, 4) == 0  # open for 5 s
    assert br.admit(7.0, 3) == 2  # half-open: two probes, the third refused
    assert br.state == HALF_OPEN
    g = br.gen
    assert br.admit(7.1, 1) == 0
    br.outcome(7.5, g, 1, 0)
    assert br.state == HALF_OPEN
    br.outcome(7.6, g, 1, 0)  # both probes succeeded
    assert br.state == CLOSED
    g = br.gen
    br.outcome(8.0, g, 0, 2)
    br.outcome(19.0, g, 0, 2)  # the failures at 8.0 left the window
    assert br.state == CLOSED
    br.outcome(19.5, g, 0, 1)
    assert br.state == OPEN
    assert br.admit(24.5, 5) == 2
    g = br.gen
    br.outcome(24.6, g, 0, 1)  # a probe failed: open again for 5 s
    assert br.state == OPEN
    assert br.admit(29.5, 1) == 0
    assert [s for _, s in br.transitions] == [OPEN, HALF_OPEN, CLOSED, OPEN, HALF_OPEN, OPEN]
    assert [t for t, _ in br.transitions] == [2.0, 7.0, 7.6, 19.5, 24.5, 24.6]
    # On a failure share: at least min_requests outcomes, then the share decides.
    r = CircuitBreaker(failure_ratio=0.5, failure_count=None, min_requests=10,
                       window_s=10.0, cooldown_s=1.0, probes=1, per_client=False)
    r.outcome(0.0, r.gen, 0, 9)
    assert r.state == CLOSED
    r.outcome(0.1, r.gen, 11, 0)
    r.outcome(0.2, r.gen, 0, 1)  # 10 of 21
    assert r.state == CLOSED
    r.outcome(0.3, r.gen, 0, 1)  # 11 of 22
    assert r.state == OPEN


def test_breaker_in_an_outage() -> None:
    """Exact mode, the station down (rejecting) from 10 s to 20 s: the breaker opens
    after the outage starts (once failures outweigh the successes in its 5 s window),
    half-opens every 2 s cooldown and reopens on a failed probe while the outage lasts,
    and closes only after it; refused attempts are not sent."""
    sc, r = run("arrivals.rate=50", "run.horizon_s=40", "clients.retry.policy=fixed",
                "clients.retry.base_s=0.5", "clients.retry.max_attempts=5",
                "architecture.stations.server.queue_limit=0",
                "+architecture.stations.server.outages=[{start_s: 10, end_s: 20, "
                "capacity_share: 0.0}]",
                "clients.circuit_breaker.enabled=true", "clients.circuit_breaker.window_s=5",
                "clients.circuit_breaker.cooldown_s=2")
    assert sc.clients.policies is not None
    br = sc.clients.policies.breaker
    assert br is not None
    trans = br.transitions
    assert trans[0][1] == OPEN and 10.0 < trans[0][0] < 13.0
    allowed = {CLOSED: {OPEN}, OPEN: {HALF_OPEN}, HALF_OPEN: {OPEN, CLOSED}}
    state = CLOSED
    opened_at = 0.0
    for t, new in trans:
        assert new in allowed[state], trans
        if new == HALF_OPEN:
            assert opened_at + 2.0 <= t < opened_at + 2.5  # the next request after cooldown
        if new == OPEN:
            opened_at = t
        if new == CLOSED:
            assert t >= 20.0  # no probe succeeds during the outage
        state = new
    assert any(s == CLOSED for _, s in trans)
    lg = r.summary["legit"]
    assert lg["breaker_rejected"] > 0 and lg["throttled"] == 0
    # Nothing refused was sent: the station saw the attempts, not the refusals.
    assert r.summary["stations"]["server"]["offered"] == lg["attempts"]


def test_per_client_breaker_opens_after_the_users_own_failures() -> None:
    """Per client, failure_count 2, cooldown 10 s, retries 1 s apart, 4 attempts: a
    user's first two attempts are sent and fail, which opens its breaker; its third and
    fourth come while it is open, are refused, and the user abandons."""
    _, r = run("arrivals.rate=20", "run.horizon_s=10", "clients.retry.policy=fixed",
               "clients.retry.base_s=1", "clients.retry.max_attempts=4",
               "architecture.stations.server.queue_limit=0",
               "+architecture.stations.server.outages=[{start_s: 0, end_s: 1000, "
               "capacity_share: 0.0}]",
               "clients.circuit_breaker.enabled=true", "clients.circuit_breaker.scope=per_client",
               "clients.circuit_breaker.failure_count=2", "clients.circuit_breaker.cooldown_s=10")
    lg = r.summary["legit"]
    finished = lg["abandoned"]
    assert finished > 100
    # Each user: at most two attempts sent, and refusals only after both failed.
    assert 2 * finished <= lg["attempts"] <= 2 * lg["arrived"]
    assert 2 * finished <= lg["breaker_rejected"] <= 2 * lg["arrived"]
    assert lg["breaker_rejected"] <= 2 * (lg["attempts"] - lg["arrived"]) + 2 * finished


# -- all together -------------------------------------------------------------------------

ALL_ON = ("clients.retry_budget.enabled=true", "clients.adaptive_throttling.enabled=true",
          "clients.adaptive_throttling.window_s=10", "clients.circuit_breaker.enabled=true",
          "clients.circuit_breaker.window_s=5", "clients.circuit_breaker.cooldown_s=2")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scope", ["shared", "per_client"])
def test_conservation_with_every_policy_on(mode: str, scope: str) -> None:
    scopes = [f"clients.{p}.scope={scope}" for p in
              ("retry_budget", "adaptive_throttling", "circuit_breaker")]
    _, r = run("arrivals.rate=80", "run.horizon_s=40", f"run.resolution_s={mode}",
               "clients.timeout_s=1", "clients.retry.max_attempts=4",
               "clients.retry.base_s=0.2", "clients.impatient_share=0.2",
               "clients.impatient_retry_s=0.5", "clients.patience_s=20",
               "architecture.stations.server.queue_limit=30",
               "+architecture.stations.server.outages=[{start_s: 10, end_s: 20, "
               "capacity_share: 0.1}]", *ALL_ON, *scopes)
    lg = r.summary["legit"]
    ts = r.timeseries
    assert lg["arrived"] == lg["joined"] + lg["abandoned"] + lg["in_flight"]
    assert min(lg[k] for k in ("joined", "abandoned", "in_flight", "attempts")) >= 0
    assert lg["attempts_failed"] == lg["attempts_rejected"] + lg["attempts_timed_out"]
    refused = lg["throttled"] + lg["breaker_rejected"]
    # Every failure, sent or refused, is followed by a retry or by abandonment (a
    # denied retry abandons); retries still waiting at the horizon are in flight.
    assert lg["attempts_failed"] + refused == lg["retries"] + lg["abandoned"]
    # Each attempt was a first attempt or a retry that came due, sent or refused.
    assert lg["attempts"] + refused <= lg["arrived"] + lg["retries"]
    assert lg["attempts"] + refused >= lg["arrived"] - lg["in_flight"]
    assert r.summary["stations"]["server"]["offered"] == lg["attempts"]  # refusals not sent
    for key in ("throttled", "breaker_rejected", "retry_budget_denied"):
        assert ts[f"legit.{key}"].sum() == lg[key]
    assert ts["legit.refused_locally"].sum() == refused
    if scope == "shared":
        assert lg["throttled"] > 0 and lg["breaker_rejected"] > 0


@pytest.mark.parametrize("policy", ["throttle", "budget"])
def test_cohort_agrees_with_exact_with_a_policy_on(policy: str) -> None:
    """300 requests/s to a station that serves 100/s (queue of 20): adaptive throttling
    (k = 2) settles where the station's 100 accepts/s let 200 requests/s through, a
    third refused; a shared budget lets ~10% retries through after timeouts."""
    extra = (("clients=patient", "clients.timeout_s=2", "clients.adaptive_throttling.enabled=true",
              "clients.adaptive_throttling.window_s=10") if policy == "throttle" else
             ("clients.timeout_s=1", "clients.retry.max_attempts=3",
              "clients.retry_budget.enabled=true"))
    out = {}
    for mode in MODES:
        _, r = run("arrivals.rate=300", "run.horizon_s=60", f"run.resolution_s={mode}",
                   "architecture.stations.server.workers_per_instance=10",
                   "architecture.stations.server.service.mean_s=0.1",
                   "architecture.stations.server.queue_limit=20", *extra)
        out[mode] = r.summary["legit"]
    ex, co = out["0"], out["0.1"]
    assert co["join_ratio"] == pytest.approx(ex["join_ratio"], abs=0.03)
    assert co["attempts_per_client"] == pytest.approx(ex["attempts_per_client"], rel=0.05)
    if policy == "throttle":
        for lg in (ex, co):
            assert lg["throttled"] / lg["arrived"] == pytest.approx(1 / 3, abs=0.04)
        assert co["throttled"] == pytest.approx(ex["throttled"], rel=0.08)
    else:
        assert co["retry_budget_denied"] == pytest.approx(ex["retry_budget_denied"], rel=0.08)
        assert ex["retry_budget_denied"] > 0


# -- config -------------------------------------------------------------------------------

@pytest.mark.parametrize(("override", "key"), [
    ("clients.retry_budget.scope=everyone", "clients.retry_budget.scope"),
    ("clients.retry_budget.capacity=0", "clients.retry_budget.capacity"),
    ("clients.adaptive_throttling.k=-1", "clients.adaptive_throttling.k"),
    ("clients.adaptive_throttling.window_s=0", "clients.adaptive_throttling.window_s"),
    ("clients.circuit_breaker.failure_ratio=1.5", "clients.circuit_breaker.failure_ratio"),
    ("clients.circuit_breaker.half_open_probes=0", "clients.circuit_breaker.half_open_probes"),
    ("slo.trigger_end_s=-1", "slo.trigger_end_s"),
])
def test_bad_policy_config_names_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        to_config(compose([*BASE, override]))
    with pytest.raises(ConfigError, match="failure_ratio"):
        to_config(compose([*BASE, "clients.circuit_breaker.failure_ratio=null"]))


def test_tag_key_is_what_merges() -> None:
    a, b = Tag(10, 20, 1, 5.0, prev_s=1.0), Tag(10, 20, 1, 5.0, prev_s=2.0)
    assert a.key() == b.key()  # the previous attempt's time is averaged, not matched
