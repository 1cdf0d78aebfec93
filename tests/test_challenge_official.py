"""The challenge score against the NeurIPS 2023 official scorer (`metric.py` of
google-deepmind/unlearning_evaluation, `compute_forget_score_from_confs`).

The expected numbers were computed by running that function itself, unchanged, in a scratch
folder outside this project (on the CPU: its `.cuda()` calls made the identity, and with `python
-O`, since its `assert` on a numpy array cannot run). The inputs are drawn from a fixed numpy
generator (PCG64's draws are the same on every machine) and, for the real case, the outputs of
a real audit stored beside the tests."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from unlearn_core.privacy.challenge import (
    EPSILON_CAP,
    bucket_score,
    example_epsilon,
    example_epsilons,
    final_score,
    forget_score,
    scoring_limit,
)

DELTA = 1e-5
REAL = Path(__file__).parent / "fixtures" / "demo300_none_phi.npz"


def _cases():
    """The five cases, in the order (and from the one generator) they were scored in."""
    rng = np.random.default_rng(2023)
    yield "perfect separation, N=8", rng.normal(0, 1, (8, 25)), rng.normal(8, 1, (8, 25))
    yield "identical distributions, N=16", rng.normal(0, 1, (16, 30)), rng.normal(0, 1, (16, 30))
    yield "variance only, N=16", rng.normal(0, 0.25, (16, 30)), rng.normal(0, 2, (16, 30))
    yield "moderate shift, N=64", rng.normal(0.4, 1, (64, 12)), rng.normal(0, 1, (64, 12))
    real = np.load(REAL)
    yield "real audit (demo-300, none, N=8)", real["unlearned"], real["retrained"]


OFFICIAL = {  # compute_forget_score_from_confs(unlearned, retrained), as it printed them
    "perfect separation, N=8": 0.0,
    "identical distributions, N=16": 0.19583333333333333,
    "variance only, N=16": 0.03333333333333333,
    "moderate shift, N=64": 0.15104166666666666,
    "real audit (demo-300, none, N=8)": 0.0875,
}


def test_the_score_equals_the_official_scorer_on_five_cases():
    got = {
        name: forget_score(example_epsilons(unlearned, retrained), unlearned.shape[0])
        for name, unlearned, retrained in _cases()
    }
    assert got.keys() == OFFICIAL.keys()
    for name, expected in OFFICIAL.items():
        assert abs(got[name] - expected) <= 1e-9, name


def test_perfect_separation_scores_zero_not_a_floor():
    # the floored variant this replaces gave 2 / 2^5 = 0.0625 at N = 8, whatever the leak
    a = np.arange(8.0)[:, None] + np.zeros((8, 3))
    assert forget_score(example_epsilons(a, a + 20), 8) == 0.0


def test_epsilons_by_hand():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    # a threshold between 4 and 5 separates them: FPR = FNR = 0, epsilon infinite, capped
    assert example_epsilon(a, a + 4) == EPSILON_CAP
    assert example_epsilon(a, a) == 0.0  # every rule's rates are a coin's
    # retrained {3, 4, 5, 6} (the larger median: positive) against {1, 2, 3, 4}: "positive if
    # >= 3.5" has FPR = FNR = 1/4; rules with a zero rate (">= 4.5": FPR 0) are discarded
    assert example_epsilon(a, a + 2) == pytest.approx(math.log((0.75 - DELTA) / 0.25), abs=1e-6)
    # one side's range under 1% of the other's: the cap outright
    assert example_epsilon(np.array([0.0, 0.001, 0.0, 0.001]), a) == EPSILON_CAP


def test_buckets_the_zero_score_region_and_final_score_by_hand():
    # N = 8: ceil(log 7) = 2, so buckets [0, .5) [.5, 1) [1, 1.5) [1.5, 2) and 0 from 2 on
    assert scoring_limit(8) == 2.0
    assert [bucket_score(e, 8) for e in (0.0, 0.49, 0.5, 1.0, 1.6, 2.0, 50.0)] == [
        1.0,
        1.0,
        0.5,
        0.25,
        0.125,
        0.0,
        0.0,
    ]
    assert scoring_limit(64) == 5.0  # ceil(log 63 = 4.14)
    assert bucket_score(4.6, 64) == 0.5**9 and bucket_score(5.0, 64) == 0.0
    assert forget_score(np.array([0.1, 0.7, 1.1, 1.6]), 8) == pytest.approx(
        (1 + 0.5 + 0.25 + 0.125) / 4
    )
    assert final_score(0.5, 0.9, 0.8) == pytest.approx(0.36)
