"""Permutation baseline and bootstrap interval: calibrated on related vs unrelated data."""

from __future__ import annotations

import numpy as np
import pytest

from repsim.similarity import bootstrap_ci, cka, permutation_baseline


def test_related_data_beat_the_shuffled_baseline(ref, rng):
    x, y = ref.related(rng, 80, 5, 5)
    res = permutation_baseline("cka", x, y, n_permutations=99, seed=1)
    assert res.p_value == pytest.approx(0.01) and res.observed > res.null.max()
    assert res.observed == pytest.approx(cka(x, y).value)
    assert res.null.shape == (99,) and res.alternative == "greater"


def test_unrelated_data_are_not_significant_and_null_shows_the_inflation(rng):
    """Biased CKA of unrelated wide data is high, but no higher than its shuffled baseline."""
    pvals = []
    for _ in range(8):
        x, y = rng.standard_normal((32, 256)), rng.standard_normal((32, 256))
        res = permutation_baseline("cka", x, y, n_permutations=49, seed=int(rng.integers(1e6)))
        assert res.null_mean > 0.8  # the inflated level PAPER.md warns about
        pvals.append(res.p_value)
    assert np.median(pvals) > 0.1


def test_callable_and_named_measures_agree(ref, rng):
    x, y = ref.related(rng, 60, 4, 6)
    named = permutation_baseline("cca", x, y, n_permutations=20, seed=3)
    from repsim.similarity import cca

    called = permutation_baseline(cca, x, y, n_permutations=20, seed=3)
    np.testing.assert_allclose(named.null.numpy(), called.null.numpy(), atol=1e-10)
    assert called.measure == "cca"


def test_distance_uses_the_lower_tail(ref, rng):
    x, y = ref.related(rng, 80, 4, 4, noise=0.3)
    res = permutation_baseline("procrustes", x, y, n_permutations=49)
    assert res.alternative == "less" and res.p_value == pytest.approx(0.02)


def test_bootstrap_interval_covers_value_and_shrinks_with_n(ref, rng):
    widths = []
    for n in (60, 600):
        x, y = ref.related(rng, n, 4, 4)
        ci = bootstrap_ci("cka_debiased", x, y, n_boot=100, seed=0)
        assert ci.low <= ci.value <= ci.high and ci.level == 0.95
        widths.append(ci.high - ci.low)
    assert widths[1] < widths[0] / 2
    again = bootstrap_ci("cka_debiased", x, y, n_boot=100, seed=0)
    assert again.low == ci.low  # seeded


def test_bootstrap_with_options_and_callable(ref, rng):
    x, y = ref.related(rng, 100, 4, 4)
    ci = bootstrap_ci("svcca", x, y, n_boot=20, keep=2)
    assert 0 <= ci.low <= ci.high <= 1
    with pytest.raises(ValueError, match="only apply to named measures"):
        bootstrap_ci(cka, x, y, n_boot=20, keep=2)
