"""The lean route for small numpy pairs (linear CKA) answers exactly as the checked route."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repsim.similarity import cka
from repsim.similarity._linalg import moments
from repsim.similarity.cka import _linear_hsics, _ratio


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(75, 5, 5), (75, 3, 7), (12, 4, 8), (200, 64, 64)])
def test_small_numpy_pair_equals_the_moment_route(rng, dtype, shape):
    n, dx, dy = shape
    x = rng.standard_normal((n, dx)).astype(dtype)
    y = (x[:, :1] + rng.standard_normal((n, dy))).astype(dtype)
    lean = cka(x, y)
    m = moments(torch.from_numpy(x), torch.from_numpy(y), dtype=torch.float64)
    expected = float(_ratio(*_linear_hsics(m, debiased=False), measure="cka"))
    assert lean.value == pytest.approx(expected, rel=1e-12)
    assert cka(torch.from_numpy(x), torch.from_numpy(y)).value == pytest.approx(expected, rel=1e-12)
    described = (lean.n_samples, lean.n_features, lean.kernel, lean.debiased)
    assert described == (n, (dx, dy), "linear", False)


def test_small_numpy_pair_still_refuses_bad_input(rng):
    x = rng.standard_normal((75, 5))
    y = rng.standard_normal((75, 5))
    y_nan = y.copy()
    y_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        cka(x, y_nan)
    with pytest.raises(ValueError, match="constant"):
        cka(x, np.ones((75, 5)))
    with pytest.raises(ValueError, match="n_samples"):
        cka(x, y[:70])
    # Huge values are not refused: CKA is scale-invariant and the checked route rescales by an
    # exact power of two, so the lean route must step aside and give the unscaled answer.
    assert cka(x * 1e200, y).value == pytest.approx(cka(x, y).value, abs=1e-12)
