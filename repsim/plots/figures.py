"""One function per paper figure: tidy DataFrame(s) in → ``matplotlib.figure.Figure`` out.

The frames are the result tables of :mod:`repsim.analyses.tables` (columns named by its
constants). The functions only select, group and draw; they never compute a statistic (the one
exception, the MAML/ANIL time ratio annotated on the timing figure, is written as such). Every
function expects one row per drawn point and raises ``ValueError`` naming the column that varies
otherwise: :func:`select_unique` makes that choice explicitly, and the caller records it.
Accuracies arrive as fractions and are drawn in percent.

Longer than the ~400-line guide: eight figures, one function each, plus the row selection they
share; splitting them apart would scatter one concern (the paper's figures) over files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.patches import Patch

from repsim.analyses.tables import (
    ACCURACY,
    ALGORITHM,
    BASELINE,
    BASELINE_CI95,
    CI95,
    DATASET,
    FROZEN,
    HEAD,
    LAYER,
    MEAN,
    MEASURE,
    MODEL_A,
    MODEL_B,
    PATH,
    PHASE,
    SECONDS,
    SHAPE,
    SHOTS,
    STEP,
    WAYS,
)
from repsim.plots.paper import method_name, method_rank, paper_accuracy, setting_label
from repsim.plots.style import (
    ALGORITHM_COLORS,
    CYCLE,
    DISTANCE_FAMILY,
    DISTANCES,
    MEASURE_COLORS,
    MEASURE_FAMILIES,
    algorithm_label,
    frozen_label,
    layer_order,
    measure_label,
    short_names,
    styled,
)

__all__ = [
    "accuracy", "freezing", "freezing_checkpoints", "select_unique",
    "similarity_between_models", "similarity_checkpoints", "similarity_inner_loop", "timing",
    "training_curves",
]

#: Columns that say under which condition a row was measured; :func:`select_unique` picks one.
CONDITION_COLUMNS = ("dataset", "ways", "shots", "seed", "step", "checkpoint", "conv_mode",
                     "inputs", "tasks", "device", "head", "model_a", "model_b", "algorithm",
                     "path", "shape", "phase")


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: the table lacks column(s) {missing}; it has "
                         f"{sorted(map(str, frame.columns))}. Pass a '{what}' result table.")
    if frame.empty:
        raise ValueError(f"{what}: the table has no rows; nothing to draw")


def _check_unique(frame: pd.DataFrame, keys: Sequence[str], what: str) -> None:
    dup = frame.duplicated(list(keys), keep=False)
    if dup.any():
        rows = frame.loc[dup]
        groups = [rows[k].astype(str) for k in keys]
        varying = [c for c in frame.columns if c not in keys and c in CONDITION_COLUMNS
                   and rows[c].astype(str).groupby(groups).nunique().max() > 1]
        raise ValueError(f"{what}: {int(dup.sum())} rows share {list(keys)} (varying: "
                         f"{varying or 'no condition column'}); select one per point first, "
                         "e.g. with repsim.plots.figures.select_unique")


def select_unique(frame: pd.DataFrame, keys: Sequence[str], *, what: str = "table"
                  ) -> tuple[pd.DataFrame, list[str]]:
    """Keep one condition per ``keys`` group: the latest ``step``, else the most common value.

    Parameters
    ----------
    frame : DataFrame
        A result table.
    keys : sequence of str
        Columns that identify one drawn point (e.g. ``algorithm, layer, measure``).
    what : str, default="table"
        The table's name, for error messages.

    Returns
    -------
    frame : DataFrame
        The rows kept.
    notes : list of str
        One line per condition column that had to be chosen, for the caption.

    Raises
    ------
    ValueError
        A key column is missing.
    """
    _require(frame, keys, what)
    notes = []
    for column in CONDITION_COLUMNS:
        if column in keys or column not in frame.columns:
            continue
        values = frame[column].astype(str)
        per_group = values.groupby([frame[k].astype(str) for k in keys]).nunique()
        if per_group.max() <= 1:
            continue
        if column == STEP:  # the final checkpoint of each group
            rank = pd.to_numeric(frame[column], errors="coerce").fillna(-np.inf)
            best = rank.groupby([frame[k].astype(str) for k in keys]).transform("max")
            keep = rank == best
        else:  # the most common value overall, ties by name
            order = values.value_counts().sort_index().sort_values(ascending=False, kind="stable")
            rank = values.map({v: i for i, v in enumerate(order.index)})
            best = rank.groupby([frame[k].astype(str) for k in keys]).transform("min")
            keep = rank == best
        dropped = sorted(set(values[~keep]))
        notes.append(f"`{column}`: kept {sorted(set(values[keep]))}, left out {dropped}")
        frame = frame.loc[keep]
    return frame, notes


def _frozen_key(frozen: Any) -> tuple[str, ...]:
    return tuple(layer_order(frozen)) if isinstance(frozen, (list, tuple)) else ()


def _algorithms(values: pd.Series) -> list[str]:
    known = [a for a in ("maml", "fomaml", "anil") if a in set(values)]
    return known + sorted(set(map(str, values)) - set(known))


def _metric(frame: pd.DataFrame, what: str) -> tuple[str, float, str]:
    """Which score a table holds: accuracy (fraction, drawn in %) or MSE (regression)."""
    if ACCURACY in frame:
        return ACCURACY, 100.0, "test accuracy (%)"
    if "mse" in frame:
        return "mse", 1.0, "test MSE (lower is better)"
    raise ValueError(f"{what}: the table has neither 'accuracy' nor 'mse' (it has "
                     f"{sorted(map(str, frame.columns))}); pass a '{what}' result table")


def _label_axes(ax: Axes, xlabel: str, ylabel: str, title: str | None = None) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def _legend_right(ax: Axes, **kwargs: Any) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


def _families(measures: Sequence[str]) -> list[tuple[str, list[str]]]:
    present, out = set(measures), []
    for family, members in MEASURE_FAMILIES.items():
        chosen = [m for m in members if m in present]
        if family == "other":
            known = {m for ms in MEASURE_FAMILIES.values() for m in ms}
            chosen += sorted(present - known)
        if chosen:
            out.append((family, chosen))
    return out


@styled
def similarity_inner_loop(compare: pd.DataFrame) -> Figure:
    """Per-layer similarity of θ and θ′ (before vs after the inner loop), with noise baseline.

    Rows: measure families (CCA family, CKA family, others); columns: algorithms (MAML, ANIL).
    Bars: one per measure and layer, error bars = ``ci95``. Black segments: the ``baseline``
    column (similarity of unrelated representations) with its ``baseline_ci95``.

    Parameters
    ----------
    compare : DataFrame
        ``compare`` rows, one per (algorithm, layer, measure): ``mean``, optional ``ci95``,
        ``baseline``, ``baseline_ci95``.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        A required column is missing, the table is empty, or two rows fall on one point.

    Examples
    --------
    >>> from repsim.analyses.tables import read_table
    >>> fig = similarity_inner_loop(read_table("results/compare.json")[0])  # doctest: +SKIP
    """
    _require(compare, [ALGORITHM, LAYER, MEASURE, MEAN], "compare")
    _check_unique(compare, [ALGORITHM, LAYER, MEASURE], "compare")
    algorithms, layers = _algorithms(compare[ALGORITHM]), layer_order(compare[LAYER])
    families = _families(list(compare[MEASURE].unique()))
    fig = Figure(figsize=(0.9 + 3.4 * len(algorithms) + 1.5, 0.6 + 2.6 * len(families)),
                 layout="constrained")
    axes = fig.subplots(len(families), len(algorithms), squeeze=False)
    x = np.arange(len(layers))
    for r, (family, measures) in enumerate(families):
        width, distance = 0.8 / len(measures), family == DISTANCE_FAMILY
        values = compare[compare[MEASURE].isin(measures)][[MEAN, BASELINE]
                                                         if BASELINE in compare else [MEAN]]
        for c, alg in enumerate(algorithms):
            ax, drew_baseline = axes[r][c], False
            for i, measure in enumerate(measures):
                rows = compare[(compare[ALGORITHM] == alg) & (compare[MEASURE] == measure)]
                rows = rows.set_index(LAYER).reindex(layers)
                xs = x + (i - (len(measures) - 1) / 2) * width
                ax.bar(xs, rows[MEAN], width * 0.9, yerr=rows.get(CI95),
                       color=MEASURE_COLORS.get(measure), label=measure_label(measure),
                       error_kw={"elinewidth": 0.8, "ecolor": "0.25"})
                if BASELINE in rows and rows[BASELINE].notna().any():
                    ax.hlines(rows[BASELINE], xs - width * 0.45, xs + width * 0.45, colors="k",
                              linewidth=1.3, label=None if drew_baseline else "noise baseline")
                    if BASELINE_CI95 in rows:
                        ax.errorbar(xs, rows[BASELINE], yerr=rows[BASELINE_CI95], fmt="none",
                                    ecolor="k", elinewidth=0.6, capsize=1.5)
                    drew_baseline = True
            _mark_missing(ax, compare[(compare[ALGORITHM] == alg)], layers, measures, width)
            ax.set_xticks(x, layers)
            top = float(np.nanmax(values.to_numpy())) if values.notna().any().any() else 1.0
            ax.set_ylim(min(0.0, float(np.nanmin(values.to_numpy()))),
                        top * 1.1 if distance else max(1.05, top * 1.05))
            ylabel = ("distance θ vs θ′\n(0 = identical)" if distance else
                      f"similarity θ vs θ′\n({family})")
            _label_axes(ax, "layer", ylabel, f"{algorithm_label(alg)}: {family}")
        _legend_right(axes[r][-1])
    fig.suptitle("Similarity of each layer before vs after the inner loop")
    return fig


def _mark_missing(ax: Axes, rows: pd.DataFrame, layers: list[str], measures: list[str],
                  width: float) -> None:
    """Write "n/a" where a measure was not computed, so an empty slot never reads as 0."""
    present = rows.dropna(subset=[MEAN])
    have = set(zip(present[LAYER], present[MEASURE], strict=True))
    for j, layer in enumerate(layers):
        missing = [i for i, m in enumerate(measures) if (layer, m) not in have]
        if len(missing) == len(measures):
            ax.text(j, 0.03, "not\ncomputed", ha="center", va="bottom", fontsize=7,
                    color="0.35", transform=ax.get_xaxis_transform())
            continue
        for i in missing:
            ax.text(j + (i - (len(measures) - 1) / 2) * width, 0.03, "n/a", rotation=90,
                    ha="center", va="bottom", fontsize=6.5, color="0.35",
                    transform=ax.get_xaxis_transform())


@styled
def freezing(ablate: pd.DataFrame, *, paper: Mapping[tuple[str, ...], float] | None = None,
             paper_label: str = "paper") -> Figure:
    """Test accuracy (%) vs layers frozen in the test-time inner loop, with 95% CIs.

    One line per (algorithm, head); the x axis lists the frozen-layer sets, fewest first.

    Parameters
    ----------
    ablate : DataFrame
        ``ablate`` rows, one per (algorithm, head, frozen): ``accuracy`` (fraction) or ``mse``,
        optional ``ci95``.
    paper : mapping of tuple of str to float, optional
        Frozen layers → the paper's accuracy in percent (Table 1), drawn as black crosses.
    paper_label : str, default="paper"
        Legend entry of those crosses.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        A required column is missing, the table is empty, or two rows fall on one point.
    """
    metric, scale, ylabel = _metric(ablate, "ablate")
    _require(ablate, [ALGORITHM, FROZEN, metric], "ablate")
    frame = ablate.assign(_frozen=ablate[FROZEN].map(_frozen_key))
    if HEAD not in frame:
        frame[HEAD] = "adapted"
    _check_unique(frame, [ALGORITHM, HEAD, "_frozen"], "ablate")
    configs = sorted(set(frame["_frozen"]) | set(paper or {}),
                     key=lambda f: (len(f), layer_order(f)))
    pos = {f: i for i, f in enumerate(configs)}
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.subplots()
    order = {a: i for i, a in enumerate(_algorithms(frame[ALGORITHM]))}
    groups = sorted(frame.groupby([ALGORITHM, HEAD]), key=lambda g: (order[g[0][0]], g[0][1]))
    for i, ((alg, head), rows) in enumerate(groups):
        rows = rows.sort_values("_frozen", key=lambda s: s.map(pos))
        xs = rows["_frozen"].map(pos) + (i - (len(groups) - 1) / 2) * 0.06
        ax.errorbar(xs, rows[metric] * scale, yerr=rows.get(CI95, 0) * scale, marker="o",
                    linestyle="-" if head != "nil" else "--", color=ALGORITHM_COLORS.get(alg),
                    label=method_name(alg, head))
    if paper and metric == ACCURACY:
        keys = [f for f in configs if f in paper]
        ax.plot([pos[f] for f in keys], [paper[f] for f in keys], "kx:", markersize=7,
                label=paper_label)
    ax.set_xticks(range(len(configs)), [frozen_label(f) for f in configs])
    _label_axes(ax, "layers frozen in the inner loop at test time", ylabel,
                "Freezing layers at test time")
    _legend_right(ax)
    return fig


@styled
def similarity_checkpoints(compare_steps: pd.DataFrame) -> Figure:
    """θ vs θ′ similarity per layer across training checkpoints (x: training iteration).

    Rows: measures; columns: algorithms (shared y per row); one line per layer, early dark.

    Parameters
    ----------
    compare_steps : DataFrame
        ``compare`` rows with several ``step`` values, one per (algorithm, layer, measure, step).

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        A required column is missing, the table is empty, or two rows fall on one point.
    """
    _require(compare_steps, [ALGORITHM, LAYER, MEASURE, MEAN, STEP], "compare_steps")
    _check_unique(compare_steps, [ALGORITHM, LAYER, MEASURE, STEP], "compare_steps")
    algorithms, layers = _algorithms(compare_steps[ALGORITHM]), layer_order(compare_steps[LAYER])
    measures = [m for _, ms in _families(list(compare_steps[MEASURE].unique())) for m in ms]
    colors = dict(zip(layers, _viridis(len(layers)), strict=True))
    fig = Figure(figsize=(1.5 + 3.4 * len(algorithms), 0.6 + 2.5 * len(measures)),
                 layout="constrained")
    axes = fig.subplots(len(measures), len(algorithms), squeeze=False, sharey="row")
    for r, measure in enumerate(measures):
        for c, alg in enumerate(algorithms):
            ax = axes[r][c]
            sel = compare_steps[(compare_steps[ALGORITHM] == alg)
                                & (compare_steps[MEASURE] == measure)]
            for layer in layers:
                rows = sel[sel[LAYER] == layer].sort_values(STEP)
                if not rows.empty:
                    ax.errorbar(rows[STEP], rows[MEAN], yerr=rows.get(CI95), marker="o",
                                markersize=3.5, color=colors[layer], label=layer)
            _label_axes(ax, "training iteration", f"{measure_label(measure)}\nθ vs θ′",
                        f"{algorithm_label(alg)}: {measure_label(measure)}")
        _legend_right(axes[r][-1], title="layer")
    fig.suptitle("Similarity before vs after the inner loop across training checkpoints")
    return fig


def _viridis(n: int) -> list[Any]:
    from matplotlib import colormaps

    return [colormaps["viridis"](v) for v in np.linspace(0.0, 0.85, max(n, 1))][:n]


@styled
def freezing_checkpoints(ablate_steps: pd.DataFrame) -> Figure:
    """Test accuracy (%) with layers frozen, across training checkpoints; a panel per model.

    Parameters
    ----------
    ablate_steps : DataFrame
        ``ablate`` rows with several ``step`` values, one per (algorithm, head, frozen, step).

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        A required column is missing, the table is empty, or two rows fall on one point.
    """
    metric, scale, ylabel = _metric(ablate_steps, "ablate_steps")
    _require(ablate_steps, [ALGORITHM, FROZEN, metric, STEP], "ablate_steps")
    frame = ablate_steps.assign(_frozen=ablate_steps[FROZEN].map(_frozen_key))
    if HEAD not in frame:
        frame[HEAD] = "adapted"
    _check_unique(frame, [ALGORITHM, HEAD, "_frozen", STEP], "ablate_steps")
    order = {a: i for i, a in enumerate(_algorithms(frame[ALGORITHM]))}
    panels = sorted(frame.groupby([ALGORITHM, HEAD]), key=lambda g: (order[g[0][0]], g[0][1]))
    configs = sorted(set(frame["_frozen"]), key=lambda f: (len(f), layer_order(f)))
    colors = dict(zip(configs, _viridis(len(configs)), strict=True))
    fig = Figure(figsize=(1.6 + 3.6 * len(panels), 3.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, ((alg, head), sel) in zip(axes, panels, strict=True):
        for config in configs:
            rows = sel[sel["_frozen"].map(config.__eq__)].sort_values(STEP)
            if not rows.empty:
                ax.errorbar(rows[STEP], rows[metric] * scale, yerr=rows.get(CI95, 0) * scale,
                            marker="o", markersize=3.5, color=colors[config],
                            label=frozen_label(config))
        _label_axes(ax, "training iteration", ylabel, f"{method_name(alg, head)} ({head} head)")
    # One legend for every panel's lines (the last panel alone may have fewer, e.g. ANIL's).
    found: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            found.setdefault(label, handle)
    labels = [frozen_label(c) for c in configs if frozen_label(c) in found]
    _legend_right(axes[-1], handles=[found[lb] for lb in labels], labels=labels, title="frozen")
    fig.suptitle("Freezing layers at test time across training checkpoints")
    return fig


@styled
def accuracy(eval_rows: pd.DataFrame, *, with_paper: bool = True,
             spread: str = "95% CI") -> Figure:
    """Meta-test accuracy (%) of MAML / ANIL / NIL with 95% CIs, beside the paper's numbers.

    One panel per (dataset, ways, shots); a dotted line marks chance (1 / ways). For regression
    results (an ``mse`` column and no ``accuracy``) the bars are test MSE, with no paper bars.

    Parameters
    ----------
    eval_rows : DataFrame
        ``eval`` rows, one per (dataset, ways, shots, algorithm, head).
    with_paper : bool, default=True
        Draw the paper's Table 2-3 numbers (hatched) where it has them.
    spread : str, default="95% CI"
        What the ``ci95`` column's error bars are, for the legend (e.g. "std over seeds"
        when the rows are means over seeds).

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        A required column is missing, the table is empty, or two rows fall on one point.
    """
    metric, scale, ylabel = _metric(eval_rows, "eval")
    _require(eval_rows, [ALGORITHM, metric], "eval")
    frame = eval_rows.copy()
    for column, default in ((HEAD, "adapted"), (DATASET, "?"), (WAYS, 0), (SHOTS, 0)):
        if column not in frame:
            frame[column] = default
    _check_unique(frame, [DATASET, WAYS, SHOTS, ALGORITHM, HEAD], "eval")
    panels = list(frame.groupby([DATASET, WAYS, SHOTS], sort=True))
    fig = Figure(figsize=(1.8 + 3.6 * len(panels), 3.3), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    ours_colors: list[str] = []
    for ax, ((dataset, ways, shots), rows) in zip(axes, panels, strict=True):
        rows = rows.assign(_m=[method_name(a, h) for a, h in zip(rows[ALGORITHM], rows[HEAD],
                                                                  strict=True)])
        rows = rows.sort_values("_m", key=lambda s: s.map(method_rank))
        x = np.arange(len(rows))
        refs = [paper_accuracy(m, (dataset, ways, shots)) if with_paper else None
                for m in rows["_m"]]
        show_paper = metric == ACCURACY and any(r is not None for r in refs)
        width = 0.38 if show_paper else 0.6
        colors = [_method_color(a, h) for a, h in zip(rows[ALGORITHM], rows[HEAD], strict=True)]
        ours = ax.bar(x - (width / 2 if show_paper else 0), rows[metric] * scale, width,
                      yerr=rows.get(CI95, 0) * scale, color=colors, error_kw={"elinewidth": 0.8})
        ours_colors += [to_hex(c) for c in colors]  # the legend's "ours" swatch shows them
        ax.bar_label(ours, fmt="%.1f" if scale > 1 else "%.3g", padding=2, fontsize=7)
        if show_paper:
            means = [np.nan if r is None else r[0] for r in refs]
            stds = [np.nan if r is None else r[1] for r in refs]
            bars = ax.bar(x + width / 2, means, width, yerr=stds, color="white", edgecolor="0.3",
                          hatch="///", label="paper (± std, 3 seeds)",
                          error_kw={"elinewidth": 0.8})
            ax.bar_label(bars, labels=["" if np.isnan(m) else f"{m:.1f}" for m in means],
                         padding=2, fontsize=7)
        if metric == ACCURACY and ways:
            ax.axhline(100.0 / ways, color="0.5", linestyle=":", linewidth=1,
                       label=f"chance ({100 / ways:.0f}%)")
            top = float(np.nanmax([*(rows[metric] * scale), *(r[0] for r in refs if r)]))
            ax.set_ylim(0, min(109.0, top * 1.18 + 2))
        ax.set_xticks(x, [m.replace(", ", ",\n") for m in rows["_m"]])
        _label_axes(ax, "method", ylabel, setting_label(dataset, ways, shots))
    others: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            others.setdefault(label, handle)
    ours_swatch = tuple(Patch(facecolor=c) for c in dict.fromkeys(ours_colors))
    _legend_right(axes[-1], handles=[ours_swatch, *others.values()],
                  labels=[f"ours (± {spread})", *others],
                  handler_map={tuple: HandlerTuple(ndivide=None, pad=0.0)})
    fig.suptitle("Meta-test accuracy: ours vs the paper" if metric == ACCURACY else
                 "Meta-test error")
    return fig


def _method_color(algorithm: str, head: str) -> Any:
    if head == "nil":  # NIL = ANIL body without head; another body with the NIL head: lighter
        return ALGORITHM_COLORS["nil"] if algorithm == "anil" else "#56B4E9"
    return ALGORITHM_COLORS.get(algorithm, CYCLE[0])


@styled
def timing(timing_rows: pd.DataFrame, *, paper: Mapping[str, float] | None = None) -> Figure:
    """Time per iteration of MAML vs ANIL (ms, median over repeats), train and inference.

    Panels: ``phase``; groups: ``shape`` (and ``path`` where several are present); bars:
    algorithms. Repeated rows are all drawn as dots over a bar at their median. Above each group
    the MAML / ANIL ratio of the medians is written (the one number this module computes).

    Parameters
    ----------
    timing_rows : DataFrame
        ``timing`` rows: ``phase``, ``algorithm``, ``seconds``, optional ``shape``, ``path``.
    paper : mapping of str to float, optional
        Phase → the paper's average speed-up, shown in the panel title.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        A required column is missing or the table is empty.
    """
    _require(timing_rows, [PHASE, ALGORITHM, SECONDS], "timing")
    frame = timing_rows.copy()
    frame[SHAPE] = frame.get(SHAPE, pd.Series("", index=frame.index)).astype(str)
    several_paths = PATH in frame and frame[PATH].nunique() > 1
    frame["_group"] = frame[SHAPE] + (("\n" + frame[PATH].astype(str)) if several_paths else "")
    phases = sorted(frame[PHASE].unique(), key=lambda p: (p != "train", p))
    algorithms = _algorithms(frame[ALGORITHM])
    fig = Figure(figsize=(1.6 + 3.6 * len(phases), 3.3), layout="constrained")
    axes = fig.subplots(1, len(phases), squeeze=False)[0]
    for ax, phase in zip(axes, phases, strict=True):
        sel = frame[frame[PHASE] == phase]
        groups = sorted(sel["_group"].unique())
        width = 0.8 / len(algorithms)
        medians = sel.groupby(["_group", ALGORITHM])[SECONDS].median() * 1e3
        for i, alg in enumerate(algorithms):
            xs = np.arange(len(groups)) + (i - (len(algorithms) - 1) / 2) * width
            ys = [medians.get((g, alg), np.nan) for g in groups]
            ax.bar(xs, ys, width * 0.9, color=ALGORITHM_COLORS.get(alg), label=algorithm_label(alg))
            for x0, g in zip(xs, groups, strict=True):
                pts = sel[(sel["_group"] == g) & (sel[ALGORITHM] == alg)][SECONDS] * 1e3
                if len(pts) > 1:
                    ax.plot([x0] * len(pts), pts, "k.", markersize=3)
        for j, g in enumerate(groups):
            if (g, "maml") in medians.index and (g, "anil") in medians.index:
                ratio = medians[(g, "maml")] / medians[(g, "anil")]
                top = (sel[sel["_group"] == g][SECONDS] * 1e3).max()
                ax.annotate(f"{ratio:.1f}×", (j, top), xytext=(0, 3), textcoords="offset points",
                            ha="center", fontsize=8)
        ax.set_xticks(range(len(groups)), groups)
        ax.set_ylim(0, float(sel[SECONDS].max()) * 1e3 * 1.2)
        ref = (paper or {}).get(phase)
        title = f"{phase}" + (f" (paper: ANIL {ref:.1f}× faster)" if ref else "")
        _label_axes(ax, "task shape", "time per iteration (ms)", title)
    _legend_right(axes[-1])
    fig.suptitle("Time per iteration: MAML vs ANIL (ratio MAML/ANIL above each group)")
    return fig


@styled
def similarity_between_models(compare_models: pd.DataFrame) -> Figure:
    """Between-model similarity: heatmap of layers × model pairs, one panel per measure.

    Models are labelled by :func:`~repsim.plots.style.short_names` of ``model_a``/``model_b``;
    each cell shows its value ("n/a": not computed). Colour scales are fixed: [0, 1] for
    similarities, [0, max] reversed for distances (Procrustes), each with its own colorbar.

    Parameters
    ----------
    compare_models : DataFrame
        ``compare`` rows with ``model_a``, ``model_b``, one per (measure, layer, pair).

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        A required column is missing, the table is empty, or two rows fall on one point.
    """
    _require(compare_models, [LAYER, MEASURE, MEAN, MODEL_A, MODEL_B], "compare_models")
    short = short_names([*compare_models[MODEL_A], *compare_models[MODEL_B]])
    frame = compare_models.assign(_pair=compare_models[MODEL_A].map(lambda m: short[str(m)])
                                  + " vs " + compare_models[MODEL_B].map(lambda m: short[str(m)]))
    _check_unique(frame, [MEASURE, LAYER, "_pair"], "compare_models")
    measures = [m for _, ms in _families(list(frame[MEASURE].unique())) for m in ms]
    layers, pairs = layer_order(frame[LAYER]), sorted(frame["_pair"].unique())
    ncols = min(len(measures), 3)
    nrows = -(-len(measures) // ncols)
    fig = Figure(figsize=(0.8 + ncols * (1.6 + 0.75 * len(pairs)), 0.9 + nrows * (0.9 + 0.42 *
                 len(layers))), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    images: dict[bool, list[Any]] = {False: [], True: []}  # distance? -> (image, axes)
    for ax, measure in zip(axes, measures, strict=False):
        grid = (frame[frame[MEASURE] == measure]
                .pivot(index=LAYER, columns="_pair", values=MEAN).reindex(index=layers,
                                                                           columns=pairs))
        values, top = grid.to_numpy(dtype=float), DISTANCES.get(measure, 1.0)
        # distances run the colour scale backwards, so "alike" is bright in every panel
        image = ax.imshow(values, vmin=0.0, vmax=top, aspect="auto",
                          cmap="viridis_r" if measure in DISTANCES else "viridis")
        images[measure in DISTANCES].append((image, ax))
        for (r, c), v in np.ndenumerate(values):
            bright = v > 0.6 * top if measure not in DISTANCES else v < 0.4 * top
            ax.text(c, r, "n/a" if np.isnan(v) else f"{v:.2f}", ha="center", va="center",
                    fontsize=7.5, color="black" if bright or np.isnan(v) else "white")
        ax.set_xticks(range(len(pairs)), pairs, rotation=30, ha="right")
        ax.set_yticks(range(len(layers)), layers)
        ax.grid(False)
        _label_axes(ax, "model pair", "layer", measure_label(measure))
    for ax in axes[len(measures):]:
        ax.set_visible(False)
    for distance, pairs_ in images.items():
        if pairs_:
            fig.colorbar(pairs_[0][0], ax=[a for _, a in pairs_], shrink=0.9,
                         label="distance (0 = identical)" if distance else "similarity")
    fig.suptitle("Similarity between models, per layer")
    return fig


@styled
def training_curves(metrics: Mapping[str, pd.DataFrame]) -> Figure:
    """Training curves per run: train loss, and train/validation accuracy (%) or MSE.

    Parameters
    ----------
    metrics : mapping of str to DataFrame
        Run name (``runs/<name>/metrics.csv``) → its rows: ``step``, ``split`` ("train" |
        "val"), ``loss``, ``accuracy`` or ``mse``, ``ci95``. Validation points carry their CI.

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        No runs, or a run without ``step`` / ``split``.
    """
    if not metrics:
        raise ValueError("training_curves: no metrics given; pass {run name: metrics frame}")
    frames = {name: f for name, f in metrics.items() if not f.empty}
    metric = ACCURACY if any(ACCURACY in f for f in frames.values()) else "mse"
    has_loss = any("loss" in f and f["loss"].notna().any() for f in frames.values())
    fig = Figure(figsize=(3.6 * (1 + has_loss) + 1.6, 3.1), layout="constrained")
    axes = list(fig.subplots(1, 1 + has_loss, squeeze=False)[0])
    scale = 100.0 if metric == ACCURACY else 1.0
    for i, (name, frame) in enumerate(sorted(frames.items())):
        _require(frame, ["step", "split"], f"metrics of run {name!r}")
        color = ALGORITHM_COLORS.get(name, CYCLE[i % len(CYCLE)])
        train = frame[frame["split"] == "train"].sort_values("step")
        val = frame[frame["split"] == "val"].sort_values("step")
        if has_loss and "loss" in train:
            axes[0].plot(train["step"], train["loss"], color=color, label=f"{name} train")
        if metric in frame:
            axes[-1].plot(train["step"], train[metric] * scale, color=color, alpha=0.55,
                          linewidth=1, label=f"{name} train")
            axes[-1].errorbar(val["step"], val[metric] * scale, yerr=val.get(CI95, 0) * scale,
                              color=color, linestyle="--", marker="o", markersize=3.5,
                              label=f"{name} validation")
    if has_loss:
        _label_axes(axes[0], "training iteration", "meta-training loss", "Loss")
    _label_axes(axes[-1], "training iteration",
                "accuracy (%)" if scale > 1 else "MSE", "Accuracy" if scale > 1 else "MSE")
    _legend_right(axes[-1])
    fig.suptitle("Training curves")
    return fig
