"""Inputs that used to give NaN, a wrong 'constant' or torch's message (issue 11)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from repsim import cca, cka, procrustes, pwcca, svcca
from repsim.similarity import SimilarityWarning, similarity_batch

MEASURES = {
    "cka": lambda x, y: cka(x, y).value,
    "cka_debiased": lambda x, y: cka(x, y, debiased=True).value,
    "cka_rbf": lambda x, y: cka(x, y, kernel="rbf").value,
    "cca": lambda x, y: cca(x, y).mean,
    "svcca": lambda x, y: svcca(x, y).mean,
    "pwcca": lambda x, y: pwcca(x, y).value,
    "procrustes": lambda x, y: procrustes(x, y).distance,
}


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 6))
    return x, x @ rng.standard_normal((6, 5)) + 0.7 * rng.standard_normal((60, 5))


@pytest.mark.parametrize("name", sorted(MEASURES))
@pytest.mark.parametrize("scale", [1e160, 1e-300, 1e300, 1e-200])
def test_extreme_magnitudes_give_the_plain_value(pair, name: str, scale: float) -> None:
    """Every measure is scale-invariant; at 1e160 RBF CKA was NaN, at 1e-300 'constant'."""
    x, y = pair
    expected = MEASURES[name](x, y)
    got = MEASURES[name](x * scale, y * scale)
    assert np.isfinite(got)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(MEASURES))
def test_power_of_two_scaling_is_exact(pair, name: str) -> None:
    x, y = pair
    assert MEASURES[name](x * 2.0**600, y * 2.0**-900) == MEASURES[name](x, y)


def test_batched_path_rescales_each_task(pair) -> None:
    x, y = pair
    xs = np.stack([x, x * 1e160, x * 1e-300])
    ys = np.stack([y, y * 1e-300, y * 1e160])
    out = similarity_batch(xs, ys, measures=("cka", "cca"))
    for m in ("cka", "cca"):
        values = np.asarray(out[m], dtype=float)
        assert np.allclose(values, values[0], rtol=1e-9), (m, values)


def test_really_constant_is_still_refused(pair) -> None:
    x, _ = pair
    with pytest.raises(ValueError, match="every feature of y is constant"):
        cka(x, np.full((60, 3), 2.0**-997))  # ~1e-300, exactly representable after scaling


def test_negative_strides_are_copied(pair) -> None:
    x, y = pair
    flipped = x[:, ::-1]
    assert flipped.strides[1] < 0
    assert cka(flipped, y[::-1][::-1]).value == pytest.approx(cka(x, y).value, rel=1e-12)
    assert cca(x[::-1], y[::-1]).mean == pytest.approx(cca(x, y).mean, rel=1e-10)


def test_transposed_layout_is_flagged(pair) -> None:
    """google/svcca passes (neurons, datapoints): a transposed pair gets a warning / hint."""
    x, y = pair
    with pytest.warns(SimilarityWarning, match=r"fewer rows.*pass x\.T and y\.T"):
        cka(x.T[:5], y.T[:5])
    with pytest.raises(ValueError, match=r"google/svcca's \(neurons, datapoints\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SimilarityWarning)
            cca(x.T[:5], y.T[:5])
    with warnings.catch_warnings():
        warnings.simplefilter("error", SimilarityWarning)
        cka(x, y)  # the usual layout: no warning
