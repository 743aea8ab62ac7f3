"""conv_to_samples against explicit loops; measures record the conv mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repsim.similarity import CONV_MODES, cca, cka, conv_to_samples, procrustes, pwcca, svcca


def test_spatial_mode_makes_each_position_a_sample(rng):
    maps = rng.standard_normal((4, 3, 2, 5))  # (N, C, H, W)
    out = conv_to_samples(maps, "spatial").numpy()
    assert out.shape == (4 * 2 * 5, 3)
    rows = [maps[i, :, h, w] for i in range(4) for h in range(2) for w in range(5)]
    np.testing.assert_array_equal(out, np.stack(rows))


def test_pool_and_flatten_modes(rng):
    maps = torch.from_numpy(rng.standard_normal((6, 3, 4, 4)))
    np.testing.assert_allclose(conv_to_samples(maps, "pool"), maps.mean(dim=(2, 3)))
    flat = conv_to_samples(maps, "flatten")
    assert flat.shape == (6, 48)
    assert flat[2, 1 * 16 + 2 * 4 + 3] == maps[2, 1, 2, 3]


def test_task_dimension_is_kept(rng):
    maps = rng.standard_normal((7, 4, 3, 2, 2))  # (T, N, C, H, W)
    for mode, shape in zip(CONV_MODES, [(7, 16, 3), (7, 4, 3), (7, 4, 12)], strict=True):
        out = conv_to_samples(maps, mode)
        assert out.shape == shape
        torch.testing.assert_close(out[5], conv_to_samples(maps[5], mode))


@pytest.mark.parametrize("measure", [cca, svcca, pwcca, cka, procrustes], ids=lambda f: f.__name__)
def test_measures_accept_maps_and_record_the_mode(rng, measure):
    maps = rng.standard_normal((30, 4, 3, 3))
    other = maps + 0.3 * rng.standard_normal((30, 4, 3, 3))
    res = measure(maps, other, conv_mode="spatial")
    assert res.conv_mode == "spatial"
    want = measure(conv_to_samples(maps, "spatial"), conv_to_samples(other, "spatial"))
    assert res.value == pytest.approx(want.value, abs=1e-12)
    assert measure(conv_to_samples(maps, "pool"), conv_to_samples(other, "pool")).conv_mode is None
