"""The risk of a launch: the probability that it fails, given what is believed about it.

A risk study runs one simulation per sample of its design (``risk_design``), each judged
as the failure-point sweeper judges a probe (``failure_point.judge``: ``slo.met`` false,
or a metric below ``fail_below`` / above ``fail_above``; a run that did not cover its
load could not judge). This module turns those verdicts into the study's answer, the
content of ``risk.json``:

- ``p_fail``, the share of judged samples that failed, with its Wilson score
  ``interval`` at ``confidence`` (good down to a handful of samples and at 0 or all
  failures, where the normal approximation collapses to a point);
- ``failed``, ``held``, the samples that ``could not judge`` and the ones that ended in
  an ``error`` (neither enters ``p_fail``; the report gives no verdict while there are
  any);
- per input its stated distribution, and the ``sensitivity`` of failure to each
  (``risk_sensitivity``);
- every sample (``jobs``): its inputs, seed, verdict, and the overrides that rerun it.

The answer is rebuilt from the records after every round of jobs, so ``risk.json`` is
always the answer so far (``finished`` says whether every sample has a verdict), and a
study run again with the same design (``fingerprint``) keeps the verdicts it finds there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from .risk_design import Design
from .risk_inputs import Distribution
from .risk_sensitivity import sensitivity

RESULT_FILE = "risk.json"


def wilson(failed: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``failed / n`` at ``confidence``."""
    if n <= 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = failed / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if failed == 0 else max(0.0, centre - half)
    hi = 1.0 if failed == n else min(1.0, centre + half)
    return lo, hi


def fingerprint(design: Design, inputs: Sequence[Distribution],
                judging: Mapping[str, Any]) -> dict[str, Any]:
    """What makes two studies the same study: a study run again keeps the verdicts of a
    risk.json with the same fingerprint (inputs, design, seed, judging, base config, and
    the code that judged them: ``sim.provenance``)."""
    from ..provenance import code_digest

    return {"inputs": {d.key: d.text for d in inputs}, "sampler": design.sampler,
            "samples": design.size, "seeds": [design.seeds[0], design.seeds[-1]],
            **dict(judging), "code": code_digest()}


def overrides(values: Mapping[str, Any], seed: int) -> list[str]:
    """The command-line overrides that set a sample's inputs and seed."""
    out = []
    for k, v in values.items():
        text = f"{v:.10g}" if isinstance(v, float) else str(v)
        out.append(f"{k}={text}")
    return [*out, f"run.seed={seed}"]


def outcome(record: Mapping[str, Any] | None) -> float:
    """1 for a sample that failed, 0 for one that held, NaN for none."""
    if not record or record.get("error") or record.get("failed") is None:
        return math.nan
    return 1.0 if record["failed"] else 0.0


def answer(design: Design, inputs: Sequence[Distribution],
           records: Mapping[int, Mapping[str, Any]], settings: Mapping[str, Any]
           ) -> dict[str, Any]:
    """The content of risk.json for the records so far (sample index -> record)."""
    confidence = float(settings.get("confidence", 0.95))
    y = np.array([outcome(records.get(j)) for j in range(design.size)])
    failed, held = int(np.nansum(y)), int(np.sum(y == 0))
    judged = failed + held
    unjudged = [j for j, r in records.items() if not r.get("error") and r.get("failed") is None]
    errors = [j for j, r in records.items() if r.get("error")]
    lo, hi = wilson(failed, judged, confidence)
    sens = sensitivity(design.unit, y, design.keys, design.sampler == "saltelli",
                       confidence, seed=int(design.seeds[0]) % 2**31)
    out: dict[str, Any] = {
        "p_fail": failed / judged if judged else None, "interval": [lo, hi],
        "confidence": confidence, "samples": design.size, "judged": judged,
        "failed": failed, "held": held, "not_judged": len(unjudged), "errors": len(errors),
        "pending": design.size - len(records),
        "finished": len(records) == design.size and not errors,
        "sampler": design.sampler, "base": design.base,
        "metric": settings.get("metric"), "fail_below": settings.get("fail_below"),
        "fail_above": settings.get("fail_above"), "seed": settings.get("seed"),
        "batch": settings.get("batch"),
        "inputs": {d.key: {"distribution": d.text, "kind": d.kind,
                           "params": list(d.params or d.options)} for d in inputs},
        "sensitivity": sens,
        "jobs": [_job(design, j, records.get(j)) for j in range(design.size)],
    }
    return {"text": answer_text(out), **out}


def _job(design: Design, j: int, record: Mapping[str, Any] | None) -> dict[str, Any]:
    r = record or {}
    return {"sample": j, "seed": design.seeds[j], "inputs": design.values[j],
            "failed": r.get("failed"), "not_judged": r.get("unjudged") or None,
            "error": r.get("error"), "metric_value": r.get("metric_value"),
            "figures": r.get("figures"), "batch_job": r.get("job"),
            "overrides": overrides(design.values[j], design.seeds[j])}


def answer_text(a: Mapping[str, Any]) -> str:
    """The answer in one sentence: P(fail) with its interval, and what drives it."""
    if not a["judged"]:
        return (f"no sample judged yet ({a['samples']} planned, {a['not_judged']} could "
                f"not judge, {a['errors']} errors)")
    lo, hi = a["interval"]
    pct = round(100 * a["confidence"])
    text = (f"P(fail) = {a['p_fail']:.3f} ({pct}% interval {lo:.3f} to {hi:.3f}): "
            f"{a['failed']} of {a['judged']} samples failed")
    rest = [f"{a[k]} {w}" for k, w in (("not_judged", "could not judge"),
                                        ("errors", "ended in an error"),
                                        ("pending", "not run yet")) if a[k]]
    if rest:
        text += " (" + ", ".join(rest) + ")"
    ranking = a["sensitivity"]["ranking"]
    if ranking and a["failed"] and a["held"]:
        text += f"; it depends most on {ranking[0]}"
    return text


__all__ = ["RESULT_FILE", "answer", "answer_text", "fingerprint", "outcome", "overrides",
           "wilson"]
