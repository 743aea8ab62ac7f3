"""CCA, SVCCA, mean squared CCA vs google/svcca outputs, textbook QR-CCA, and invariances."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repsim.similarity import SimilarityWarning, cca, r2cca, svcca

GOOGLE_TOL = 1e-6  # acceptance criterion of issue #2


def _cases(reference_cases):
    return sorted(reference_cases.items())


def test_coefficients_and_means_match_google(reference_cases):
    """google/svcca get_cca_similarity outputs (epsilon as stored, and the exact epsilon=0)."""
    for name, case in _cases(reference_cases):
        x, y = case["acts1"].T, case["acts2"].T  # google: neurons x datapoints
        for eps in (float(case["epsilon"]), 0.0):
            res = cca(x, y, epsilon=eps)
            assert res.epsilon == eps
            err = np.abs(res.coefficients.numpy() - case["cca_coefs"]).max()
            assert err <= GOOGLE_TOL, (name, eps, err)
            assert abs(res.mean - case["cca_mean_all"]) <= GOOGLE_TOL, name
            assert abs(res.truncated_mean(0.98) - case["cca_mean_thr098"]) <= GOOGLE_TOL, name


def test_regularised_coefficients_match_google_to_rounding(reference_cases):
    """With google's epsilon the same algorithm is reproduced to ~1e-12, not just 1e-6."""
    for name, case in _cases(reference_cases):
        res = cca(case["acts1"].T, case["acts2"].T, epsilon=float(case["epsilon"]))
        assert np.abs(res.coefficients.numpy() - case["cca_coefs"]).max() < 1e-11, name


def test_svcca_with_stored_k_matches_google(reference_cases):
    """google's tutorial SVCCA (top-k SVD directions, then CCA) with the stored k."""
    for name, case in _cases(reference_cases):
        k = int(case["svcca_k"])
        for eps in (float(case["epsilon"]), 0.0):
            res = svcca(case["acts1"].T, case["acts2"].T, keep=k, epsilon=eps)
            assert res.dims == (k, k)
            err = np.abs(res.coefficients.numpy() - case["svcca_coefs"]).max()
            assert err <= GOOGLE_TOL, (name, eps, err)
            assert abs(res.mean - case["svcca_mean"]) <= GOOGLE_TOL, name


def test_matches_textbook_qr_cca_on_unequal_widths(ref, rng):
    """Cross-solver: covariance eigen-whitening (repsim) vs QR of the centred data (textbook)."""
    x, y = ref.related(rng, 300, 7, 12)
    res = cca(x, y)
    assert res.n_features == (7, 12) and len(res.coefficients) == 7
    np.testing.assert_allclose(res.coefficients.numpy(), ref.textbook_cca(x, y), atol=1e-12)
    assert np.all(np.diff(res.coefficients.numpy()) <= 0)  # descending


def test_torch_and_numpy_inputs_agree_and_stay_on_cpu(ref, rng):
    x, y = ref.related(rng, 200, 5, 5)
    a = cca(x, y)
    b = cca(torch.from_numpy(x), torch.from_numpy(y))
    assert b.coefficients.device.type == "cpu" and b.coefficients.dtype == torch.float64
    torch.testing.assert_close(a.coefficients, b.coefficients, rtol=0, atol=1e-14)


def test_float32_compute_dtype_is_close_to_float64(ref, rng):
    x, y = ref.related(rng, 500, 6, 6)
    lo = cca(x.astype(np.float32), y.astype(np.float32), dtype=torch.float32)
    assert lo.coefficients.dtype == torch.float32
    assert abs(lo.mean - cca(x, y).mean) < 1e-4


def test_r2cca_reproduces_kornblith_demo_value(kornblith_xy, ref):
    """Kornblith et al.'s demo cca() does not centre: 0.54312; centred R^2_CCA is mean rho^2."""
    x, y = kornblith_xy
    assert round(r2cca(x, y, centering="none").value, 5) == 0.54312
    centred = r2cca(x, y)
    assert centred.value == pytest.approx(np.mean(ref.textbook_cca(x, y) ** 2), abs=1e-12)
    assert round(centred.value, 5) == 0.54540
    assert centred.mean == pytest.approx(cca(x, y).mean)


def _invertible(data, d: int) -> np.ndarray:
    seed = data.draw(st.integers(0, 2**31 - 1))
    a = np.random.default_rng(seed).standard_normal((d, d))
    u, _, vt = np.linalg.svd(a)
    scales = np.exp(data.draw(st.lists(st.floats(-2, 2), min_size=d, max_size=d)))
    return u @ np.diag(scales) @ vt  # condition number <= e^4


@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**31 - 1), dx=st.integers(1, 6), dy=st.integers(1, 6))
def test_invariant_to_invertible_maps_and_translation(data, seed, dx, dy):
    """CCA(XA + b, YB + c) = CCA(X, Y) for invertible A, B (PAPER.md)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((80, dx))
    y = x[:, :1] @ rng.standard_normal((1, dy)) + rng.standard_normal((80, dy))
    a, b = _invertible(data, dx), _invertible(data, dy)
    base = cca(x, y).coefficients.numpy()
    moved = cca(x @ a + 3.0, y @ b - 7.0).coefficients.numpy()
    np.testing.assert_allclose(moved, base, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), dx=st.integers(1, 8), dy=st.integers(1, 8))
def test_self_similarity_is_one_and_measure_is_symmetric(seed, dx, dy):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((60, dx)), rng.standard_normal((60, dy))
    assert cca(x, x).mean == pytest.approx(1.0, abs=1e-9)
    assert r2cca(x, x).value == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(
        cca(x, y).coefficients.numpy(), cca(y, x).coefficients.numpy(), atol=1e-10
    )


def test_svcca_float_keep_picks_smallest_k_reaching_the_fraction(rng):
    """keep=f keeps the fewest directions whose squared singular values reach f (textbook SVD)."""
    x = rng.standard_normal((500, 10)) * np.array([10, 8, 6, 4, 2, 1, 0.5, 0.3, 0.2, 0.1])
    y = x + 0.3 * rng.standard_normal((500, 10))
    res = svcca(x, y, keep=0.95)
    for side, data in zip(res.dims, (x, y), strict=True):
        s = np.linalg.svd(data - data.mean(0), compute_uv=False)
        frac = np.cumsum(s**2) / np.sum(s**2)
        assert side == int(np.argmax(frac >= 0.95)) + 1
    assert res.keep == 0.95 and svcca(x, y, keep=1.0).dims == (10, 10)


def test_svcca_of_wide_data_uses_sample_space_pca(ref, rng):
    """d >= n - 1 (flattened conv maps): SVD step in sample space, same as the textbook route."""
    z = rng.standard_normal((60, 4))
    x = z @ rng.standard_normal((4, 200)) + 0.01 * rng.standard_normal((60, 200))
    y = z @ rng.standard_normal((4, 150)) + 0.01 * rng.standard_normal((60, 150))
    res = svcca(x, y, keep=4)
    reduced = []
    for data in (x, y):
        u, s, _ = np.linalg.svd(data - data.mean(0), full_matrices=False)
        reduced.append(u[:, :4] * s[:4])
    np.testing.assert_allclose(res.coefficients.numpy(), ref.textbook_cca(*reduced), atol=1e-9)
    assert res.dims == (4, 4) and res.n_features == (200, 150)


def test_constant_features_are_dropped_with_a_warning(ref, rng):
    """Dead units carry no information: dropped (as google does for epsilon > 0), and said so."""
    x, y = ref.related(rng, 300, 5, 5)
    dead = np.concatenate([x, np.zeros((300, 1)), np.full((300, 1), 0.1)], axis=1)
    with pytest.warns(SimilarityWarning, match="dropped 2 of 7 features of x"):
        res = cca(dead, y)
    assert res.dims == (5, 5) and res.n_features == (7, 5)
    np.testing.assert_allclose(res.coefficients.numpy(), ref.textbook_cca(x, y), atol=1e-12)
    assert any("dropped" in w for w in res.warnings)


def test_rank_deficient_features_give_rank_many_coefficients(ref, rng):
    x, y = ref.related(rng, 300, 4, 6)
    dup = np.concatenate([x, x[:, :2] + x[:, 2:3]], axis=1)  # 6 features of rank 4
    with pytest.warns(SimilarityWarning, match="x has rank 4 of 6"):
        res = cca(dup, y)
    np.testing.assert_allclose(res.coefficients.numpy(), ref.textbook_cca(x, y), atol=1e-8)


def test_overlapping_spans_warn_that_some_correlations_are_trivial(rng):
    x, y = rng.standard_normal((40, 25)), rng.standard_normal((40, 25))
    with pytest.warns(SimilarityWarning, match="at least 11 canonical correlations are 1"):
        res = cca(x, y)
    assert np.sum(res.coefficients.numpy() > 1 - 1e-9) >= 11


def test_epsilon_regularisation_is_explicit_and_small(reference_cases):
    """epsilon > 0 is google's ridge: recorded, and ~1e-9 away from the exact answer here."""
    case = reference_cases["svhn_lay06"]
    exact = cca(case["acts1"].T, case["acts2"].T)
    ridge = cca(case["acts1"].T, case["acts2"].T, epsilon=1e-10)
    assert exact.epsilon == 0.0 and ridge.epsilon == 1e-10
    diff = np.abs(exact.coefficients.numpy() - ridge.coefficients.numpy()).max()
    assert 0 < diff < 1e-6


def test_result_is_frozen_and_float_like(pair):
    res = cca(*pair)
    assert float(res) == res.value == res.mean
    with pytest.raises(AttributeError):
        res.measure = "other"  # type: ignore[misc]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean pair emits no warning
        cca(*pair)
