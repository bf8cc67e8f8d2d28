"""Bundles in cohort mode: retries of several states moving as one cohort.

A bundle's ``mix`` counts its requests per retry state; a split must draw the part's
counts as picking requests at random would (multivariate hypergeometric), and a run in
overload, where bundles carry most of the traffic, must keep the clients' books.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim.cli import compose
from sim.config import to_config
from sim.engine import Cohort
from sim.model.cohort_clients import CohortClients
from sim.run import Scenario


def test_split_draws_the_mix_at_random() -> None:
    gen = np.random.default_rng(7)
    firsts = []
    for _ in range(2000):
        c = Cohort("legit", 1000, 0.0, 0.0)
        c.mix = np.array([600, 300, 100], dtype=np.int64)
        c.mix_gen = gen
        part = c.split(500)
        assert part.mix is not None and c.mix is not None
        assert int(part.mix.sum()) == part.count == 500
        assert int(c.mix.sum()) == c.count == 500
        assert (part.mix >= 0).all() and (c.mix >= 0).all()
        firsts.append(int(part.mix[0]))
    # Hypergeometric: mean 300, variance 500 * 0.6 * 0.4 * 500 / 999 = 60.06.
    m, v = float(np.mean(firsts)), float(np.var(firsts))
    assert abs(m - 300) < 4 * (60.06 / 2000) ** 0.5
    assert 50 < v < 70


def test_split_without_mix_has_none() -> None:
    c = Cohort("legit", 10, 0.0, 0.0)
    assert c.split(3).mix is None and c.mix is None


def test_bundles_keep_the_books(monkeypatch: pytest.MonkeyPatch) -> None:
    """An overloaded join tier with retries and impatient clients: most retries go out
    in bundles, and every attempt is still accounted for once."""
    made = []
    orig = CohortClients._attempt_bundle

    def counting(self: CohortClients, cs: list[Cohort]) -> None:
        made.append(len(cs))
        orig(self, cs)

    monkeypatch.setattr(CohortClients, "_attempt_bundle", counting)
    partial = []
    orig_deadline = CohortClients._on_deadline

    def checking(self: CohortClients, ev: Any) -> None:
        t = ev._value
        if t.states is not None and not t.done and t.pending > 0:
            # What a bundle's deadline fails per state must add up to what is unanswered.
            assert int(t.left.sum()) == t.pending
            partial.append(t.pending < t.template.count)
        orig_deadline(self, ev)

    monkeypatch.setattr(CohortClients, "_on_deadline", checking)
    cfg = to_config(compose([
        "experiment=x_spaces_2024", "arrivals.audience=30000", "arrivals.t0_s=10",
        "arrivals.early_share=0", "run.horizon_s=240", "run.resolution_s=0.5",
        "attack.vectors.l7_join_flood.rate_rps=0",
        "architecture.stations.join.max_rate_rps=20",
        "architecture.stations.join.queue_limit=200", "run.report=false",
        "run.progress=false"]))
    sc = Scenario(cfg)
    sc.run()
    s = sc.collect().summary["legit"]
    assert made and max(made) >= 4  # several retry states released in one tick
    assert any(partial)  # bundles timed out with some of their parts answered
    assert s["arrived"] == s["joined"] + s["abandoned"] + s["in_flight"]
    # Every attempt is answered once (joined or failed) or still unanswered at the end.
    assert 0 <= s["attempts"] - s["joined"] - s["attempts_failed"] <= s["in_flight"]
    assert s["attempts_failed"] == s["attempts_rejected"] + s["attempts_timed_out"]
    # Retries are counted when scheduled; those still waiting at the horizon are not
    # attempts yet.
    assert s["arrived"] <= s["attempts"] <= s["arrived"] + s["retries"]
    assert s["attempts"] <= 5 * s["arrived"]
    assert s["joined"] > 0 and s["abandoned"] > 0


# -- first attempts in the bundle, failures gathered per instant, retries past their tick --

def _overloaded(*extra: str) -> Scenario:
    return Scenario(to_config(compose([
        "experiment=x_spaces_2024", "arrivals.audience=30000", "arrivals.t0_s=10",
        "arrivals.early_share=0", "run.horizon_s=120", "run.resolution_s=0.5",
        "attack.vectors.l7_join_flood.rate_rps=0",
        "architecture.stations.join.max_rate_rps=20",
        "architecture.stations.join.queue_limit=200", "run.report=false",
        "run.progress=false", *extra])))


def _bundled_attempts(monkeypatch: pytest.MonkeyPatch, sc: Scenario) -> list[list[int]]:
    made: list[list[int]] = []
    orig = CohortClients._attempt_bundle

    def recording(self: CohortClients, cs: list[Cohort]) -> None:
        made.append(sorted(c.attempt for c in cs))
        orig(self, cs)

    monkeypatch.setattr(CohortClients, "_attempt_bundle", recording)
    sc.run()
    return made


def test_first_attempts_ride_in_the_ticks_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _bundled_attempts(monkeypatch, _overloaded())
    # Impatient and patient first attempts together, and with the tick's retries.
    assert any(m[:2] == [1, 1] for m in made)
    assert any(m[0] == 1 and m[-1] > 1 for m in made)


@pytest.mark.parametrize("extra", [
    ["architecture.stations.edge.retry_ratio_max=0.5"],
    ["mitigation=challenge"],
])
def test_first_attempts_go_apart_where_retries_are_told_apart(
        monkeypatch: pytest.MonkeyPatch, extra: list[str]) -> None:
    """A server-side retry ratio or a challenge's clearance treats a cohort by its attempt
    number; a bundle of first attempts and retries would hide the retries from it."""
    sc = _overloaded(*extra)
    assert isinstance(sc.clients, CohortClients) and not sc.clients.bundle_births
    made = _bundled_attempts(monkeypatch, sc)
    assert made and all(1 not in m for m in made)


def _clients_at(sc: Scenario, t: float) -> CohortClients:
    cl = sc.clients
    assert isinstance(cl, CohortClients)
    sc.env.run(until=t)
    return cl


def test_failures_of_one_instant_are_spread_with_one_draw() -> None:
    """Two parts of the same attempt failing at one instant: one spread, whose retries
    keep the count and the first two moments of the births, each tick's moved by how
    much later than due it goes out (the tick's middle against the failure plus the
    tick's mid delay; a tick already gone, deferred to the next)."""
    sc = _overloaded("run.seed=3")
    cl = _clients_at(sc, 0.75)
    now = sc.env.now
    a = Cohort("legit", 300, 0.2, now, now + 5, 2, cl)
    b = Cohort("legit", 100, 0.6, now, now + 5, 2, cl)
    b.born_var = 0.01
    before = {k: dict(v) for k, v in cl._due.items()}
    cl._fail_n(a, 300, now)
    cl._fail_n(b, 100, now)
    assert len(cl._fails_now) == 1  # one entry: same attempt, flags and backoff
    sc.env.run(until=now + 1e-6)
    assert not cl._fails_now
    key = (3, False, False, None)
    added = [(k, acc) for k, bucket in cl._due.items() for kk, acc in bucket.items()
             if kk == key and kk not in before.get(k, {})]
    n = sum(acc.count for _, acc in added)
    assert n == 400
    mean = (300 * 0.2 + 100 * 0.6) / 400
    var = (300 * (0.2**2) + 100 * (0.01 + 0.6**2)) / 400 - mean**2
    dt = cl.dt
    base, ticks_, _, delays = cl._backoff(a, now)
    shifts: dict[int, list[float]] = {}
    for r, delay in zip(ticks_, delays, strict=True):
        k = base + r
        k += 1 if k * dt < now else 0  # gone already: with the next tick's
        shifts.setdefault(k, []).append(k * dt + dt / 2 - (now + delay))
    for k, acc in added:
        born = acc.born_w / acc.count
        lo, hi = min(shifts[k]), max(shifts[k])
        assert mean + lo - 1e-9 <= born <= mean + hi + 1e-9, (k, born, shifts[k])
        spread = acc.born_m2 / acc.count - born**2
        if lo == hi:  # one source: the births' own moments, moved
            assert born == pytest.approx(mean + lo)
            assert spread == pytest.approx(var)
        else:
            assert spread >= var - 1e-9
    # Full jitter at attempt 2 (base 1 s): delays up to 2 s, so 4 to 5 ticks of 0.5 s.
    ticks = sorted(k for k, _ in added)
    assert ticks[0] >= int(now // 0.5) and ticks[-1] <= int((now + 2.0) // 0.5)


def test_a_retry_past_its_ticks_release_waits_for_the_next_tick() -> None:
    sc = _overloaded("run.seed=4")
    cl = _clients_at(sc, 20.25)  # mid-tick: tick 40's retries went out at 20.0
    now = sc.env.now
    cur = int(now // 0.5)
    assert cur not in cl._due
    c = Cohort("legit", 5000, 10.0, now, now + 5, 2, cl)  # 2 s backoff: 4 ticks
    cl._fail_n(c, 5000, now)
    sc.env.run(until=now + 1e-6)
    assert cur not in cl._due and cur + 1 in cl._due
    # A backoff shorter than DEFER_TICKS ticks goes out at once, as its own bundle.
    released: list[tuple[float, int]] = []
    orig = cl._release

    def recording(ev: Any) -> None:
        released.append((sc.env.now, ev._value))
        orig(ev)

    cl._release_cbs = (recording,)
    now = sc.env.now
    short = Cohort("legit", 5000, 10.0, now, now + 5, 2, cl)
    short.impatient = True
    cl.impatient_retry_s = 0.1  # due at 20.35, in the current tick
    cl._longest_of.clear()
    cl._bo_cache.clear()
    cl._fail_n(short, 5000, now)
    sc.env.run(until=now + 1e-6)
    assert released == [(now, cur)]


def test_a_route_splits_a_bundle_per_state_independently() -> None:
    """auth sends 90% to join and 10% to token_store (a cache miss): each state's
    requests take the branch independently, so each state keeps 90% on average."""
    sc = _overloaded("run.seed=5")
    auth = sc.topology.stations["auth"]
    got: list[Cohort] = []
    for st in sc.topology.stations.values():
        st.offer = got.append  # type: ignore[method-assign]
    shares = []
    for _ in range(400):
        got.clear()
        c = Cohort("legit", 1000, 0.0, 0.0)
        c.mix = np.array([700, 300], dtype=np.int64)
        c.mix_gen = np.random.default_rng(0)
        auth.forward(c)
        assert len(got) == 2 and sum(p.count for p in got) == 1000
        assert all(p.mix is not None and int(p.mix.sum()) == p.count for p in got)
        to_join = got[0].mix
        assert to_join is not None
        shares.append((to_join[0] / 700, to_join[1] / 300))
    first, second = np.mean(shares, axis=0)
    # Binomial(700, 0.9) / 700 has sd 0.0113; the mean of 400 draws, 0.00057.
    assert first == pytest.approx(0.9, abs=0.003)
    assert second == pytest.approx(0.9, abs=0.005)
