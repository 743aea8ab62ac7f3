"""The adaptation-gain figure draws the trailing-window mean and 95% CI it says it draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repsim.plots.rl import rl_adaptation_gain


def _metrics(rng, steps=40, seeds=(0, 1)):
    rows = []
    for seed in seeds:
        for step in range(1, steps + 1):
            before = -100.0 + rng.normal()
            rows.append({"algorithm": "maml", "seed": seed, "step": step,
                         "return_before": before, "return_after": before + 2.0 + rng.normal()})
    return pd.DataFrame(rows)


def test_line_and_band_match_a_hand_computation(rng):
    metrics = _metrics(rng)
    fig = rl_adaptation_gain(metrics, window=10)
    ax = fig.axes[0]
    line = next(ln for ln in ax.lines if ln.get_label().startswith("MAML"))
    x, y = line.get_data()
    assert x[0] == 10 and x[-1] == 40  # first full window ends at iteration 10
    gains = metrics.assign(g=metrics.return_after - metrics.return_before)
    last = gains[gains.step > 30]["g"].to_numpy()  # iterations 31-40 of both seeds
    assert y[-1] == pytest.approx(last.mean(), rel=1e-9)
    band = ax.collections[-1].get_paths()[0].vertices[:, 1]
    half = 1.96 * last.std(ddof=1) / np.sqrt(last.size)
    assert band.max() >= last.mean() + half - 1e-6
    assert np.isclose(band, last.mean() + half, atol=1e-6).any()


def test_bad_input_is_refused(rng):
    with pytest.raises(ValueError, match="return_after"):
        rl_adaptation_gain(_metrics(rng).drop(columns="return_after"))
    with pytest.raises(ValueError, match="window"):
        rl_adaptation_gain(_metrics(rng), window=1)


def test_seeds_of_different_lengths_stop_the_line_where_the_shortest_ends(rng):
    metrics = _metrics(rng, steps=40)
    metrics = metrics[~((metrics.seed == 1) & (metrics.step > 30))]  # seed 1 stopped at 30
    line = next(ln for ln in rl_adaptation_gain(metrics, window=10).axes[0].lines
                if ln.get_label().startswith("MAML"))
    x, y = line.get_data()
    assert x[-1] == 30
    gains = metrics.assign(g=metrics.return_after - metrics.return_before)
    assert y[-1] == pytest.approx(gains[gains.step.between(21, 30)]["g"].mean(), rel=1e-9)
