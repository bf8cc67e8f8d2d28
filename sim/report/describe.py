"""Words and numbers for the report: the verdict, the scenario paragraph, the tables.

Everything here turns a ``RunData`` into plain strings and rows (no markup), so the HTML
and Markdown templates show the same text and the tests can check it in both. Missing
or null values (no joins, so no latency percentiles; an older summary without a key)
become "n/a" instead of failing. Nothing here judges the run: the verdict restates what
the analysis layer wrote in ``summary.json`` (``slo.met``, ``first_breach_s``,
``bottleneck``, ``recovered_s``).

The summary is read through its type (``sim.summary.Summary``, kept whole by
``conform`` when the run directory is read), so the type checker knows every key read
here; the config is the run's config.yaml as YAML reads it (an older run's may lack keys
the schema has now), read with ``get``.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Any

from .. import series as cols
from .. import summary as schema
from ..analysis.coverage import get_path
from ..summary import (
    Metastability,
    Replications,
    Resolution,
    Summary,
    breached_s,
    recovered_s,
    worst_p99_s,
    worst_success_ratio,
)
from .load import RunData

NA = "n/a"


# -- numbers --------------------------------------------------------------------------------

def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def fmt_num(x: Any, digits: int = 3) -> str:
    """A count or a measurement: whole numbers with thousands separators, others with
    ``digits`` significant digits; "n/a" for null and NaN."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if _missing(x):
        return NA
    if not isinstance(x, int | float):
        return str(x)
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def fmt_s(x: Any) -> str:
    """Seconds, with the unit."""
    if _missing(x) or isinstance(x, bool) or not isinstance(x, int | float):
        return NA
    if 0 < abs(x) < 1e-4:
        return "<0.0001 s"  # below the resolution anyone plans capacity at
    return f"{fmt_num(x)} s"


def fmt_pct(x: Any) -> str:
    """A share in [0, 1] as a percentage."""
    if _missing(x) or isinstance(x, bool) or not isinstance(x, int | float):
        return NA
    p = 100.0 * x
    if 0 < p < 0.1:
        return "<0.1%"
    return f"{p:.1f}%"


def fmt_ratio(x: Any) -> str:
    """A ratio near one, such as attempts per client."""
    if _missing(x) or isinstance(x, bool) or not isinstance(x, int | float):
        return NA
    return f"{x:.2f}"


get = get_path  # ``d[k1][k2]...`` or None where any level is missing (a config's keys)


# -- verdict --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """The one-line answer to "did it hold?"; ``status`` is met, breached or not_judged."""

    status: str
    text: str


def verdict(summary: Summary, gaps: list[str] | None = None) -> Verdict:
    """The SLO line; ``gaps`` (what of its load the run did not cover, see ``coverage``)
    turn "met" into "not judged": holding without the load is no answer."""
    slo = summary["slo"]
    met = slo["met"]
    if met is True and gaps:
        return Verdict("not_judged", "SLO not judged over the load: " + "; ".join(gaps))
    if met is True:
        return Verdict("met", "SLO met")
    if met is None:
        return Verdict("not_judged", "SLO not judged (no metrics ticks were recorded)")
    first = fmt_num(slo["first_breach_s"])
    text = f"SLO breached at t = {first} s; bottleneck: {slo['bottleneck'] or NA}; "
    recovered = recovered_s(slo)
    text += "not recovered" if _missing(recovered) else f"recovered at {fmt_num(recovered)} s"
    return Verdict("breached", text)


# -- the scenario, from config.yaml -----------------------------------------------------------

def describe_arrivals(a: Mapping[str, Any]) -> str:
    kind = a.get("kind")
    if kind == "constant":
        return f"constant arrivals at {fmt_num(a.get('rate'))} clients/s"
    if kind == "flash_crowd":
        return (f"a flash crowd of {fmt_num(a.get('audience'))} clients with the scheduled "
                f"start (push notification) at t = {fmt_num(a.get('t0_s'))} s, "
                f"{fmt_pct(a.get('early_share'))} arriving early and "
                f"{fmt_pct(a.get('tail_share'))} in the tail")
    if kind == "ramp":
        return (f"arrivals ramping from {fmt_num(a.get('rate_start'))} to "
                f"{fmt_num(a.get('rate_end'))} clients/s between t = "
                f"{fmt_num(a.get('start_s'))} s and {fmt_num(a.get('end_s'))} s")
    if kind == "diurnal":
        return (f"diurnal arrivals around {fmt_num(a.get('base_rate'))} clients/s "
                f"(amplitude {fmt_pct(a.get('amplitude'))}, period "
                f"{fmt_num(a.get('period_s'))} s)")
    if kind == "trace":
        return (f"arrivals following the trace {a.get('path') or NA} scaled by "
                f"{fmt_num(a.get('scale'))}")
    if kind == "sum":
        parts = [describe_arrivals(c) for c in a.get("components") or []
                 if isinstance(c, Mapping)]
        return "the sum of " + "; ".join(parts) if parts else "a sum of arrival curves"
    return f"{kind or 'unknown'} arrivals"


def describe_clients(c: Mapping[str, Any]) -> str:
    timeout = c.get("timeout_s")
    parts = ["no per-attempt timeout" if timeout is None
             else f"a {fmt_num(timeout)} s timeout per attempt"]
    retry = c.get("retry") or {}
    policy = retry.get("policy")
    if policy in (None, "none") or retry.get("max_attempts") == 1:
        parts.append("no retries")
    else:
        parts.append(f"{policy} retries (base {fmt_num(retry.get('base_s'))} s, cap "
                     f"{fmt_num(retry.get('cap_s'))} s) up to "
                     f"{fmt_num(retry.get('max_attempts'))} attempts")
    if c.get("impatient_share"):
        again = c.get("impatient_retry_s")
        when = f"after {fmt_num(again)} s" if again else "at once"
        parts.append(f"{fmt_pct(c.get('impatient_share'))} impatient (pressing join again "
                     f"{when}, no backoff)")
    patience = c.get("patience_s")
    parts.append("no abandonment" if patience is None
                 else f"abandoning {fmt_num(patience)} s after the first attempt")
    return ", ".join(parts)


def describe_autoscaler(a: Mapping[str, Any]) -> str:
    kind = a.get("kind") or "none"
    if kind == "none":
        return "no autoscaler"
    if kind == "hpa":
        return (f"a Kubernetes HPA autoscaler (target utilization "
                f"{fmt_pct(a.get('target_utilization'))}, sync every "
                f"{fmt_num(a.get('sync_period_s'))} s)")
    names = {"target_tracking": "an AWS target-tracking", "step": "an AWS step-scaling",
             "simple": "an AWS simple-scaling"}
    if kind not in names:
        return f"the {kind} autoscaler"
    extras = []
    if a.get("schedule"):
        extras.append(f"{len(a['schedule'])} scheduled actions")
    if (a.get("predictive") or {}).get("enabled"):
        extras.append("predictive scaling")
    if (a.get("warm_pool") or {}).get("size"):
        extras.append(f"a warm pool of {a['warm_pool']['size']}")
    more = f", with {', '.join(extras)}" if extras else ""
    return (f"{names[kind]} autoscaler (target utilization "
            f"{fmt_pct(a.get('target_utilization'))}, every "
            f"{fmt_num(a.get('sync_period_s'))} s{more})")


def describe_attack(a: Mapping[str, Any]) -> str:
    vectors = a.get("vectors") or {}
    name = a.get("name") or "none"
    if not vectors:
        return "no attack" if name == "none" else f"the attack {name} (no vectors)"
    parts = []
    for vname, v in vectors.items():
        if not isinstance(v, Mapping):
            continue
        kind = f" ({v['kind']})" if v.get("kind") and v.get("kind") != vname else ""
        parts.append(f"{vname}{kind}: {fmt_num(v.get('rate_rps'))} req/s into "
                     f"{v.get('enter')} from t = {fmt_num(v.get('start_s'))} s to "
                     f"{fmt_num(v.get('end_s'))} s")
    return f"the attack {name} ({'; '.join(parts)})"


def _mitigation(cfg: Mapping[str, Any]) -> str:
    m = cfg.get("mitigation")
    name = m.get("name") if isinstance(m, Mapping) else None
    if not name or name == "none":
        return ""
    return f", mitigated by {name}"


def describe_mode(s: Summary, r: Mapping[str, Any]) -> str:
    """How the run was computed: the mode, the tick and why (summary ``resolution``).

    A run written before the mode was recorded has no ``resolution`` (None throughout
    once conformed; absent from a summary built by hand), and the config's
    ``run.resolution_s`` (``r``) says what was asked for."""
    res: Resolution | None = s.get("resolution")
    if res is not None and res["mode"] is not None:
        head = ("exact mode" if res["mode"] == "exact"
                else f"cohort mode at {fmt_num(res['tick_s'])} s ticks")
        text = f"{head} ({res['reason'] or NA})"
        if res["warning"]:
            text += f". Warning: {res['warning']}"
        return text
    resolution = r.get("resolution_s")
    recorded: str | None = s.get("mode")
    mode = recorded or ("exact" if not resolution else "cohort")
    if mode == "exact":
        return "exact mode"
    if not isinstance(resolution, int | float):  # "auto", decided run by run
        return f"the mode auto picks for each run (run.resolution_s = {resolution})"
    return f"{mode} mode ({fmt_num(resolution)} s resolution)"


def describe_scenario(run: RunData) -> str:
    """One paragraph: architecture, arrivals, clients, autoscaler, attack, seed, horizon."""
    cfg, s = run.config, run.summary
    if not cfg:
        return ("No config.yaml in the run directory, so the scenario cannot be described; "
                f"seed {fmt_num(s['seed'])}, horizon {fmt_s(s['horizon_s'])}, "
                f"{s['mode'] or NA} mode.")
    arch = cfg.get("architecture") or {}
    stations = list(arch.get("stations") or run.stations)
    r = cfg.get("run") or {}
    mode_text = describe_mode(s, r)
    return (f"The {arch.get('name') or NA} architecture ({len(stations)} "
            f"station{'s' if len(stations) != 1 else ''}: "
            f"{', '.join(stations)}; entry {arch.get('entry') or NA}) receives "
            f"{describe_arrivals(cfg.get('arrivals') or {})}. "
            f"Clients have {describe_clients(cfg.get('clients') or {})}. "
            f"The run has {describe_autoscaler(cfg.get('autoscaler') or {})} and "
            f"{describe_attack(cfg.get('attack') or {})}{_mitigation(cfg)}. "
            f"Seed {fmt_num(r.get('seed', s['seed']))}, horizon "
            f"{fmt_s(r.get('horizon_s', s['horizon_s']))}, warm-up "
            f"{fmt_s(r.get('warmup_s'))}, metrics every {fmt_s(r.get('metrics_tick_s'))}, "
            f"{mode_text}.")


# -- tables ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    """Rows of already formatted cells; ``numeric`` marks right-aligned columns.

    Numeric cells stay on one line in the HTML page, and so do the text columns listed in
    ``nowrap`` (a verdict such as NO-GO); other cells wrap to fit the page.
    """

    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    nowrap: tuple[int, ...] = ()


def funnel_table(s: Summary) -> Table:
    legit = s["legit"]
    arrived = legit["arrived"]

    def share(x: Any) -> str:
        if _missing(x) or not arrived:
            return ""
        return fmt_pct(x / arrived)

    rows = [
        ["Arrived", fmt_num(arrived), share(arrived)],
        ["Joined", fmt_num(legit["joined"]), share(legit["joined"])],
        ["Abandoned", fmt_num(legit["abandoned"]), share(legit["abandoned"])],
        ["In flight at the horizon", fmt_num(legit["in_flight"]), share(legit["in_flight"])],
        ["Join attempts", fmt_num(legit["attempts"]), ""],
        ["Attempts per client", fmt_ratio(legit["attempts_per_client"]), ""],
    ]
    return Table(["Legit clients", "Count", "Share of arrived"], rows, [False, True, True])


def latency_table(s: Summary) -> Table:
    lat = s["join_latency_s"]
    shown = (lat["mean"], lat["p50"], lat["p90"], lat["p99"], lat["max"])
    return Table(["mean", "p50", "p90", "p99", "max", "clients"],
                 [[*map(fmt_s, shown), fmt_num(lat["n"])]], [True] * 6)


def station_table(s: Summary) -> Table:
    header = ["Station", "Offered", "Served", "Rejected", "Timed out", "Peak queue",
              "Instances max", "Utilization mean", "Wait mean", "Wait p99"]
    rows = []
    for name, st in s["stations"].items():
        counts = (st["offered"], st["served"], st["rejected"], st["timed_out"],
                  st["peak_queue"], st["instances_max"])
        rows.append([str(name), *map(fmt_num, counts), fmt_pct(st["utilization_mean"]),
                     fmt_s(st["wait_s"]["mean"]), fmt_s(st["wait_s"]["p99"])])
    return Table(header, rows, [False] + [True] * 9)


def attack_table(s: Summary) -> Table | None:
    attack = s["attack"]
    if not attack["offered"]:
        return None
    rows = [["All vectors", *map(fmt_num, (attack["offered"], attack["mitigated"],
                                           attack["served"]))]]
    for name, v in attack["vectors"].items():
        rows.append([str(name), *map(fmt_num, (v["offered"], v["mitigated"], v["served"]))])
    return Table(["Attack requests", "Offered", "Mitigated", "Served"], rows,
                 [False, True, True, True])


def slo_text(s: Summary, cfg: Mapping[str, Any]) -> str:
    """What the SLO is, in one sentence, from the summary (or, where a summary written
    before them lacks its thresholds, the config)."""
    slo, conf = s["slo"], cfg.get("slo") or {}
    window: float | None = slo.get("window_s", conf.get("window_s"))
    least: float | None = slo.get("join_success_min", conf.get("join_success_min"))
    most: float | None = slo.get("join_p99_max_s", conf.get("join_p99_max_s"))
    tested = "" if slo.get("success_test", "ratio") == "ratio" else (
        f" (a window's share breaches only when its failures exceed that budget at "
        f"{fmt_pct(slo.get('success_confidence'))} confidence, a one-sided binomial test)")
    return (f"Judged over sliding {fmt_s(window)} windows: at least {fmt_pct(least)} of "
            f"finished join attempts succeed{tested} and the p99 join latency (first "
            f"attempt to joined) is at most {fmt_s(most)}. Time in breach: "
            f"{fmt_s(breached_s(slo))}; worst success ratio "
            f"{fmt_pct(worst_success_ratio(slo))}; worst p99 "
            f"{fmt_s(worst_p99_s(slo))}.")


def reproduce_command(overrides: list[str] | None) -> str | None:
    if overrides is None:
        return None
    return " ".join(["python -m sim", *(shlex.quote(o) for o in overrides)])


def index_row(run: RunData, rel: str) -> dict[str, Any]:
    """One line of the multirun index."""
    s = run.summary
    legit, slo = s["legit"], s["slo"]
    return {
        "dir": rel,
        "name": run.name,
        "overrides": " ".join(run.overrides or []),
        "joined": f"{fmt_num(legit['joined'])} / {fmt_num(legit['arrived'])}",
        "abandoned": fmt_num(legit["abandoned"]),
        "attempts_per_client": fmt_ratio(legit["attempts_per_client"]),
        "p99": fmt_s(s["join_latency_s"]["p99"]),
        "met": fmt_num(slo["met"]) if slo["met"] is not None else NA,
        "first_breach": "none" if slo["met"] is True else fmt_s(slo["first_breach_s"]),
        "bottleneck": "none" if slo["met"] is True else (slo["bottleneck"] or NA),
        "status": s["status"] or "",
    }


# -- findings -------------------------------------------------------------------------------

def _before(t: Any, trigger: Any) -> bool:
    """True if both are times and ``t`` is at or before ``trigger``."""
    return (isinstance(t, int | float) and isinstance(trigger, int | float)
            and not _missing(t) and not _missing(trigger) and t <= trigger)


def recovery_text(s: Summary, series: Mapping[str, Any] | None = None) -> str:
    """Recovery or metastability: the ``metastability`` block when the run has one, else
    what the SLO evaluation says about recovery."""
    slo = s["slo"]
    meta: Metastability | None = s.get("metastability")
    if meta:
        trigger = meta["trigger_end_s"]
        after = f" after the trigger ended at t = {fmt_num(trigger)} s" \
            if not _missing(trigger) else ""
        if meta["stays_down"]:
            text = (f"Metastable: the join path stays down{after}, held there by retries "
                    f"(amplification {fmt_ratio(meta['amplification_end'])} attempts per "
                    f"client at the end, peak {fmt_ratio(meta['amplification_peak'])}).")
        elif meta["recovered"]:
            peak = f"retry amplification peaked at {fmt_ratio(meta['amplification_peak'])}"
            slo_rec, rec = recovered_s(slo), meta["recovered_s"]
            if _before(slo_rec, trigger):
                # Good again before the trigger ended: no recovery after it to speak of.
                text = (f"The SLO recovered at t = {fmt_num(slo_rec)} s, with the trigger "
                        f"still on (it ends at t = {fmt_num(trigger)} s); not metastable "
                        f"({peak}).")
            elif not _missing(rec) and not _missing(trigger) and rec == trigger:
                text = (f"The SLO holds from the end of the trigger (t = "
                        f"{fmt_num(trigger)} s) to the horizon; not metastable ({peak}).")
            else:
                text = f"Recovered{after} at t = {fmt_num(rec)} s ({peak})."
        elif not _missing(recovered_s(slo)):
            text = (f"The SLO recovered at t = {fmt_num(recovered_s(slo))} s, with the "
                    f"trigger still on (it ends at t = {fmt_num(trigger)} s); not "
                    f"metastable.")
        else:
            ends = f"; the trigger ends at t = {fmt_num(trigger)} s" \
                if not _missing(trigger) else ""
            text = (f"Not recovered by the horizon{ends}; not judged metastable "
                    f"(amplification at the end "
                    f"{fmt_ratio(meta['amplification_end'])}).")
        return text
    if slo["met"] is True:
        return "No breach, so nothing to recover from."
    if slo["met"] is None:
        return NA
    rec = recovered_s(slo)
    if _missing(rec) or not isinstance(rec, int | float):
        return "Not recovered by the horizon (metastability not analysed in this run)."
    first = float(slo["first_breach_s"] or 0.0)
    text = (f"Recovered at t = {fmt_num(rec)} s, {fmt_s(float(rec) - first)} after the "
            f"first breach")
    breached = breached_s(slo)
    if isinstance(breached, int | float) and not math.isclose(breached, float(rec) - first):
        text += f" ({fmt_s(breached)} in breach in all)"
    return text + "."


def amplification_text(s: Summary, series: Mapping[str, Any]) -> str:
    """Retry amplification: attempts per client over the run, and its peak over time."""
    legit = s["legit"]
    text = (f"{fmt_ratio(legit['attempts_per_client'])} join attempts per client over the "
            f"run ({fmt_num(legit['retries'])} retries)")
    col = series.get(cols.AMPLIFICATION)
    if col is not None and len(col):
        import numpy as np

        finite = col[np.isfinite(col)]
        if len(finite):
            t = series[cols.TIME][np.isfinite(col)]
            i = int(np.argmax(finite))
            text += (f"; over time (attempts ÷ clients attempting, per window) it peaks at "
                     f"{fmt_ratio(float(finite[i]))} at t = {fmt_num(float(t[i]))} s")
    meta: Metastability | None = s.get("metastability")
    if meta is not None and not _missing(meta["amplification_peak"]) and col is None:
        text += f"; peak {fmt_ratio(meta['amplification_peak'])}"
    return text + "."


def cost_text(s: Summary) -> str:
    cost = s["cost"]
    if _missing(cost["usd"]):
        return NA
    parts = [f"{name} {fmt_usd(st['usd'])}" for name, st in cost["stations"].items()
             if not _missing(st["usd"])]
    detail = f" ({', '.join(parts)})" if parts else ""
    return f"{fmt_usd(cost['usd'])} of instance time over the run{detail}."


def fmt_usd(x: Any) -> str:
    if _missing(x) or isinstance(x, bool) or not isinstance(x, int | float):
        return NA
    return f"${x:,.2f}"


def attack_text(s: Summary) -> str:
    attack = s["attack"]
    offered = attack["offered"]
    if not offered:
        return "No attack traffic."
    text = (f"{fmt_num(offered)} attack requests offered, {fmt_num(attack['mitigated'])} "
            f"({fmt_pct((attack['mitigated'] or 0) / offered)}) removed by mitigation, "
            f"{fmt_num(attack['served'])} served")
    parts = []
    for name in schema.MITIGATIONS:
        m = s["mitigation"].get(name)
        if m is not None and (m["attack_removed"] or m["legit_removed"]):
            parts.append(f"{name} removed {fmt_num(m['attack_removed'])} attack and "
                         f"{fmt_num(m['legit_removed'])} legit requests")
    if parts:
        text += "; " + "; ".join(parts)
    return text + "."


def findings_rows(run: RunData) -> list[tuple[str, str]]:
    """The findings of one run as (what, finding) rows."""
    s = run.summary
    slo, legit = s["slo"], s["legit"]
    met = slo["met"]
    rows = [
        ("SLO", "met throughout" if met is True else NA if met is None else
         f"breached, first at t = {fmt_num(slo['first_breach_s'])} s; "
         f"{fmt_s(breached_s(slo))} in breach; worst window "
         f"{fmt_pct(worst_success_ratio(slo))} success, p99 "
         f"{fmt_s(worst_p99_s(slo))}"),
        ("Bottleneck tier", "none (no breach)" if met is True
         else str(slo["bottleneck"] or NA)),
        ("Recovery", recovery_text(s, run.series)),
        ("Retry amplification", amplification_text(s, run.series)),
        ("Clients", f"{fmt_num(legit['joined'])} of {fmt_num(legit['arrived'])} "
                    f"joined ({fmt_pct(legit['join_ratio'])}), "
                    f"{fmt_num(legit['abandoned'])} abandoned; p99 join latency "
                    f"{fmt_s(s['join_latency_s']['p99'])}"),
        ("Attack", attack_text(s)),
        ("Cost", cost_text(s)),
    ]
    return rows


def replication_table(s: Summary) -> Table | None:
    """Means and confidence intervals over replications, when the run has them."""
    reps: Replications | None = s.get("replications")
    if not isinstance(reps, Mapping) or not isinstance(reps["metrics"], Mapping):
        return None
    conf = reps["confidence"]
    head = f"{100 * conf:.0f}% interval" if isinstance(conf, int | float) else "interval"
    rows = []
    for name, m in reps["metrics"].items():
        pct = name in (schema.JOIN_RATIO, schema.SLO_MET) or fnmatch(
            name, schema.STATION_UTILIZATION_MEAN)
        f = fmt_pct if pct else fmt_num
        rows.append([str(name), f(m["mean"]), f"{f(m['low'])} to {f(m['high'])}",
                     fmt_num(m["n"])])
    return Table(["Metric", "Mean", head, "Runs"], rows, [False, True, True, True])


def attribution_table(attr: Mapping[str, Any]) -> tuple[Table, str]:
    """The attribution study's variants and its conclusion (necessary, sufficient)."""
    factors = [str(f) for f in attr.get("factors") or []]
    rows = []
    for v in attr.get("variants") or []:
        if not isinstance(v, Mapping):
            continue
        on = set(map(str, v.get("factors_on") or []))
        rows.append([str(v.get("name") or NA),
                     *("on" if f in on else "off" for f in factors),
                     "failed" if v.get("failed") else "held",
                     fmt_s(v.get("first_breach_s")), fmt_s(v.get("recovered_s")),
                     fmt_pct(v.get("join_ratio")), fmt_ratio(v.get("attempts_per_client"))])
    table = Table(["Variant", *factors, "Outcome", "First breach", "Recovered",
                   "Joined", "Attempts per client"], rows,
                  [False, *([False] * len(factors)), False, True, True, True, True])
    necessary = [str(f) for f in attr.get("necessary") or []]
    sufficient = [" + ".join(map(str, group)) for group in attr.get("sufficient") or []
                  if isinstance(group, list)]
    if isinstance(attr.get("conclusion"), str) and attr["conclusion"].strip():
        return table, attr["conclusion"].strip()  # the attribution's own words
    text = ("Necessary for the failure (removing any one of them alone prevents it): "
            + (", ".join(necessary) if necessary else "none") + ". Sufficient sets "
            "(enough on their own to make it fail): "
            + ("; ".join(sufficient) if sufficient else "none") + ".")
    return table, text
