"""Client-side overload policies: a retry budget, adaptive throttling, a circuit breaker.

Each policy is off unless ``enabled``; each has a ``scope``:

- ``shared``: one state for the whole legit population, as an app backend or gateway that
  calls the join path (and retries) on behalf of many users keeps one SDK client;
- ``per_client``: one state per user for its own join (and its own reconnects), the
  semantics of an SDK embedded in each user's app. A user makes only a handful of
  attempts, so per-client budgets and breakers rarely bind.

**Retry budget** (AWS SDK standard retry mode, the retry quota): a bucket of
``capacity`` tokens (500). Retrying after a timeout takes ``timeout_retry_cost`` (10),
after any other failure ``retry_cost`` (5); a retry the bucket cannot pay for is not made
and the client gives up (abandons; a reconnecting listener is lost). A success gives back
what the last paid retry of that request took, or ``success_refund`` (1) if it paid
nothing, up to ``capacity``. Only retries of attempts that were sent pay: a retry after a
local refusal (throttle, open breaker) sent nothing and costs nothing, and an impatient
user pressing join again starts a new request, which is free. Per client the bucket only
drains (a success ends the join), so it binds only after ``capacity / cost`` retries.

**Adaptive throttling** (Google SRE book, "Handling Overload"): each request is refused
locally with probability ``max(0, (requests − k·accepts) / (requests + 1))``, where
``requests`` counts the requests the client attempted (refused ones included) and
``accepts`` those the backend answered with success, both over the trailing
``window_s`` (kept in 100 buckets, so the window slides in steps of ``window_s / 100``).
Per client, ``accepts`` is 0 (a success ends the join) and ``requests`` are the user's
earlier attempts of this join within the window (taken as spread evenly since its first
attempt when that was longer ago than the window), so within the window its ``j``-th
attempt is refused with probability ``(j−1)/j``.

**Circuit breaker**: closed, it counts outcomes of sent requests over the trailing
``window_s`` and opens when ``failure_count`` failures are reached or, with at least
``min_requests`` outcomes, when the failure share reaches ``failure_ratio``; open, it
refuses every request for ``cooldown_s``; then half-open, it lets ``half_open_probes``
requests through and refuses the rest: any probe failing opens it again, all probes
succeeding closes it (with an empty window). Only outcomes of requests sent in the
current state count (answers to requests sent before it opened are ignored). Per client,
the breaker counts the user's own failures of this join (its window is the join): it
opens at the ``failure_count``-th (or, on a ratio, the ``min_requests``-th: a lone user's
failure share is 1), refuses attempts for ``cooldown_s``, and the next attempt after
that is the single probe.

A refused attempt (breaker, then throttle, checked in that order) is not sent and fails
at once; the client's retry, backoff and abandonment rules then apply as to any failed
attempt (the refusal uses up one of ``max_attempts``).

Both client models (exact and cohort mode) call the same methods with a count ``n`` (1
in exact mode); cohort mode draws binomial counts where exact mode draws one uniform.
The state a request carries from attempt to attempt is a ``Tag``.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from .. import series as cols
from ..config import ClientsConfig
from ..engine import TickRecorder
from ..summary import Policies

INF = math.inf
WINDOW_BUCKETS = 100
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Tag:
    """What one request chain carries from attempt to attempt.

    ``paid``: tokens the last paid retry took (refunded on success); ``spent``: tokens
    the chain took in all (per-client budget); ``fails``: failures the per-client
    breaker counted; ``open_until``: when the per-client breaker half-opens (0: never
    opened); ``prev_s``: start of the chain's last sent attempt (-inf: none), for the
    amplification's unique clients; ``gen``: the shared breaker's generation when this
    attempt was let through (-1: not counted), ``probe``: a per-client probe.
    """

    __slots__ = ("fails", "gen", "open_until", "paid", "prev_s", "probe", "spent")

    def __init__(self, paid: float = 0.0, spent: float = 0.0, fails: int = 0,
                 open_until: float = 0.0, prev_s: float = -INF) -> None:
        self.paid = paid
        self.spent = spent
        self.fails = fails
        self.open_until = open_until
        self.prev_s = prev_s
        self.gen = -1
        self.probe = False

    def key(self) -> tuple[float, float, int, float]:
        """The state that must match for two chains to merge (cohort mode)."""
        return (self.paid, self.spent, self.fails, self.open_until)


class Window:
    """Counts over a trailing window, in ``WINDOW_BUCKETS`` buckets."""

    __slots__ = ("buckets", "n", "totals", "width")

    def __init__(self, window_s: float, n: int = 2) -> None:
        self.width = window_s / WINDOW_BUCKETS
        self.n = n
        self.buckets: deque[list[float]] = deque()  # [index, count 0, count 1, ...]
        self.totals = [0.0] * n

    def _advance(self, now: float) -> list[float]:
        k = int(now / self.width)
        b = self.buckets
        while b and b[0][0] <= k - WINDOW_BUCKETS:
            old = b.popleft()
            for i in range(self.n):
                self.totals[i] -= old[i + 1]
        if not b or b[-1][0] != k:
            b.append([float(k)] + [0.0] * self.n)
        return b[-1]

    def add(self, now: float, i: int, x: float) -> None:
        self._advance(now)[i + 1] += x
        self.totals[i] += x

    def sums(self, now: float) -> list[float]:
        self._advance(now)
        return self.totals

    def clear(self) -> None:
        self.buckets.clear()
        self.totals = [0.0] * self.n


class RetryBudget:
    """The AWS SDK retry quota (see the module docstring)."""

    def __init__(self, capacity: float, retry_cost: float, timeout_retry_cost: float,
                 success_refund: float, per_client: bool) -> None:
        self.capacity = capacity
        self.retry_cost = retry_cost
        self.timeout_retry_cost = timeout_retry_cost
        self.success_refund = success_refund
        self.per_client = per_client
        self.tokens = capacity

    def acquire(self, n: int, timed_out: bool, spent: float) -> tuple[int, float]:
        """Of ``n`` retries, how many are paid for, and the cost of each."""
        cost = self.timeout_retry_cost if timed_out else self.retry_cost
        if self.per_client:
            return (n if spent + cost <= self.capacity + 1e-9 else 0), cost
        k = min(n, int((self.tokens + 1e-9) // cost)) if cost > 0 else n
        self.tokens -= k * cost
        return k, cost

    def refund(self, n: int, paid: float) -> None:
        if not self.per_client:
            self.tokens = min(self.capacity,
                              self.tokens + n * (paid if paid > 0 else self.success_refund))


class AdaptiveThrottle:
    """Google SRE client-side adaptive throttling (see the module docstring)."""

    def __init__(self, k: float, window_s: float, per_client: bool) -> None:
        self.k = k
        self.window_s = window_s
        self.per_client = per_client
        self.window = Window(window_s)  # 0: requests, 1: accepts

    def probability(self, now: float, attempt: int = 1, born_s: float = 0.0) -> float:
        """The refusal probability of a request attempted now."""
        if self.per_client:
            prior = float(attempt - 1)
            age = now - born_s
            if age > self.window_s and prior > 0:
                prior = prior * self.window_s / age
            return prior / (prior + 1.0)
        requests, accepts = self.window.sums(now)
        return max(0.0, (requests - self.k * accepts) / (requests + 1.0))

    def record(self, now: float, n: int) -> None:
        if not self.per_client:
            self.window.add(now, 0, n)

    def accepted(self, now: float, n: int) -> None:
        if not self.per_client:
            self.window.add(now, 1, n)


class CircuitBreaker:
    """A circuit breaker (see the module docstring)."""

    def __init__(self, failure_ratio: float | None, failure_count: int | None,
                 min_requests: int, window_s: float, cooldown_s: float, probes: int,
                 per_client: bool) -> None:
        self.failure_ratio = failure_ratio
        self.failure_count = failure_count
        self.min_requests = min_requests
        self.cooldown_s = cooldown_s
        self.probes = probes
        self.per_client = per_client
        self.window = Window(window_s)  # 0: successes, 1: failures
        self.state = CLOSED
        self.gen = 0  # bumped at every change of state
        self.open_until = 0.0
        self.probes_left = 0
        self.probes_ok = 0
        self.opened = 0  # times it opened
        self.transitions: list[tuple[float, str]] = []  # (time, new state)
        # Per client: failures that open it (a lone user's failure share is 1).
        self.trip_count = (failure_count if failure_count is not None else
                           max(1, min_requests))

    def _set(self, state: str, now: float) -> None:
        self.state = state
        self.gen += 1
        self.transitions.append((now, state))
        if state == OPEN:
            self.opened += 1
            self.open_until = now + self.cooldown_s
        elif state == HALF_OPEN:
            self.probes_left = self.probes
            self.probes_ok = 0
        else:
            self.window.clear()

    def admit(self, now: float, n: int) -> int:
        """How many of ``n`` requests may be sent now (shared scope)."""
        if self.state == CLOSED:
            return n
        if self.state == OPEN:
            if now < self.open_until:
                return 0
            self._set(HALF_OPEN, now)
        k = min(n, self.probes_left)
        self.probes_left -= k
        return k

    def outcome(self, now: float, gen: int, ok: int, failed: int) -> None:
        """Outcomes of requests let through in generation ``gen`` (shared scope)."""
        if gen != self.gen:
            return  # sent in an earlier state
        if self.state == CLOSED:
            if ok:
                self.window.add(now, 0, ok)
            if failed:
                self.window.add(now, 1, failed)
                self._check(now)
        elif self.state == HALF_OPEN:
            if failed:
                self._set(OPEN, now)
                return
            self.probes_ok += ok
            if self.probes_ok >= self.probes:
                self._set(CLOSED, now)

    def _check(self, now: float) -> None:
        ok, failed = self.window.sums(now)
        total = ok + failed
        if (self.failure_count is not None and failed >= self.failure_count) or (
                self.failure_ratio is not None and total >= self.min_requests
                and failed >= self.failure_ratio * total):
            self._set(OPEN, now)


class ClientPolicies:
    """The enabled policies of one client population, and what they refused."""

    def __init__(self, cfg: ClientsConfig, gen: np.random.Generator, resolution_s: float = 0.0
                 ) -> None:
        rb, at, cb = cfg.retry_budget, cfg.adaptive_throttling, cfg.circuit_breaker
        self.budget = (RetryBudget(rb.capacity, rb.retry_cost, rb.timeout_retry_cost,
                                   rb.success_refund, rb.scope == "per_client")
                       if rb.enabled else None)
        self.throttle = (AdaptiveThrottle(at.k, at.window_s, at.scope == "per_client")
                         if at.enabled else None)
        self.breaker = (CircuitBreaker(cb.failure_ratio, cb.failure_count, cb.min_requests,
                                       cb.window_s, cb.cooldown_s, cb.half_open_probes,
                                       cb.scope == "per_client")
                        if cb.enabled else None)
        self.gen = gen
        self.resolution_s = resolution_s
        self.retry_budget_denied = 0
        self.throttled = 0
        self.breaker_rejected = 0

    @staticmethod
    def active(cfg: ClientsConfig) -> bool:
        return (cfg.retry_budget.enabled or cfg.adaptive_throttling.enabled
                or cfg.circuit_breaker.enabled)

    def _draw(self, n: int, p: float) -> int:
        if p <= 0.0:
            return 0
        if n == 1:
            return 1 if self.gen.random() < p else 0
        return int(self.gen.binomial(n, min(1.0, p)))

    def admit(self, now: float, n: int, tag: Tag, attempt: int, born_s: float
              ) -> tuple[int, int]:
        """Of ``n`` requests about to be sent: (refused by the breaker, by the throttle)."""
        by_breaker = 0
        br = self.breaker
        if br is not None:
            if br.per_client:
                if now < tag.open_until:
                    by_breaker = n
                else:
                    tag.probe = tag.open_until > 0
            else:
                let = br.admit(now, n)
                by_breaker = n - let
                tag.gen = br.gen
        by_throttle = 0
        th = self.throttle
        if th is not None and by_breaker < n:
            by_throttle = self._draw(n - by_breaker, th.probability(now, attempt, born_s))
            th.record(now, n - by_breaker)
            if by_throttle and br is not None and not br.per_client and br.state == HALF_OPEN:
                br.probes_left += by_throttle  # probes the throttle kept back: not used up
        self.breaker_rejected += by_breaker
        self.throttled += by_throttle
        return by_breaker, by_throttle

    def success(self, now: float, n: int, tag: Tag) -> None:
        if self.budget is not None:
            self.budget.refund(n, tag.paid)
        if self.throttle is not None:
            self.throttle.accepted(now, n)
        br = self.breaker
        if br is not None and not br.per_client:
            br.outcome(now, tag.gen, n, 0)

    def failure(self, now: float, n: int, tag: Tag | None) -> None:
        """``n`` sent requests failed (rejected or timed out)."""
        br = self.breaker
        if br is not None and not br.per_client and tag is not None:
            br.outcome(now, tag.gen, 0, n)

    def retry(self, now: float, n: int, tag: Tag, sent: bool, timed_out: bool,
              start_s: float, impatient: bool) -> tuple[int, Tag]:
        """Of ``n`` failed requests about to retry, how many may; and the next tag.

        ``sent``: the failed attempt was sent (False: refused locally).
        """
        paid, spent = tag.paid, tag.spent
        b = self.budget
        if b is not None and sent and not impatient:
            k, cost = b.acquire(n, timed_out, spent)
            if k < n:
                self.retry_budget_denied += n - k
            n = k
            paid, spent = cost, spent + cost
        fails, open_until = tag.fails, tag.open_until
        br = self.breaker
        if br is not None and br.per_client and sent:
            if tag.probe:
                open_until = self._open_until(now + br.cooldown_s)
            else:
                fails += 1
                if fails >= br.trip_count:
                    fails = 0
                    open_until = self._open_until(now + br.cooldown_s)
        return n, Tag(paid, spent, fails, open_until, start_s if sent else tag.prev_s)

    def _open_until(self, t: float) -> float:
        # Cohort mode: on the tick grid, so chains that failed in one tick still merge.
        dt = self.resolution_s
        return math.ceil(t / dt - 1e-9) * dt if dt > 0 else t

    def summary(self) -> Policies:
        out: Policies = {}
        if self.budget is not None:
            out["retry_budget"] = {"scope": "per_client" if self.budget.per_client
                                   else "shared", "tokens_end": self.budget.tokens}
        if self.throttle is not None:
            out["adaptive_throttling"] = {"scope": "per_client" if self.throttle.per_client
                                          else "shared"}
        if self.breaker is not None:
            br = self.breaker
            out["circuit_breaker"] = {"scope": "per_client" if br.per_client else "shared",
                                      "opened": br.opened,
                                      "state_end": br.state if not br.per_client else None}
        return out

    def register_series(self, rec: TickRecorder) -> None:
        """Their columns of the time series: what each refused, and all refused locally."""
        rec.add(cols.RETRY_BUDGET_DENIED, "count", lambda: self.retry_budget_denied)
        rec.add(cols.THROTTLED, "count", lambda: self.throttled)
        rec.add(cols.BREAKER_REJECTED, "count", lambda: self.breaker_rejected)
        rec.add(cols.REFUSED_LOCALLY, "count", lambda: self.throttled + self.breaker_rejected)
