"""Metastability: the Bronson et al. twin presets, recovery and retry amplification.

``experiment=metastable_retry`` must stay down after its 10 s trigger and
``experiment=metastable_retry_recovers`` (jittered backoff and a retry budget) must
recover, in exact and in cohort mode; the recovery rule and the amplification are
checked on hand-made series.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.analysis.metastability import amplification, trigger_end, unique_clients
from sim.analysis.slo import recovery
from sim.cli import compose
from sim.config import to_config
from sim.run import Scenario

MODES = ("0", "0.1")
HORIZON_S = 100  # trigger 30-40 s; the twin recovers at ~72 s (10 s SLO windows)


def run_preset(name: str, mode: str, *extra: str) -> dict:
    cfg = to_config(compose([f"experiment={name}", "run.report=false", "run.progress=false",
                             f"run.horizon_s={HORIZON_S}", f"run.resolution_s={mode}",
                             *extra]))
    sc = Scenario(cfg)
    sc.run()
    r = sc.collect()
    return {"summary": r.summary, "ts": r.timeseries}


@pytest.mark.parametrize("mode", MODES)
def test_metastable_preset_stays_down_while_its_twin_recovers(mode: str) -> None:
    down = run_preset("metastable_retry", mode)
    up = run_preset("metastable_retry_recovers", mode)
    md, mu = down["summary"]["metastability"], up["summary"]["metastability"]
    assert md["trigger_end_s"] == mu["trigger_end_s"] == 40.0
    # The SLO held until the trigger started, in both.
    for run in (down, up):
        assert run["summary"]["slo"]["first_breach_s"] >= 30.0
    # Stays down: no good window after the trigger, load doubled, no goodput.
    assert md["stays_down"] is True and md["recovered"] is False
    assert md["recovered_s"] is None
    t = down["ts"]["t_s"]
    late = t > 60
    assert down["ts"]["legit.joined"][late].sum() < 0.01 * down["ts"]["legit.arrivals"][late].sum()
    assert down["ts"]["legit.attempts"][late].mean() > 500  # ~560 QPS: 280 and their retries
    assert 1.7 < md["amplification_end"] <= 2.0
    # The twin recovers and stays good: the budget keeps amplification near 1.
    assert mu["recovered"] is True and mu["stays_down"] is False
    assert 45.0 < mu["recovered_s"] < 90.0
    assert mu["amplification_end"] < 1.1
    assert up["summary"]["legit"]["retry_budget_denied"] > 0
    assert up["ts"]["legit.joined"][t > mu["recovered_s"]].mean() > 250


def test_trigger_override_and_sources() -> None:
    cfg = to_config(compose(["experiment=metastable_retry", "run.report=false"]))
    assert trigger_end(cfg) == 40.0  # the outage
    cfg = to_config(compose(["experiment=metastable_retry", "run.report=false",
                             "slo.trigger_end_s=55"]))
    assert trigger_end(cfg) == 55.0
    cfg = to_config(compose(["architecture=single_station", "run.report=false"]))
    assert trigger_end(cfg) is None  # no trigger: no metastability block
    cfg = to_config(compose(["run.report=false", "attack=l7_join_flood"]))
    assert trigger_end(cfg) == max(v.end_s for v in cfg.attack.vectors.values())


def test_recovery_rule() -> None:
    t = np.arange(1.0, 11.0)
    judged = np.ones(10, dtype=bool)
    breach = np.array([0, 0, 1, 1, 1, 0, 0, 1, 0, 0], dtype=bool)
    assert recovery(t, judged, breach, 4.0) == (True, 9.0)  # after the last breach at 8
    assert recovery(t, judged, breach, 9.5) == (True, 10.0)  # nothing breached since
    still = breach.copy()
    still[-1] = True
    assert recovery(t, judged, still, 4.0) == (False, None)  # down at the horizon
    quiet = judged.copy()
    quiet[8:] = False  # the last windows are not judged: they neither break nor make it
    assert recovery(t, quiet, breach, 4.0) == (False, None)
    assert recovery(t, quiet, breach, 9.5) == (None, None)


def test_amplification_by_hand() -> None:
    """Rows of 1 s, windows of 3 rows: one client attempting at 0.5 s and again at 1.5 s,
    another at 4.5 s only."""
    from sim.model.clients import Clients

    clients = Clients.__new__(Clients)
    clients.unique_delta = {}
    clients.track_unique(1.0, 3.0)
    clients._unique(0.5, -np.inf, 1)
    clients._unique(1.5, 0.5, 1)
    clients._unique(4.5, -np.inf, 1)
    attempts = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    unique = unique_clients(8, clients.unique_delta)
    assert unique.tolist() == [1, 1, 1, 1, 1, 1, 1, 0]
    amp = amplification(attempts, unique, 3)
    assert amp[:7].tolist() == [1, 2, 2, 1, 1, 1, 1]
    assert np.isnan(amp[7])
    # As the clients record it: first attempts counted per row, later ones one by one.
    clients.unique_delta = {}
    clients._unique(1.5, 0.5, 1)
    first = np.array([1, 0, 0, 0, 1, 0, 0, 0])
    assert unique_clients(8, clients.unique_delta, first, 3).tolist() == unique.tolist()
