"""dtype=torch.float32 gives the float64 answer on large ReLU activations (issue 10).

HSIC is a fourth power of the activations: for ReLU maps around 1e3 its terms pass float32's
3.4e38, and linear / debiased CKA used to return 0.0 (inf in the denominator) with no warning.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from repsim.similarity import MinibatchCKA, cka, similarity_batch


def _relu_pair(n: int, d: int, scale: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two related ReLU layers of n samples (conv-like: uncentred, sparse, shared input)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g)
    x = torch.relu(z @ torch.randn(d, d, generator=g) + 0.5)
    y = torch.relu(z @ torch.randn(d, d, generator=g) + 0.3 * torch.randn(n, d, generator=g))
    return x * scale, y * scale


@pytest.mark.parametrize("n", [75, 300, 1200, 14700])  # Omniglot head/conv4/conv3/conv1 sizes
@pytest.mark.parametrize("debiased", [False, True])
def test_float32_cka_equals_float64_on_relu_activations_around_1e3(n, debiased):
    x, y = _relu_pair(n, 64, 1e3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # biased CKA at n < d warns; not the point here
        exact = cka(x, y, debiased=debiased).value
        single = cka(x, y, debiased=debiased, dtype=torch.float32).value
    assert exact > 0.3  # the case that read 0.0 before
    assert single == pytest.approx(exact, abs=1e-4)


def test_float32_batched_measures_equal_float64_on_large_activations():
    pairs = [_relu_pair(1200, 64, 1e3, seed=s) for s in range(3)]
    x = torch.stack([p[0] for p in pairs])
    y = torch.stack([p[1] for p in pairs])
    measures = ("cka", "cka_debiased", "cca", "svcca", "pwcca", "procrustes")
    exact = similarity_batch(x, y, measures=measures)
    single = similarity_batch(x, y, measures=measures, dtype=torch.float32)
    for name in measures:
        torch.testing.assert_close(single[name].double(), exact[name], rtol=0, atol=1e-4)


def test_float32_sample_space_route_and_rbf_equal_float64():
    x, y = _relu_pair(60, 64, 3e3)  # d_x + d_y > n: n x n Grams
    for kwargs in ({}, {"debiased": True}, {"kernel": "rbf"}):
        exact = cka(x, y, **kwargs).value
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            single = cka(x, y, dtype=torch.float32, **kwargs).value
        assert single == pytest.approx(exact, abs=1e-4), kwargs


def test_float32_minibatch_cka_uses_one_scale_for_all_batches():
    x, y = _relu_pair(1200, 16, 1e3)
    exact, single = MinibatchCKA(), MinibatchCKA(dtype=torch.float32)
    for xb, yb in zip(x.split(300), y.split(300), strict=True):
        exact.update(xb, yb)
        single.update(xb * 1.0, yb)
    assert exact.value > 0.3
    assert single.value == pytest.approx(exact.value, abs=1e-4)
