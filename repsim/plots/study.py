"""Figures of the seeds-and-regimes study (issue 9), drawn from seed-summary tables.

Every function takes tables shaped like :func:`repsim.analyses.seeds.seed_summary`'s output:
the group columns, ``seed_mean``, ``seed_std``, ``n_seeds`` and the list ``per_seed``. A bar
(or line) is drawn at ``seed_mean`` with ``± seed_std``, and every seed is a dot, so a reader
sees the spread and the number of seeds; nothing is computed here. Accuracies are fractions,
drawn in percent.

- :func:`regimes`: the paper's Table 5 (every body with the NIL head, and its own head);
- :func:`interpolation`: regimes placed between rapid learning and feature reuse (accuracy,
  θ vs θ' per layer, freezing curve);
- :func:`shots_and_ways`: the medium-shot question (a quantity against shots, 5 vs 20 ways);
- :func:`conditions`: controlled conditions side by side (the conv4 investigation);
- :func:`regimes_table`: Table 5 as display strings beside the paper's numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from repsim.plots.paper import TABLE5
from repsim.plots.style import CYCLE, layer_order, styled

__all__ = ["conditions", "interpolation", "regimes", "regimes_table", "shots_and_ways"]

SUMMARY = ("seed_mean", "seed_std", "per_seed")
REGIME_ORDER = ("BOIL", "MAML", "top-4", "top-3", "top-2", "ANIL", "FOMAML", "multitask",
                "multiclass", "NIL training", "random")  # as repsim.analyses.regimes
HEAD_COLORS = {"nil": CYCLE[2], "own": CYCLE[0]}
QUANTITY_LABELS = {
    "accuracy": "accuracy, full inner loop (%)",
    "head_only_accuracy": "accuracy, head-only inner loop (%)",
    "head_only_gap": "head-only gap (points)",
    "nil_accuracy": "accuracy, NIL head (%)",
    "similarity": "θ vs θ′ similarity",
}


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in (*columns, *SUMMARY) if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: the table lacks column(s) {missing}; pass a seed summary "
                         "(repsim.analyses.seeds.seed_summary)")
    if frame.empty:
        raise ValueError(f"{what}: the table has no rows; nothing to draw")


def _scale(quantity: str) -> float:
    return 1.0 if quantity == "similarity" else 100.0


def _dots(ax: Axes, x: float, values: Sequence[float], scale: float, color: Any) -> None:
    values = [v for v in (values or []) if v is not None]
    if values:
        jitter = np.linspace(-0.08, 0.08, len(values)) if len(values) > 1 else [0.0]
        ax.plot(x + np.asarray(jitter), np.asarray(values, dtype=float) * scale, "o",
                markersize=3, color="k", alpha=0.75, markeredgewidth=0, zorder=3)


def _bar(ax: Axes, x: float, row: Any, width: float, color: Any, scale: float,
         label: str | None = None) -> None:
    std = row["seed_std"] if pd.notna(row["seed_std"]) else 0.0
    ax.bar(x, row["seed_mean"] * scale, width, yerr=std * scale, color=color, label=label,
           error_kw={"elinewidth": 0.8})
    _dots(ax, x, row["per_seed"], scale, color)


def _ordered(values: Any) -> list[str]:
    present = list(dict.fromkeys(map(str, values)))
    return [r for r in REGIME_ORDER if r in present] + [r for r in present
                                                        if r not in REGIME_ORDER]


def _seed_note(frame: pd.DataFrame) -> str:
    n = sorted(set(int(v) for v in frame["n_seeds"]))
    return f"{'/'.join(map(str, n))} seed{'s' if n != [1] else ''}; bars: mean ± std, dots: seeds"


@styled
def regimes(summary: pd.DataFrame, *, setting: tuple[str, int, int] | None = None) -> Figure:
    """Accuracy of each body-training regime with the NIL head and its own head (Table 5).

    Parameters
    ----------
    summary : DataFrame
        Seed summary grouped by ``regime`` and ``head`` (``"nil"`` | ``"own"``).
    setting : (dataset, ways, shots), optional
        Named in the title. The paper's Table 5 (MiniImageNet, NIL head) is drawn in a second
        panel for reference: a different dataset, so compare the ordering, not the values.

    Returns
    -------
    Figure
    """
    _require(summary, ["regime", "head"], "regimes")
    order = _ordered(summary["regime"])
    fig = Figure(figsize=(3.0 + 0.75 * len(order), 3.4), layout="constrained")
    ax, ref = fig.subplots(1, 2, width_ratios=[len(order), 3.2])
    heads = [h for h in ("nil", "own") if h in set(summary["head"])]
    width = 0.8 / len(heads)
    for i, head in enumerate(heads):
        rows = summary[summary["head"] == head].set_index("regime")
        for j, regime in enumerate(order):
            if regime in rows.index:
                _bar(ax, j + (i - (len(heads) - 1) / 2) * width, rows.loc[regime], width * 0.9,
                     HEAD_COLORS[head], 100.0, label=None if j else f"{head} head")
    ax.set_xticks(range(len(order)), order, rotation=30, ha="right")
    ax.set_xlabel("how the body was trained")
    ax.set_ylabel("test accuracy (%)")
    where = "" if setting is None else f"{setting[0]} {setting[1]}w{setting[2]}s, "
    ax.set_title(f"Ours ({where}{_seed_note(summary)})")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2)
    paper = [r for r in order if r in TABLE5] or list(TABLE5)
    for k, (shots, color) in enumerate(((1, CYCLE[2]), (5, CYCLE[5]))):
        vals = [TABLE5[r][("miniimagenet", 5, shots)] for r in paper]
        ax_x = np.arange(len(paper)) + (k - 0.5) * 0.4
        ref.bar(ax_x, vals, 0.36, color=color, hatch="///", edgecolor="0.3",
                label=f"5w{shots}s")
    ref.set_xticks(range(len(paper)), paper, rotation=30, ha="right")
    ref.set_xlabel("how the body was trained")
    ref.set_ylabel("test accuracy (%)")
    ref.set_title("Paper, Table 5 (MiniImageNet, NIL head)")
    ref.legend(loc="upper right")
    fig.suptitle("Body-training regimes tested with the NIL head and their own head")
    return fig


def regimes_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Table 5 beside the paper: regime, head, ours (% mean ± std, n seeds), paper 5w1s/5w5s."""
    _require(summary, ["regime", "head"], "regimes_table")
    out = []
    for regime in _ordered(summary["regime"]):
        for _, row in summary[summary["regime"] == regime].iterrows():
            std = "" if pd.isna(row["seed_std"]) else f" ± {100 * row['seed_std']:.1f}"
            ref = TABLE5.get(regime, {}) if row["head"] == "nil" else {}
            out.append({"regime": regime, "head": row["head"],
                        "ours (%)": f"{100 * row['seed_mean']:.1f}{std}",
                        "seeds": int(row["n_seeds"]),
                        "paper MiniImageNet 5w1s": ref.get(("miniimagenet", 5, 1), "–"),
                        "paper MiniImageNet 5w5s": ref.get(("miniimagenet", 5, 5), "–")})
    return pd.DataFrame(out)


@styled
def interpolation(accuracy: pd.DataFrame, similarity: pd.DataFrame, freezing: pd.DataFrame,
                  *, measure: str = "cka") -> Figure:
    """Regimes placed between rapid learning (left) and feature reuse (right), three panels.

    Parameters
    ----------
    accuracy : DataFrame
        Seed summary by ``regime`` of the full-inner-loop test accuracy.
    similarity : DataFrame
        Seed summary by ``regime, layer, measure`` of θ vs θ' similarity; ``measure`` drawn.
    freezing : DataFrame
        Seed summary by ``regime, n_frozen`` (body layers frozen at test, 0..4).
    measure : str, default="cka"

    Returns
    -------
    Figure
    """
    _require(accuracy, ["regime"], "interpolation accuracy")
    _require(similarity, ["regime", "layer", "measure"], "interpolation similarity")
    _require(freezing, ["regime", "n_frozen"], "interpolation freezing")
    order = _ordered(accuracy["regime"])
    colors = {r: CYCLE[i % len(CYCLE)] for i, r in enumerate(order)}
    fig = Figure(figsize=(13.0, 3.6), layout="constrained")
    a, s, f = fig.subplots(1, 3)
    rows = accuracy.set_index("regime")
    for j, regime in enumerate(order):
        _bar(a, j, rows.loc[regime], 0.7, colors[regime], 100.0)
    a.set_xticks(range(len(order)), order, rotation=30, ha="right")
    a.set_xlabel("regime")
    a.set_ylabel("test accuracy (%)")
    a.set_title("accuracy  (← rapid learning · feature reuse →)")
    sim = similarity[similarity["measure"] == measure]
    layers = layer_order(sim["layer"])
    for regime in order:
        part = sim[sim["regime"] == regime].set_index("layer").reindex(layers)
        if part["seed_mean"].notna().any():
            s.errorbar(range(len(layers)), part["seed_mean"], yerr=part["seed_std"].fillna(0),
                       marker="o", color=colors[regime], label=regime)
    s.set_xticks(range(len(layers)), layers)
    s.set_xlabel("layer")
    s.set_ylabel(f"{measure} θ vs θ′")
    s.set_title("what the inner loop changes, per layer")
    s.legend(loc="lower left", fontsize=7)
    for regime in order:
        part = freezing[freezing["regime"] == regime].sort_values("n_frozen")
        if not part.empty:
            f.errorbar(part["n_frozen"], part["seed_mean"] * 100,
                       yerr=part["seed_std"].fillna(0) * 100, marker="o", color=colors[regime],
                       label=regime)
    f.set_xticks(sorted({int(k) for k in freezing["n_frozen"]}))
    f.set_xlabel("body layers frozen at test (conv1..k)")
    f.set_ylabel("test accuracy (%)")
    f.set_title("freezing curve")
    fig.suptitle(f"Between rapid learning and feature reuse ({_seed_note(accuracy)})")
    return fig


@styled
def shots_and_ways(summary: pd.DataFrame, *, quantities: Sequence[str] | None = None,
                   similarity_layer: str = "conv4") -> Figure:
    """A panel per quantity against shots, a line per (algorithm, ways): the medium-shot question.

    Parameters
    ----------
    summary : DataFrame
        Seed summary by ``algorithm, ways, shots, quantity`` (and ``layer`` for similarity
        rows; only ``similarity_layer`` is drawn; with ``train_steps``, runs shorter than the
        longest are drawn as their own open-marker lines, labelled with their steps).
    quantities : sequence of str, optional
        Panels, default every quantity present.

    Returns
    -------
    Figure
    """
    _require(summary, ["algorithm", "ways", "shots", "quantity"], "shots_and_ways")
    frame = summary
    if "layer" in frame:
        frame = frame[frame["layer"].isna() | (frame["layer"] == similarity_layer)]
    quantities = list(quantities or dict.fromkeys(frame["quantity"]))
    fig = Figure(figsize=(1.5 + 3.3 * len(quantities), 3.3), layout="constrained")
    axes = fig.subplots(1, len(quantities), squeeze=False)[0]
    # a line per algorithm, ways and training length (runs capped for compute are drawn as
    # their own open-marker line, labelled with their steps, never joined to longer runs)
    if "train_steps" in frame:
        frame = frame.assign(train_steps=frame["train_steps"].astype(int))
        longest = int(frame["train_steps"].max())
        lengths = frame["train_steps"]
    else:
        longest, lengths = None, [None] * len(frame)
    lines = sorted(set(zip(frame["algorithm"], frame["ways"], lengths, strict=True)),
                   key=lambda t: (t[0], t[1], -(t[2] or 0)))
    algs = list(dict.fromkeys(a for a, _, _ in lines))
    usual = () if longest is not None else _usual_steps(frame)
    for ax, quantity in zip(axes, quantities, strict=True):
        scale = _scale(quantity)
        for alg, ways, steps in lines:
            keep = ((frame["quantity"] == quantity) & (frame["algorithm"] == alg)
                    & (frame["ways"] == ways))
            if steps is not None:
                keep &= frame["train_steps"] == steps
            part = frame[keep].sort_values("shots")
            if part.empty:
                continue
            color = CYCLE[algs.index(alg) % len(CYCLE)]
            short = steps is not None and steps != longest
            ax.errorbar(part["shots"], part["seed_mean"] * scale,
                        yerr=part["seed_std"].fillna(0) * scale, marker="o",
                        linestyle="-" if ways == min(frame["ways"]) else "--",
                        markerfacecolor="white" if short else color, alpha=0.6 if short else 1,
                        color=color, label=f"{alg} {ways}-way"
                        + (f", {steps} steps" if short else ""))
            for x, vals in zip(part["shots"], part["per_seed"], strict=True):
                _dots(ax, x, vals, scale, None)
            _mark_fewer_steps(ax, part, scale, usual, color)
        label = QUANTITY_LABELS.get(quantity, quantity)
        if quantity == "similarity":
            label = f"{similarity_layer} {label}"
        ax.set_xlabel("shots")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.set_xticks(sorted(set(frame["shots"])))
    handles, labels = axes[-1].get_legend_handles_labels()
    if usual and any(_steps_of(v) not in ((), usual) for v in frame["steps"]):
        handles.append(Line2D([], [], marker="o", linestyle="None", color="0.3",
                              markerfacecolor="white"))
        labels.append(f"open: trained fewer than {'/'.join(map(str, usual))} steps "
                      "(annotated)")
    axes[-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"Medium-shot: does the inner loop matter more with more shots? "
                 f"({_seed_note(frame)})")
    return fig


def _steps_of(value: Any) -> tuple[int, ...]:
    return tuple(int(k) for k in value) if isinstance(value, (list, tuple, np.ndarray)) else ()


def _usual_steps(frame: pd.DataFrame) -> tuple[int, ...]:
    """The training steps most points come from (empty: the table does not say)."""
    if "steps" not in frame:
        return ()
    counts = frame["steps"].map(_steps_of).value_counts()
    counts = counts[counts.index != ()]
    return counts.index[0] if len(counts) else ()


def _mark_fewer_steps(ax: Axes, part: pd.DataFrame, scale: float, usual: tuple[int, ...],
                      color: Any) -> None:
    """A point whose runs trained for other steps than most (a run capped for compute) is
    drawn open and labelled with its steps: a line through it joins unequal training."""
    if not usual or "steps" not in part:
        return
    for x, mean, steps in zip(part["shots"], part["seed_mean"], part["steps"], strict=True):
        steps = _steps_of(steps)
        if steps and steps != usual:
            ax.plot([x], [mean * scale], "o", markersize=8, color=color,
                    markerfacecolor="white", zorder=4)
            ax.annotate(f"{'/'.join(map(str, steps))} steps", (x, mean * scale),
                        textcoords="offset points", xytext=(5, 5), fontsize=7, color=color)


@styled
def conditions(summary: pd.DataFrame, *, quantities: Sequence[str] | None = None,
               labels: Mapping[str, str] | None = None) -> Figure:
    """Controlled conditions side by side: a panel per quantity, a bar per condition.

    Parameters
    ----------
    summary : DataFrame
        Seed summary by ``condition, quantity`` (similarity rows already one layer/measure).
    quantities : sequence of str, optional
    labels : mapping of str to str, optional
        Display names of the conditions.

    Returns
    -------
    Figure
    """
    _require(summary, ["condition", "quantity"], "conditions")
    twice = summary.duplicated(["condition", "quantity"], keep=False)
    if twice.any():  # one bar per condition: two runs under one label cannot be drawn
        names = sorted(set(summary.loc[twice, "condition"]))
        raise ValueError(f"conditions: {names} have several rows per quantity (one layer and "
                         "measure per quantity, one run per condition label)")
    order = list(dict.fromkeys(summary["condition"]))
    quantities = list(quantities or dict.fromkeys(summary["quantity"]))
    fig = Figure(figsize=(1.0 + (1.2 + 0.55 * len(order)) * len(quantities), 3.6),
                 layout="constrained")
    axes = fig.subplots(1, len(quantities), squeeze=False)[0]
    for ax, quantity in zip(axes, quantities, strict=True):
        rows = summary[summary["quantity"] == quantity].set_index("condition")
        for j, cond in enumerate(order):
            if cond in rows.index:
                _bar(ax, j, rows.loc[cond], 0.7, CYCLE[j % len(CYCLE)], _scale(quantity))
        ax.set_xticks(range(len(order)), [(labels or {}).get(c, c) for c in order],
                      rotation=35, ha="right")
        ax.set_xlabel("condition")
        ax.set_ylabel(QUANTITY_LABELS.get(quantity, quantity))
        ax.set_title(QUANTITY_LABELS.get(quantity, quantity))
    fig.suptitle(f"Why does conv4 adapt? Controlled conditions ({_seed_note(summary)})")
    return fig
