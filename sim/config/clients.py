"""The clients: ``clients``, how listeners wait, retry, give up and listen.

Each attempt to join has a timeout (``timeout_s``); a failed attempt is retried after a
backoff given by ``retry.policy`` (sim/model/backoff.py: ``none``, ``fixed``,
``exponential``, ``full_jitter``, ``equal_jitter``, ``decorrelated_jitter``,
``immediate``) until ``retry.max_attempts`` or the client's ``patience_s`` runs out; a
share of impatient users presses join again after ``impatient_retry_s`` whatever the
policy. A joined listener stays for a session drawn from ``session`` and reconnects if
its server goes away. Three client-side policies can hold retries back (README "Client
policies", sim/model/client_policies.py): the AWS SDK's retry budget, Google SRE's
adaptive throttling and a circuit breaker, each shared by all clients or per client.

The retry policies read ``retry`` as follows (sim/model/backoff.py, sim/model/clients.py,
sim/resolution.py): ``none`` makes one attempt (``max_attempts`` still bounds the load the
run-time guard estimates), ``immediate`` retries at once and ``fixed`` after ``base_s``,
both ignoring ``cap_s`` (``immediate`` ignores ``base_s`` too), and the exponential and
jittered policies read ``base_s`` and ``cap_s``. Unlike the kinds of the other groups, a
policy that ignores ``base_s`` or ``cap_s`` does not refuse them: the policy is switched
with one key over settings made for another (a sweep comparing policies at one base and
cap; retries switched off with ``clients.retry.policy=none``), so ``base_s`` and
``cap_s`` are checked, and ``cap_s >= base_s`` required, for every policy but ``none``.

Ranges of the client-side policies are checked whether or not they are enabled, so a
bad value is an error even where it is unused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .architecture import Distribution, validate_service
from .errors import at_least, between, choice, declare, fail, non_negative, positive, share


class RetryPolicy(StrEnum):
    """Retry backoff policies (``clients.retry.policy``; sim/model/backoff.py)."""

    none = "none"
    fixed = "fixed"
    exponential = "exponential"
    full_jitter = "full_jitter"
    equal_jitter = "equal_jitter"
    decorrelated_jitter = "decorrelated_jitter"
    immediate = "immediate"


class Scope(StrEnum):
    """Whether a client-side policy is shared by all clients or kept per client."""

    shared = "shared"
    per_client = "per_client"


RETRY_POLICIES = tuple(p.value for p in RetryPolicy)
CLIENT_POLICY_SCOPES = tuple(s.value for s in Scope)


@dataclass
class RetryConfig:
    policy: RetryPolicy = RetryPolicy.full_jitter
    base_s: float = 1.0
    cap_s: float = 30.0
    max_attempts: int = 5


@dataclass
class SessionConfig:
    dist: Distribution = Distribution.lognormal
    mean_s: float = 1800.0
    cv: float = 1.0


@dataclass
class RetryBudgetConfig:
    """AWS SDK retry quota (README "Client policies")."""

    enabled: bool = False
    scope: Scope = Scope.shared  # shared | per_client
    capacity: float = 500.0  # tokens
    retry_cost: float = 5.0  # taken by a retry after a rejection
    timeout_retry_cost: float = 10.0  # taken by a retry after a timeout
    success_refund: float = 1.0  # given back by a success that paid nothing


@dataclass
class AdaptiveThrottlingConfig:
    """Google SRE client-side adaptive throttling (README "Client policies")."""

    enabled: bool = False
    scope: Scope = Scope.shared  # shared | per_client
    k: float = 2.0  # refuse with probability max(0, (requests - k*accepts) / (requests + 1))
    window_s: float = 120.0  # trailing window of requests and accepts


@dataclass
class CircuitBreakerConfig:
    """Closed / open / half-open circuit breaker (README "Client policies")."""

    enabled: bool = False
    scope: Scope = Scope.shared  # shared | per_client
    failure_ratio: float | None = 0.5  # open at this failure share (with min_requests)
    failure_count: int | None = None  # or at this many failures in the window
    min_requests: int = 20  # outcomes in the window before the ratio is judged
    window_s: float = 10.0
    cooldown_s: float = 5.0  # open this long, then half-open
    half_open_probes: int = 3  # requests let through half-open; all must succeed


@dataclass
class ClientsConfig:
    timeout_s: float | None = 5.0  # per attempt; None: wait forever
    retry: RetryConfig = field(default_factory=RetryConfig)
    impatient_share: float = 0.0  # retry after impatient_retry_s, without backoff
    impatient_retry_s: float = 1.0  # how soon an impatient user presses join again
    patience_s: float | None = 120.0  # abandon once this long since the first attempt
    session: SessionConfig = field(default_factory=SessionConfig)
    reconnect: bool = True  # listeners rejoin when their fanout server goes away
    retry_budget: RetryBudgetConfig = field(default_factory=RetryBudgetConfig)
    adaptive_throttling: AdaptiveThrottlingConfig = field(
        default_factory=AdaptiveThrottlingConfig)
    circuit_breaker: CircuitBreakerConfig = field(default_factory=CircuitBreakerConfig)


def validate_clients(c: ClientsConfig) -> None:
    positive("clients.timeout_s", c.timeout_s, optional=True)
    _validate_retry(c.retry)
    share("clients.impatient_share", c.impatient_share)
    non_negative("clients.impatient_retry_s", c.impatient_retry_s)
    positive("clients.patience_s", c.patience_s, optional=True)
    validate_service("clients.session", c.session.dist, c.session.mean_s, c.session.cv)
    _validate_client_policies(c)


def _validate_retry(r: RetryConfig) -> None:
    choice("clients.retry.policy", r.policy, RETRY_POLICIES)
    allowed = declare("clients.retry.max_attempts", at_least(1, "an integer >= 1"))
    if r.max_attempts < 1:
        raise fail("clients.retry.max_attempts", r.max_attempts, allowed)
    if r.policy != "none":
        positive("clients.retry.base_s", r.base_s)
        positive("clients.retry.cap_s", r.cap_s)
        if r.cap_s < r.base_s:
            raise fail("clients.retry.cap_s", r.cap_s, f">= clients.retry.base_s ({r.base_s})")


def _validate_client_policies(c: ClientsConfig) -> None:
    """Ranges of the retry budget, adaptive throttling and circuit breaker (enabled or not:
    a bad value is an error even where it is unused)."""
    b = c.retry_budget
    choice("clients.retry_budget.scope", b.scope, CLIENT_POLICY_SCOPES)
    positive("clients.retry_budget.capacity", b.capacity)
    non_negative("clients.retry_budget.retry_cost", b.retry_cost)
    non_negative("clients.retry_budget.timeout_retry_cost", b.timeout_retry_cost)
    non_negative("clients.retry_budget.success_refund", b.success_refund)
    t = c.adaptive_throttling
    choice("clients.adaptive_throttling.scope", t.scope, CLIENT_POLICY_SCOPES)
    positive("clients.adaptive_throttling.k", t.k)
    positive("clients.adaptive_throttling.window_s", t.window_s)
    _validate_circuit_breaker(c.circuit_breaker)


def _validate_circuit_breaker(k: CircuitBreakerConfig) -> None:
    key = "clients.circuit_breaker"
    choice(f"{key}.scope", k.scope, CLIENT_POLICY_SCOPES)
    if k.failure_ratio is None and k.failure_count is None:
        raise fail(f"{key}.failure_ratio", None,
                    "a number in (0, 1], or set failure_count (at least one of them)")
    allowed = declare(f"{key}.failure_ratio",
                      between(0, 1, "null or a number in (0, 1]", lo_open=True))
    if k.failure_ratio is not None and not (
            isinstance(k.failure_ratio, int | float) and 0 < k.failure_ratio <= 1):
        raise fail(f"{key}.failure_ratio", k.failure_ratio, allowed)
    allowed = declare(f"{key}.failure_count", at_least(1, "null or an integer >= 1"))
    if k.failure_count is not None and k.failure_count < 1:
        raise fail(f"{key}.failure_count", k.failure_count, allowed)
    allowed = declare(f"{key}.min_requests", at_least(1, "an integer >= 1"))
    if k.min_requests < 1:
        raise fail(f"{key}.min_requests", k.min_requests, allowed)
    positive(f"{key}.window_s", k.window_s)
    non_negative(f"{key}.cooldown_s", k.cooldown_s)
    allowed = declare(f"{key}.half_open_probes", at_least(1, "an integer >= 1"))
    if k.half_open_probes < 1:
        raise fail(f"{key}.half_open_probes", k.half_open_probes, allowed)
