"""A seeded generator of differential scenarios: ``draw(seed) -> GeneratedScenario``.

Each scenario is a list of Hydra overrides on the shipped presets (composed by
``sim.run``, so a key that does not exist stops the run with the usual ``ConfigError``).
The same seed always gives the same scenario: every choice comes from
``numpy.random.default_rng(seed)`` in a fixed order, and nothing else is read. Run seeds
(``run.seed``) are chosen by the caller (``tests/differential.py``), not here.

Size. Scenarios are small enough for exact mode to finish in a few seconds: 3,000 to
40,000 expected clients (10,000 with HLS, whose polls are requests too), a peak arrival
rate of at most 800 per second, a horizon of 200-500 s. The whole load is set by the
capacity of ONE station, the bottleneck ``B``; the other stations of the spaces presets
keep their preset sizes, which are 10x or more above the crowd (the hot room key's 2,500
writes/s included), so B is where queueing happens.

The space, dimension by dimension (value ranges; why):

- ``architecture``: ``single_station`` (35%), ``spaces`` (35%), ``spaces_hls`` (15%),
  ``spaces_waiting_room`` (15%); and a waiting room switched on
  (``architecture.waiting_room.enabled=true``) on 10% of ``single_station`` scenarios.
  Every join-path shape the simulator ships.
- bottleneck ``B``: ``server`` on single_station; on spaces-family one of edge, auth,
  token_store (reached by the 10% cache misses), join (by workers, or in half the cases
  by the hot key's ``max_rate_rps``), fanout (spaces only). Different visit ratios and
  admission controls.
- regime: rho = peak offered rate to B / capacity of B, ``under`` U(0.3, 0.7), ``near``
  U(0.85, 1.05), ``over`` U(1.2, 3.0), one third each. The peak is that of the arrival
  curve (times the visit ratio 0.1 for the token store). Queueing theory differs most
  between these regimes; cohort mode's Erlang C term matters under, the fluid queue over.
- capacity of B: service mean log-uniform on [0.02, 1] s (single_station) or
  [0.005, 0.1] s (spaces), workers = round(capacity x mean) (at least 1), split over 1-3
  instances, then the mean is re-solved so rho is exact. Few-worker and many-worker
  stations both occur.
- service ``dist`` of B: exponential, deterministic, lognormal, gamma, normal (uniform);
  ``cv`` U(0.2, 2.0) (ignored by exponential/deterministic). Service variability is what
  a fluid/Erlang approximation is weakest on.
- ``queue_limit`` of B: unlimited (40%), small = workers x U(0.5, 5) (30%), large =
  capacity x U(2, 20) s (30%). Blocking vs waiting.
- ``drop_expired`` of B: true/false (50%). Expired work skipped vs served as waste.
- arrivals: ``constant`` (30%), ``ramp`` (20%), ``flash_crowd`` (50%, the launch shape:
  t0 at 20-40% of the horizon, early share 0-0.2, push window 5-60 s, reaction median
  3-30 s with log-sd 0.4-1.2, tail share 0.05-0.3 with tau 30-200 s). Clients: log-uniform
  3k-40k, then cut so the peak rate stays at most 800/s.
- ``clients.timeout_s``: none (15%); below the service time, U(0.3, 0.9) x S (10%);
  comparable, U(1, 5) x S (20%); moderate, U(0.5, 5) s (30%); far above the wait,
  U(10, 60) s (25%). S is B's mean service time plus 0.05 s for the rest of a spaces
  path. From attempts that can never succeed to deadlines that never bind.
- ``clients.retry.policy``: each of none, fixed, exponential, full_jitter, equal_jitter,
  decorrelated_jitter, immediate (uniform); ``base_s`` U(0.1, 2), ``cap_s`` base x
  U(2, 30), ``max_attempts`` 1-6. ``impatient_share`` {0, 0.1, 0.3} with
  ``impatient_retry_s`` U(0.5, 3); ``patience_s`` none (40%) or U(5, 120); session
  lognormal/exponential with mean U(30, 600) s; ``reconnect`` true/false.
- client policies, each independently with probability 0.25: ``retry_budget`` (capacity
  U(20, 500), scope shared/per_client), ``adaptive_throttling`` (k U(1.5, 3), window
  U(10, 120) s, scope), ``circuit_breaker`` (failure ratio U(0.3, 0.7), min requests
  10-40, window U(5, 20) s, cooldown U(2, 10) s, scope).
- ``autoscaler``: none (40%), else one of hpa, target_tracking, step, simple, scheduled,
  predictive, warm_pool (uniform), on ``[B]`` only, with provisioning U(5, 60) s and
  ``max_instances`` 2-6x the start; periods scaled to the horizon (sync 5-30 s, HPA
  scale-down window 30-120 s, target tracking datapoints 1-3 out / 2-5 in, simple
  cooldown 30-120 s, step warm-up 10-60 s, predictive lead 30-120 s, warm pool 2-10
  instances after 5-20 s, scheduled: a floor of 2x from 10-60 s before the event start,
  released 30-120 s after it). With probability 0.5 B starts over-provisioned (x2-4
  instances) with ``min_instances=1`` so that scale-IN happens in the quiet first part.
- ``attack`` (spaces family only, 40%): each preset of ``configs/attack`` other than none
  (l7_join_flood, auth_flood, connection_exhaustion, volumetric, bot_listeners, mixed,
  l7_record_flood), rescaled: every vector from U(0.1, 0.5) x horizon for U(0.2, 0.5) x
  horizon, ramp 0-20 s, rate U(0.2, 1.5) x the legit peak (auth flood U(0.05, 0.5),
  connection exhaustion U(0.1, 0.5)), ``sources`` rate / U(1, 20); the volumetric flood
  at U(0.7, 2.5) x an edge link of 0.5-2 Gb/s; connection exhaustion against an edge of
  rate x hold x U(0.3, 1.5) connections; bot listeners against fanout slots for
  U(0.6, 1.5) x the audience (spaces). With probability 0.3 the edge rate limit is set
  to U(0.7, 1.5) x (legit peak + attack rate). ``mitigation``: none, waf,
  rate_limit_per_source, challenge, scrubbing, all (uniform).
- waiting room (``spaces_waiting_room``, or enabled on single_station): ``admit_rps``
  U(0.5, 1.2) x B's capacity, ``burst`` U(1, admit_rps), ``patience_s`` none (50%) or
  U(10, 120); in 30% also ``watch: B`` with ``max_in_system`` workers x U(1, 3).
- HLS (``spaces_hls``): listener polling at U(0.01, 0.1) fetches per listener per second
  (the preset's 0.667 would make exact mode simulate millions of polls).
- SLO: ``slo.window_s`` in {20, 30, 60}; horizon U(200, 500) s; metrics tick 1 s.

Seeds from ``CONTENDED_FIRST`` on draw a second family, ``draw_contended``: a tier
10-30% overloaded behind the edge by legitimate clients and an attack together, large
enough that cohort mode serves it as a fluid (more than 100 requests per 0.1 s tick),
where the first family's bottlenecks, sized by at most 800 clients per second, are
mostly served one request at a time. It is where a limit's cut must fall on every class
of a tick as random arrivals would, not on whichever cohort comes last:

- ``architecture``: ``spaces`` (70%) or ``spaces_hls`` (30%); bottleneck ``B``: auth
  (75%) or the edge, with capacity U(1200, 3000) requests per second (workers x mean,
  mean log-uniform on [0.004, 0.05] s, 1-3 instances), service ``dist`` and ``cv`` as
  above; the other stations keep their presets (10x above).
- load: during the attack, B is offered rho U(1.1, 1.3) x its capacity, the clients'
  share of it U(0.05, 0.4) (their peak at most 800 per second); the rest is the attack:
  ``l7_join_flood`` (50%), ``auth_flood`` (20%) or both at once (30%, the rate split at
  U(0.3, 0.7)), from U(0.15, 0.35) x horizon for U(60, 150) s, ramp 0-10 s, with no
  mitigation (a WAF would leave too little to overload B at a size exact mode runs).
- ``queue_limit`` of B: unlimited (25%), small = workers x U(0.5, 5) (35%), a fraction of
  a second of its capacity, capacity x U(0.05, 0.5) (40%); ``drop_expired`` 50%.
- arrivals: ``constant`` (50%) or ``flash_crowd`` (50%, its t0 at the attack's start
  U(-30, 30) s); clients time out after U(3, 30) s (or never, 15%), retry with any
  policy of base U(1, 3) s, so that ``auto`` picks a 0.1 s tick; no client policies,
  autoscaler or waiting room (the first family has them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RETRY_POLICIES = ("none", "fixed", "exponential", "full_jitter", "equal_jitter",
                  "decorrelated_jitter", "immediate")
DISTS = ("exponential", "deterministic", "lognormal", "gamma", "normal")
AUTOSCALERS = ("hpa", "target_tracking", "step", "simple", "scheduled", "predictive",
               "warm_pool")
ATTACKS = {
    "l7_join_flood": ["l7_join_flood"],
    "auth_flood": ["auth_flood"],
    "connection_exhaustion": ["connection_exhaustion"],
    "volumetric": ["volumetric"],
    "bot_listeners": ["bot_listeners"],
    "mixed": ["volumetric", "l7_join_flood", "auth_flood", "connection_exhaustion",
              "bot_listeners"],
    "l7_record_flood": ["l7_join_flood"],
}
MITIGATIONS = ("none", "waf", "rate_limit_per_source", "challenge", "scrubbing", "all")
MAX_PEAK_RPS = 800.0
CONTENDED_FIRST = 1000  # seeds from here draw the contended family (draw_contended)
PATH_EXTRA_S = 0.05  # the rest of a spaces join path, roughly (edge+auth+join+fanout means)


@dataclass
class GeneratedScenario:
    seed: int
    name: str
    overrides: list[str]
    description: str
    features: dict[str, Any] = field(default_factory=dict)


def _r(x: float, nd: int = 4) -> float:
    """Round to ``nd`` significant digits (readable overrides)."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{nd}g}")


def _pick(g: np.random.Generator, options: Any, p: Any = None) -> Any:
    options = list(options)
    return options[int(g.choice(len(options), p=p))]


def _flash_params(g: np.random.Generator, t0: float) -> dict[str, float]:
    """A flash crowd's parameters around the event at ``t0`` (the module docstring)."""
    return {"t0_s": _r(t0), "early_share": _r(g.uniform(0, 0.2)),
            "early_window_s": _r(t0), "push_window_s": _r(g.uniform(5, 60)),
            "reaction_median_s": _r(g.uniform(3, 30)),
            "reaction_sigma": _r(g.uniform(0.4, 1.2)),
            "tail_share": _r(g.uniform(0.05, 0.3)), "tail_tau_s": _r(g.uniform(30, 200))}


def _flash_peak_per_client(params: dict[str, float], horizon: float) -> tuple[float, float]:
    """Peak rate per unit audience and the share of the audience inside the horizon."""
    from sim.config import ArrivalsConfig
    from sim.model.arrivals import rate_function

    a = ArrivalsConfig(kind="flash_crowd", audience=1.0, **params)
    t = np.linspace(0.0, horizon, int(horizon * 10) + 1)
    r = rate_function(a)(t)
    return float(r.max()), float(np.trapezoid(r, t) if hasattr(np, "trapezoid")
                                 else np.trapz(r, t))


def draw(seed: int) -> GeneratedScenario:
    """The scenario of ``seed`` (see the module docstring for the space)."""
    if seed >= CONTENDED_FIRST:
        return draw_contended(seed)
    g = np.random.default_rng(seed)
    ov: list[str] = ["run.metrics_tick_s=1", "run.warmup_s=0"]
    f: dict[str, Any] = {}

    arch = _pick(g, ["single_station", "spaces", "spaces_hls", "spaces_waiting_room"],
                 [0.35, 0.35, 0.15, 0.15])
    ov.append(f"architecture={arch}")
    f["arch"] = arch
    spaces = arch != "single_station"
    horizon = _r(g.uniform(200, 500), 3)
    ov.append(f"run.horizon_s={horizon}")
    f["horizon"] = horizon

    # --- bottleneck station -----------------------------------------------------------
    if not spaces:
        bneck = "server"
    else:
        cands = ["edge", "auth", "token_store", "join"] + (["fanout"] if arch != "spaces_hls"
                                                           else [])
        bneck = _pick(g, cands)
    hot_key = bneck == "join" and g.uniform() < 0.5
    visits = 0.1 if bneck == "token_store" else 1.0
    f["B"] = bneck + (" (hot key)" if hot_key else "")
    regime = _pick(g, ["under", "near", "over"])
    rho = {"under": (0.3, 0.7), "near": (0.85, 1.05), "over": (1.2, 3.0)}[regime]
    rho = float(g.uniform(*rho))
    f["regime"], f["rho"] = regime, round(rho, 2)

    # --- arrivals ---------------------------------------------------------------------
    kind = _pick(g, ["constant", "ramp", "flash_crowd"], [0.3, 0.2, 0.5])
    n_cap = 10_000 if arch == "spaces_hls" else 40_000
    n_target = float(math.exp(g.uniform(math.log(3000), math.log(n_cap))))
    if kind == "constant":
        peak = min(n_target / horizon, MAX_PEAK_RPS)
        ov += ["arrivals=constant", f"arrivals.rate={_r(peak)}"]
        n_expected = peak * horizon
        arr_desc = f"constant {_r(peak, 3)}/s"
        t_event = 0.0
    elif kind == "ramp":
        t_a = float(g.uniform(0, 0.3)) * horizon
        t_b = float(g.uniform(0.5, 0.9)) * horizon
        r_a_share = float(g.uniform(0, 0.25))
        peak = min(2 * n_target / ((t_b - t_a) * (1 + r_a_share)), MAX_PEAK_RPS)
        ov += ["arrivals=ramp", f"arrivals.start_s={_r(t_a)}", f"arrivals.end_s={_r(t_b)}",
               f"arrivals.rate_start={_r(peak * r_a_share)}", f"arrivals.rate_end={_r(peak)}"]
        n_expected = peak * (t_b - t_a) * (1 + r_a_share) / 2
        arr_desc = f"ramp to {_r(peak, 3)}/s"
        t_event = t_a
    else:
        t0 = float(g.uniform(0.2, 0.4)) * horizon
        params = _flash_params(g, t0)
        per, inside = _flash_peak_per_client(params, horizon)
        audience = min(n_target / inside, MAX_PEAK_RPS / per)
        peak = audience * per
        n_expected = audience * inside
        ov += ["arrivals=flash_crowd", f"arrivals.audience={round(audience)}",
               *(f"arrivals.{k}={v}" for k, v in params.items())]
        arr_desc = f"flash crowd {round(audience)} (peak {_r(peak, 3)}/s)"
        t_event = t0
    f["arrivals"], f["clients_expected"] = kind, round(n_expected)

    # --- capacity, service, queue of bneck -------------------------------------------------
    cap = peak * visits / rho  # requests per second bneck can serve
    st = f"architecture.stations.{bneck}"
    dist = _pick(g, DISTS)
    cv = _r(g.uniform(0.2, 2.0), 3)
    lo, hi = (0.02, 1.0) if not spaces else (0.005, 0.1)
    mean = float(math.exp(g.uniform(math.log(lo), math.log(hi))))
    instances = int(g.integers(1, 4))
    if hot_key:
        ov.append(f"{st}.max_rate_rps={_r(cap)}")
        workers_total = None
        service_mean = 0.012
        cap_desc = f"hot key {_r(cap, 3)}/s"
    else:
        workers_total = max(1, round(cap * mean))
        wpi = max(1, math.ceil(workers_total / instances))
        instances = min(instances, workers_total)
        wpi = max(1, math.ceil(workers_total / instances))
        workers_total = instances * wpi
        service_mean = workers_total / cap
        ov += [f"{st}.instances={instances}", f"{st}.workers_per_instance={wpi}",
               f"{st}.service.dist={dist}", f"{st}.service.mean_s={_r(service_mean, 5)}",
               f"{st}.service.cv={cv}"]
        if bneck == "join":
            ov.append(f"{st}.max_rate_rps=null")
        cap_desc = f"{workers_total}w x {_r(service_mean, 3)}s {dist}" + (
            f"(cv {cv})" if dist not in ("exponential", "deterministic") else "")
        f["dist"], f["cv"] = dist, cv
        f["workers"] = workers_total
    f["service_mean"] = _r(service_mean, 3)
    q = _pick(g, ["unlimited", "small", "large"], [0.4, 0.3, 0.3])
    if q == "unlimited":
        ov.append(f"{st}.queue_limit=null")
    elif q == "small":
        ov.append(f"{st}.queue_limit={max(1, round((workers_total or 10) * g.uniform(0.5, 5)))}")
    else:
        ov.append(f"{st}.queue_limit={max(1, round(cap * g.uniform(2, 20)))}")
    f["queue"] = q
    drop = bool(g.uniform() < 0.5)
    ov.append(f"{st}.drop_expired={str(drop).lower()}")
    f["drop_expired"] = drop

    # --- clients ------------------------------------------------------------------------
    path_s = service_mean + (PATH_EXTRA_S if spaces else 0.0)
    tclass = _pick(g, ["none", "below_service", "comparable", "moderate", "far_above"],
                   [0.15, 0.1, 0.2, 0.3, 0.25])
    timeout = {"none": None, "below_service": path_s * g.uniform(0.3, 0.9),
               "comparable": path_s * g.uniform(1, 5), "moderate": g.uniform(0.5, 5),
               "far_above": g.uniform(10, 60)}[tclass]
    ov.append(f"clients.timeout_s={'null' if timeout is None else _r(timeout)}")
    f["timeout"] = tclass
    policy = _pick(g, RETRY_POLICIES)
    base_s = _r(g.uniform(0.1, 2.0), 3)
    ov += [f"clients.retry.policy={policy}", f"clients.retry.base_s={base_s}",
           f"clients.retry.cap_s={_r(base_s * g.uniform(2, 30), 3)}",
           f"clients.retry.max_attempts={int(g.integers(1, 7))}"]
    f["retry"] = policy
    imp = _pick(g, [0.0, 0.1, 0.3])
    ov += [f"clients.impatient_share={imp}",
           f"clients.impatient_retry_s={_r(g.uniform(0.5, 3), 3)}"]
    f["impatient"] = imp
    patience = None if g.uniform() < 0.4 else _r(g.uniform(5, 120), 3)
    ov.append(f"clients.patience_s={'null' if patience is None else patience}")
    f["patience"] = patience is not None
    ov += [f"clients.session.dist={_pick(g, ['lognormal', 'exponential'])}",
           f"clients.session.mean_s={_r(g.uniform(30, 600), 3)}",
           f"clients.reconnect={str(bool(g.uniform() < 0.5)).lower()}"]
    pols = []
    if g.uniform() < 0.25:
        pols.append("retry_budget")
        ov += ["clients.retry_budget.enabled=true",
               f"clients.retry_budget.scope={_pick(g, ['shared', 'per_client'])}",
               f"clients.retry_budget.capacity={_r(g.uniform(20, 500), 3)}"]
    if g.uniform() < 0.25:
        pols.append("adaptive_throttling")
        ov += ["clients.adaptive_throttling.enabled=true",
               f"clients.adaptive_throttling.scope={_pick(g, ['shared', 'per_client'])}",
               f"clients.adaptive_throttling.k={_r(g.uniform(1.5, 3), 3)}",
               f"clients.adaptive_throttling.window_s={_r(g.uniform(10, 120), 3)}"]
    if g.uniform() < 0.25:
        pols.append("circuit_breaker")
        ov += ["clients.circuit_breaker.enabled=true",
               f"clients.circuit_breaker.scope={_pick(g, ['shared', 'per_client'])}",
               f"clients.circuit_breaker.failure_ratio={_r(g.uniform(0.3, 0.7), 3)}",
               f"clients.circuit_breaker.min_requests={int(g.integers(10, 41))}",
               f"clients.circuit_breaker.window_s={_r(g.uniform(5, 20), 3)}",
               f"clients.circuit_breaker.cooldown_s={_r(g.uniform(2, 10), 3)}"]
    f["client_policies"] = pols

    # --- autoscaler ---------------------------------------------------------------------
    autoscaler = "none" if g.uniform() < 0.4 else _pick(g, AUTOSCALERS)
    f["autoscaler"] = autoscaler
    f["scale_in"] = False
    if autoscaler != "none":
        ov += [f"autoscaler={autoscaler}", f"autoscaler.stations=[{bneck}]",
               f"{st}.autoscale=true",
               f"{st}.provisioning_delay_s={_r(g.uniform(5, 60), 3)}"]
        start = instances
        if not hot_key and g.uniform() < 0.5:
            start = instances * int(g.integers(2, 5))
            ov += [f"{st}.instances={start}", f"{st}.min_instances=1"]
            f["scale_in"] = True
        ov.append(f"{st}.max_instances={start * int(g.integers(2, 7))}")
        if autoscaler == "hpa":
            ov += [f"autoscaler.sync_period_s={_r(g.uniform(5, 15), 3)}",
                   "autoscaler.behavior.scale_down.stabilization_window_s="
                   f"{_r(g.uniform(30, 120), 3)}"]
        else:
            ov.append(f"autoscaler.sync_period_s={_r(g.uniform(10, 30), 3)}")
        if autoscaler in ("target_tracking", "scheduled", "predictive", "warm_pool"):
            ov += [f"autoscaler.datapoints_out={int(g.integers(1, 4))}",
                   f"autoscaler.datapoints_in={int(g.integers(2, 6))}"]
        if autoscaler == "simple":
            ov.append(f"autoscaler.cooldown_s={_r(g.uniform(30, 120), 3)}")
        if autoscaler == "step":
            ov.append(f"autoscaler.warmup_s={_r(g.uniform(10, 60), 3)}")
        if autoscaler == "scheduled":
            ov += [f"autoscaler.event_start_s={_r(t_event)}",
                   f"autoscaler.schedule=[{{at_s: {-_r(g.uniform(10, 60), 3)}, "
                   f"min_instances: {2 * start}}}, {{at_s: {_r(g.uniform(30, 120), 3)}, "
                   f"min_instances: 1}}]"]
        if autoscaler == "predictive":
            ov += [f"autoscaler.predictive.lead_s={_r(g.uniform(30, 120), 3)}",
                   f"autoscaler.predictive.period_s={_r(g.uniform(15, 60), 3)}",
                   f"autoscaler.predictive.forecast_error={_r(g.uniform(-0.3, 0.3), 3)}"]
        if autoscaler == "warm_pool":
            ov += [f"autoscaler.warm_pool.size={int(g.integers(2, 11))}",
                   f"autoscaler.warm_pool.delay_s={_r(g.uniform(5, 20), 3)}"]

    # --- attack and mitigation ----------------------------------------------------------
    attack = "none"
    mitigation = "none"
    if spaces and g.uniform() < 0.4:
        attack = _pick(g, list(ATTACKS))
        mitigation = _pick(g, MITIGATIONS)
        ov += [f"attack={attack}", f"mitigation={mitigation}"]
        total_rate = 0.0
        for v in ATTACKS[attack]:
            key = f"attack.vectors.{v}"
            a0 = float(g.uniform(0.1, 0.5)) * horizon
            a1 = a0 + float(g.uniform(0.2, 0.5)) * horizon
            ov += [f"{key}.start_s={_r(a0)}", f"{key}.end_s={_r(a1)}",
                   f"{key}.ramp_s={_r(g.uniform(0, 20), 3)}"]
            if v == "volumetric":
                gbps = _r(g.uniform(0.5, 2.0), 3)
                ov += [f"{key}.gbps={gbps}",
                       f"architecture.stations.edge.link_gbps={_r(gbps / g.uniform(0.7, 2.5), 3)}"]
                continue
            share = {"auth_flood": (0.05, 0.5), "connection_exhaustion": (0.1, 0.5)}.get(
                v, (0.2, 1.5))
            rate = peak * float(g.uniform(*share))
            total_rate += rate
            ov += [f"{key}.rate_rps={_r(rate)}",
                   f"{key}.sources={max(1, round(rate / g.uniform(1, 20)))}"]
            if v == "connection_exhaustion":
                hold = float(g.uniform(10, 60))
                conns = max(1, round(rate * hold * g.uniform(0.3, 1.5) / 4))
                ov += [f"{key}.hold_s={_r(hold, 3)}",
                       f"architecture.stations.edge.connections_per_instance={conns}"]
            if v == "bot_listeners":
                ov.append(f"{key}.session_s={_r(g.uniform(60, 600), 3)}")
                if arch != "spaces_hls":
                    slots = max(1, math.ceil(n_expected * g.uniform(0.6, 1.5) / 16))
                    ov.append(f"architecture.stations.fanout.listener_slots_per_instance={slots}")
        if g.uniform() < 0.3:
            ov.append("architecture.stations.edge.rate_limit_rps="
                      f"{_r((peak + total_rate) * g.uniform(0.7, 1.5))}")
            f["edge_rate_limit"] = True
    f["attack"], f["mitigation"] = attack, mitigation

    # --- waiting room and HLS -------------------------------------------------------------
    room = arch == "spaces_waiting_room" or (not spaces and g.uniform() < 0.1)
    f["waiting_room"] = room
    if room:
        admit = cap / visits * float(g.uniform(0.5, 1.2))
        wr = "architecture.waiting_room"
        ov += [f"{wr}.enabled=true", f"{wr}.admit_rps={_r(admit)}",
               f"{wr}.burst={_r(g.uniform(1, max(1.0, admit)))}"]
        wpat = None if g.uniform() < 0.5 else _r(g.uniform(10, 120), 3)
        ov.append(f"{wr}.patience_s={'null' if wpat is None else wpat}")
        if g.uniform() < 0.3:
            ov += [f"{wr}.watch={bneck}",
                   f"{wr}.max_in_system={max(1, round((workers_total or 10) * g.uniform(1, 3)))}"]
    if arch == "spaces_hls":
        ov.append(f"architecture.polling.rps_per_listener={_r(g.uniform(0.01, 0.1), 3)}")
    window = _pick(g, [20, 30, 60])
    ov.append(f"slo.window_s={window}")

    name = f"gen{seed}"
    ov.append(f"name={name}")
    parts = [arch, f"B={f['B']}", f"{regime} rho={rho:.2f}", cap_desc, f"queue {q}",
             "drop_expired" if drop else "", arr_desc, f"~{round(n_expected)} clients",
             f"timeout {tclass}" + ("" if timeout is None else f" {_r(timeout, 2)}s"),
             f"retry {policy}", f"patience {patience}" if patience else "",
             f"impatient {imp}" if imp else "", "+".join(pols),
             f"autoscaler {autoscaler}" + (" (scale-in)" if f["scale_in"] else "")
             if autoscaler != "none" else "",
             f"attack {attack}/{mitigation}" if attack != "none" else "",
             "waiting room" if room and arch != "spaces_waiting_room" else ""]
    desc = ", ".join(p for p in parts if p)
    return GeneratedScenario(seed, name, ov, desc, f)


def draw_contended(seed: int) -> GeneratedScenario:
    """A scenario of the contended family (see the module docstring)."""
    g = np.random.default_rng(seed)
    ov: list[str] = ["run.metrics_tick_s=1", "run.warmup_s=0", "mitigation=none",
                     "autoscaler=none"]
    f: dict[str, Any] = {"family": "contended", "autoscaler": "none", "scale_in": False,
                         "waiting_room": False, "client_policies": [], "mitigation": "none"}
    arch = _pick(g, ["spaces", "spaces_hls"], [0.7, 0.3])
    horizon = _r(g.uniform(200, 400), 3)
    ov += [f"architecture={arch}", f"run.horizon_s={horizon}"]
    bneck = _pick(g, ["auth", "edge"], [0.75, 0.25])
    f["arch"], f["horizon"], f["B"] = arch, horizon, bneck

    # --- B: a fluid station's size ---------------------------------------------------------
    cap = float(g.uniform(1200, 3000))
    dist = _pick(g, DISTS)
    cv = _r(g.uniform(0.2, 2.0), 3)
    mean = float(math.exp(g.uniform(math.log(0.004), math.log(0.05))))
    instances = int(g.integers(1, 4))
    wpi = max(1, math.ceil(cap * mean / instances))
    workers = instances * wpi
    service_mean = workers / cap
    st = f"architecture.stations.{bneck}"
    ov += [f"{st}.instances={instances}", f"{st}.workers_per_instance={wpi}",
           f"{st}.service.dist={dist}", f"{st}.service.mean_s={_r(service_mean, 6)}",
           f"{st}.service.cv={cv}", f"{st}.autoscale=false"]
    if bneck == "edge":
        ov += [f"{st}.rate_limit_rps=null", f"{st}.connections_per_instance=null"]
    q = _pick(g, ["unlimited", "small", "short"], [0.25, 0.35, 0.4])
    limit = {"unlimited": None, "small": max(1, round(workers * g.uniform(0.5, 5))),
             "short": max(1, round(cap * g.uniform(0.05, 0.5)))}[q]
    drop = bool(g.uniform() < 0.5)
    ov += [f"{st}.queue_limit={'null' if limit is None else limit}",
           f"{st}.drop_expired={str(drop).lower()}"]
    f.update(dist=dist, cv=cv, workers=workers, service_mean=_r(service_mean, 4), queue=q,
             drop_expired=drop)

    # --- load: clients and attack together over rho x cap --------------------------------
    rho = float(g.uniform(1.1, 1.3))
    share = float(g.uniform(0.05, 0.4))
    legit_peak = min(share * rho * cap, MAX_PEAK_RPS)
    attack_rate = rho * cap - legit_peak
    a0 = float(g.uniform(0.15, 0.35)) * horizon
    a1 = a0 + float(g.uniform(60, 150))
    f["regime"], f["rho"] = "contended", round(rho, 2)
    if g.uniform() < 0.5:
        ov += ["arrivals=constant", f"arrivals.rate={_r(legit_peak)}"]
        n_expected = legit_peak * horizon
        arr_desc = f"constant {_r(legit_peak, 3)}/s"
        f["arrivals"] = "constant"
    else:
        t0 = max(1.0, a0 + float(g.uniform(-30, 30)))
        params = _flash_params(g, t0)
        per, inside = _flash_peak_per_client(params, horizon)
        audience = legit_peak / per
        n_expected = audience * inside
        ov += ["arrivals=flash_crowd", f"arrivals.audience={round(audience)}",
               *(f"arrivals.{k}={v}" for k, v in params.items())]
        arr_desc = f"flash crowd {round(audience)} (peak {_r(legit_peak, 3)}/s)"
        f["arrivals"] = "flash_crowd"
    f["clients_expected"] = round(n_expected)
    kind = _pick(g, ["l7_join_flood", "auth_flood", "both"], [0.5, 0.2, 0.3])
    split = float(g.uniform(0.3, 0.7)) if kind == "both" else 1.0
    vectors = {"l7_join_flood": attack_rate * split, "auth_flood": attack_rate * (1 - split)}
    if kind != "both":
        vectors = {kind: attack_rate}
    ov.append(f"attack={'mixed' if kind == 'both' else kind}")
    if kind == "both":  # the mixed preset's other vectors off
        ov += ["attack.vectors.volumetric.gbps=0", "attack.vectors.bot_listeners.rate_rps=0",
               "attack.vectors.connection_exhaustion.rate_rps=0"]
    ramp = _r(g.uniform(0, 10), 3)
    for v, rate in vectors.items():
        key = f"attack.vectors.{v}"
        ov += [f"{key}.rate_rps={_r(rate)}", f"{key}.start_s={_r(a0)}", f"{key}.end_s={_r(a1)}",
               f"{key}.ramp_s={ramp}", f"{key}.sources={max(1, round(rate / g.uniform(1, 20)))}"]
    f["attack"] = kind

    # --- clients --------------------------------------------------------------------------
    timeout = None if g.uniform() < 0.15 else _r(g.uniform(3, 30), 3)
    policy = _pick(g, RETRY_POLICIES)
    base_s = _r(g.uniform(1, 3), 3)
    patience = None if g.uniform() < 0.4 else _r(g.uniform(20, 120), 3)
    ov += [f"clients.timeout_s={'null' if timeout is None else timeout}",
           f"clients.retry.policy={policy}", f"clients.retry.base_s={base_s}",
           f"clients.retry.cap_s={_r(base_s * g.uniform(2, 10), 3)}",
           f"clients.retry.max_attempts={int(g.integers(1, 7))}",
           "clients.impatient_share=0",
           f"clients.patience_s={'null' if patience is None else patience}",
           f"clients.session.mean_s={_r(g.uniform(30, 600), 3)}",
           f"clients.reconnect={str(bool(g.uniform() < 0.5)).lower()}"]
    f["timeout"], f["retry"], f["patience"] = ("none" if timeout is None else "moderate",
                                                policy, patience is not None)
    if arch == "spaces_hls":
        ov.append(f"architecture.polling.rps_per_listener={_r(g.uniform(0.01, 0.1), 3)}")
    ov += [f"slo.window_s={_pick(g, [20, 30, 60])}", f"name=gen{seed}"]
    desc = ", ".join(p for p in [
        arch, f"B={bneck}", f"contended rho={rho:.2f}",
        f"{workers}w x {_r(service_mean, 4)}s {dist}"
        + (f"(cv {cv})" if dist not in ("exponential", "deterministic") else ""),
        f"queue {q}" + ("" if limit is None else f" {limit}"),
        "drop_expired" if drop else "", arr_desc, f"~{round(n_expected)} clients",
        f"attack {kind} {_r(attack_rate, 4)}/s for {_r(a1 - a0, 3)}s",
        f"timeout {timeout}s" if timeout else "no timeout", f"retry {policy}",
        f"patience {patience}" if patience else ""] if p)
    return GeneratedScenario(seed, f"gen{seed}", ov, desc, f)


if __name__ == "__main__":  # pragma: no cover - a look at the space
    import sys

    for s in range(int(sys.argv[1]) if len(sys.argv) > 1 else 10):
        sc = draw(s)
        print(s, sc.description)
