"""Which belief matters most: the sensitivity of failure to each uncertain input.

Two measures, depending on the design (``risk_design``):

- a Saltelli design gives **Sobol' indices** (SALib's ``sobol.analyze``, first order
  ``S1`` and total order ``ST``, with their bootstrap half-widths at the study's
  confidence): the share of the variance of the output that an input explains alone, and
  with its interactions. The ranking uses ``ST``.
- any other design (Latin hypercube, plain Sobol' sequence) gives **|Spearman ρ|**, the
  rank correlation of each input with the output: how consistently failure comes with
  larger (or smaller) values of that input. It misses an input that matters only
  through interactions or non-monotonically, which the report says.

The output is whatever the caller passes, in a risk study the failure indicator (1 for a
sample that failed, 0 for one that held). A Saltelli design with a missing output (a
sample that errored or could not judge) cannot be analysed as such and falls back to the
rank measure over the samples that have one; an output that never varies (every sample
held, or every one failed) gives zeros and says why.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import stats

SOBOL = "sobol"
SPEARMAN = "spearman"
TEXT = {
    SOBOL: "Sobol' total-order index ST of failure (share of its variance the input "
           "explains, with interactions; S1 alone), from a Saltelli design",
    SPEARMAN: "|Spearman ρ|, the rank correlation of the input with failure (misses "
              "effects that are only through interactions or not monotone)",
}


def sobol_indices(unit: np.ndarray, y: np.ndarray, keys: list[str], confidence: float = 0.95,
                  seed: int = 0) -> dict[str, dict[str, float]]:
    """Sobol' indices of ``y`` over a Saltelli design (SALib's ordering, no second order)
    whose points are ``unit``: per key ``S1``, ``S1_conf``, ``ST``, ``ST_conf``."""
    from SALib.analyze import sobol

    d = len(keys)
    problem = {"num_vars": d, "names": list(keys), "bounds": [[0, 1]] * d}
    if unit.shape[0] % (d + 2):
        raise ValueError(f"a Saltelli design has N·(d+2) rows; got {unit.shape[0]} for "
                         f"d = {d}")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = sobol.analyze(problem, np.asarray(y, dtype=float), calc_second_order=False,
                            conf_level=confidence, seed=seed)
    out = {}
    for i, k in enumerate(keys):
        out[k] = {name: _finite(res[name][i]) for name in ("S1", "S1_conf", "ST", "ST_conf")}
    return out


def spearman(unit: np.ndarray, y: np.ndarray, keys: list[str]) -> dict[str, dict[str, float]]:
    """Per key the Spearman ρ of the input (its unit coordinate: the same ranks as its
    values) with ``y``, and its absolute value ``index``."""
    out = {}
    for i, k in enumerate(keys):
        x = unit[:, i]
        if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
            rho = 0.0
        else:
            rho = _finite(stats.spearmanr(x, y).statistic)
        out[k] = {"rho": rho, "index": abs(rho)}
    return out


def sensitivity(unit: np.ndarray, y: np.ndarray, keys: list[str], saltelli: bool,
                confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """The sensitivity block of risk.json: ``method`` (sobol or spearman) with the
    measure's ``text``, per input its figures and ``index`` (what the ranking uses), the
    keys ``ranking`` from most to least important, and a ``note`` when something limited
    the analysis. ``y`` holds NaN for samples with no output."""
    y = np.asarray(y, dtype=float)
    have = ~np.isnan(y)
    note = None
    if saltelli and have.all() and np.ptp(y) > 0:
        try:
            per = sobol_indices(unit, y, keys, confidence, seed)
        except ImportError:
            note = "SALib is not installed (pip install 'sim[risk]'): rank measure instead"
        else:
            for v in per.values():
                v["index"] = v["ST"]
            return _block(SOBOL, per, keys, None)
    if saltelli and not have.all():
        note = (f"{int((~have).sum())} sample(s) have no outcome, so the Saltelli design "
                f"is incomplete: rank measure over the others instead of Sobol' indices")
    if have.sum() and np.ptp(y[have]) == 0:
        note = ("every judged sample " + ("failed" if y[have][0] else "held")
                + ": failure does not vary, so no input explains it")
    method = SPEARMAN
    return _block(method, spearman(unit[have], y[have], keys), keys, note)


def _block(method: str, per: dict[str, dict[str, float]], keys: list[str],
           note: str | None) -> dict[str, Any]:
    ranking = sorted(keys, key=lambda k: -per[k]["index"])
    return {"method": method, "text": TEXT[method], "inputs": per, "ranking": ranking,
            "note": note}


def _finite(x: Any) -> float:
    v = float(x)
    return v if np.isfinite(v) else 0.0


__all__ = ["SOBOL", "SPEARMAN", "TEXT", "sensitivity", "sobol_indices", "spearman"]
