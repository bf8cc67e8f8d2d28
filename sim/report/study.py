"""A sweep read as a launch study: the load parameter, the variants, their failure points.

A multirun's jobs differ in their swept keys. One numeric key is the *load parameter*
(``report.sweep_key``; else the failure-point sweeper's ``param``; else the first swept
key whose values are all numbers), along which the failure point is found; every other
swept key (``architecture=spaces,hls``, an autoscaler, a retry policy) makes *variants*,
compared side by side on the same seeds. Seeds and replications are not variants.

The *base* variant is the one the sweep's own config describes (multirun.yaml: the
choices of its config groups and its key values); the front-page verdict is its verdict,
and the expected peak is the base config's value of the load parameter unless
``report.expected_peak`` says otherwise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .describe import get
from .load import RunData, SweepData, attribution_full_run
from .verdict import (
    GO,
    GO_UNMEASURED,
    NO_GO,
    NOT_JUDGED,
    FailurePoint,
    LaunchVerdict,
    ReportSettings,
    from_grid,
    from_sweeper,
    headroom_verdict,
    run_failed,
    run_verdict,
)

# Keys that carry load; preferred as the load parameter over capacity keys.
LOAD_KEY = re.compile(r"^arrivals\.|^attack\.")


@dataclass
class Variant:
    """The jobs of one combination of the non-load swept keys."""

    label: str
    values: dict[str, Any]
    runs: list[RunData]
    failure_point: FailurePoint | None
    verdict: LaunchVerdict
    at_expected: RunData | None
    representative: RunData | None
    is_base: bool = False


@dataclass
class Study:
    sweep: SweepData
    settings: ReportSettings
    key: str | None
    variant_keys: list[str]
    expected: float | None
    variants: list[Variant]
    values: dict[int, float]  # id(run) -> the run's value of the load parameter

    @property
    def base(self) -> Variant:
        return next((v for v in self.variants if v.is_base), self.variants[0])

    @property
    def verdict(self) -> LaunchVerdict:
        base = self.base.verdict
        if len(self.variants) < 2:
            return base
        return LaunchVerdict(base.decision,
                             f"For {self.base.label} ({self.base_note}), "
                             f"{base.reason[:1].lower()}{base.reason[1:]}",
                             base.advice)

    @property
    def base_note(self) -> str:
        """What makes the base variant the one the front page judges."""
        if self.sweep.parts:
            return "the baseline, the first sweep in name order"
        return "the configured scenario"


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _text(x: Any) -> str:
    """A key's value as a variant label shows it (2500 and 2500.0 alike)."""
    return f"{x:g}" if _is_number(x) else str(x)


def _base_value(sweep: SweepData, key: str) -> Any:
    choices = get(sweep.hydra, "runtime", "choices")
    if isinstance(choices, Mapping) and key in choices:
        return choices[key]
    return get(sweep.config, *key.split("."))


def _part_labels(parts: list[SweepData]) -> list[str]:
    """Name each sweep of a study by the config-group choices that differ between them."""
    choices = [get(p.hydra, "runtime", "choices") or {} for p in parts]
    # Groups every sweep has (a group newer than one of the sweeps is not a difference).
    keys = sorted(k for k in set.intersection(*(set(c) for c in choices))
                  if not str(k).startswith("hydra")) if choices else []
    differ = [k for k in keys if len({str(c.get(k)) for c in choices}) > 1]
    if differ:
        return [", ".join(f"{k}={c.get(k)}" for k in differ) for c in choices]
    # Else the command-line overrides that differ between the sweeps.
    tasks = [[str(o) for o in get(p.hydra, "overrides", "task") or []] for p in parts]
    common = set.intersection(*(set(t) for t in tasks)) if tasks else set()
    labels = [", ".join(o for o in t if o not in common) for t in tasks]
    return [lab or p.path.name for lab, p in zip(labels, parts, strict=True)]


def _study_of_parts(sweep: SweepData, settings: ReportSettings) -> Study:
    """Several sweeps side by side: each one's base variant is a variant of the study."""
    studies = [build_study(p, settings) for p in sweep.parts]
    key = settings.sweep_key or next((s.key for s in studies if s.key), None)
    expected = settings.expected_peak if settings.expected_peak is not None else \
        studies[0].expected
    variants: list[Variant] = []
    values: dict[int, float] = {}
    for st, label in zip(studies, _part_labels(sweep.parts), strict=True):
        v = st.base
        if expected is not None and v.failure_point is not None:
            v.verdict = headroom_verdict(v.failure_point, expected, settings, v.at_expected)
            if st.sweep.failure_point is not None:
                v.verdict = _unless_uncovered(v.verdict, v.runs, v.failure_point)
        v.label, v.is_base = label, not variants
        variants.append(v)
        values.update(st.values)
    return Study(sweep, settings, key, [], expected, variants, values)


def build_study(sweep: SweepData, settings: ReportSettings) -> Study:
    if sweep.parts:
        return _study_of_parts(sweep, settings)
    full = attribution_full_run(sweep)
    if full is not None:
        # An attribution: the front page judges the full scenario; the variants are the
        # attribution table's.
        v = Variant("the full scenario (every factor on)", {}, [full], None,
                    run_verdict(full), None, full, is_base=True)
        return Study(sweep, settings, None, [], None, [v], {})
    keys = sweep.swept_keys
    per_run = {id(r): sweep.values(r) for r in sweep.runs}
    key = settings.sweep_key or (sweep.failure_point or {}).get("param")
    if key is None:
        numeric = [k for k in keys
                   if all(_is_number(per_run[id(r)].get(k)) for r in sweep.runs)
                   and len({per_run[id(r)].get(k) for r in sweep.runs}) > 1]
        # A load (audience, arrival rate, attack rate) before a capacity key.
        load = [k for k in numeric if LOAD_KEY.search(k)]
        key = (load or numeric)[0] if load or numeric else None
    values = {id(r): float(per_run[id(r)][key]) for r in sweep.runs
              if key is not None and _is_number(per_run[id(r)].get(key))}
    variant_keys = [k for k in keys if k != key]
    expected = settings.expected_peak
    if expected is None and key is not None:
        base = _base_value(sweep, key)
        expected = float(base) if _is_number(base) else None
    groups: dict[tuple[str, ...], list[RunData]] = {}
    for r in sweep.runs:
        label = tuple(f"{k}={_text(per_run[id(r)].get(k, _base_value(sweep, k)))}"
                      for k in variant_keys)
        groups.setdefault(label, []).append(r)
    base_label = tuple(f"{k}={_text(_base_value(sweep, k))}" for k in variant_keys)
    variants = []
    for label, runs in groups.items():
        variants.append(_variant(sweep, settings, key, expected, values, label, runs,
                                 is_base=label == base_label))
    if variants and not any(v.is_base for v in variants):
        variants[0].is_base = True
    return Study(sweep, settings, key, variant_keys, expected, variants, values)


def _variant(sweep: SweepData, settings: ReportSettings, key: str | None,
             expected: float | None, values: dict[int, float], label: tuple[str, ...],
             runs: list[RunData], *, is_base: bool) -> Variant:
    text = ", ".join(label) if label else "all jobs"
    vals = dict(part.split("=", 1) for part in label)
    fp: FailurePoint | None = None
    at_expected = None
    if key is not None and any(id(r) in values for r in runs):
        if sweep.failure_point is not None and not label:
            fp = from_sweeper(sweep.failure_point, runs, values)
        else:
            fp = from_grid(key, runs, values)
        if expected is not None:
            near = [r for r in runs if id(r) in values
                    and math.isclose(values[id(r)], expected, rel_tol=1e-9)]
            at_expected = near[0] if near else None
        verdict = headroom_verdict(fp, expected, settings, at_expected)
        if sweep.failure_point is not None and not label:
            verdict = _unless_uncovered(verdict, runs, fp)
    else:
        verdict = _runs_verdict(runs)
    representative = (fp.failing_run if fp is not None and fp.failing_run is not None
                      else at_expected or (runs[-1] if runs else None))
    return Variant(text, vals, runs, fp, verdict, at_expected, representative, is_base)


def _unless_uncovered(verdict: LaunchVerdict, runs: list[RunData], fp: FailurePoint
                      ) -> LaunchVerdict:
    """No verdict from a failure-point search whose probes held without their load.

    A probe whose horizon ended before the peak, or that judged no window, met its SLO
    trivially. The search stops at such a probe and says so in its answer (``status``
    not_judged, which the verdict reads); a probe run directory that still shows one
    (an answer written before the search judged its probes' coverage) means the failure
    point found is not one. A NO-GO stands: some probe breached the SLO where it counts.
    """
    if verdict.decision == NO_GO or fp.status == "not_judged":
        return verdict
    key = fp.key
    held_blind = [r for r in runs if get(r.summary, "slo", "met") is True
                  and run_failed(r) is None]
    if not held_blind:
        return verdict
    first = run_verdict(held_blind[0]).reason
    return LaunchVerdict(NOT_JUDGED, f"{len(held_blind)} of the {len(runs)} probes along "
                         f"{key} held without being judged, so the failure point is not "
                         f"established. The first: {first}")


def _runs_verdict(runs: list[RunData]) -> LaunchVerdict:
    """Jobs without a load parameter (seeds, a categorical key): the worst run decides."""
    verdicts = [run_verdict(r) for r in runs]
    for decision in (NO_GO, NOT_JUDGED):
        for v in verdicts:
            if v.decision == decision:
                return v
    if verdicts and all(v.decision == GO_UNMEASURED for v in verdicts):
        return verdicts[0] if len(runs) == 1 else LaunchVerdict(
            GO_UNMEASURED, f"The SLO holds in all {len(runs)} runs, but no load "
            f"parameter was swept, so the headroom above the expected peak is unknown.",
            advice="run a failure-point sweep")
    return LaunchVerdict(GO if verdicts else NOT_JUDGED, "")


def any_failed(runs: list[RunData]) -> bool:
    return any(run_failed(r) for r in runs)
