"""Cohort mode (as ``auto`` runs it at launch scale) against exact mode on generated
scenarios: ``tests/scenario_space.py`` draws them, ``tests/differential.py`` runs and
judges them (the criteria are in its docstring).

The default run draws a handful of fixed seeds (1 to 4: seed 0 is a 0.001 s tick, too
slow for the default run); the wide tier (``pytest -m differential``) draws
``SLOW_SEEDS``. A failure names its seed: replay it with
``pytest -m differential tests/test_differential.py -k 'seed17]'`` or
``python tests/differential.py --seeds 17``.

The wide tier has its own marker, not ``slow``, because it does not pass yet. On the
engine of this commit 32 of seeds 0-39 pass (a scenario failing on two run seeds is
judged on six, see ``tests/differential.py``); 8 fail: the mean wait below saturation
at one station on 6 (12, 15, 23, 26, 37, 39: a fluid station just above the granular
threshold 30x short of exact mode's M/G/c wait, a wait before a throughput ceiling at
half of exact mode's, a few 13-42% differences), p99 join latency on 2 (5, 17: heavy
tails, one exact run's p99 four times the others'), and first breach and recovery on
one (37). Joined, abandoned, blocking and bottleneck agree on all 40. It runs on demand
until it passes, rather than being tuned or excused seed by seed.
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

DEFAULT_SEEDS = [1, 2, 3, 4]
SLOW_SEEDS = list(range(40))


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


@pytest.mark.differential
@pytest.mark.parametrize("seed", SLOW_SEEDS, ids=lambda s: f"seed{s}")
def test_cohort_matches_exact_generated_wide(seed: int) -> None:
    _check(seed)
