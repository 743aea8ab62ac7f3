"""Every bad-input message: what is allowed, what was given, what to do (issue #2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repsim.similarity import (
    MinibatchCKA,
    bootstrap_ci,
    cca,
    cka,
    conv_to_samples,
    permutation_baseline,
    procrustes,
    pwcca,
    r2cca,
    similarity_batch,
    svcca,
)

ALL = [cca, svcca, pwcca, r2cca, cka, procrustes]
ids = [f.__name__ for f in ALL]


@pytest.fixture
def xy(rng):
    return rng.standard_normal((50, 4)), rng.standard_normal((50, 3))


@pytest.mark.parametrize("measure", ALL, ids=ids)
def test_mismatched_sample_counts(measure, xy):
    with pytest.raises(ValueError, match=r"same n_samples.*got 50 and 49.*same inputs"):
        measure(xy[0], xy[1][:49])


@pytest.mark.parametrize("measure", ALL, ids=ids)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_are_named(measure, xy, bad):
    x = xy[0].copy()
    x[3, 1] = bad
    what = "1 NaN and 0 infinite" if np.isnan(bad) else "0 NaN and 1 infinite"
    with pytest.raises(ValueError, match=f"x must be finite; it holds {what}.*Drop or impute"):
        measure(x, xy[1])


@pytest.mark.parametrize("measure", ALL, ids=ids)
def test_one_dimensional_input(measure, xy):
    with pytest.raises(ValueError, match=r"must be 2-D \(n_samples, n_features\).*reshape"):
        measure(xy[0][:, 0], xy[1])


@pytest.mark.parametrize("measure", ALL, ids=ids)
def test_empty_features(measure, xy):
    with pytest.raises(ValueError, match="at least one feature"):
        measure(xy[0][:, :0], xy[1])


@pytest.mark.parametrize("measure", ALL, ids=ids)
def test_entirely_constant_side(measure, xy):
    with pytest.raises(ValueError, match=r"every feature of y is constant.*dead ReLUs"):
        measure(xy[0], np.ones((50, 3)))


@pytest.mark.parametrize("measure", [cca, pwcca, r2cca], ids=["cca", "pwcca", "r2cca"])
def test_n_not_larger_than_d_for_cca(measure, rng):
    with pytest.raises(ValueError, match=r"n=25 <= d\+1=65 .*trivially 1.*debiased CKA"):
        measure(rng.standard_normal((25, 64)), rng.standard_normal((25, 8)))


def test_svcca_n_not_larger_than_kept_dims(rng):
    x, y = rng.standard_normal((20, 64)), rng.standard_normal((20, 64))
    with pytest.raises(ValueError, match=r"after the SVD step \(keep=0.99\).*trivially 1"):
        svcca(x, y)


def test_wrong_types_and_complex(xy):
    with pytest.raises(TypeError, match=r"numpy array or a torch tensor.*got list"):
        cca([[1.0, 2.0]], xy[1])
    with pytest.raises(TypeError, match="must be real-valued"):
        cka(xy[0] + 1j, xy[1])
    with pytest.raises(TypeError, match="must hold numbers"):
        cka(xy[0].astype(str), xy[1])


def test_options_out_of_range(xy):
    with pytest.raises(ValueError, match=r"keep as a float.*in \(0, 1\]; got 1.5"):
        svcca(*xy, keep=1.5)
    with pytest.raises(ValueError, match=r"keep as an int.*>= 1; got 0"):
        svcca(*xy, keep=0)
    with pytest.raises(TypeError, match="keep must be an int"):
        svcca(*xy, keep=True)
    with pytest.raises(ValueError, match="keep=5 directions but x has 4 and y 3"):
        svcca(*xy, keep=5)
    with pytest.raises(ValueError, match="kernel must be one of 'linear', 'rbf'; got 'poly'"):
        cka(*xy, kernel="poly")
    with pytest.raises(ValueError, match=r"sigma.*must be > 0"):
        cka(*xy, kernel="rbf", sigma=0)
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        cca(*xy, epsilon=-1)
    with pytest.raises(ValueError, match=r"dtype must be torch.float64.*got torch.float16"):
        cca(*xy, dtype=torch.float16)
    with pytest.raises(ValueError, match="centering must be one of 'columns', 'none'"):
        r2cca(*xy, centering="rows")


def test_debiased_needs_four_samples(rng):
    with pytest.raises(ValueError, match="at least 4 samples; got n_samples=3"):
        cka(rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), debiased=True)


def test_huge_values_are_rescaled_not_refused(xy):
    """1e200 used to overflow x^T x; scale invariance now makes it the unscaled value."""
    assert cca(xy[0] * 2.0**664, xy[1]).mean == cca(*xy).mean


def test_conv_mode_rules(rng):
    maps = rng.standard_normal((10, 3, 4, 4))
    with pytest.raises(ValueError, match=r"looks like conv maps.*conv_mode='spatial'"):
        cka(maps, maps)
    with pytest.raises(ValueError, match=r"needs conv maps of shape \(N, C, H, W\)"):
        cka(maps[:, :, 0, 0], maps[:, :, 0, 0], conv_mode="pool")
    with pytest.raises(ValueError, match="conv_mode must be one of 'spatial', 'pool', 'flatten'"):
        cka(maps, maps, conv_mode="channels")
    with pytest.raises(ValueError, match="mode must be one of"):
        conv_to_samples(maps, "avg")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) or \(T, N, C, H, W\); got shape"):
        conv_to_samples(maps[0], "pool")


def test_batched_input_rules(rng):
    x = rng.standard_normal((3, 30, 4))
    with pytest.raises(ValueError, match="measures must name at least one"):
        similarity_batch(x, x, measures=())
    with pytest.raises(ValueError, match=r"each measure must be one of 'cca'.*got 'svd'"):
        similarity_batch(x, x, measures=("svd",))
    with pytest.raises(ValueError, match="same number of tasks T; got 3 and 2"):
        similarity_batch(x, x[:2])
    with pytest.raises(ValueError, match="must be 3-D"):
        similarity_batch(x[0], x[0])
    with pytest.raises(ValueError, match="Use similarity_batch for a leading task dimension"):
        cca(x, x)
    with pytest.raises(ValueError, match="svcca keep=9 directions but the widths are"):
        similarity_batch(x, x, measures=("svcca",), keep=9)
    with pytest.raises(ValueError, match="every feature of x in some task is constant"):
        similarity_batch(np.ones((3, 30, 4)), x)


def test_minibatch_rules(rng):
    mb = MinibatchCKA()
    with pytest.raises(ValueError, match="no batch has been added yet"):
        _ = mb.value
    mb.update(rng.standard_normal((10, 3)), rng.standard_normal((10, 2)))
    with pytest.raises(ValueError, match=r"widths of the first, \(3, 2\); got \(4, 2\)"):
        mb.update(rng.standard_normal((10, 4)), rng.standard_normal((10, 2)))


def test_significance_rules(xy):
    with pytest.raises(ValueError, match="n_permutations must be >= 1"):
        permutation_baseline("cka", *xy, n_permutations=0)
    with pytest.raises(ValueError, match="measure must be one of"):
        permutation_baseline("pearson", *xy)
    with pytest.raises(TypeError, match=r"a name from .* or a callable"):
        permutation_baseline(3, *xy)
    with pytest.raises(ValueError, match="alternative must be one of 'greater', 'less'"):
        permutation_baseline("cka", *xy, alternative="two-sided")
    with pytest.raises(ValueError, match="n_boot must be >= 2"):
        bootstrap_ci("cka", *xy, n_boot=1)
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        bootstrap_ci("cka", *xy, level=95)


def test_rbf_rejects_degenerate_bandwidth(rng):
    x = np.zeros((20, 3))
    x[0] = 1.0  # 19 of 20 samples identical: median distance 0
    with pytest.raises(ValueError, match=r"median squared distance.*is 0"):
        cka(x, rng.standard_normal((20, 3)), kernel="rbf")


def test_truncated_mean_fraction(xy):
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        cca(*xy).truncated_mean(0)
