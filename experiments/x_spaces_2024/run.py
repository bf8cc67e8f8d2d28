"""Rerun the x_spaces_2024 study: does capacity for 8M listeners survive the 17:00 surge?

    python experiments/x_spaces_2024/run.py                 # the full study (see README)
    python experiments/x_spaces_2024/run.py --smoke --out D  # a small, fast version into D

Every figure comes from runs of ``experiment=x_spaces_2024`` (and its HLS variant
``experiment=x_spaces_2024_hls``) through the Python API ``sim.run``, in parallel
processes, on seeds 1, 2 and 3 (``run.seed``; common random numbers: every variant of a
seed sees the same crowd and the same flood), each table cell the mean [min–max] over the
seeds. Six groups of runs:

- counterfactuals at the published inputs (8M audience, the claimed 1M rps flood): the
  crowd alone, the crowd with the attack, each with retries without jitter and with no
  retries at all;
- the uncertain inputs swept as ranges: audience 1.1M-16M × attack 0-1M rps;
- levers (pre-warming, waiting room, retry budget, HLS over a CDN, deadline propagation,
  load shedding, a queue no deeper than the timeout, a sharded room key, a WAF against
  the flood, and two combinations), each on the crowd alone and on the crowd with the
  attack;
- the hot room key's write rate (an assumption of the preset) against the audience;
- hypotheses: on HLS over a CDN with a crowd fitted to the two reported counts (~100,000
  listeners at 17:00, ~1.3M at 18:40 PT), one variant per failure hypothesis (one tier at
  half the crowd's peak demand on it, three quarters as a check, or the flood), on
  several seeds, each judged against "not available" at 17:00 and the two counts;
- capacity: the failure-point sweeper per tier with the crowd at the top of its range
  (the smallest size that holds the SLO; the margin and lead time on top);

plus ``sim-attribute`` on the published scenario, seed 1 (which of the attack, the
retries and the room key's write limit are needed for the failure). Writes, in the output
folder (this folder by default): ``results.csv`` and ``results.json`` (one row per run),
``timeline.png``, ``sweep.png``, ``levers.png``, ``hot_key.png``,
``attribution/attribution.{json,md}``, ``capacity/*.json`` (each search's command and
answer), and ``findings.md``, which also replaces the block between the ``results`` markers in
README.md when the output folder is this folder.

"Outage" in the tool's terms: from the first breach of the SLO (60 s windows: 99% of
join attempts succeed, p99 join latency at most 10 s) to its recovery (the first good
window after the last breach); "not available": the minutes whose 60 s window saw most
join attempts fail (success ratio below 50%).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # run from a clone without installing

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import sim  # noqa: E402
from experiments.study import (  # noqa: E402
    execute,
    expected_room,
    mean_min_max,
    range_cell,
    read_results,
    update_readme,
    write_results,
)
from sim import series  # noqa: E402
from sim.provenance import code_digest  # noqa: E402

PRESET = "experiment=x_spaces_2024"
QUIET = ["run.report=false", "run.progress=false"]
NO_ATTACK = ["attack.vectors.l7_join_flood.rate_rps=0"]
NO_JITTER = ["clients.retry.policy=exponential"]
NO_RETRIES = ["clients.retry.policy=none", "clients.impatient_share=0"]
T0_S = 600.0  # arrivals.t0_s of the preset: 17:00 PT
CLAIMED_AUDIENCE = 8e6
CLAIMED_ATTACK = 1e6
HOT_KEY_RPS = 5000.0  # architecture.stations.join.max_rate_rps of the preset
TIMEOUT_S = 5.0  # clients.timeout_s
# sim-attribute's own factor for the room key: off lifts its write limit out of the way.
HOT_KEY_FACTOR = "hot_key=architecture.stations.join.max_rate_rps=1e6"
OUTAGE_RANGE_MIN = (30.0, 50.0)  # what "a ~40-minute outage" is taken to mean
UNAVAILABLE_BELOW = 0.5  # success ratio under which the Space is "not available"

AUDIENCES = [1.1e6, 2e6, 4e6, 8e6, 12e6, 16e6]
ATTACKS = [0.0, 1e5, 3e5, 1e6]
HOT_KEYS = [2500.0, 5000.0, 10000.0]
HOT_KEY_AUDIENCES = [2e6, 4e6, 8e6, 16e6]

COUNTERFACTUALS: list[tuple[str, list[str]]] = [
    ("crowd alone", NO_ATTACK),
    ("crowd + claimed attack", []),
    ("crowd, retries without jitter", NO_ATTACK + NO_JITTER),
    ("crowd + attack, retries without jitter", NO_JITTER),
    ("crowd, no retries", NO_ATTACK + NO_RETRIES),
    ("crowd + attack, no retries", NO_RETRIES),
]

# (lever, overrides): each applied to the crowd alone and to the crowd with the attack.
LEVERS: list[tuple[str, list[str]]] = [
    ("none (the preset)", []),
    ("pre-warming: 4x edge, auth, token store, join", [
        "architecture.stations.edge.instances=160", "architecture.stations.auth.instances=160",
        "architecture.stations.token_store.instances=32",
        "architecture.stations.join.instances=80"]),
    ("waiting room, 4,000 admitted/s", [
        "architecture.waiting_room.enabled=true", "architecture.waiting_room.admit_rps=4000",
        "architecture.waiting_room.burst=4000"]),
    ("retry budget (AWS SDK quota, shared)", ["clients.retry_budget.enabled=true"]),
    ("HLS over a CDN, no room-key write", ["experiment=x_spaces_2024_hls"]),
    ("deadline propagation (join drops expired)", [
        "architecture.stations.join.drop_expired=true"]),
    ("load shedding: join queue age > 4 s", ["architecture.stations.join.shed_queue_age_s=4"]),
    ("join queue <= timeout (20,000 = 4 s)", ["architecture.stations.join.queue_limit=20000"]),
    ("room key sharded 4x (20,000 writes/s)", ["architecture.stations.join.max_rate_rps=20000"]),
    ("WAF at the edge (mitigation=waf)", ["mitigation=waf"]),
    ("waiting room + WAF", [
        "architecture.waiting_room.enabled=true", "architecture.waiting_room.admit_rps=4000",
        "architecture.waiting_room.burst=4000", "mitigation=waf"]),
    ("HLS over a CDN + WAF", ["experiment=x_spaces_2024_hls", "mitigation=waf"]),
]

# Time series kept for the timeline figure (per metrics tick).
SERIES = ["t_s", "legit.arrivals", "legit.attempts", "legit.joined", "join.queue",
          "slo.success_ratio", "listeners", "fanout.slots", "edge.rejected", "auth.rejected",
          "join.rejected"]
# Runs drawn in timeline.png: name -> (group, label).
TIMELINE_RUNS = {
    "crowd alone": ("counterfactual", "crowd alone"),
    "crowd + claimed attack": ("counterfactual", "crowd + claimed attack"),
    "crowd + attack, retries without jitter": ("counterfactual",
                                               "crowd + attack, retries without jitter"),
    "crowd alone, audience 16M": ("sweep", "16M, 0k rps"),
}
TIMELINE = list(TIMELINE_RUNS)


def overrides_of(extra: list[str]) -> list[str]:
    """The full override list of one run: the preset (or the HLS preset), then ``extra``."""
    if any(o.startswith("experiment=") for o in extra):
        return [o for o in extra if o.startswith("experiment=")] + QUIET + [
            o for o in extra if not o.startswith("experiment=")]
    return [PRESET, *QUIET, *extra]


def cache_path(job: tuple[Any, ...]) -> Path:
    """Where ``cached_run`` keeps the figures of ``job`` (its folder is ``job[3]``), by the
    job and the code that runs it (``sim.provenance``: a changed engine runs it again)."""
    key = hashlib.sha1(json.dumps([*job[:3], code_digest()]).encode()).hexdigest()[:16]
    return Path(job[3]) / f"{key}.json"


def cached_run(job: tuple[tuple[str, ...], tuple[str, ...], bool, str | None]) -> dict[str, Any]:
    """``one_run``, kept in the folder ``job[3]`` (if given) under a hash of the job, so a
    rerun of the study with ``--cache`` reuses the scenarios it already ran."""
    if job[3] is None:
        return one_run(job[:3])
    path = cache_path(job)
    if path.exists():
        return json.loads(path.read_text())["result"]
    res = one_run(job[:3])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"job": job[:3], "result": res}))
    return res


def one_run(job: tuple[tuple[str, ...], tuple[str, ...], bool]) -> dict[str, Any]:
    """Run one scenario; return its figures (and the time series if asked)."""
    overrides, smoke, keep_series = list(job[0]), list(job[1]), job[2]
    t0 = time.perf_counter()
    res = sim.run(overrides + smoke)
    s, ts = res.summary, res.timeseries
    lg, slo = s["legit"], s["slo"]
    t = np.asarray(ts["t_s"], dtype=float)
    dt = float(np.median(np.diff(t)))
    horizon = float(t[-1])
    ratio = np.asarray(ts["slo.success_ratio"], dtype=float)
    judged = np.asarray(ts["slo.judged"], dtype=float) > 0
    unavailable = judged & (np.nan_to_num(ratio, nan=1.0) < UNAVAILABLE_BELOW)
    breach, rec = slo["first_breach_s"], slo.get("recovered_s")
    if breach is None:
        outage = 0.0
    elif rec is None:  # still down at the horizon: a lower bound
        outage = horizon - breach
    else:
        outage = rec - breach
    peak_arrivals = float(np.max(ts["legit.arrivals"])) / dt
    slots = ts.get("fanout.slots")
    row: dict[str, Any] = {
        "arrived": lg["arrived"], "joined": lg["joined"], "abandoned": lg["abandoned"],
        "join_ratio": round(lg["join_ratio"] or 0.0, 4),
        "attempts_per_client": round(lg["attempts_per_client"] or 0.0, 3),
        "slo_met": slo["met"], "bottleneck": slo["bottleneck"],
        "first_breach_s": breach, "recovered_s": rec,
        "recovered": breach is None or rec is not None,
        "outage_min": round(outage / 60, 2),
        "late_start_min": round(max(0.0, (rec if rec is not None else horizon) - T0_S) / 60, 2)
        if breach is not None else 0.0,
        "breached_min": round(slo["breached_s"] / 60, 2),
        "unavailable_min": round(float(unavailable.sum()) * dt / 60, 2),
        "join_p99_s": round(s["join_latency_s"]["p99"], 2) if s["join_latency_s"]["p99"]
        is not None else None,
        "peak_arrivals_per_s": round(peak_arrivals),
        "peak_listeners": int(np.max(ts["listeners"])),
        "listener_slots": int(np.max(slots)) if slots is not None else None,
        "join_peak_queue": s["stations"]["join"]["peak_queue"],
        "join_wasted": s["stations"]["join"].get("wasted"),
        "attack_served": s["attack"]["served"],
        "mode": s["resolution"]["mode"], "tick_s": s["resolution"]["tick_s"],
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    # The room at the two reported counts (the listeners at the end of the metrics tick
    # ending there; None past the horizon) and "not available" at 17:00.
    listeners = np.asarray(ts[series.LISTENERS_END], dtype=float)
    for name, at in (("listeners_start", START_S), ("listeners_later", LATER_S)):
        i = int(np.searchsorted(t, at - 1e-9))
        row[name] = int(listeners[i]) if i < len(t) and abs(t[i] - at) < dt else None
    span = (t > WINDOW_1700[0]) & (t <= WINDOW_1700[1])
    row["unavailable_1700_min"] = round(float((unavailable & span).sum()) * dt / 60, 2)
    row["unavailable_1700"] = row["unavailable_1700_min"] >= UNAVAILABLE_1700_MIN
    polling: dict[str, Any] = dict(s.get("polling") or {})
    row["polls_failed_share"] = polling.get("failed_share")  # HLS: polls not served
    for st in PEAK_STATIONS:  # the peak offered rate per metrics tick
        col = series.station(st, series.OFFERED)
        row[f"peak_{st}_rps"] = round(float(np.max(ts[col])) / dt) if col in ts else None
    if keep_series:
        row["series"] = {k: np.asarray(ts[k], dtype=float).tolist() for k in SERIES if k in ts}
    return row


GROUPS = ("counterfactual", "sweep", "lever", "hot_key", "hypotheses", "capacity")
COLS = ["group", "label", "hypothesis", "seed", "size", "fraction", "capacity",
        "peak_demand", "audience",
        "attack_rps", "hot_key_rps"]
SMOKE_AUDIENCE = 0.1  # the hypotheses at --smoke: a tenth of the fitted crowd


def plan(smoke: bool, groups: tuple[str, ...] = GROUPS,
         seeds: list[int] | None = None) -> list[dict[str, Any]]:
    """Every run of the study (of ``groups``), as (group, label, parameters, overrides),
    each on every seed of ``seeds`` (``SEEDS`` by default). The seed is the outer loop, so
    a run of the study finishes one seed of every point before it starts the next; every
    variant of a seed sees the same crowd (common random numbers)."""
    audiences, attacks, levers, hot_keys, hk_aud = AUDIENCES, ATTACKS, LEVERS, HOT_KEYS, \
        HOT_KEY_AUDIENCES
    cfs = COUNTERFACTUALS
    if smoke:
        audiences, attacks, hot_keys, hk_aud = [8e6], [0.0, 1e6], [5000.0], [8e6]
        levers = [lv for lv in LEVERS if lv[0].startswith(("none", "HLS over a CDN, no"))]
        cfs = COUNTERFACTUALS[:2]
    runs: list[dict[str, Any]] = []
    for name, ov in cfs:
        runs.append({"group": "counterfactual", "label": name, "audience": CLAIMED_AUDIENCE,
                     "attack_rps": 0.0 if NO_ATTACK[0] in ov else CLAIMED_ATTACK,
                     "overrides": ov})
    for a in audiences:
        for r in attacks:
            runs.append({"group": "sweep", "label": f"{a / 1e6:g}M, {r / 1e3:g}k rps",
                         "audience": a, "attack_rps": r,
                         "overrides": [f"arrivals.audience={a:g}",
                                       f"attack.vectors.l7_join_flood.rate_rps={r:g}"]})
    for lever, ov in levers:
        for attack in (0.0, CLAIMED_ATTACK):
            runs.append({"group": "lever", "label": lever, "audience": CLAIMED_AUDIENCE,
                         "attack_rps": attack,
                         "overrides": ov + ([] if attack else NO_ATTACK)})
    for k in hot_keys:
        for a in hk_aud:
            runs.append({"group": "hot_key", "label": f"{k:g} writes/s, {a / 1e6:g}M",
                         "audience": a, "attack_rps": 0.0, "hot_key_rps": k,
                         "overrides": [f"arrivals.audience={a:g}", *NO_ATTACK,
                                       f"architecture.stations.join.max_rate_rps={k:g}"]})
    return [{**r, "seed": s, "overrides": [*r["overrides"], f"run.seed={s}"]}
            for s in (SEEDS if seeds is None else seeds) for r in runs if r["group"] in groups]


def canonical(ov: list[str]) -> tuple[str, ...]:
    """One key per distinct scenario, so a scenario in two groups runs once."""
    full = overrides_of(ov)
    defaults = {f"arrivals.audience={CLAIMED_AUDIENCE:g}",
                f"attack.vectors.l7_join_flood.rate_rps={CLAIMED_ATTACK:g}",
                f"architecture.stations.join.max_rate_rps={HOT_KEY_RPS:g}"}
    return tuple(sorted(o for o in full if o not in defaults))


# -- The board's question: which failure hypotheses reproduce the three reported facts? ----
HLS = "experiment=x_spaces_2024_hls"
START_S = T0_S  # "This Space is not available" and ~100,000 listeners at 17:00 PT
LATER_S = 6600.0  # ~1.3M listening at about 18:40 PT
REPORTED_START = 1e5  # [Daily Beast 2024]
REPORTED_LATER = 1.3e6  # [AP 2024]
REPORTED_TOP = 2e6  # "about 2 million at its top" [GZERO 2024]: the top of the crowd's range
COUNT_TOL = 0.5  # a modelled count "matches" a reported one within ±50%
WINDOW_1700 = (T0_S, T0_S + 300.0)  # "at 17:00": SLO windows ending 17:00-17:05
UNAVAILABLE_1700_MIN = 1.0  # not available at 17:00: at least a minute of that span
SEEDS = [1, 2, 3]
UNDERSIZE = 0.5  # an undersized tier: capacity at half the crowd's peak demand on the base
UNDERSIZE_ALSO = 0.75  # and, to see how much the verdicts rest on that half, three quarters
MARGIN = 1.5  # headroom over the smallest holding capacity (the report's report.headroom)
FLOOD_RPS = CLAIMED_ATTACK  # attack.vectors.l7_join_flood.rate_rps of both presets
# Stations whose peak offered rate every run records (per metrics tick).
PEAK_STATIONS = ("edge", "auth", "token_store", "join", "origin", "cdn", "fanout")


@functools.cache
def _preset_cfg(preset: str) -> Any:
    from sim.compose import compose

    return compose([preset])


def expected_listeners(audience: float, session_mean_s: float, times: list[float],
                       preset: str = HLS) -> list[float]:
    """Listeners expected at ``times`` if nobody is turned away: the preset's arrival rate
    times ``audience``, each arrival staying for a session of the preset's distribution
    (lognormal, its cv) with mean ``session_mean_s`` (``experiments.study.expected_room``)."""
    return expected_room(_preset_cfg(preset), audience, session_mean_s, times)


def fit_crowd() -> dict[str, float]:
    """The crowd held to the two reported counts (an assumption, made explicit): keep the
    preset's arrival shape, pick the session mean whose ratio of listeners at 18:40 to
    listeners at 17:00 is the reported 1.3M / 100,000, then the audience that puts 1.3M
    in the room at 18:40; rounded (15 min, 0.1M). The top of the crowd's range is the
    audience whose peak reaches the ~2M reported at the top (rounded up to 0.1M)."""
    def ratio(m: float) -> float:
        s, later = expected_listeners(1.0, m, [START_S, LATER_S])
        return later / s
    lo, hi = 600.0, 86400.0  # the ratio grows with the session mean
    target = REPORTED_LATER / REPORTED_START
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if ratio(mid) < target else (lo, mid)
    session = round(math.sqrt(lo * hi) / 900) * 900
    per = expected_listeners(1.0, session, [START_S, LATER_S])
    audience = round(REPORTED_LATER / per[1] / 1e5) * 1e5
    grid = list(np.arange(START_S, LATER_S + 1, 60.0))
    peak_per = max(expected_listeners(1.0, session, grid))
    top = math.ceil(REPORTED_TOP / peak_per / 1e5) * 1e5
    exp = expected_listeners(audience, session, [START_S, LATER_S])
    return {"session_mean_s": float(session), "audience": float(audience),
            "top_audience": float(top), "expected_start": exp[0], "expected_later": exp[1],
            "expected_peak": peak_per * audience, "peak_per_audience": peak_per}


def crowd_overrides(audience: float, session_s: float) -> list[str]:
    return [f"arrivals.audience={audience:g}", f"clients.session.mean_s={session_s:g}"]


def hypothesis_bases(fit: dict[str, float], seeds: list[int], audience: float) -> list[Any]:
    """The two bases of the hypotheses group, on the fitted crowd with no flood: HLS (the
    reported architecture; no room key) and, for the slot hypothesis only, SFU slots
    (``x_spaces_2024`` with the room key's write limit lifted)."""
    crowd = crowd_overrides(audience, fit["session_mean_s"])
    runs = []
    for s in seeds:
        runs.append({"group": "hypotheses", "label": "base: HLS, no room key, no flood",
                     "hypothesis": "base", "audience": audience, "attack_rps": 0.0, "seed": s,
                     "overrides": [HLS, *crowd, *NO_ATTACK, f"run.seed={s}"]})
        runs.append({"group": "hypotheses",
                     "label": "base for the slot hypothesis: SFU slots, key lifted, no flood",
                     "hypothesis": "base (SFU)", "audience": audience, "attack_rps": 0.0,
                     "seed": s, "overrides": [*crowd, *NO_ATTACK,
                                              "architecture.stations.join.max_rate_rps=null",
                                              f"run.seed={s}"]})
    return runs


def _mean_of(runs: list[dict[str, Any]], hypothesis: str, key: str) -> float:
    vals = [r["result"][key] for r in runs if r.get("hypothesis") == hypothesis
            and r["result"].get(key) is not None]
    return float(np.mean(vals)) if vals else float("nan")


def unit_capacity(preset: str, station: str) -> float:
    """Requests per second one instance of ``station`` serves: workers / mean service."""
    st = _preset_cfg(preset).architecture.stations[station]
    return float(st.workers_per_instance) / float(st.service.mean_s)


def hypothesis_variants(bases: list[dict[str, Any]], fit: dict[str, float],
                        seeds: list[int], audience: float,
                        fraction: float = UNDERSIZE) -> list[dict[str, Any]]:
    """One variant per hypothesis on its base, undersizing one tier to ``fraction`` of the
    crowd's peak demand on it in the base (the mean over seeds of the peak offered rate per
    metrics tick; for the slots, of the peak listeners), or adding the presets' flood.
    Instance counts are rounded down (at least one); rates to the nearest unit. At another
    ``fraction`` than ``UNDERSIZE`` the hypotheses carry it in their name, and those whose
    rounded size does not change (and the flood) are left out."""
    crowd = crowd_overrides(audience, fit["session_mean_s"])

    def peak(st: str) -> float:
        return _mean_of(bases, "base", f"peak_{st}_rps")

    n_fanout = int(_preset_cfg(PRESET).architecture.stations.fanout.instances)
    auth_u, origin_u = unit_capacity(HLS, "auth"), unit_capacity(HLS, "origin")
    key = round(fraction * peak("join"))
    auth = max(1, math.floor(fraction * peak("auth") / auth_u))
    edge = round(fraction * peak("edge"))
    listeners = _mean_of(bases, "base (SFU)", "peak_listeners")
    slots = max(1, math.floor(fraction * listeners / n_fanout))
    origin = max(1, math.floor(fraction * peak("origin") / origin_u))
    # (hypothesis, the tier as run, overrides, base, capacity, peak demand)
    specs: list[tuple[str, str, list[str], str, float | None, float | None]] = [
        ("hot room key", f"join.max_rate_rps={key:,}",
         [f"architecture.stations.join.max_rate_rps={key}"], "base", key, peak("join")),
        ("join-path auth", f"auth.instances={auth} ({auth * auth_u:,.0f} req/s)",
         [f"architecture.stations.auth.instances={auth}"], "base", auth * auth_u,
         peak("auth")),
        ("edge", f"edge.rate_limit_rps={edge:,}",
         [f"architecture.stations.edge.rate_limit_rps={edge}"], "base", edge, peak("edge")),
        ("SFU slots (on x_spaces_2024)",
         f"fanout.listener_slots_per_instance={slots:,} ({slots * n_fanout:,} slots)",
         [f"architecture.stations.fanout.listener_slots_per_instance={slots}"],
         "base (SFU)", slots * n_fanout, listeners),
        ("HLS origin", f"origin.instances={origin} ({origin * origin_u:,.0f} fetches/s)",
         [f"architecture.stations.origin.instances={origin}"], "base", origin * origin_u,
         peak("origin")),
        ("the flood", f"l7_join_flood {FLOOD_RPS / 1e6:g}M rps, 16:59-17:09",
         [f"attack.vectors.l7_join_flood.rate_rps={FLOOD_RPS:g}"], "base", None, None),
    ]
    if fraction != UNDERSIZE:
        half = {r["hypothesis"]: r["capacity"] for r in hypothesis_variants(
            bases, fit, seeds[:1], audience)}
        specs = [(f"{sp[0]}, {fraction:g}×", *sp[1:]) for sp in specs
                 if sp[4] is not None and sp[4] != half[sp[0]]]
    runs = []
    for name, size, ov, base, cap, demand in specs:
        for s in seeds:
            head = [HLS] if base == "base" else ["architecture.stations.join.max_rate_rps=null"]
            runs.append({"group": "hypotheses", "label": name, "hypothesis": name,
                         "size": size, "capacity": cap, "peak_demand": demand,
                         "audience": audience,
                         "attack_rps": FLOOD_RPS if name == "the flood" else 0.0, "seed": s,
                         "fraction": None if name == "the flood" else fraction,
                         "overrides": [*head, *crowd,
                                       *([] if name == "the flood" else NO_ATTACK),
                                       *ov, f"run.seed={s}"]})
    return runs


def _count_fits(value: float | None, reported: float) -> bool | None:
    if value is None or math.isnan(value):
        return None
    return abs(value - reported) <= COUNT_TOL * reported


def verdicts(runs: list[dict[str, Any]], scale: float = 1.0) -> list[dict[str, Any]]:
    """Per hypothesis: the three facts over its seeds, and which fact (if any) rules it
    out. A fact holds for a hypothesis when it holds in every seed; when the seeds
    disagree the verdict says so. ``scale``: the reported counts are compared at this
    fraction of the fitted audience (``--smoke`` runs a tenth of it)."""
    hyp = [r for r in runs if r["group"] == "hypotheses"]
    out = []
    for name in dict.fromkeys(r["hypothesis"] for r in hyp):
        rs = [r for r in hyp if r["hypothesis"] == name]
        res = [r["result"] for r in rs]
        na = [bool(x["unavailable_1700"]) for x in res]
        starts = [x["listeners_start"] for x in res if x["listeners_start"] is not None]
        laters = [x["listeners_later"] for x in res if x["listeners_later"] is not None]
        facts: dict[str, bool | None] = {"not available at 17:00": None,
                                         "~100,000 at 17:00": None, "~1.3M at 18:40": None}
        facts["not available at 17:00"] = all(na) if all(na) or not any(na) else None
        unjudged = []
        for fact, vals, rep in (("~100,000 at 17:00", starts, REPORTED_START * scale),
                                ("~1.3M at 18:40", laters, REPORTED_LATER * scale)):
            fits = [_count_fits(v, rep) for v in vals]
            if len(vals) < len(rs):  # past the horizon (--smoke)
                unjudged.append(fact)
            elif len(set(fits)) == 1:
                facts[fact] = fits[0]
        ruled = [f for f, ok in facts.items() if ok is False]
        unclear = [f for f, ok in facts.items() if ok is None and f not in unjudged]
        if ruled:
            verdict = "ruled out by " + ", ".join(ruled)
        elif unclear:
            verdict = "ambiguous: " + ", ".join(unclear) + " differs between seeds"
        else:
            verdict = "consistent with all three"
        if unjudged and not ruled:
            verdict += " (not judged: " + ", ".join(unjudged) + ")"
        if name.startswith("base"):  # the reference: it should hold, not fail at 17:00
            held = sum(bool(x["slo_met"]) for x in res)
            miss = [f for f in ruled + unclear if f != "not available at 17:00"]
            verdict = (f"holds in {held}/{len(res)} seeds" if held else "fails") + (
                "; the counts " + ("match" if not miss else "miss: " + ", ".join(miss))) + (
                " (not judged: " + ", ".join(unjudged) + ")" if unjudged else "")
        size = rs[0].get("size") or "the preset's sizes"
        demand = rs[0].get("peak_demand")
        cap = rs[0].get("capacity")
        if demand and cap:
            size += f"; {cap / demand:.2f}× the peak demand"
        out.append({"hypothesis": name, "size": size,
                    "peak_demand": rs[0].get("peak_demand"), "seeds": [r["seed"] for r in rs],
                    "not_available": sum(na), "n": len(rs),
                    "unavailable_1700_min": mean_min_max([x["unavailable_1700_min"] for x in res]),
                    "start": mean_min_max(starts) if starts else None,
                    "later": mean_min_max(laters) if laters else None,
                    "joined": mean_min_max([x["join_ratio"] for x in res]),
                    "first_breach_s": mean_min_max([x["first_breach_s"] for x in res])
                    if all(x["first_breach_s"] is not None for x in res) else None,
                    "outage_min": mean_min_max([x["outage_min"] for x in res]),
                    "polls_failed": mean_min_max([x["polls_failed_share"] for x in res])
                    if all(x.get("polls_failed_share") is not None for x in res) else None,
                    "slo_met": sum(bool(x["slo_met"]) for x in res),
                    "bottleneck": sorted({x["bottleneck"] or "—" for x in res}),
                    "facts": facts, "verdict": verdict})
    return out


# -- Capacity per tier for a launch of that size (failure-point sweeper) -------------------
# (tier, preset, key searched, station whose peak offered rate is the demand, unit: the
# demand one step of the key serves, or None for a rate key).
CAPACITY_TIERS: list[tuple[str, str, str, str, str | None]] = [
    ("join-path auth", HLS, "architecture.stations.auth.instances", "auth", "auth"),
    ("HLS origin", HLS, "architecture.stations.origin.instances", "origin", "origin"),
    ("edge (rate limit)", HLS, "architecture.stations.edge.rate_limit_rps", "edge", None),
    ("room key (if every join writes it)", HLS, "architecture.stations.join.max_rate_rps",
     "join", None),
    ("CDN", HLS, "architecture.stations.cdn.instances", "cdn", "cdn"),
    ("SFU listener slots (x_spaces_2024, key lifted)", PRESET,
     "architecture.stations.fanout.instances", "listeners", None),
    ("token store", HLS, "architecture.stations.token_store.instances", "token_store",
     "token_store"),
]
CAPACITY_BRACKET = (0.5, 1.5)  # the first bracket, as multiples of the tier's peak demand


def capacity_probe_run(fit: dict[str, float], preset: str) -> dict[str, Any]:
    """The run at the top of the crowd's range whose peak demand brackets each search."""
    crowd = crowd_overrides(fit["top_audience"], fit["session_mean_s"])
    head = [HLS] if preset == HLS else ["architecture.stations.join.max_rate_rps=null"]
    return {"group": "capacity", "label": f"top of the range ({'HLS' if preset == HLS else 'SFU'})",
            "hypothesis": "capacity base " + ("HLS" if preset == HLS else "SFU"),
            "audience": fit["top_audience"], "attack_rps": 0.0, "seed": 1,
            "overrides": [*head, *crowd, *NO_ATTACK]}


def capacity_search(out: Path, fit: dict[str, float], probes: list[dict[str, Any]],
                    jobs: int, kept_only: bool = False) -> list[dict[str, Any]]:
    """For each tier, the failure-point sweeper (3 replications) on the key that sizes it,
    with the crowd at the top of its range, no flood, every other tier as in the preset
    (the room key lifted on the SFU preset). The first bracket is ``CAPACITY_BRACKET``
    times the tier's peak demand in the probe run (the sweeper widens it if both ends
    hold or both fail). Each search's ``failure_point.json`` is kept under ``capacity/``;
    a search already there with the same command, run on the same engine (``code``, the
    digest of ``sim``'s source), is reused; with ``kept_only`` the tiers
    without one are left out."""
    dest = out / "capacity"
    dest.mkdir(parents=True, exist_ok=True)
    rows = []
    for tier, preset, key, station, unit_st in CAPACITY_TIERS:
        probe = next(p["result"] for p in probes
                     if p["hypothesis"].endswith("HLS" if preset == HLS else "SFU"))
        cfg = _preset_cfg(preset)
        if station == "listeners":
            demand = float(probe["peak_listeners"])
            per = float(cfg.architecture.stations.fanout.listener_slots_per_instance)
        else:
            demand = float(probe[f"peak_{station}_rps"])
            per = unit_capacity(preset, unit_st) if unit_st else 1.0
        integer = unit_st is not None or station == "listeners"
        low, high = (f * demand / per for f in CAPACITY_BRACKET)
        if integer:
            low, high = max(1, math.floor(low)), max(2, math.ceil(high))
        else:
            low, high = round(low), round(high)
        head = [HLS] if preset == HLS else [PRESET, "architecture.stations.join.max_rate_rps=null"]
        node = cfg.architecture.stations[key.split(".")[2]]
        preset_value = node.get(key.split(".")[-1])
        if preset_value is None:  # the sweeper searches a key that holds a number
            head = [*head, f"{key}={high:g}"]
        crowd = crowd_overrides(fit["top_audience"], fit["session_mean_s"])
        slug = key.split(".")[-2] + "." + key.split(".")[-1]
        cmd = ["-m", "hydra/sweeper=failure_point", f"hydra.sweeper.param={key}",
               f"hydra.sweeper.low={low:g}", f"hydra.sweeper.high={high:g}",
               "hydra.sweeper.direction=down", f"hydra.sweeper.integer={str(integer).lower()}",
               # A whole number is bisected to adjacent values (the sweeper's default:
               # the smallest count that holds next to the largest that fails); a rate
               # to 3%.
               *([] if integer else ["hydra.sweeper.rel_tol=0.03"]),
               f"hydra.launcher.n_jobs={jobs}",
               *head, *QUIET, *crowd, *NO_ATTACK]
        path = dest / f"{slug}.json"
        kept = json.loads(path.read_text()) if path.exists() else None
        if (kept is None or kept.get("command") != cmd) and kept_only:
            continue
        # A kept answer is reused only from the same command on the same engine (as the
        # runs' cache is keyed); one that does not say its engine is searched again.
        if kept is None or kept.get("command") != cmd or kept.get("code") != code_digest():
            sweep_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"x_spaces_capacity_{slug}"
            if sweep_dir.exists():
                shutil.rmtree(sweep_dir)
            env = {**os.environ,
                   "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "sim", *cmd, f"hydra.sweep.dir={sweep_dir}"],
                           check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
            fp = json.loads((sweep_dir / "failure_point.json").read_text())
            kept = {"command": cmd, "code": code_digest(),
                    "wall_s": round(time.perf_counter() - t0, 1), "failure_point": fp}
            path.write_text(json.dumps(kept, indent=1) + "\n")
            shutil.rmtree(sweep_dir, ignore_errors=True)
        fp = kept["failure_point"]
        lead = node.get("provisioning_delay_s")
        rows.append({"tier": tier, "key": key, "demand": demand, "per": per,
                     "integer": integer, "preset": preset_value, "lead_s": lead,
                     "fp": fp, "wall_s": kept["wall_s"], "command": "sim " + " ".join(cmd)})
    return rows


def capacity_answer(row: dict[str, Any]) -> dict[str, Any]:
    """The smallest capacity that held (``holds_at`` of every replication; the interval's
    upper bound to judge on), with ``MARGIN`` on top (rounded up)."""
    fp = row["fp"]
    hi = (fp.get("interval") or [None, None])[1]
    limit = fp.get("limit") or {}
    floor = limit.get("value") if fp.get("status") == "holds_throughout" else None
    base = hi if hi is not None else fp.get("holds_at") if fp.get("holds_at") is not None \
        else floor
    need = None if base is None else math.ceil(MARGIN * base) if row["integer"] else \
        math.ceil(MARGIN * base / 100) * 100
    return {"holds_at": fp.get("holds_at"), "fails_at": fp.get("fails_at"),
            "interval": fp.get("interval"), "status": fp.get("status"),
            "value": fp.get("value"), "with_margin": need, "fails_in": fp.get("fails_in"),
            "replications": len(fp.get("per_replication") or []), "floor": floor,
            "probes": len(fp.get("probes") or [])}


def attribution(out: Path, smoke_ov: list[str], jobs: int) -> dict[str, Any] | None:
    """``sim-attribute`` on the published scenario: are the attack and the retries needed?"""
    dest = out / "attribution"
    if dest.exists():
        shutil.rmtree(dest)
    cmd = [sys.executable, "-m", "sim.attribute", PRESET, *QUIET, *smoke_ov,
           "--factor", HOT_KEY_FACTOR, "--out", str(dest), "--jobs", str(jobs)]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    # Keep each variant's summary and config; the time series are the runs' bulk.
    for f in dest.glob("variants/**/*"):
        if f.is_file() and f.name not in ("summary.json", "config.yaml"):
            f.unlink()
    path = dest / "attribution.json"
    return json.loads(path.read_text()) if path.exists() else None


def results_of(runs: list[dict[str, Any]], group: str, label: str | None = None,
               **params: float) -> list[dict[str, Any]]:
    """The results of one point of ``group`` (its label and parameters), one per seed."""
    out = []
    for r in runs:
        if r["group"] != group or (label is not None and r["label"] != label):
            continue
        if all(math.isclose(float(r.get(k) or 0.0), v) for k, v in params.items()):
            out.append(r["result"])
    return out


def kept_attribution(out: Path) -> dict[str, Any] | None:
    """The ``sim-attribute`` answer already in ``out`` (a run that skips it quotes it)."""
    path = out / "attribution" / "attribution.json"
    return json.loads(path.read_text()) if path.exists() else None


def find(runs: list[dict[str, Any]], group: str, label: str | None = None,
         **params: float) -> dict[str, Any] | None:
    """The first result of one point (the timeline's: the one that kept its series)."""
    res = results_of(runs, group, label, **params)
    return next((x for x in res if "series" in x), res[0] if res else None)


def _iv(res: list[dict[str, Any]], key: str) -> tuple[float, float, float] | None:
    """Mean, min and max of ``key`` over the seeds of one point (None where none has it)."""
    vals = [float(x[key]) for x in res if x.get(key) is not None]
    return mean_min_max(vals) if vals else None


def _band(res: list[dict[str, Any]], key: str) -> tuple[float, float, float]:
    """Mean and the distances down to the min and up to the max (for error bars)."""
    iv = _iv(res, key)
    if iv is None:
        return math.nan, 0.0, 0.0
    return iv[0], max(0.0, iv[0] - iv[1]), max(0.0, iv[2] - iv[0])  # not below 0 by rounding


def seeds_of(runs: list[dict[str, Any]], group: str) -> str:
    """The seeds a group's rows ran on, for the tables' headers: "seeds 1, 2, 3"."""
    seeds = sorted({r.get("seed") for r in runs if r["group"] == group},
                   key=lambda s: (s is None, s))
    names = ", ".join("the preset's" if s is None else str(s) for s in seeds)
    return f"seed{'s' if len(seeds) > 1 else ''} {names}"


def _n(res: list[dict[str, Any]], runs: list[dict[str, Any]], group: str) -> str:
    """" (n seeds)" after a cell that has fewer seeds than its group (a partial run)."""
    full = len({r.get("seed") for r in runs if r["group"] == group})
    return "" if len(res) >= full else f" ({len(res)} of {full} seeds)"


def _hhmm(t_s: float) -> str:
    """A time of the run as a PT clock time (t = 600 s is 17:00)."""
    m = round(17 * 60 + (t_s - T0_S) / 60)
    return f"{m // 60}:{m % 60:02d}"


def plot_timeline(runs: list[dict[str, Any]], out: Path) -> None:
    """The first seed's runs over time: arrivals and joins, the join queue, the SLO, the
    listeners (one seed: the seeds' curves differ by less than a line's width)."""
    fig, axes = plt.subplots(4, 1, figsize=(10, 12), sharex=True)
    styles = {TIMELINE[0]: ("tab:blue", 1.6), TIMELINE[1]: ("tab:red", 3.0),
              TIMELINE[2]: ("tab:orange", 1.2), TIMELINE[3]: ("tab:purple", 1.4)}
    for name, (group, label) in TIMELINE_RUNS.items():
        color, lw = styles[name]
        res = find(runs, group, label)
        if res is None or "series" not in res:
            continue
        s = {k: np.asarray(v) for k, v in res["series"].items()}
        m = (s["t_s"] - T0_S) / 60  # minutes after 17:00 PT
        dt = float(np.median(np.diff(s["t_s"])))
        if name == TIMELINE[0]:
            axes[0].plot(m, np.maximum(s["legit.arrivals"] / dt, 1), color="k", lw=1,
                         label="users arriving (8M)")
        axes[0].plot(m, np.maximum(s["legit.attempts"] / dt, 1), color=color, lw=0.8,
                     ls="--", label=f"join attempts: {name}")
        axes[0].plot(m, np.maximum(s["legit.joined"] / dt, 1), color=color, lw=lw,
                     label=f"joins: {name}")
        axes[1].plot(m, s["join.queue"] / HOT_KEY_RPS, color=color, lw=lw, label=name)
        axes[2].plot(m, s["slo.success_ratio"], color=color, lw=lw, label=name)
        axes[3].plot(m, s["listeners"] / 1e6, color=color, lw=lw, label=name)
        if name == TIMELINE[0] and "fanout.slots" in s:
            axes[3].plot(m, s["fanout.slots"] / 1e6, color="k", lw=1, ls=":",
                         label="listener slots (the 8M steady-state test)")
    _timeline_axes(axes, SEEDS[0])
    fig.tight_layout()
    fig.savefig(out / "timeline.png", dpi=100)
    plt.close(fig)


def _timeline_axes(axes: Any, seed: int) -> None:
    """Labels, limits and marks of the timeline's four panels."""
    axes[0].axhline(HOT_KEY_RPS, color="grey", lw=0.8, ls=":")
    axes[0].text(-9.5, HOT_KEY_RPS * 1.15, "room key: 5,000 writes/s", fontsize=8,
                 color="grey")
    axes[0].set(ylabel="per second (log; 0 drawn at 1)", yscale="log", ylim=(0.8, None),
                title=f"The 17:00 surge on a path sized for 8M listeners (seed {seed})")
    axes[1].axhline(TIMEOUT_S, color="grey", lw=0.8, ls=":")
    axes[1].text(-9.5, TIMEOUT_S + 0.3, "client timeout 5 s", fontsize=8, color="grey")
    axes[1].set(ylabel="join queue (s of writes)")
    axes[2].axhline(0.99, color="grey", lw=0.8, ls=":")
    axes[2].set(ylabel="join success, 60 s window", ylim=(-0.02, 1.02))
    axes[3].set(ylabel="listeners (M)", xlabel="minutes after the scheduled start (17:00 PT)")
    axes[0].legend(fontsize=6.5, ncol=2, loc="lower right")
    axes[2].legend(fontsize=7, loc="lower right")
    axes[3].legend(fontsize=7, loc="upper right")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.axvspan(-1, 9, color="red", alpha=0.06)  # the claimed flood, 540-1140 s
    axes[3].text(-0.5, 0.2, "flood", fontsize=8, color="tab:red")
    axes[3].set_xlim(-10, 60)


def plot_sweep(runs: list[dict[str, Any]], out: Path) -> None:
    """The sweep: the mean outage over the seeds as a heat map (its min–max under each
    number) and the mean join ratio against the audience, the min–max as error bars."""
    sw = [r for r in runs if r["group"] == "sweep"]
    auds = sorted({r["audience"] for r in sw})
    atks = sorted({r["attack_rps"] for r in sw})
    grid = np.full((len(atks), len(auds)), np.nan)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for i, atk in enumerate(atks):
        bands = [_band(results_of(runs, "sweep", None, audience=a, attack_rps=atk),
                       "outage_min") for a in auds]
        for j, (m, lo, hi) in enumerate(bands):
            grid[i, j] = m
            if not math.isnan(m):
                axes[0].text(j, i, f"{m:.0f}\n[{m - lo:.0f}–{m + hi:.0f}]", ha="center",
                             va="center", fontsize=7.5, color="w" if m > 30 else "k")
        jr = [_band(results_of(runs, "sweep", None, audience=a, attack_rps=atk),
                    "join_ratio") for a in auds]
        axes[1].errorbar([a / 1e6 for a in auds], [b[0] for b in jr],
                         yerr=[[b[1] for b in jr], [b[2] for b in jr]], fmt="-o", ms=3,
                         capsize=2, label=f"attack {atk / 1e3:g}k rps")
    im = axes[0].imshow(grid, origin="lower", cmap="Reds", aspect="auto", vmin=0)
    axes[0].set_xticks(range(len(auds)), [f"{a / 1e6:g}M" for a in auds])
    axes[0].set_yticks(range(len(atks)), [f"{a / 1e3:g}k" for a in atks])
    axes[0].set(xlabel="audience (clients over the event)", ylabel="attack (rps)",
                title=f"Outage (min), mean [min–max] over {seeds_of(runs, 'sweep')}")
    fig.colorbar(im, ax=axes[0])
    axes[1].set(xlabel="audience (M)", ylabel="share of users who got in",
                title="Join ratio (mean; bars: min–max over seeds)", ylim=(0, 1.05))
    axes[1].legend(fontsize=8)
    axes[1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=100)
    plt.close(fig)


def plot_levers(runs: list[dict[str, Any]], out: Path) -> None:
    """Each lever's mean outage, unavailable minutes and join ratio over the seeds, the
    min–max as error bars, on the crowd alone and with the attack."""
    labels = list(dict.fromkeys(r["label"] for r in runs if r["group"] == "lever"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.5 * len(labels) + 1.8), sharey=True)
    y = np.arange(len(labels))
    for k, (attack, name) in enumerate(((0.0, "crowd alone"), (CLAIMED_ATTACK, "crowd + attack"))):
        res = [results_of(runs, "lever", lab, attack_rps=attack) for lab in labels]
        for ax, key in zip(axes, ("outage_min", "unavailable_min", "join_ratio"), strict=True):
            b = [_band(r, key) for r in res]
            ax.barh(y + (0.2 if k == 0 else -0.2), [x[0] for x in b], 0.4, label=name,
                    xerr=[[x[1] for x in b], [x[2] for x in b]], capsize=2)
    axes[0].set(title="outage (min, SLO breach to recovery)")
    axes[1].set(title="not available (min, most attempts fail)")
    axes[2].set(title="share of users who got in", xlim=(0, 1.05))
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].invert_yaxis()
    axes[2].legend(fontsize=8)
    fig.suptitle(f"Levers: mean over {seeds_of(runs, 'lever')} (bars: min–max)",
                 fontsize=10)
    for ax in axes:
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(out / "levers.png", dpi=100)
    plt.close(fig)


def plot_hot_key(runs: list[dict[str, Any]], out: Path) -> None:
    """The mean outage against the audience per write rate of the room key (bars:
    min–max over the seeds)."""
    hk = [r for r in runs if r["group"] == "hot_key"]
    auds = sorted({r["audience"] for r in hk})
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for k in sorted({r["hot_key_rps"] for r in hk}):
        b = [_band(results_of(runs, "hot_key", None, audience=a, hot_key_rps=k),
                   "outage_min") for a in auds]
        ax.errorbar([a / 1e6 for a in auds], [x[0] for x in b],
                    yerr=[[x[1] for x in b], [x[2] for x in b]], fmt="-o", ms=3, capsize=2,
                    label=f"room key {k:,.0f} writes/s")
    ax.axhspan(*OUTAGE_RANGE_MIN, color="red", alpha=0.08, label="~40 min (30-50)")
    ax.set(xlabel="audience (M), crowd alone", ylabel="outage (min)",
           title=f"Outage against the room key's write rate\n(mean; bars: min–max over "
                 f"{seeds_of(runs, 'hot_key')})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "hot_key.png", dpi=100)
    plt.close(fig)


def _outage(res: list[dict[str, Any]], fmt: str = ".1f") -> str:
    """The outage over the seeds; "+" when a seed was still down at the horizon (its
    outage runs to the horizon: a lower bound)."""
    down = sum(not x["recovered"] for x in res)
    return _cell(_iv(res, "outage_min"), 1, fmt, "") + (
        f"+ (down at the horizon in {down}/{len(res)})" if down else "")


def findings(runs: list[dict[str, Any]], attr: dict[str, Any] | None,
             meta: dict[str, Any]) -> str:
    """The Results block: where the rows come from, then a table per group."""
    lines = [f"Generated by `{meta['command']}` on {meta['date']} ({meta['runs']} distinct "
             f"runs, {meta['wall_min']:.1f} min wall on {meta['jobs']} processes, "
             f"{meta.get('run_min', 0.0):.0f} min of run time summed over the runs; "
             f"{', '.join(meta.get('modes') or [])} mode"
             f"{'' if meta['smoke_overrides'] else ', as picked by `run.resolution_s=auto`'}). "
             f"Outage = first SLO breach to recovery; not available = minutes whose "
             f"60 s window saw under {UNAVAILABLE_BELOW:.0%} of join attempts succeed; "
             f"late start = scheduled start (17:00 PT) to recovery. Cells: the mean "
             f"[min–max] over the seeds a group ran on (`run.seed`; every variant of a seed "
             f"sees the same crowd).", ""]
    other = {g: src for g, src in (meta.get("sources") or {}).items()
             if g not in meta.get("groups", [])}
    if other:
        lines[-1:-1] = ["", "Rows of the other groups are kept from earlier runs: " + "; ".join(
            f"{g}: `{src.get('command')}` on {src.get('date')}" for g, src in other.items())
            + "."]
    lines += counterfactual_text(runs, attr)
    lines += sweep_text(runs)
    lines += lever_text(runs)
    lines += hot_key_text(runs)
    lines += hypotheses_text(runs, meta)
    lines += capacity_text(meta)
    return "\n".join(lines) + "\n"


def counterfactual_text(runs: list[dict[str, Any]], attr: dict[str, Any] | None) -> list[str]:
    """The counterfactuals' table, the steady state against the surge, the attribution."""
    if not any(r["group"] == "counterfactual" for r in runs):
        return []
    lines = [f"**Counterfactuals** (audience 8M, the claimed flood 1M rps from 17:00 − 1 min "
             f"for 10 min; {seeds_of(runs, 'counterfactual')}):", "",
             "| scenario | joined | attempts/user | first breach | recovered | outage (min) | "
             "not available (min) | late start (min) | bottleneck |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, _ in COUNTERFACTUALS:
        res = results_of(runs, "counterfactual", name)
        if res:
            lines.append(f"| {name}{_n(res, runs, 'counterfactual')} | "
                         + " | ".join(counterfactual_cells(res)) + " |")
    lines += steady_state_text(results_of(runs, "counterfactual", "crowd alone"))
    if attr is not None:
        nec = attr.get("necessary") or []
        suf = "; ".join("{" + ", ".join(s) + "}" if s else "{} (the crowd alone)"
                        for s in attr.get("sufficient") or []) or "none"
        lines += ["", f"`sim-attribute` on the published scenario (the flood, the retries "
                  f"and the room key's write limit switched off in every combination, seed "
                  f"{attr.get('seed')}): necessary factors: "
                  f"{', '.join(nec) if nec else 'none'}; minimal sufficient sets: {suf} "
                  f"(attribution/attribution.md)."]
    return lines


def counterfactual_cells(res: list[dict[str, Any]]) -> list[str]:
    """One counterfactual over its seeds: joined, attempts, breach, recovery, outage, not
    available, late start, bottleneck."""
    n = len(res)
    fb = [x["first_breach_s"] for x in res if x["first_breach_s"] is not None]
    breach = "—" if not fb else (
        f"17:00 {np.mean(fb) - T0_S:+.0f} s [{min(fb) - T0_S:+.0f}, {max(fb) - T0_S:+.0f}]"
        + ("" if len(fb) == n else f" ({len(fb)}/{n} seeds; none in the others)"))
    rec = [x["recovered_s"] for x in res if x["recovered_s"] is not None]
    never = sum(x["first_breach_s"] is not None and x["recovered_s"] is None for x in res)
    recovered = "—" if not rec else f"{_hhmm(float(np.mean(rec)))} " \
        f"[{_hhmm(min(rec))}–{_hhmm(max(rec))}]"
    if never:
        recovered = f"never in {never}/{n}" + ("" if not rec else f"; {recovered}")
    bottleneck = "/".join(sorted({x["bottleneck"] or "—" for x in res}))
    return [_cell(_iv(res, "join_ratio"), 0.01, ".1f", "%"),
            _cell(_iv(res, "attempts_per_client"), 1, ".2f", ""), breach, recovered,
            _outage(res), _cell(_iv(res, "unavailable_min"), 1, ".1f", ""),
            _cell(_iv(res, "late_start_min"), 1, ".1f", ""), bottleneck]


def steady_state_text(res: list[dict[str, Any]]) -> list[str]:
    """The crowd alone: the slots it had and used against the surge at the room key."""
    if not res:
        return []
    q = _iv(res, "join_peak_queue")
    assert q is not None
    return ["", f"Steady state against the surge (crowd alone): the fanout had "
            f"{_cell(_iv(res, 'listener_slots'), 1e6, '.1f', 'M')} listener slots and at most "
            f"{_cell(_iv(res, 'peak_listeners'), 1e6, '.2f', 'M')} were ever used; the crowd "
            f"arrived at up to {_cell(_iv(res, 'peak_arrivals_per_s'), 1, ',.0f', '')} users/s "
            f"against a room key that takes {HOT_KEY_RPS:,.0f} writes/s, and the join queue "
            f"peaked at {_cell(q, 1, ',.0f', '')} requests "
            f"({_cell(q, HOT_KEY_RPS, '.1f', ' s')} of writes, against a {TIMEOUT_S:.0f} s "
            f"client timeout); {_cell(_iv(res, 'join_wasted'), 1, ',.0f', '')} joins were "
            f"written for clients that had already given up."]


def _grid_cell(res: list[dict[str, Any]]) -> str:
    """A cell of the sweep or the room key's table: the outage in minutes, "+" when a seed
    was still down at the horizon, "*" when every seed is within 30–50 min ("°" when
    some are), and the join ratio in brackets."""
    if not res:
        return ""
    out = [x["outage_min"] for x in res]
    inside = sum(OUTAGE_RANGE_MIN[0] <= v <= OUTAGE_RANGE_MIN[1] for v in out)
    mark = "*" if inside == len(res) else "°" if inside else ""
    plus = "+" if any(not x["recovered"] for x in res) else ""
    return (f"{_cell(_iv(res, 'outage_min'), 1, '.1f', '')}{plus}{mark} "
            f"({_cell(_iv(res, 'join_ratio'), 0.01, '.1f', '%')})")


def sweep_text(runs: list[dict[str, Any]]) -> list[str]:
    """The audience × attack sweep: a table, then the points of a ~40-minute outage and
    the points where the SLO holds."""
    sw = [r for r in runs if r["group"] == "sweep"]
    if not sw:
        return []
    auds = sorted({r["audience"] for r in sw})
    atks = sorted({r["attack_rps"] for r in sw})
    lines = ["", f"**Sensitivity: audience × attack** ({seeds_of(runs, 'sweep')}; "
             f"outage in minutes, join ratio in brackets; * = within 30–50 min, the "
             f"~40-minute outage, on every seed, ° = on some seeds; + = still down at the "
             f"horizon on at least one seed):", "",
             "| attack \\ audience | " + " | ".join(f"{a / 1e6:g}M" for a in auds) + " |",
             "|---|" + "---|" * len(auds)]
    forty: dict[str, list[str]] = {"every": [], "some": []}
    holds: dict[str, list[str]] = {"every": [], "some": []}
    for atk in atks:
        cells = []
        for a in auds:
            res = results_of(runs, "sweep", None, audience=a, attack_rps=atk)
            cells.append(_grid_cell(res) + _n(res, runs, "sweep"))
            name = f"{a / 1e6:g}M at {atk / 1e3:g}k rps"
            k = sum(OUTAGE_RANGE_MIN[0] <= x["outage_min"] <= OUTAGE_RANGE_MIN[1] for x in res)
            met = sum(bool(x["slo_met"]) for x in res)
            for d, c in ((forty, k), (holds, met)):
                if res and c == len(res):
                    d["every"].append(name)
                elif c:
                    d["some"].append(f"{name} ({c}/{len(res)})")
        lines.append(f"| {atk / 1e3:g}k rps | " + " | ".join(cells) + " |")
    lines += ["", "Points with a 30–50 min outage on every seed: "
              + (", ".join(forty["every"]) or "none") + "; on some seeds: "
              + (", ".join(forty["some"]) or "none") + ". Points where the SLO holds "
              "throughout on every seed: " + (", ".join(holds["every"]) or "none")
              + "; on some seeds: " + (", ".join(holds["some"]) or "none") + "."]
    return lines


def lever_text(runs: list[dict[str, Any]]) -> list[str]:
    """Each lever on the crowd alone and with the attack, over the seeds."""
    lv = [r for r in runs if r["group"] == "lever"]
    if not lv:
        return []
    lines = ["", f"**Levers** (audience 8M; each alone, on the crowd alone and on the "
             f"crowd with the claimed attack; {seeds_of(runs, 'lever')}):", "",
             "| lever | crowd alone: outage (min), not available (min), joined, p99 join | "
             "crowd + attack: outage (min), not available (min), joined, p99 join |",
             "|---|---|---|"]
    for lab in dict.fromkeys(r["label"] for r in lv):
        cells = []
        for atk in (0.0, CLAIMED_ATTACK):
            res = results_of(runs, "lever", lab, attack_rps=atk)
            if not res:
                cells.append("")
                continue
            cells.append(f"{_outage(res)}, {_cell(_iv(res, 'unavailable_min'), 1, '.1f', '')}"
                         f", {_cell(_iv(res, 'join_ratio'), 0.01, '.1f', '%')}, "
                         f"{_cell(_iv(res, 'join_p99_s'), 1, ',.1f', ' s')}"
                         f"{_n(res, runs, 'lever')}")
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    return lines


def hot_key_text(runs: list[dict[str, Any]]) -> list[str]:
    """The room key's write rate against the audience (crowd alone), over the seeds."""
    hk = [r for r in runs if r["group"] == "hot_key"]
    if not hk:
        return []
    auds = sorted({r["audience"] for r in hk})
    keys = sorted({r["hot_key_rps"] for r in hk})
    lines = ["", f"**The room key's write rate** (an assumption of the preset; crowd alone; "
             f"{seeds_of(runs, 'hot_key')}; outage in minutes, join ratio in brackets; "
             f"marks as in the sweep):", "",
             "| writes/s \\ audience | " + " | ".join(f"{a / 1e6:g}M" for a in auds) + " |",
             "|---|" + "---|" * len(auds)]
    for k in keys:
        cells = []
        for a in auds:
            res = results_of(runs, "hot_key", None, audience=a, hot_key_rps=k)
            cells.append(_grid_cell(res) + _n(res, runs, "hot_key"))
        lines.append(f"| {k:,.0f} | " + " | ".join(cells) + " |")
    return lines


def _cell(iv: tuple[float, float, float] | None, scale: float = 1e6, fmt: str = ".2f",
          unit: str = "M") -> str:
    return range_cell(iv, scale, fmt, unit)


def _yes(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def hypotheses_text(runs: list[dict[str, Any]], meta: dict[str, Any]) -> list[str]:
    """The table of the hypotheses group: each hypothesis against the three facts."""
    fit = meta.get("fit")
    hyp = [r for r in runs if r["group"] == "hypotheses"]
    if not hyp or fit is None:
        return []
    aud = hyp[0]["audience"]
    vs = verdicts(runs, aud / fit["audience"])
    lines = ["", f"**The board's question: which hypotheses fit the facts** (HLS base, "
             f"no room key, no flood; the crowd held to the counts, an assumption: audience "
             f"{aud / 1e6:g}M, sessions lognormal with mean {fit['session_mean_s'] / 60:.0f} "
             f"min (cv 1), the preset's arrival shape; expected without a failure: "
             f"{fit['expected_start'] * aud / fit['audience']:,.0f} listeners at 17:00, "
             f"{fit['expected_later'] * aud / fit['audience'] / 1e6:.2f}M at 18:40, a peak of "
             f"{fit['expected_peak'] * aud / fit['audience'] / 1e6:.2f}M). Each variant "
             f"undersizes one tier to {UNDERSIZE:.0%} of the crowd's peak demand on it in "
             f"the base (peak offered rate per metrics tick, mean over seeds) or adds the "
             f"flood. Cells: mean [min–max] over seeds "
             f"{', '.join(str(s) for s in vs[0]['seeds'])}. Not available at 17:00: at least "
             f"{UNAVAILABLE_1700_MIN:.0f} min of the SLO windows ending 17:00–17:05 saw under "
             f"{UNAVAILABLE_BELOW:.0%} of join attempts succeed; a count matches within "
             f"±{COUNT_TOL:.0%} of the reported one (listeners at the end of the metrics "
             f"tick ending at 17:00 and at 18:40, `{series.LISTENERS_END}` of "
             f"timeseries.csv).", "",
             "| hypothesis | tier in the variant | not available at 17:00 (seeds) | "
             "not-available min, 17:00–17:05 | first breach; outage | listeners at 17:00 | "
             "listeners at 18:40 | joined | polls failed | SLO met (seeds) | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in vs:
        f = v["facts"]
        fb = v["first_breach_s"]
        breach = "none" if fb is None else (
            f"17:00 {fb[0] - T0_S:+.0f} s [{fb[1] - T0_S:+.0f}, {fb[2] - T0_S:+.0f}]; "
            f"{_cell(v['outage_min'], 1, '.1f', ' min')}")
        lines.append(
            f"| {v['hypothesis']} | {v['size']} | {v['not_available']}/{v['n']} | "
            f"{_cell(v['unavailable_1700_min'], 1, '.1f', '')} | {breach} | "
            f"{_cell(v['start'], 1e3, '.1f', 'k')} ({_yes(f['~100,000 at 17:00'])}) | "
            f"{_cell(v['later'], 1e6, '.3f')} ({_yes(f['~1.3M at 18:40'])}) | "
            f"{_cell(v['joined'], 0.01, '.1f', '%')} | "
            f"{_cell(v['polls_failed'], 0.01, '.1f', '%')} | {v['slo_met']}/{v['n']} | "
            f"{v['verdict']} |")
    return lines


def capacity_text(meta: dict[str, Any]) -> list[str]:
    """The capacity each tier needs at the top of the crowd's range."""
    rows, fit = meta.get("capacity"), meta.get("fit")
    if not rows or fit is None:
        return []
    lines = ["", f"**Capacity per tier** for a crowd at the top of its range (audience "
             f"{fit['top_audience'] / 1e6:g}M: a peak of about "
             f"{fit['peak_per_audience'] * fit['top_audience'] / 1e6:.1f}M listeners; sessions "
             f"as above; no flood; every other tier as in the preset). The failure-point "
             f"sweeper on the key that sizes the tier, 3 replications, the first bracket "
             f"{CAPACITY_BRACKET[0]:g}–{CAPACITY_BRACKET[1]:g}× the tier's peak demand (per "
             f"metrics tick) at that audience; the margin is ×{MARGIN:g} on the upper "
             f"bound of the 95% interval (rounded up); the lead time is the tier's "
             f"`provisioning_delay_s` in the preset (the autoscaler is off). The searches "
             f"ran {sum(r.get('probes') or 0 for r in rows)} probes in "
             f"{sum(r.get('wall_s') or 0 for r in rows) / 60:.0f} min of wall time "
             f"(`capacity/*.json`: each search's command and answer):", "",
             "| tier | key | peak demand | preset | smallest that holds (fails at; 95% interval) | "
             f"with ×{MARGIN:g} | lead time |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        per = r["per"]
        unit = "listeners" if "fanout" in r["key"] else "req/s"
        dem = f"{r['demand']:,.0f} {unit}" + (f" ({r['demand'] / per:.1f} instances)"
                                              if per != 1.0 else "")
        iv = r.get("interval") or [None, None]
        ivs = "—" if iv[0] is None else f"{iv[0]:,.0f}–{iv[1]:,.0f}"
        held = "—" if r.get("holds_at") is None else (
            f"{r['holds_at']:,.0f} (×{r['holds_at'] * per / r['demand']:.2f} the demand)")
        if r.get("floor") is not None:
            held = (f"{r['floor']:,.0f}, the smallest allowed "
                    f"(×{r['floor'] * per / r['demand']:.2f})")
        failed = "—" if r.get("fails_at") is None else \
            f"fails at {r['fails_at']:,.0f} in {r.get('fails_in')}/{r.get('replications')}"
        preset = "null (none)" if r["preset"] is None else f"{r['preset']:,.0f}"
        need = "—" if r.get("with_margin") is None else f"{r['with_margin']:,.0f}"
        lead = "—" if r.get("lead_s") is None else f"{r['lead_s']:.0f} s"
        found = held if r.get("floor") is not None else f"{held} ({failed}; {ivs})"
        lines.append(f"| {r['tier']} | `{r['key'].removeprefix('architecture.stations.')}` | "
                     f"{dem} | {preset} | {found}"
                     f"{'' if r.get('status') == 'found' else '; ' + str(r.get('status'))} | "
                     f"{need} | {lead} |")
    return lines


def carried_over(out: Path, groups: tuple[str, ...]) -> tuple[list[dict[str, Any]],
                                                             dict[str, Any]]:
    """The rows of the groups not run now, from ``results.json`` in ``out``, so that a run of
    some groups keeps the others' rows (and where each group's rows came from)."""
    path = out / "results.json"
    if not path.exists():
        return [], {}
    rows, meta = read_results(path, COLS)
    sources = meta.get("sources") or {g: {"command": meta.get("command"), "date": meta.get(
        "date")} for g in meta.get("groups") or []}
    runs = [{**{c: r[c] for c in COLS}, "full_overrides": r["overrides"], "result": r["result"]}
            for r in rows if r["group"] not in groups]
    kept = {r["group"] for r in runs}
    extra = {k: meta[k] for k in ("fit", "capacity") if k in meta}
    if "hypotheses" in groups:
        extra.pop("fit", None)
    if "capacity" in groups:
        extra.pop("capacity", None)
    return runs, {"sources": {g: v for g, v in sources.items() if g in kept}, **extra}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--smoke", action="store_true",
                    help="a small, fast version: a 25-minute horizon at 1 s ticks, a few "
                         "runs; figures and tables as in the full study")
    ap.add_argument("--out", default=str(HERE), help="output folder (default: this folder)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="parallel processes")
    ap.add_argument("--no-attribution", action="store_true",
                    help="skip sim-attribute (the findings quote the answer already in "
                         "attribution/, if any)")
    ap.add_argument("--cache", default=None,
                    help="folder that keeps each run's figures; a rerun with the same folder "
                         "reuses them (same code assumed)")
    ap.add_argument("--cached-only", action="store_true",
                    help="with --cache: leave out the runs not in the cache (a partial study)")
    ap.add_argument("--groups", default=",".join(GROUPS),
                    help="comma-separated groups of runs to run (default: all of "
                         f"{', '.join(GROUPS)}); the rows of the other groups are kept from "
                         "results.json in the output folder")
    ap.add_argument("--seeds", default=None,
                    help="comma-separated seeds of the counterfactual, sweep, lever and "
                         f"hot_key groups (default: {','.join(map(str, SEEDS))}; with "
                         f"--smoke {','.join(map(str, SEEDS[:2]))}); the hypotheses group "
                         "always runs on its own seeds")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    smoke_ov = ["run.horizon_s=1500", "run.resolution_s=1", "run.metrics_tick_s=10"] \
        if a.smoke else []
    t0 = time.perf_counter()
    groups = tuple(g.strip() for g in a.groups.split(",") if g.strip())
    unknown = set(groups) - set(GROUPS)
    if unknown:
        ap.error(f"unknown groups: {', '.join(sorted(unknown))}")
    seeds = [int(x) for x in a.seeds.split(",")] if a.seeds else \
        SEEDS[:2] if a.smoke else SEEDS
    timeline = set(TIMELINE_RUNS.values())

    def job_of(rs: list[dict[str, Any]]) -> tuple[Any, ...]:
        """The time series are kept for the timeline's runs on the first seed only."""
        return (tuple(overrides_of(rs[0]["overrides"])), tuple(smoke_ov),
                any((r["group"], r["label"]) in timeline and r.get("seed") == SEEDS[0]
                    for r in rs), a.cache)

    def run_all(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if a.cached_only and a.cache:
            same: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for r in rs:
                same.setdefault(canonical(r["overrides"]), []).append(r)
            rs = [r for r in rs if cache_path(job_of(same[canonical(r["overrides"])])).exists()]
        if rs:
            execute("x_spaces_2024", rs, lambda r: canonical(r["overrides"]), job_of,
                    cached_run, a.jobs)
        return rs

    runs = run_all(plan(a.smoke, groups, seeds))
    fit: dict[str, float] | None = None
    cap_rows: list[dict[str, Any]] = []
    if {"hypotheses", "capacity"} & set(groups):
        fit = fit_crowd()
    if "hypotheses" in groups and fit is not None:
        audience = fit["audience"] * (SMOKE_AUDIENCE if a.smoke else 1.0)
        seeds = SEEDS[:2] if a.smoke else SEEDS
        bases = run_all(hypothesis_bases(fit, seeds, audience))
        runs += bases
        if {r["hypothesis"] for r in bases} == {"base", "base (SFU)"}:
            for frac in (UNDERSIZE,) if a.smoke else (UNDERSIZE, UNDERSIZE_ALSO):
                runs += run_all(hypothesis_variants(bases, fit, seeds, audience, frac))
    if "capacity" in groups and fit is not None and not a.smoke:
        probes = run_all([capacity_probe_run(fit, HLS), capacity_probe_run(fit, PRESET)])
        runs += probes
        if len(probes) == 2:
            cap_rows = capacity_search(out, fit, probes, a.jobs, kept_only=a.cached_only)
    attr = None if a.smoke else kept_attribution(out) if (
        a.no_attribution or "counterfactual" not in groups) else attribution(out, smoke_ov, a.jobs)
    command = ("python experiments/x_spaces_2024/run.py" + (" --smoke" if a.smoke else "")
               + ("" if groups == GROUPS else f" --groups {','.join(groups)}")
               + (f" --seeds {a.seeds}" if a.seeds else "")
               + (" --no-attribution" if a.no_attribution else "")
               + (" --cache DIR" if a.cache else "") + (" --cached-only" if a.cached_only else ""))
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    prior, carried = carried_over(out, groups)
    meta = {"command": command, "date": date,
            "runs": len({canonical(r["overrides"]) for r in runs}), "jobs": a.jobs,
            "wall_min": (time.perf_counter() - t0) / 60, "smoke_overrides": smoke_ov,
            "groups": list(groups),
            "run_min": sum({canonical(r["overrides"]): r["result"]["wall_s"]
                            for r in runs}.values()) / 60,
            "modes": sorted({f"{r['result']['mode']} {r['result']['tick_s']:g} s"
                             for r in runs})}
    meta["sources"] = {**carried.get("sources", {}),
                       **{g: {"command": command, "date": date} for g in groups}}
    if fit is not None:
        meta["fit"] = fit
    elif "fit" in carried:
        meta["fit"] = carried["fit"]
    if cap_rows:
        meta["capacity"] = [{**{k: v for k, v in r.items() if k != "fp"}, **capacity_answer(r)}
                            for r in cap_rows]
    elif "capacity" in carried:
        meta["capacity"] = carried["capacity"]
    everything = prior + runs
    keys: list[str] = []
    for r in everything:
        keys += [k for k in r["result"] if k not in keys and k != "series"]
    for r in everything:  # one set of columns for the rows of every group
        r["result"] = {**{k: r["result"].get(k) for k in keys},
                       **({"series": r["result"]["series"]} if "series" in r["result"] else {})}
    if everything:
        write_results(everything, out, meta, COLS,
                      lambda r: r.get("full_overrides") or overrides_of(r["overrides"]))
    if any("series" in r["result"] for r in runs):
        plot_timeline(runs, out)
    if "sweep" in groups:
        plot_sweep(runs, out)
    if "lever" in groups:
        plot_levers(runs, out)
    if "hot_key" in groups:
        plot_hot_key(runs, out)
    text = findings(everything, attr, meta)
    (out / "findings.md").write_text(text)
    if out.resolve() == HERE:
        update_readme(HERE / "README.md", text)
    print(text)
    return {"runs": everything, "attribution": attr, "meta": meta,
            "verdicts": verdicts(everything, SMOKE_AUDIENCE if a.smoke else 1.0),
            "capacity": meta.get("capacity")}


if __name__ == "__main__":
    main()
