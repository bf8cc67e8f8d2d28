"""The launch-review report of a risk study: GO when the launch is shown unlikely to fail.

A sweep directory with ``risk.json`` (``hydra/sweeper=risk``) is reported on from that
file alone. The verdict judges by risk: GO when the upper bound of the interval of
P(fail) lies below ``report.max_p_fail`` (0.05 by default; from the sweep's config, or
given to ``build_report``), NO-GO otherwise, saying whether the estimate itself is above
the limit or only its interval reaches it (more samples may then tell). No verdict while
samples are missing, ended in an error, or could not judge (their runs did not cover
their load): P(fail) over the others would leave them out.

Then the findings (P(fail), what drives it), the figures (``risk_figures``: the tornado
of sensitivities and the failure region over the two inputs that matter most), the
samples that failed with the overrides that rerun each, and the assumptions: each
input's stated distribution, how a sample is judged, the design and its seed, the base
scenario and the command that reruns the study.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..analysis.risk import RESULT_FILE
from ..atomic import atomic_write_text
from .assumptions import sweep_commands, version
from .describe import Table
from .figures import FigureFile
from .risk_figures import write_risk_figures
from .risk_templates import RISK_HTML, RISK_MD
from .verdict import GO, NO_GO, NOT_JUDGED, LaunchVerdict

DEFAULT_MAX_P_FAIL = 0.05
MAX_LISTED = 20  # failed samples listed in the report


def build_risk_report(path: Path, **settings: Any) -> Path:
    """Write figures/, report.md and report.html of the risk study in ``path``."""
    from .render import environment

    risk = json.loads((path / RESULT_FILE).read_text())
    multirun = _yaml(path / "multirun.yaml")
    limit = max_p_fail(multirun, settings.get("max_p_fail"))
    figures = write_risk_figures(risk, path / "figures")
    context = risk_context(path, risk, multirun, limit, figures)
    env = environment()
    atomic_write_text(path / "report.md", env.from_string(RISK_MD).render(**context))
    html = path / "report.html"
    atomic_write_text(html, env.from_string(RISK_HTML).render(**context))
    return html


def incomplete_samples(path: Path) -> list[tuple[Path, list[str]]]:
    """``[(path, what is missing)]`` when samples of the study in ``path`` have no
    verdict (not run, ended in an error, could not judge); else empty."""
    risk = json.loads((path / RESULT_FILE).read_text())
    missing = [f"{risk[k]} samples {w}" for k, w in (
        ("pending", "not run yet"), ("errors", "ended in an error"),
        ("not_judged", "could not judge")) if risk.get(k)]
    return [(path, missing)] if missing else []


def max_p_fail(config: Mapping[str, Any], given: float | None = None) -> float:
    """The largest P(fail) a GO allows: given, else ``report.max_p_fail``, else 0.05."""
    if given is not None:
        return float(given)
    block = config.get("report")
    value = block.get("max_p_fail") if isinstance(block, Mapping) else None
    return float(value) if isinstance(value, int | float) else DEFAULT_MAX_P_FAIL


def risk_verdict(risk: Mapping[str, Any], limit: float) -> LaunchVerdict:
    """GO, NO-GO or NO VERDICT for a risk study (module docstring)."""
    missing = [f"{risk[k]} {w}" for k, w in (
        ("pending", "not run"), ("errors", "ended in an error"),
        ("not_judged", "could not judge (their runs did not cover their load)")) if risk[k]]
    if missing or not risk["judged"]:
        why = ", ".join(missing) if missing else "no sample was judged"
        return LaunchVerdict(NOT_JUDGED, f"Of {risk['samples']} samples, {why}; P(fail) "
                             "over the rest would leave them out. Run the same command "
                             "again to finish the study.", "the study is incomplete")
    lo, hi = risk["interval"]
    p, pct = risk["p_fail"], round(100 * risk["confidence"])
    est = (f"P(fail) = {_pct(p)} ({pct}% interval {_pct(lo)} to {_pct(hi)}; "
           f"{risk['failed']} of {risk['judged']} samples failed)")
    if hi < limit:
        return LaunchVerdict(GO, f"{est}: even its upper bound is below the limit of "
                             f"{_pct(limit)} (report.max_p_fail).", "risk within the limit")
    if p >= limit:
        return LaunchVerdict(NO_GO, f"{est}: the estimate itself is at or above the limit "
                             f"of {_pct(limit)} (report.max_p_fail).", "risk too high")
    return LaunchVerdict(NO_GO, f"{est}: the estimate is below the limit of {_pct(limit)} "
                         "but its interval reaches it, so the launch is not shown safe; "
                         "more samples would narrow it.", "risk not shown low enough")


def risk_context(path: Path, risk: Mapping[str, Any], multirun: Mapping[str, Any],
                 limit: float, figures: list[FigureFile]) -> dict[str, Any]:
    """What the templates show."""
    hydra = multirun.get("hydra") if isinstance(multirun.get("hydra"), Mapping) else {}
    task = ((hydra or {}).get("overrides") or {}).get("task") or []
    return {
        "name": str(multirun.get("name") or path.name), "title": str(path),
        "version": version(), "launch": risk_verdict(risk, limit),
        "text": risk["text"], "findings": _findings(risk, limit),
        "inputs": _inputs_table(risk), "failed": _failed_table(risk),
        "n_failed": risk["failed"], "listed": min(MAX_LISTED, risk["failed"]),
        "judging": _judging(risk), "design": _design(risk),
        "base": " ".join(str(t) for t in task) or "the defaults",
        "commands": sweep_commands(path, hydra or {}), "figures": [
            {"name": f.name, "title": f.title, "caption": f.caption,
             "rel": f"figures/{f.path.name}", "data_uri": "data:image/png;base64,"
             + base64.b64encode(f.path.read_bytes()).decode("ascii")} for f in figures],
    }


def _findings(risk: Mapping[str, Any], limit: float) -> list[tuple[str, str]]:
    sens = risk["sensitivity"]
    ranked = ", ".join(f"{k} ({sens['inputs'][k]['index']:.2f})" for k in sens["ranking"])
    rows = [("Probability of failure", risk["text"]),
            ("Limit", f"GO needs the upper bound of P(fail) below {_pct(limit)}"),
            ("What drives it", f"{ranked}; measure: {sens['text']}")]
    if sens.get("note"):
        rows.append(("Note", str(sens["note"])))
    return rows


def _inputs_table(risk: Mapping[str, Any]) -> Table:
    sens = risk["sensitivity"]["inputs"]
    rows = []
    for key, spec in risk["inputs"].items():
        drawn = [j["inputs"][key] for j in risk["jobs"]]
        nums = [v for v in drawn if isinstance(v, int | float) and not isinstance(v, bool)]
        span = f"{min(nums):.4g} to {max(nums):.4g}" if len(nums) == len(drawn) and nums \
            else ", ".join(sorted({str(v) for v in drawn}))
        rows.append([key, spec["distribution"], span, f"{sens[key]['index']:.3f}"])
    return Table(["Input", "Stated distribution", "Drawn", "Sensitivity"], rows,
                 [False, False, False, True])


def _failed_table(risk: Mapping[str, Any]) -> Table:
    rows = []
    for j in [j for j in risk["jobs"] if j.get("failed")][:MAX_LISTED]:
        m = j.get("metric_value")
        rows.append([str(j["sample"]), ", ".join(j["overrides"][:-1]),
                     f"{m:.4g}" if isinstance(m, float) else str(m), j["overrides"][-1]])
    return Table(["Sample", "Inputs", str(risk.get("metric")), "Seed"], rows,
                 [True, False, True, False])


def _judging(risk: Mapping[str, Any]) -> str:
    metric, lo, hi = risk.get("metric"), risk.get("fail_below"), risk.get("fail_above")
    rule = [f"{metric} below {lo:g}" if lo is not None else "",
            f"{metric} above {hi:g}" if hi is not None else ""]
    said = " or ".join(r for r in rule if r) or f"{metric} false (the SLO breached)"
    return (f"A sample fails when {said}, as the failure-point sweeper judges a probe; a "
            f"sample whose run did not cover its load could not judge.")


def _design(risk: Mapping[str, Any]) -> str:
    sampler = {"lhs": "a Latin hypercube", "sobol": "a scrambled Sobol' sequence",
               "saltelli": f"a Saltelli design (N = {risk.get('base')} base points)"}
    return (f"{risk['samples']} samples from {sampler.get(risk['sampler'], risk['sampler'])}"
            f", seed {risk.get('seed')}, each sample on its own seed, {risk.get('batch')} "
            f"samples per job; P(fail) with its Wilson interval at "
            f"{round(100 * risk['confidence'])}%.")


def _pct(p: float) -> str:
    return f"{100 * p:.1f}%" if p >= 0.001 else f"{100 * p:.2g}%"


def _yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


__all__ = ["build_risk_report", "incomplete_samples", "max_p_fail", "risk_context", "risk_verdict"]
