"""Attribution: was it the attack, the crowd, or our own retries?

After a failed launch the question is which of the things that happened at once made it
fail. The answer here is counterfactual: the scenario is run again with each *factor*
switched off (an attack vector removed, client retries off, or a change the user names),
on the same seed, and the variants are compared. The crowd is always there: it is the
baseline every variant shares. Because every component draws from its own named random
stream, switching a factor off changes nothing else's random numbers (common random
numbers), so a difference between variants is the factor's doing, not noise.

This module holds the analysis only: the design (which combinations of factors to run),
the outcome of a variant read from its run directories, and the conclusions:

- a factor is **necessary** when the full scenario fails and removing that factor alone,
  all others on, removes the failure;
- a set of factors is **sufficient** when the failure appears with only those factors on
  (and the crowd); the minimal sufficient sets are those no smaller tested set contains;
- the **crowd alone** is the variant with every factor off: if it fails, the capacity is
  short without any attack or retries, and no factor is necessary.

A variant *fails* when the SLO is breached (``slo.met`` false), or, with several
replications, when more than half of them breach. The runs themselves are made by the
``sim-attribute`` command (``sim/attribute.py``); this module reads their results.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..summary import Summary, conform, recovered_s

SCHEMA = 1
MAX_FACTORS = 6  # 2^6 = 64 runs for the full factorial; beyond, one at a time
DESIGNS = ("full", "one_at_a_time")
CROWD = "crowd"


@dataclass(frozen=True)
class Factor:
    """One thing that can be switched off: ``off`` says how, as ``sim`` overrides."""

    name: str
    kind: str  # "attack" (a vector), "retries" or "user"
    off: tuple[str, ...]
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "off": list(self.off),
                "description": self.description}


def variant_name(on: Iterable[str]) -> str:
    """``crowd`` followed by the factors that are on: ``crowd+l7_join_flood+retries``."""
    return "+".join([CROWD, *on])


def design(factors: Sequence[str], kind: str = "full",
           max_factors: int = MAX_FACTORS) -> list[tuple[str, ...]]:
    """The sets of factors that are on, one per variant, the full scenario first.

    ``full`` is the 2^k factorial, in decreasing number of factors on (each set in the
    order of ``factors``), so the crowd alone comes last. ``one_at_a_time`` is the full
    scenario, the full scenario without each factor, the crowd with each factor alone,
    and the crowd alone: 2k + 2 runs, enough for the necessary factors but only for
    single-factor (or full) sufficient sets.
    """
    names = list(factors)
    if not names:
        raise ValueError("no factors to attribute")
    if len(set(names)) != len(names):
        raise ValueError(f"factor names must be unique, got {names}")
    if kind not in DESIGNS:
        raise ValueError(f"design must be one of {', '.join(DESIGNS)}, got {kind!r}")
    k = len(names)
    if kind == "full":
        if k > max_factors:
            raise ValueError(f"{k} factors make {2 ** k} runs; the full design takes at most "
                             f"{max_factors} factors ({2 ** max_factors} runs)")
        sets = [tuple(n for n, bit in zip(names, bits, strict=True) if bit)
                for bits in itertools.product((1, 0), repeat=k)]
        return sorted(sets, key=lambda s: -len(s))  # stable: keeps product order inside
    sets = [tuple(names)]
    sets += [tuple(n for n in names if n != off) for off in names]
    sets += [(n,) for n in names]
    sets.append(())
    unique: list[tuple[str, ...]] = []
    for s in sets:
        if s not in unique:
            unique.append(s)
    return unique


# -- outcomes -------------------------------------------------------------------------------

def _mean(values: Iterable[Any]) -> float | None:
    xs = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)
          and math.isfinite(v)]
    return sum(xs) / len(xs) if xs else None


def outcome(summaries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What one variant did, from the summaries of its replications (one or more).

    With one run: ``failed`` is ``not slo.met``, and the figures are the run's. With
    several: ``failed`` when more than half breached; ``first_breach_s`` and
    ``recovered_s`` are means over the breached (recovered) replications, ``join_ratio``
    and ``attempts_per_client`` means over all; ``recovered`` when most breached
    replications recovered. The summaries are read through their type
    (``sim.summary.conform``), as written or as a job returned them.
    """
    if not summaries:
        raise ValueError("a variant needs at least one summary")
    n = len(summaries)
    typed = [conform(s) for s in summaries]
    slos = [s["slo"] for s in typed]
    breached = [slo for slo in slos if slo["met"] is False]
    recovered = [slo for slo in breached if recovered_s(slo) is not None]
    failed = 2 * len(breached) > n
    bottlenecks = Counter(slo["bottleneck"] for slo in breached if slo["bottleneck"])
    legit = [s["legit"] for s in typed]
    return {
        "failed": failed,
        "slo_met": not failed,
        "first_breach_s": _mean(slo["first_breach_s"] for slo in breached),
        "recovered": (2 * len(recovered) > len(breached)) if breached else None,
        "recovered_s": _mean(recovered_s(slo) for slo in recovered),
        "join_ratio": _mean(lg["join_ratio"] for lg in legit),
        "attempts_per_client": _mean(lg["attempts_per_client"] for lg in legit),
        "bottleneck": bottlenecks.most_common(1)[0][0] if bottlenecks else None,
        "replications": n,
        "breached_replications": len(breached),
        "recovered_replications": len(recovered),
    }


def read_outcome(run_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """``outcome`` of the run directories of one variant (their ``summary.json``)."""
    summaries: list[Summary] = []
    for d in run_dirs:
        path = Path(d) / "summary.json"
        summary = conform(json.loads(path.read_text()))
        if summary["status"] != "ok":
            raise ValueError(f"{path}: the run did not finish (status "
                             f"{summary['status']!r})")
        summaries.append(summary)
    return outcome(summaries)


# -- conclusions ------------------------------------------------------------------------------

def necessary(failed: Mapping[frozenset[str], bool], factors: Sequence[str]) -> list[str]:
    """Factors whose removal alone (all others on) removes the failure of the full run.

    Empty when the full scenario does not fail. ``failed`` maps each tested set of
    factors that are on to whether that variant failed.
    """
    full = frozenset(factors)
    if not failed.get(full):
        return []
    return [f for f in factors if failed.get(full - {f}) is False]


def sufficient(failed: Mapping[frozenset[str], bool], factors: Sequence[str]) -> list[list[str]]:
    """Minimal tested sets of factors with which (and the crowd) the scenario fails.

    A set is listed when its variant fails and no tested proper subset fails. ``[]`` in
    the list means the crowd alone fails. Sets come smallest first, in factor order.
    """
    order = {f: i for i, f in enumerate(factors)}
    failing = [s for s, f in failed.items() if f]
    minimal = [s for s in failing if not any(o < s for o in failing)]
    ranked = sorted(minimal, key=lambda s: (len(s), sorted(order[f] for f in s)))
    return [sorted(s, key=order.__getitem__) for s in ranked]


def _non_monotone(failed: Mapping[frozenset[str], bool]) -> list[tuple[list[str], list[str]]]:
    """Pairs (failing set, larger set that holds): adding factors removed the failure."""
    out = []
    for s, f in failed.items():
        if not f:
            continue
        for t, g in failed.items():
            if g is False and s < t:
                out.append((sorted(s), sorted(t)))
    return sorted(out)


def build_attribution(factors: Sequence[Factor], variants: Sequence[Mapping[str, Any]],
                design_kind: str = "full", **meta: Any) -> dict[str, Any]:
    """The content of ``attribution.json``.

    ``variants`` are dicts with ``name``, ``factors_on``, ``dir`` and the keys of
    ``outcome``; ``meta`` (scenario name, seed, mode, ...) is copied in as it is.
    """
    names = [f.name for f in factors]
    failed = {frozenset(v["factors_on"]): bool(v["failed"]) for v in variants}
    full = next((v for v in variants if set(v["factors_on"]) == set(names)), None)
    crowd = next((v for v in variants if not v["factors_on"]), None)
    att: dict[str, Any] = {
        "schema": SCHEMA,
        **meta,
        "design": design_kind,
        "failure": "slo.met is false (with replications: in more than half of them)",
        "factors": names,
        "factor_details": [f.as_dict() for f in factors],
        "variants": [dict(v) for v in variants],
        "full": full["name"] if full else None,
        "full_failed": bool(full["failed"]) if full else None,
        "crowd_alone": dict(crowd) if crowd else None,
        "necessary": necessary(failed, names),
        "sufficient": sufficient(failed, names),
        "non_monotone": [{"fails": a, "holds": b} for a, b in _non_monotone(failed)],
    }
    att["conclusion"] = conclusion(att)
    return att


def _set_text(s: Sequence[str]) -> str:
    return "the crowd alone" if not s else "the crowd with " + " and ".join(s)


def _when(v: Mapping[str, Any]) -> str:
    if not v["failed"]:
        return "meets the SLO"
    text = "breaches the SLO"
    if v.get("first_breach_s") is not None:
        text += f" at t = {v['first_breach_s']:.0f} s"
    if v.get("recovered"):
        text += f" and recovers at t = {v['recovered_s']:.0f} s"
    elif v.get("recovered") is False:
        text += " and does not recover"
    return text


def conclusion(att: Mapping[str, Any]) -> str:
    """The answer in a few sentences: what the full run did, what was needed for it."""
    variants = {v["name"]: v for v in att["variants"]}
    full = variants.get(att.get("full") or "")
    crowd = att.get("crowd_alone")
    parts: list[str] = []
    if full is None:
        return "The full scenario was not among the variants run."
    jr = full.get("join_ratio")
    parts.append(f"The full scenario ({', '.join(att['factors'])} on) {_when(full)}"
                 + (f"; {100 * jr:.1f}% of clients join." if jr is not None else "."))
    if not full["failed"]:
        parts.append("There is no failure to attribute.")
    else:
        nec = att["necessary"]
        if crowd is not None and crowd["failed"]:
            names = list(att["factors"])
            listed = names[0] if len(names) == 1 else \
                ", ".join(names[:-1]) + " or " + names[-1]
            parts.append("No factor is necessary: the crowd alone fails, so capacity is "
                         f"short even without {listed}.")
        elif nec:
            parts.append("Necessary: " + ", ".join(nec) + " (removing "
                         + ("it" if len(nec) == 1 else "any one of them")
                         + " alone, all else on, removes the failure).")
        else:
            parts.append("No single factor is necessary: removing any one alone leaves "
                         "the failure (each of several causes is enough on its own).")
        suff = att["sufficient"]
        if suff:
            parts.append("Minimal sufficient: " + "; ".join(_set_text(s) for s in suff)
                         + (" (among the variants run)" if att["design"] != "full" else "")
                         + ".")
    if crowd is not None and full["name"] != crowd["name"]:
        cjr = crowd.get("join_ratio")
        parts.append(f"The crowd alone {_when(crowd)}"
                     + (f" ({100 * cjr:.1f}% join)." if cjr is not None else "."))
    if att.get("non_monotone"):
        pair = att["non_monotone"][0]
        parts.append(f"Not monotone: {_set_text(pair['fails'])} fails but "
                     f"{_set_text(pair['holds'])} holds, so a factor here also relieves "
                     "the failure.")
    return " ".join(parts)


# -- output ------------------------------------------------------------------------------------

def _fmt_s(x: Any) -> str:
    return "—" if x is None else f"{x:.0f} s"


def _row(v: Mapping[str, Any]) -> list[str]:
    n = v.get("replications", 1)
    if n > 1:
        met = ("yes" if v["slo_met"] else "no") + \
            f" ({v['breached_replications']} of {n} breached)"
        rec = "—" if not v["breached_replications"] else \
            f"{v['recovered_replications']} of {v['breached_replications']}" + \
            (f" (mean {v['recovered_s']:.0f} s)" if v.get("recovered_s") is not None else "")
    else:
        met = "yes" if v["slo_met"] else "no"
        rec = "—" if v.get("recovered") is None else (
            f"yes, {_fmt_s(v['recovered_s'])}" if v["recovered"] else "no")
    jr, apc = v.get("join_ratio"), v.get("attempts_per_client")
    return [v["name"], ", ".join(v["factors_on"]) or "none (crowd alone)", met,
            _fmt_s(v.get("first_breach_s")), rec,
            "—" if jr is None else f"{100 * jr:.1f}%",
            "—" if apc is None else f"{apc:.2f}", v.get("bottleneck") or "—"]


def table(att: Mapping[str, Any]) -> str:
    """The variants as a Markdown table."""
    head = ["variant", "factors on", "SLO met", "first breach", "recovered", "join ratio",
            "attempts per client", "bottleneck"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_row(v)) + " |" for v in att["variants"]]
    return "\n".join(lines)


def to_markdown(att: Mapping[str, Any]) -> str:
    """``attribution.md``: what was switched off, the table, the conclusion."""
    lines = [f"# Attribution: {att.get('scenario', 'scenario')}", ""]
    meta = [f"seed {att['seed']}" if "seed" in att else None,
            f"{att['mode']} mode" if "mode" in att else None,
            f"{att['replications']} replications per variant"
            if att.get("replications", 1) > 1 else None,
            f"{'full factorial' if att['design'] == 'full' else 'one factor at a time'}, "
            f"{len(att['variants'])} variants"]
    lines += [", ".join(m for m in meta if m) + ". Every variant runs on the same random "
              "numbers; a variant fails when the SLO is breached"
              + (" in more than half of its replications" if att.get("replications", 1) > 1
                 else "") + ".", "", "Factors (each is on in the scenario as given; off "
              "means):", ""]
    for f in att["factor_details"]:
        lines.append(f"- `{f['name']}` ({f['description']}): off = `{' '.join(f['off'])}`")
    lines += ["", table(att), "", "**Conclusion.** " + att["conclusion"], ""]
    lines.append(f"Necessary: {', '.join(att['necessary']) or 'none'}. Minimal sufficient "
                 "sets: " + ("; ".join("{" + ", ".join(s) + "}" for s in att["sufficient"])
                             or "none") + " ({} is the crowd alone).")
    lines.append("")
    return "\n".join(lines)


def write_attribution(outdir: str | Path, att: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write ``attribution.json`` and ``attribution.md`` into ``outdir``."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "attribution.json", out / "attribution.md"
    atomic_write_text(js, json.dumps(att, indent=2) + "\n")
    atomic_write_text(md, to_markdown(att))
    return js, md
