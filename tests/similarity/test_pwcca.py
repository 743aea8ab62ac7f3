"""PWCCA against google/svcca's compute_pwcca (stored outputs and a numpy port), both orders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repsim.similarity import pwcca
from repsim.similarity._linalg import moments
from repsim.similarity.cca import _cca_core
from repsim.similarity.pwcca import _pwcca_core, _pwcca_weights_qr

GOOGLE_TOL = 1e-6


def test_matches_stored_google_pwcca(reference_cases):
    """Every case where google's pwcca.py ran (epsilon as stored, and epsilon = 0)."""
    stored = {k: v for k, v in reference_cases.items() if "pwcca_google" in v}
    assert len(stored) >= 4
    for name, case in stored.items():
        for eps in (float(case["epsilon"]), 0.0):
            res = pwcca(case["acts1"].T, case["acts2"].T, epsilon=eps)
            assert abs(res.value - float(case["pwcca_google"])) <= GOOGLE_TOL, (name, eps)
            assert res.side == "x" and res.weights.sum().item() == pytest.approx(1.0)


def test_both_orders_match_google_numpy(reference_cases, ref):
    """google's 2019 code crashes when acts1 is wider; repsim then computes google's (y, x)."""
    for name, case in sorted(reference_cases.items()):
        a1, a2, eps = case["acts1"], case["acts2"], float(case["epsilon"])
        if "pwcca_google" in case:  # the port itself reproduces google where google ran
            assert ref.google_pwcca(a1, a2, eps) == pytest.approx(case["pwcca_google"], abs=1e-12)
        for p, q in ((a1, a2), (a2, a1)):
            narrow_first = (p, q) if len(p) <= len(q) else (q, p)
            got = pwcca(p.T, q.T, epsilon=eps).value
            assert got == pytest.approx(ref.google_pwcca(*narrow_first, eps), abs=1e-9), name


def test_unequal_widths_do_not_depend_on_order(reference_cases):
    case = reference_cases["shared_signal_widths"]  # acts1: 40 neurons, acts2: 24
    wide_first = pwcca(case["acts1"].T, case["acts2"].T)
    narrow_first = pwcca(case["acts2"].T, case["acts1"].T)
    assert wide_first.side == "y" and narrow_first.side == "x"
    assert wide_first.value == pytest.approx(narrow_first.value, abs=1e-10)
    assert len(wide_first.weights) == 24


def test_equal_widths_weight_by_the_first_argument(reference_cases):
    """Documented asymmetry: with equal widths x's neurons give the weights (as in google)."""
    case = reference_cases["mnist_lay04"]
    ab = pwcca(case["acts1"].T, case["acts2"].T).value
    ba = pwcca(case["acts2"].T, case["acts1"].T).value
    assert abs(ab - ba) > 0.01


def test_cholesky_weights_equal_explicit_qr_weights(reference_cases):
    """Cross-solver: weights from second moments (Cholesky of D^T D) vs Householder QR of D."""
    case = reference_cases["svhn_lay06"]
    x = torch.from_numpy(case["acts1"].T)
    m = moments(x, torch.from_numpy(case["acts2"].T), dtype=torch.float64)
    core = _cca_core(m, epsilon=0.0, coefficients=False)
    w, _, info, dirs, _ = _pwcca_core(core, m)
    assert int(info) == 0
    np.testing.assert_allclose(w, _pwcca_weights_qr(x, dirs, torch.float64), atol=1e-10)


def test_value_depends_on_singular_vector_signs(reference_cases):
    """Why repsim takes google's SVD routine: the recipe adds means to sign-ambiguous vectors."""
    case = reference_cases["mnist_lay04"]
    x = torch.from_numpy(case["acts1"].T)
    m = moments(x, torch.from_numpy(case["acts2"].T), dtype=torch.float64)
    core = _cca_core(m, epsilon=0.0, coefficients=False)
    _, rho, _, dirs, _ = _pwcca_core(core, m)
    flipped = dirs * np.where(np.arange(dirs.shape[1]) % 2, -1.0, 1.0)
    w = _pwcca_weights_qr(x, flipped, torch.float64)
    assert abs(float((w * rho).sum()) - float(case["pwcca_google"])) > 1e-3


def test_rank_deficient_directions_fall_back_to_qr(rng):
    """Duplicated neurons make D rank-deficient: explicit QR, finite weights, still a mean."""
    x = rng.standard_normal((300, 3))
    x = np.concatenate([x, x[:, :1]], axis=1)  # 4 features, rank 3
    y = x[:, :3] @ rng.standard_normal((3, 5)) + rng.standard_normal((300, 5))
    with pytest.warns(UserWarning, match="rank 3 of 4"):
        res = pwcca(x, y)
    assert np.isfinite(res.value) and 0 <= res.value <= 1
    assert res.weights.sum().item() == pytest.approx(1.0)


def test_identical_and_independent_extremes(rng):
    x = np.maximum(rng.standard_normal((2000, 6)), 0)
    assert pwcca(x, x).value == pytest.approx(1.0, abs=1e-9)
    y = np.maximum(rng.standard_normal((2000, 6)), 0)
    assert pwcca(x, y).value < 0.1
