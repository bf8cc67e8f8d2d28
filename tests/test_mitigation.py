"""Mitigations: a perfect detector leaves legit traffic as if there were no attack, a
blind one changes nothing, each mitigation does what its keys say (per-source buckets,
NAT-shared addresses, challenge pass rate and latency) and costs the station that runs
it. Both modes.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats

import sim
from sim.config import ConfigError
from sim.run import Result

BASE = ["run.report=false", "run.progress=false"]
MODES = {"exact": "run.resolution_s=0", "cohort": "run.resolution_s=0.1"}
# A small launch on spaces whose edge has room to spare and no tier-wide limits, so the
# flood can only hurt through what gets past the edge.
ROOMY_EDGE = [*BASE, "arrivals.audience=4000", "arrivals.t0_s=30", "arrivals.early_window_s=30",
              "arrivals.push_window_s=20", "arrivals.reaction_median_s=10",
              "arrivals.tail_tau_s=60", "run.horizon_s=300",
              "architecture.stations.edge.rate_limit_rps=null",
              "architecture.stations.edge.connections_per_instance=null",
              "architecture.stations.edge.service.dist=deterministic",
              "architecture.stations.auth.instances=1",
              "architecture.stations.auth.workers_per_instance=8",
              "architecture.stations.auth.queue_limit=200"]
# Enough invalid joins to swamp auth (1 instance × 8 workers at 8 ms: 1,000 rps).
FLOOD = ["attack=l7_join_flood", "attack.vectors.l7_join_flood.rate_rps=1500",
         "attack.vectors.l7_join_flood.start_s=20", "attack.vectors.l7_join_flood.end_s=70"]
WAF = ["mitigation=waf", "mitigation.waf.false_positive=0", "mitigation.waf.cost_s=0"]
CATCH_ALL = "mitigation.waf.detection.l7_join_flood=1"


def run(*overrides: str) -> Result:
    return sim.run(list(overrides))


def legit_view(res: Result) -> dict[str, object]:
    s = res.summary
    out: dict[str, object] = dict(s["legit"])
    out["join_latency_s"] = s["join_latency_s"]
    out["listeners"] = s["listeners"]
    for name in ("auth", "token_store", "join", "fanout"):
        out[name] = {k: s["stations"][name][k] for k in ("offered", "served", "rejected")}
    return out


def test_perfect_detection_leaves_legit_as_without_attack_exact() -> None:
    """Detection 1, no false positives, no cost: the flood is cut after the edge has read
    it; legit requests see the same edge (deterministic service, room to spare), so every
    legit figure is identical to the run without the attack."""
    clean = run(*ROOMY_EDGE, MODES["exact"])
    flood = run(*ROOMY_EDGE, MODES["exact"], *FLOOD)
    cut = run(*ROOMY_EDGE, MODES["exact"], *FLOOD, *WAF, CATCH_ALL)
    # The flood alone does hurt.
    assert flood.summary["legit"]["attempts_rejected"] > 100
    assert legit_view(cut) == legit_view(clean)
    v = cut.summary["attack"]["vectors"]["l7_join_flood"]
    assert v["mitigated"] == v["offered"] > 70_000
    assert cut.summary["mitigation"]["waf"]["attack_removed"] == v["offered"]
    assert cut.summary["mitigation"]["waf"]["legit_removed"] == 0


def test_perfect_detection_leaves_legit_as_without_attack_cohort() -> None:
    """Cohort mode: the edge's fluid server carries the flood's load, which moves the
    Erlang C delay of legit cohorts a little; everything else is the same."""
    clean = run(*ROOMY_EDGE, MODES["cohort"])
    cut = run(*ROOMY_EDGE, MODES["cohort"], *FLOOD, *WAF, CATCH_ALL)
    a, b = clean.summary, cut.summary
    for key in ("arrived", "joined", "abandoned", "attempts", "attempts_failed"):
        assert a["legit"][key] == b["legit"][key], key
    assert b["join_latency_s"]["p50"] == pytest.approx(a["join_latency_s"]["p50"], rel=0.02)
    assert b["mitigation"]["waf"]["legit_removed"] == 0


@pytest.mark.parametrize("mode", list(MODES))
def test_zero_detection_is_no_mitigation(mode: str) -> None:
    """Detection 0 and no false positives: every figure as without mitigation (the filter
    draws nothing, and its stream is its own)."""
    plain = run(*ROOMY_EDGE, MODES[mode], *FLOOD)
    blind = run(*ROOMY_EDGE, MODES[mode], *FLOOD, *WAF, "mitigation.waf.detection.l7_join_flood=0")
    a, b = plain.summary, blind.summary
    assert a["legit"] == b["legit"]
    assert a["attack"]["vectors"] == b["attack"]["vectors"]
    assert a["stations"]["auth"] == b["stations"]["auth"]
    assert b["mitigation"]["waf"]["attack_removed"] == 0
    # Full impact: the flood still hurts.
    assert a["legit"]["attempts_rejected"] > 100


@pytest.mark.parametrize("mode", list(MODES))
def test_detection_probability_and_false_positives(mode: str) -> None:
    """Cut shares match the configured probabilities within binomial intervals; legit
    false positives fail attempts the clients hear of and retry."""
    res = run(*ROOMY_EDGE, MODES[mode], *FLOOD, "mitigation=waf",
              "mitigation.waf.detection.l7_join_flood=0.7", "mitigation.waf.false_positive=0.1",
              "mitigation.waf.cost_s=0")
    v = res.summary["attack"]["vectors"]["l7_join_flood"]
    waf = res.summary["mitigation"]["waf"]
    _within(v["mitigated"], v["offered"], 0.7)
    lg = res.summary["legit"]
    legit_inspected = waf["inspected"] - v["offered"]
    _within(waf["legit_removed"], legit_inspected, 0.1)
    assert lg["attempts_rejected"] >= waf["legit_removed"]
    assert lg["attempts"] >= lg["arrived"] + waf["legit_removed"] - lg["abandoned"]


def _within(k: int, n: int, p: float, confidence: float = 0.999) -> None:
    z = stats.norm.ppf(0.5 + confidence / 2)
    assert abs(k / n - p) <= z * math.sqrt(p * (1 - p) / n) + 1 / n, (k, n, p)


@pytest.mark.parametrize("mode", list(MODES))
def test_inspection_cost_can_make_the_edge_the_bottleneck(mode: str) -> None:
    """A WAF that costs 200 ms of edge worker time per request (absurd, to make the point),
    under the flood, saturates the edge (256 workers: 1,280 rps at 200 ms) and legit
    joins suffer although every bot is caught."""
    cheap = run(*ROOMY_EDGE, MODES[mode], *FLOOD, *WAF, CATCH_ALL)
    dear = run(*ROOMY_EDGE, MODES[mode], *FLOOD, *WAF, CATCH_ALL,
               "mitigation.waf.cost_s=0.2", "architecture.stations.edge.queue_limit=2000")
    edge_cheap = cheap.summary["stations"]["edge"]
    edge_dear = dear.summary["stations"]["edge"]
    assert edge_dear["utilization_mean"] > 2 * edge_cheap["utilization_mean"]
    assert edge_dear["rejected"] > 0 == edge_cheap["rejected"]
    assert dear.summary["legit"]["attempts_rejected"] > cheap.summary["legit"]["attempts_rejected"]
    waf = dear.summary["mitigation"]["waf"]
    assert waf["cost_s"] == pytest.approx(0.2 * edge_dear["served"])
    assert cheap.summary["mitigation"]["waf"]["cost_s"] == 0


@pytest.mark.parametrize("mode", list(MODES))
def test_per_source_rate_limit_cuts_bots_above_the_limit(mode: str) -> None:
    """200 sources at 7.5 rps each against 5 rps per source (burst 10): about two thirds
    of the flood passes over the 50 s; legit clients with their own addresses pass."""
    res = run(*ROOMY_EDGE, MODES[mode], *FLOOD, "attack.vectors.l7_join_flood.sources=200",
              "mitigation=rate_limit_per_source",
              "mitigation.rate_limit_per_source.legit_nat_share=0",
              "mitigation.rate_limit_per_source.cost_s=0")
    v = res.summary["attack"]["vectors"]["l7_join_flood"]
    passed = v["offered"] - v["mitigated"]
    # Rate × window + burst, per source; the window as the filter sees it ends up to a
    # few edge service times after the last request was sent.
    allowed = 200 * (5 * 50.1 + 10)
    assert 0.97 * allowed <= passed <= allowed
    assert res.summary["mitigation"]["rate_limit_per_source"]["legit_removed"] == 0


@pytest.mark.parametrize("mode", list(MODES))
def test_carrier_nat_hurts_legit(mode: str) -> None:
    """Legit clients behind a few NAT addresses share their buckets and are cut like bots;
    they hear a rejection and retry."""
    res = run(*ROOMY_EDGE, MODES[mode], "mitigation=rate_limit_per_source",
              "mitigation.rate_limit_per_source.legit_nat_share=0.5",
              "mitigation.rate_limit_per_source.legit_nat_addresses=4",
              "mitigation.rate_limit_per_source.rps_per_source=2")
    removed = res.summary["mitigation"]["rate_limit_per_source"]["legit_removed"]
    lg = res.summary["legit"]
    assert removed > 300
    assert lg["attempts_rejected"] >= removed
    assert lg["arrived"] == lg["joined"] + lg["abandoned"] + lg["in_flight"]


@pytest.mark.parametrize("mode", list(MODES))
def test_challenge_pass_rate_and_latency(mode: str) -> None:
    """Legit users pass with legit_pass (binomial interval) and lose latency_s."""
    clean = run(*ROOMY_EDGE, MODES[mode])
    res = run(*ROOMY_EDGE, MODES[mode], "mitigation=challenge",
              "mitigation.challenge.legit_pass=0.9", "mitigation.challenge.latency_s=3",
              "mitigation.challenge.cost_s=0")
    ch = res.summary["mitigation"]["challenge"]
    _within(ch["legit_removed"], ch["inspected"], 0.1)
    # Clients who passed at once joined 3 s later than without the page.
    p50 = res.summary["join_latency_s"]["p50"] - clean.summary["join_latency_s"]["p50"]
    assert p50 == pytest.approx(3.0, abs=0.2)


@pytest.mark.parametrize("mode", list(MODES))
def test_challenge_stops_bots(mode: str) -> None:
    res = run(*ROOMY_EDGE, MODES[mode], *FLOOD, "mitigation=challenge",
              "mitigation.challenge.default_bot_pass=0.05", "mitigation.challenge.latency_s=1")
    v = res.summary["attack"]["vectors"]["l7_join_flood"]
    _within(v["mitigated"], v["offered"], 0.95)
    assert v["in_flight"] == 0


@pytest.mark.parametrize(("override", "key"), [
    ("mitigation.waf.detection={ddos: 0.5}", "mitigation.waf.detection.ddos"),
    ("mitigation.waf.false_positive=1.5", "mitigation.waf.false_positive"),
    ("mitigation.challenge.legit_pass=-0.1", "mitigation.challenge.legit_pass"),
    ("mitigation.rate_limit_per_source.rps_per_source=0",
     "mitigation.rate_limit_per_source.rps_per_source"),
    ("mitigation.scrubbing.capacity_gbps=0", "mitigation.scrubbing.capacity_gbps"),
    ("mitigation.station=gateway", "mitigation.station"),
])
def test_bad_mitigation_keys_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        run(*BASE, "mitigation=all", override)


@pytest.mark.parametrize("preset", ["none", "waf", "rate_limit_per_source", "challenge",
                                    "scrubbing", "all"])
def test_presets_compose_and_run(preset: str) -> None:
    res = run(*BASE, f"mitigation={preset}", "attack=mixed", "arrivals.audience=2000",
              "run.horizon_s=60", "run.resolution_s=0.5", "run.metrics_tick_s=5",
              "arrivals.t0_s=10", "arrivals.early_window_s=10")
    m = res.summary["mitigation"]
    assert m["name"] == preset
    on = {k for k, v in m.items() if isinstance(v, dict)}
    expected = ({"scrubbing", "rate_limit_per_source", "waf", "challenge"} if preset == "all"
                else set() if preset == "none" else {preset})
    assert on == expected


@pytest.mark.parametrize("mode", list(MODES))
def test_all_engages_the_challenge_only_under_attack(mode: str) -> None:
    """``mitigation=all``: the challenge page engages while the WAF and the rate limit
    flag an attack, so a launch with no attack meets no page and loses no user to it."""
    calm = run(*ROOMY_EDGE, MODES[mode], "mitigation=all")
    ch = calm.summary["mitigation"]["challenge"]
    assert ch["engaged_s"] == 0 and ch["inspected"] == 0 and ch["legit_removed"] == 0
    assert calm.summary["slo"]["met"]
    flood = run(*ROOMY_EDGE, MODES[mode], *FLOOD, "mitigation=all")
    ch = flood.summary["mitigation"]["challenge"]
    # The flood runs 50 s; the page stays on while it is in the trailing 30 s window.
    assert 40 <= ch["engaged_s"] <= 50 + 30 + 5
    assert ch["inspected"] > 0


def test_challenge_always_meets_every_first_attempt() -> None:
    """``engage: always`` (the ``challenge`` preset) shows the page with no attack."""
    res = run(*ROOMY_EDGE, MODES["cohort"], "mitigation=challenge")
    ch = res.summary["mitigation"]["challenge"]
    assert "engaged_s" not in ch
    assert ch["inspected"] >= res.summary["legit"]["arrived"] - res.summary["legit"]["in_flight"]


def test_challenge_under_attack_needs_a_trigger() -> None:
    with pytest.raises(ConfigError, match=r"mitigation\.challenge\.engage"):
        run(*BASE, "mitigation=challenge", "mitigation.challenge.engage=under_attack")
