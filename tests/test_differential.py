"""Cohort mode (as ``auto`` runs it at launch scale) against exact mode on generated
scenarios: ``tests/scenario_space.py`` draws them, ``tests/differential.py`` runs and
judges them (the criteria are in its docstring).

The default run draws a handful of fixed seeds; the slow tier (``pytest -m slow``) draws
``SLOW_SEEDS``. A failure names its seed: replay it with
``pytest -m slow tests/test_differential.py -k 'seed17]'`` or
``python tests/differential.py --seeds 17``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from differential import cohort_overrides, compare_seed
from scenario_space import draw

from sim.cli import compose
from sim.config import to_config

# Seeds of the wide search that passed and are quick in both modes: 1 (spaces, edge
# bottleneck, step scale-in, retry budget + throttling), 20 (single station overloaded,
# circuit breaker, step autoscaler), 31 (waiting room, token store overloaded, simple
# scale-in), 35 (single station with a waiting room, folded normal service).
DEFAULT_SEEDS = [1, 20, 31, 35]
SLOW_SEEDS = list(range(48))


def _check(seed: int) -> None:
    o = compare_seed(seed)
    print(f"replay: python tests/differential.py --seeds {seed}")
    print(o.line())
    assert o.error is None, f"seed {seed}: {o.error}"
    assert not o.failures, (f"seed {seed} ({o.scenario.description}): "
                            + "; ".join(c.fmt() for c in o.failures))


def test_draw_is_reproducible_and_composes() -> None:
    for seed in (0, 1, 2):
        a, b = draw(seed), draw(seed)
        assert a.overrides == b.overrides and a.description == b.description
        to_config(compose([*a.overrides, *cohort_overrides(), "run.report=false",
                           "run.progress=false"]))
    assert draw(0).overrides != draw(1).overrides


@pytest.mark.parametrize("seed", DEFAULT_SEEDS, ids=lambda s: f"seed{s}")
def test_cohort_matches_exact_generated(seed: int) -> None:
    _check(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS, ids=lambda s: f"seed{s}")
def test_cohort_matches_exact_generated_wide(seed: int) -> None:
    _check(seed)
