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
