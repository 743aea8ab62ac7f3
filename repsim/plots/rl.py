"""Meta-RL figures: learning curves before/after adaptation, and freezing by return.

Like every figure in :mod:`repsim.plots`, these draw tables and compute nothing beyond the
mean and spread over seeds that the caption states. The θ vs θ′ similarity figure is
:func:`repsim.plots.figures.similarity_inner_loop`, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from repsim.plots.style import ALGORITHM_COLORS, algorithm_label, frozen_label, styled

__all__ = ["rl_adaptation_gain", "rl_curves", "rl_freezing"]


@styled
def rl_curves(metrics: pd.DataFrame, *, paper: Mapping[str, tuple[float, float]] | None = None,
              title: str = "", smooth: int = 10) -> Figure:
    """Average return per meta-iteration, before (dashed) and after (solid) the inner step.

    ``metrics`` holds ``algorithm, seed, step, return_before, return_after`` (the training
    ``metrics.csv`` of every run). Lines: mean over seeds of a ``smooth``-iteration running
    mean; bands: ± one std over seeds. ``paper``: algorithm → (mean, std) after adaptation,
    drawn as a horizontal band at the right edge.
    """
    for col in ("algorithm", "seed", "step", "return_before", "return_after"):
        if col not in metrics:
            raise ValueError(f"the curves table needs a {col!r} column")
    fig = Figure(figsize=(7.2, 3.8), layout="constrained")
    ax = fig.subplots()
    for alg, rows in metrics.groupby("algorithm", sort=False):
        color = ALGORITHM_COLORS.get(alg)
        for col, style, what in (("return_after", "-", "after"),
                                 ("return_before", "--", "before")):
            wide = rows.pivot_table(index="step", columns="seed", values=col)
            wide = wide.rolling(smooth, min_periods=1).mean()
            mean, std = wide.mean(axis=1), wide.std(axis=1).fillna(0)
            ax.plot(mean.index, mean, style, color=color,
                    label=f"{algorithm_label(alg)} {what} adaptation ({_seeds(wide.shape[1])})")
            ax.fill_between(mean.index, mean - std, mean + std, color=color, alpha=0.15,
                            linewidth=0)
        if paper and alg in paper:
            m, s = paper[alg]
            x1 = rows["step"].max()
            ax.errorbar([x1 * 1.02], [m], yerr=[s], fmt="s", color=color, capsize=3,
                        label=f"paper {algorithm_label(alg)} after (mean ± std)")
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel("average return per episode")
    ax.set_title(title or "Return before and after one inner step during meta-training")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    return fig


@styled
def rl_adaptation_gain(metrics: pd.DataFrame, *, title: str = "", window: int = 25) -> Figure:
    """What one inner step buys during meta-training: return after − before, per iteration.

    ``metrics`` as for :func:`rl_curves`. Per algorithm, the line is the mean gain over the
    iterations of a trailing ``window`` (all seeds pooled), the band its 95% CI
    (1.96 · sd / √n over those iterations × seeds: each iteration's gain comes from fresh
    tasks), drawn up to the last iteration every seed reached. Where the band clears the zero
    line, adaptation helps at that stage of training.
    """
    for col in ("algorithm", "seed", "step", "return_before", "return_after"):
        if col not in metrics:
            raise ValueError(f"the curves table needs a {col!r} column")
    if window < 2:
        raise ValueError(f"window must be at least 2 iterations; got {window}")
    fig = Figure(figsize=(7.2, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.axhline(0.0, color="0.4", linewidth=0.8, linestyle=":", label="no gain")
    for alg, rows in metrics.groupby("algorithm", sort=False):
        color = ALGORITHM_COLORS.get(alg)
        gain = (rows.assign(gain=rows["return_after"] - rows["return_before"])
                .pivot_table(index="step", columns="seed", values="gain"))
        # per seed, sums over full windows only (NaN where a seed has not run `window`
        # iterations yet or has stopped); drawn only where every seed has a full window
        sums = gain.rolling(window, min_periods=window).sum()
        squares = (gain**2).rolling(window, min_periods=window).sum()
        ok = (sums.notna().sum(axis=1) == gain.shape[1]).to_numpy()
        count = float(window * gain.shape[1])
        mean = sums.sum(axis=1) / count
        var = (squares.sum(axis=1) - count * mean**2) / (count - 1)
        half = 1.96 * np.sqrt(var.clip(lower=0) / count)
        ax.plot(mean.index[ok], mean[ok], color=color,
                label=f"{algorithm_label(alg)} ({_seeds(gain.shape[1])}), {window}-iteration "
                      "mean")
        ax.fill_between(mean.index[ok], (mean - half)[ok], (mean + half)[ok], color=color,
                        alpha=0.2, linewidth=0, label=f"{algorithm_label(alg)} 95% CI")
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel("return after − before one inner step")
    ax.set_title(title or "Adaptation gain during meta-training")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    return fig


@styled
def rl_freezing(ablate: pd.DataFrame, *, title: str = "") -> Figure:
    """Return after adaptation vs layers frozen in the inner loop (mean over seeds ± std).

    ``ablate`` holds ``algorithm, seed, frozen, return`` rows (one per checkpoint and frozen
    set); the before-adaptation return (``return_before``) is drawn as a grey reference.
    """
    for col in ("algorithm", "frozen", "return"):
        if col not in ablate:
            raise ValueError(f"the freezing table needs a {col!r} column")
    frame = ablate.assign(_frozen=ablate["frozen"].map(lambda f: tuple(f)))
    configs = sorted(set(frame["_frozen"]), key=len)
    pos = {f: i for i, f in enumerate(configs)}
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.subplots()
    algs = list(dict.fromkeys(frame["algorithm"]))
    for i, alg in enumerate(algs):
        rows = frame[frame["algorithm"] == alg].groupby("_frozen")
        mean, std = rows["return"].mean(), rows["return"].std().fillna(0)
        n = rows["return"].count()
        xs = np.array([pos[f] for f in mean.index]) + (i - (len(algs) - 1) / 2) * 0.08
        ax.errorbar(xs, mean.to_numpy(), yerr=std.to_numpy(), marker="o",
                    color=ALGORITHM_COLORS.get(alg), capsize=3,
                    label=f"{algorithm_label(alg)} after adaptation ({_seeds(int(n.max()))})")
        if "return_before" in frame:
            before = frame[frame["algorithm"] == alg]["return_before"].mean()
            ax.axhline(before, color=ALGORITHM_COLORS.get(alg), linestyle=":", linewidth=1,
                       label=f"{algorithm_label(alg)} before adaptation")
    ax.set_xticks(range(len(configs)), [frozen_label(f) for f in configs])
    ax.set_xlabel("layers frozen in the inner loop at test time")
    ax.set_ylabel("average return")
    ax.set_title(title or "Freezing policy layers in the inner loop")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    return fig


def _seeds(n: int) -> str:
    return "1 seed" if n == 1 else f"{n} seeds"
