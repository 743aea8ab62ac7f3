"""similarity_batch equals one-at-a-time calls; dead units, chunking; refuses CCA at n <= d."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from repsim.similarity import (
    MEASURES,
    SimilarityWarning,
    cca,
    cka,
    meaningful_measures,
    procrustes,
    pwcca,
    r2cca,
    similarity_batch,
    svcca,
)

SINGLE = {
    "cca": lambda x, y: cca(x, y).value,
    "svcca": lambda x, y: svcca(x, y, keep=0.9).value,
    "pwcca": lambda x, y: pwcca(x, y).value,
    "r2cca": lambda x, y: r2cca(x, y).value,
    "cka": lambda x, y: cka(x, y).value,
    "cka_debiased": lambda x, y: cka(x, y, debiased=True).value,
    "cka_rbf": lambda x, y: cka(x, y, kernel="rbf", sigma=0.5).value,
    "procrustes": lambda x, y: procrustes(x, y).value,
}


def _tasks(rng, tasks=12, n=75, dx=8, dy=5):
    """ReLU-like, uncentred activations of T tasks under two parameter sets."""
    x = np.maximum(rng.standard_normal((tasks, n, dx)) + 0.3, 0)
    mix = rng.standard_normal((dx, dy))
    y = np.maximum(x @ mix + 0.5 * rng.standard_normal((tasks, n, dy)), 0)
    return x, y


def test_batched_equals_single_calls(rng):
    x, y = _tasks(rng)
    out = similarity_batch(x, y, measures=MEASURES, keep=0.9)
    assert set(out) == set(MEASURES)
    for name in MEASURES:
        single = np.array([SINGLE[name](a, b) for a, b in zip(x, y, strict=True)])
        assert out[name].shape == (12,) and out[name].dtype == torch.float64
        np.testing.assert_allclose(out[name].numpy(), single, atol=1e-10, err_msg=name)


def test_batched_equals_single_calls_in_wider_y_order(rng):
    y, x = _tasks(rng, dx=5, dy=8)  # now y is the wider side: PWCCA weights come from x
    out = similarity_batch(x, y, measures=("pwcca", "svcca"), keep=3)
    for i in range(len(x)):
        assert out["pwcca"][i].item() == pytest.approx(pwcca(x[i], y[i]).value, abs=1e-10)
        assert out["svcca"][i].item() == pytest.approx(svcca(x[i], y[i], keep=3).value, abs=1e-10)


def test_tasks_with_dead_units_match_single_calls(rng):
    x, y = _tasks(rng, tasks=6)
    x[2, :, 3] = 0.0  # a dead ReLU in task 2 only
    y[4, :, 0] = 1.5  # a constant unit in task 4
    with pytest.warns(SimilarityWarning, match="2 of 6 tasks had constant features"):
        out = similarity_batch(x, y, measures=("cca", "pwcca", "cka"))
    for i in (2, 4):
        with pytest.warns(SimilarityWarning, match="dropped 1 of"):
            assert out["cca"][i].item() == pytest.approx(cca(x[i], y[i]).value, abs=1e-10)
        with pytest.warns(SimilarityWarning):
            assert out["pwcca"][i].item() == pytest.approx(pwcca(x[i], y[i]).value, abs=1e-10)
        assert out["cka"][i].item() == pytest.approx(cka(x[i], y[i]).value, abs=1e-12)


def test_chunking_does_not_change_results(rng):
    x, y = _tasks(rng, tasks=10)
    whole = similarity_batch(x, y, measures=MEASURES)
    chunked = similarity_batch(x, y, measures=MEASURES, chunk_bytes=1)  # one task per chunk
    for name in MEASURES:
        torch.testing.assert_close(whole[name], chunked[name], rtol=0, atol=1e-12)


def test_wide_layers_use_sample_space_for_cka_and_procrustes(rng):
    """n < d (flattened conv maps): CKA/Procrustes from n x n Grams, CCA family refused."""
    x, y = _tasks(rng, tasks=3, n=20, dx=60, dy=50)
    out = similarity_batch(x, y, measures=("cka_debiased", "procrustes", "cka_rbf"))
    for i in range(3):
        assert out["cka_debiased"][i].item() == pytest.approx(
            cka(x[i], y[i], debiased=True).value, abs=1e-12
        )
        assert out["procrustes"][i].item() == pytest.approx(procrustes(x[i], y[i]).value, abs=1e-10)
    with pytest.raises(ValueError, match=r"n=20 <= d.1=61.*trivially 1.*debiased CKA"):
        similarity_batch(x, y, measures=("cka", "cca"))


def test_conv_maps_are_converted_and_the_mode_recorded(rng):
    maps_x = rng.standard_normal((4, 10, 3, 5, 5))  # (T, N, C, H, W)
    maps_y = maps_x + 0.1 * rng.standard_normal((4, 10, 3, 5, 5))
    out = similarity_batch(maps_x, maps_y, measures=("cca", "cka"), conv_mode="spatial")
    assert out.conv_mode == "spatial" and out.n_samples == 250 and out.n_features == (3, 3)
    flat = maps_x[1].transpose(0, 2, 3, 1).reshape(250, 3)
    flat_y = maps_y[1].transpose(0, 2, 3, 1).reshape(250, 3)
    assert out["cca"][1].item() == pytest.approx(cca(flat, flat_y).value, abs=1e-12)


def test_meaningful_measures_follow_the_degrees_of_freedom():
    many = meaningful_measures(75, 32)
    assert many.measures == MEASURES and "all measures apply" in many.reason
    few, reason = meaningful_measures(75, 800)
    assert "cca" not in few and "cka_debiased" in few and "trivially 1" in reason
    assert "cca" not in meaningful_measures(33, 32).measures  # d = n - 1 spans everything
    assert "construction" in meaningful_measures(50, (30, 30)).reason


def test_result_is_a_dict_with_its_settings(rng):
    x, y = _tasks(rng, tasks=2)
    out = similarity_batch(x, y, measures=["cka", "cka", "svcca"], keep=4, epsilon=1e-10)
    assert list(out) == ["cka", "svcca"] and out.keep == 4 and out.epsilon == 1e-10
    assert out.warnings == ()


def test_tasks_sharing_dead_units_are_computed_as_a_group_and_match_single_calls(rng):
    """Several tasks with the same dead units (one stacked group), others with their own
    pattern, others with none: every task equals the single-pair answer."""
    x, y = _tasks(rng, tasks=9)
    x[[0, 3, 5, 8], :, 1] = 0.0  # the same dead ReLU in four tasks (one group)
    x[[0, 3, 5, 8], :, 4] = 0.0
    y[[3, 5], :, 2] = 0.25  # two of them also have a constant unit on the y side
    x[6, :, 0] = 0.0  # a pattern of its own
    measures = ("cca", "svcca", "pwcca", "r2cca", "cka")
    with pytest.warns(SimilarityWarning, match="5 of 9 tasks had constant features"):
        out = similarity_batch(x, y, measures=measures)
    for i in range(9):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SimilarityWarning)
            expected = {
                "cca": cca(x[i], y[i]).value,
                "svcca": svcca(x[i], y[i]).value,
                "pwcca": pwcca(x[i], y[i]).value,
                "r2cca": r2cca(x[i], y[i]).value,
                "cka": cka(x[i], y[i]).value,
            }
        for name in measures:
            assert out[name][i].item() == pytest.approx(expected[name], abs=1e-10), (name, i)
