"""CUDA: results stay on the input's device and equal the CPU results (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repsim.similarity import MEASURES, MinibatchCKA, cca, cka, pwcca, similarity_batch, svcca

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_single_pair_measures_on_cuda_equal_cpu(ref, rng):
    x, y = ref.related(rng, 500, 6, 9)
    xc, yc = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
    for fn in (cca, svcca):
        res = fn(xc, yc)
        assert res.coefficients.device.type == "cuda"
        np.testing.assert_allclose(
            res.coefficients.cpu().numpy(), fn(x, y).coefficients, atol=1e-10
        )
    assert pwcca(xc, yc).weights.device.type == "cuda"
    assert pwcca(xc, yc).value == pytest.approx(pwcca(x, y).value, abs=1e-10)
    for kernel in ("linear", "rbf"):
        assert cka(xc, yc, kernel=kernel).value == pytest.approx(cka(x, y, kernel=kernel).value)


def test_batched_on_cuda_equals_cpu(rng):
    x = np.maximum(rng.standard_normal((20, 75, 8)) + 0.3, 0)
    y = np.maximum(x + 0.3 * rng.standard_normal((20, 75, 8)), 0)
    cpu = similarity_batch(x, y, measures=MEASURES)
    gpu = similarity_batch(
        torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda(), measures=MEASURES
    )
    for name in MEASURES:
        assert gpu[name].device.type == "cuda"
        np.testing.assert_allclose(gpu[name].cpu().numpy(), cpu[name].numpy(), atol=1e-9)


def test_float32_on_cuda_and_minibatch(rng):
    x = torch.relu(torch.randn(4000, 64, device="cuda") + 20)
    y = torch.relu(x @ torch.randn(64, 32, device="cuda") + 5)
    assert np.isfinite(cka(x, y, dtype=torch.float32).value)
    mb = MinibatchCKA()
    for xb, yb in zip(x.split(500), y.split(500), strict=True):
        mb.update(xb, yb)
    assert mb.value == pytest.approx(cka(x, y, debiased=True).value, abs=0.02)
