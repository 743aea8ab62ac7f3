"""Orthogonal Procrustes distance against scipy's orthogonal_procrustes solver."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repsim.similarity import procrustes


@pytest.mark.parametrize("shape", [(200, 5, 8), (30, 40, 60)])  # feature route, Gram route
def test_matches_scipy_solver(ref, rng, shape):
    n, dx, dy = shape
    x, y = ref.related(rng, n, dx, dy)
    res = procrustes(x, y)
    assert res.value == pytest.approx(ref.procrustes(x, y), abs=1e-10)
    assert res.distance == res.value == pytest.approx(2 - 2 * res.nuclear_norm)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(1e-2, 1e2))
def test_invariances_and_symmetry(seed, scale):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((60, 6))
    y = x @ rng.standard_normal((6, 6)) + rng.standard_normal((60, 6))
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    base = procrustes(x, y).value
    assert procrustes(scale * x @ q - 2.0, y).value == pytest.approx(base, abs=1e-9)
    assert procrustes(y, x).value == pytest.approx(base, abs=1e-10)
    assert procrustes(x, scale * x @ q).value == pytest.approx(0.0, abs=1e-9)
    assert 0.0 <= base <= 2.0
