"""Figures of a multi-seed study: accuracy per seed and between-seed similarity.

Drawn from the tables :func:`repsim.study_seeds.aggregate_seeds` writes (``eval_summary``,
``between_seeds_summary``); bars are means ± std over seeds (or model pairs), dots the seeds
(pairs) themselves. Nothing is computed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from repsim.analyses.tables import read_table
from repsim.plots.paper import BETWEEN_MODELS, method_name, method_rank
from repsim.plots.study import _bar, _dots, _require, _seed_note
from repsim.plots.style import CYCLE, DISTANCES, measure_label, save_figure, styled

__all__ = ["between_seeds", "make_seed_figures", "seed_accuracy"]


@styled
def seed_accuracy(summary: pd.DataFrame) -> Figure:
    """Test accuracy of each method over seeds: a bar at the mean ± std, a dot per seed.

    Parameters
    ----------
    summary : DataFrame
        Seed summary by ``algorithm, head`` (``eval_summary``).

    Returns
    -------
    Figure
    """
    _require(summary, ["algorithm", "head"], "seed_accuracy")
    names = [method_name(a, h) for a, h in zip(summary["algorithm"], summary["head"],
                                                 strict=True)]
    frame = summary.assign(_m=names).sort_values("_m", key=lambda s: s.map(method_rank))
    mse = "summarised" in frame and (frame["summarised"] == "mse").all()
    fig = Figure(figsize=(1.5 + 1.0 * len(frame), 3.3), layout="constrained")
    ax = fig.subplots()
    for j, (_, row) in enumerate(frame.iterrows()):
        _bar(ax, j, row, 0.65, CYCLE[j % len(CYCLE)], 1.0 if mse else 100.0)
    ax.set_xticks(range(len(frame)), frame["_m"], rotation=20, ha="right")
    ax.set_xlabel("method")
    ax.set_ylabel("test MSE" if mse else "test accuracy (%)")
    ax.set_title(_seed_note(frame))
    fig.suptitle("Meta-test accuracy over training seeds")
    return fig


@styled
def between_seeds(summary: pd.DataFrame) -> Figure:
    """Body-averaged similarity between independently trained models, per pair kind.

    Parameters
    ----------
    summary : DataFrame
        ``between_seeds_summary`` rows: ``kind``, ``measure``, ``pair_mean``, ``pair_std``,
        ``per_pair``. The paper's values (CCA ≈ 0.5, CKA ≈ 0.83-0.86) are shaded where the
        measure matches.

    Returns
    -------
    Figure
    """
    need = ["kind", "measure", "pair_mean", "pair_std", "per_pair"]
    missing = [c for c in need if c not in summary.columns]
    if missing or summary.empty:
        raise ValueError(f"between_seeds: the table lacks column(s) {missing} or has no rows; "
                         "pass between_seeds_summary")
    # similarities in [0, 1] only: a distance (Procrustes) would read upside down here
    measures = [m for m in dict.fromkeys(summary["measure"]) if m not in DISTANCES]
    if not measures:
        raise ValueError("between_seeds: no similarity measure in the table (only distances)")
    kinds = list(dict.fromkeys(summary["kind"]))
    ncols = min(len(measures), 4)
    nrows = -(-len(measures) // ncols)
    fig = Figure(figsize=(1.2 + 2.8 * ncols, 0.6 + 2.9 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(measures):]:
        ax.set_visible(False)
    for ax, measure in zip(axes, measures, strict=False):
        rows = summary[summary["measure"] == measure].set_index("kind")
        for j, kind in enumerate(kinds):
            if kind in rows.index:
                row = rows.loc[kind]
                ax.bar(j, row["pair_mean"], 0.65, yerr=0 if pd.isna(row["pair_std"]) else
                       row["pair_std"], color=CYCLE[j % len(CYCLE)])
                _dots(ax, j, row["per_pair"], 1.0, None)
        ref = BETWEEN_MODELS.get("cka" if measure.startswith("cka") else measure)
        if ref:
            ax.axhspan(ref[0] - 0.005, ref[1] + 0.005, color="0.6", alpha=0.35,
                       label=f"paper: {ref[0]:g}" + (f"-{ref[1]:g}" if ref[1] != ref[0] else ""))
            ax.legend(loc="lower right")
        ax.set_xticks(range(len(kinds)), kinds, rotation=20, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_title(measure_label(measure))
        ax.set_xlabel("models compared")
        ax.set_ylabel("similarity, body layers averaged")
    fig.suptitle("Similarity between independently trained models (bars: mean ± std over "
                 "pairs; dots: pairs)")
    return fig


def make_seed_figures(results_dir: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """Draw the seed figures the tables in ``results_dir`` allow; return ``{name: png}``."""
    results, out = Path(results_dir), Path(out_dir)
    made: dict[str, Path] = {}
    eval_file = results / "eval_summary.json"
    if eval_file.exists():
        frame, _ = read_table(eval_file)
        fig = seed_accuracy(frame)
        made["fig_seed_accuracy"] = save_figure(
            fig, out / "seed_accuracy",
            caption=f"Mean ± std over seeds (dots: seeds) from `{eval_file.name}`.")[0]
    between_file = results / "between_seeds_summary.json"
    if between_file.exists():
        frame, _ = read_table(between_file)
        frame = frame[np.isfinite(frame["pair_mean"].astype(float))]
        if not frame.empty:
            made["fig_between_seeds"] = save_figure(
                between_seeds(frame), out / "between_seeds",
                caption=f"Body-averaged similarity between models from `{between_file.name}`."
            )[0]
    return made
