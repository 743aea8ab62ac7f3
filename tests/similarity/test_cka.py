"""CKA vs Kornblith et al.'s demo values and Gram-based textbook code; invariances; minibatch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repsim.similarity import MinibatchCKA, SimilarityWarning, cka


def test_kornblith_reference_values(kornblith_xy):
    """PAPER.md: linear 0.55761, RBF (sigma = 0.5 median) 0.65483, debiased linear 0.51346."""
    x, y = kornblith_xy
    assert round(cka(x, y).value, 5) == 0.55761
    assert round(cka(x, y, kernel="rbf", sigma=0.5).value, 5) == 0.65483
    assert round(cka(x, y, debiased=True).value, 5) == 0.51346


@pytest.mark.filterwarnings("ignore:cka. n_samples=30:repsim.similarity.SimilarityWarning")
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("shape", [(120, 6, 9), (30, 50, 80)])  # feature route, Gram route
def test_matches_textbook_gram_cka(ref, rng, kernel, debiased, shape):
    n, dx, dy = shape
    x, y = ref.related(rng, n, dx, dy)
    gram = ref.gram_linear if kernel == "linear" else (lambda a: ref.gram_rbf(a, 0.5))
    want = ref.gram_cka(gram(x), gram(y), debiased)
    got = cka(x, y, kernel=kernel, debiased=debiased, sigma=0.5)
    assert got.value == pytest.approx(want, abs=1e-12)
    assert got.kernel == kernel and got.debiased == debiased
    assert got.sigma == (0.5 if kernel == "rbf" else None)


def _orthogonal(seed: int, d: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q * np.sign(np.diag(r))


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(1e-3, 1e3),
    debiased=st.booleans(),
    kernel=st.sampled_from(["linear", "rbf"]),
)
def test_invariant_to_orthogonal_maps_isotropic_scaling_translation(seed, scale, debiased, kernel):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((50, 7))
    y = np.tanh(x @ rng.standard_normal((7, 5))) + 0.5 * rng.standard_normal((50, 5))
    base = cka(x, y, kernel=kernel, debiased=debiased).value
    moved = cka(scale * x @ _orthogonal(seed, 7) + 4.0, y, kernel=kernel, debiased=debiased)
    assert moved.value == pytest.approx(base, abs=1e-9)
    assert cka(y, x, kernel=kernel, debiased=debiased).value == pytest.approx(base, abs=1e-12)
    assert cka(x, x, kernel=kernel, debiased=debiased).value == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_not_invariant_to_a_general_invertible_map(seed):
    """Anisotropic stretching changes CKA (it would not change CCA)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((200, 5))
    y = x + 0.5 * rng.standard_normal((200, 5))
    stretch = _orthogonal(seed, 5) @ np.diag([30.0, 1, 1, 1, 0.05])
    assert abs(cka(x @ stretch, y).value - cka(x, y).value) > 1e-3


def test_debiased_cka_of_independent_data_is_near_zero_at_small_n(rng):
    """PAPER.md: biased CKA of unrelated 256-d data reads ~0.88 at n=32; debiased is ~0."""
    biased, debiased = [], []
    for _ in range(20):
        x, y = rng.standard_normal((32, 256)), rng.standard_normal((32, 256))
        with pytest.warns(SimilarityWarning, match="consider debiased=True"):
            biased.append(cka(x, y).value)
        debiased.append(cka(x, y, debiased=True).value)
    assert np.mean(biased) == pytest.approx(0.88, abs=0.02) and np.min(biased) > 0.85
    assert abs(np.mean(debiased)) < 0.03 and np.max(np.abs(debiased)) < 0.2


def test_float32_relu_uncentred_gives_no_nan(rng):
    """Large-mean ReLU activations in float32 (compute in float32 too): centring first."""
    z = rng.standard_normal((4000, 64)).astype(np.float32)
    x = np.maximum(z + 50.0, 0).astype(np.float32)
    y = np.maximum(z @ rng.standard_normal((64, 64)).astype(np.float32) + 80.0, 0)
    for dtype in (torch.float32, torch.float64):
        for debiased in (False, True):
            value = cka(x, y.astype(np.float32), debiased=debiased, dtype=dtype).value
            assert np.isfinite(value) and 0 < value < 1
    ref64 = cka(x.astype(np.float64), y.astype(np.float64)).value
    assert cka(x, y, dtype=torch.float32).value == pytest.approx(ref64, abs=1e-4)


def test_minibatch_single_batch_equals_full_debiased(ref, rng):
    x, y = ref.related(rng, 300, 8, 12)
    mb = MinibatchCKA().update(x, y)
    assert mb.value == pytest.approx(cka(x, y, debiased=True).value, abs=1e-12)
    assert mb.n_batches == 1 and mb.n_samples == 300


def test_minibatch_approaches_full_value_as_batches_grow(rng):
    """Nguyen et al.: averaged unbiased HSIC is consistent; error shrinks with batch size."""
    z = rng.standard_normal((6000, 20))
    x = np.tanh(z @ rng.standard_normal((20, 30)))
    y = z[:, :10] @ rng.standard_normal((10, 40)) + rng.standard_normal((6000, 40))
    full = cka(x, y, debiased=True).value
    errors = []
    for size in (50, 300, 2000):
        mb = MinibatchCKA()
        parts = 6000 // size
        for xb, yb in zip(np.array_split(x, parts), np.array_split(y, parts), strict=True):
            mb.update(xb, yb)
        errors.append(abs(mb.value - full))
    assert errors[-1] < 0.005 and errors[-1] < errors[0]


def test_minibatch_memory_does_not_grow(rng):
    mb = MinibatchCKA()
    for _ in range(50):
        mb.update(rng.standard_normal((20, 4)), rng.standard_normal((20, 3)))
    assert len(mb._sums) == 3 and mb.n_samples == 1000  # three running sums, no samples kept


def test_minibatch_gram_route_for_wide_batches(ref, rng):
    x, y = ref.related(rng, 40, 30, 50)  # dx + dy > n: sample-space Grams
    assert MinibatchCKA().update(x, y).value == pytest.approx(
        ref.gram_cka(x @ x.T, y @ y.T, True), abs=1e-12
    )
