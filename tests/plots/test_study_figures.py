"""Study figures (issue 9) on tiny synthetic tables: they draw exactly what the summaries say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from repsim.analyses.seeds import pair_summary, seed_summary
from repsim.plots import seeds as S
from repsim.plots import study as P
from repsim.plots.style import save_figure

SEEDS = (0, 1, 2)


def _per_seed(groups: dict[tuple, list[float]], by: list[str], value: str = "accuracy"):
    rows = []
    for key, values in groups.items():
        for seed, v in zip(SEEDS, values, strict=False):
            rows.append({**dict(zip(by, key, strict=True)), "seed": seed, value: v,
                         "ci95": 0.01})
    return seed_summary(pd.DataFrame(rows), by=by, value=value)


def _bar_heights(fig: Figure, ax_index: int = 0) -> list[float]:
    ax = fig.axes[ax_index]
    return sorted(round(p.get_height(), 6) for p in ax.patches if isinstance(p, Rectangle)
                  and np.isfinite(p.get_height()) and p.get_height() != 0)


def _dot_values(fig: Figure, ax_index: int = 0) -> list[float]:
    ax = fig.axes[ax_index]
    ys = [y for line in ax.lines if line.get_marker() == "o" and line.get_linestyle() == "None"
          for y in line.get_ydata()]
    return sorted(round(float(y), 6) for y in ys)


def _series(ax, label: str):
    """The data line of the errorbar series called ``label``."""
    return next(c for c in ax.containers if c.get_label() == label).lines[0]


def _labelled(fig: Figure) -> None:
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title(), ax


@pytest.fixture
def regime_summary():
    return _per_seed({("MAML", "nil"): [0.95, 0.96, 0.97], ("MAML", "own"): [0.98, 0.99, 0.97],
                      ("random", "nil"): [0.60, 0.62, 0.58], ("multitask", "own"): [0.3, 0.35]},
                     ["regime", "head"])


def test_regimes_figure_bars_and_dots_are_the_table(regime_summary, tmp_path):
    fig = P.regimes(regime_summary, setting=("omniglot", 5, 1))
    means = sorted(round(100 * v, 6) for v in regime_summary["seed_mean"])
    assert _bar_heights(fig, 0) == means
    dots = sorted(round(100 * v, 6) for vals in regime_summary["per_seed"] for v in vals)
    assert _dot_values(fig, 0) == dots
    # the paper panel: Table 5 for the regimes we have that it has (MAML, multitask, random)
    assert _bar_heights(fig, 1) == sorted([48.4, 61.5, 26.5, 34.2, 32.9, 43.2])
    _labelled(fig)
    png, pdf = save_figure(fig, tmp_path / "regimes")
    assert png.stat().st_size > 0 and pdf.stat().st_size > 0


def test_regimes_table_beside_the_paper(regime_summary):
    table = P.regimes_table(regime_summary).set_index(["regime", "head"])
    assert table.loc[("MAML", "nil"), "ours (%)"] == "96.0 ± 1.0"
    assert table.loc[("MAML", "nil"), "paper MiniImageNet 5w1s"] == 48.4
    assert table.loc[("MAML", "own"), "paper MiniImageNet 5w1s"] == "–"  # Table 5 is NIL head
    assert table.loc[("multitask", "own"), "seeds"] == 2
    assert list(table.index.get_level_values(0).unique()) == ["MAML", "multitask", "random"]


def test_interpolation_figure_orders_regimes_from_rapid_learning_to_reuse():
    acc = _per_seed({("ANIL",): [0.9, 0.91], ("BOIL",): [0.8, 0.82], ("MAML",): [0.97, 0.98],
                     ("top-3",): [0.95, 0.96]}, ["regime"])
    sim = _per_seed({(r, layer, "cka"): [v, v] for r, base in
                     (("ANIL", 1.0), ("BOIL", 0.5), ("MAML", 0.8), ("top-3", 0.9))
                     for layer, v in (("conv1", base), ("conv4", base - 0.1))},
                    ["regime", "layer", "measure"], value="mean")
    frz = _per_seed({(r, k): [0.9 - 0.1 * k, 0.9 - 0.1 * k] for r in ("MAML", "BOIL")
                     for k in range(5)}, ["regime", "n_frozen"])
    fig = P.interpolation(acc, sim, frz)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["BOIL", "MAML", "top-3", "ANIL"]
    maml_line = _series(fig.axes[1], "MAML")
    assert list(maml_line.get_ydata()) == pytest.approx([0.8, 0.7])
    _labelled(fig)


def test_shots_and_ways_and_conditions_draw_their_rows():
    rows = {}
    for ways in (5, 20):
        for shots in (1, 5, 10):
            rows[("maml", ways, shots, "head_only_gap", None)] = [0.1 / shots, 0.12 / shots]
            rows[("maml", ways, shots, "similarity", "conv4")] = [0.7, 0.72]
    frame = _per_seed(rows, ["algorithm", "ways", "shots", "quantity", "layer"])
    frame["layer"] = frame["layer"].where(frame["quantity"] == "similarity", None)
    fig = P.shots_and_ways(frame)
    assert len(fig.axes) == 2
    gap = _series(fig.axes[0], "maml 20-way")
    assert list(gap.get_xdata()) == [1, 5, 10]
    assert list(gap.get_ydata()) == pytest.approx([11.0, 2.2, 1.1])
    _labelled(fig)
    assert not [t for t in fig.axes[0].texts if "steps" in t.get_text()]
    # a point from runs trained fewer steps (capped for compute) is drawn open and labelled
    frame["steps"] = [[100] if (w, k) == (20, 5) else [1000]
                      for w, k in zip(frame["ways"], frame["shots"], strict=True)]
    fig = P.shots_and_ways(frame)
    for ax in fig.axes:
        assert [t.get_text() for t in ax.texts] == ["100 steps"]
        assert ax.texts[0].xy == pytest.approx((5, _series(ax, "maml 20-way").get_ydata()[1]))
    assert "open: trained fewer than 1000 steps (annotated)" in [
        t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    # keyed by training length: the short runs are their own line, never joined to the long
    frame = frame.assign(train_steps=[k[0] for k in frame["steps"]])
    extra = frame[frame["ways"] == 20].assign(train_steps=100, steps=[[100]] * 6)
    extra["seed_mean"] = extra["seed_mean"] / 2
    fig = P.shots_and_ways(pd.concat([frame[frame["train_steps"] == 1000], extra]))
    short = _series(fig.axes[0], "maml 20-way, 100 steps")
    assert list(short.get_xdata()) == [1, 5, 10]
    assert list(short.get_ydata()) == pytest.approx([5.5, 1.1, 0.55])
    assert list(_series(fig.axes[0], "maml 20-way").get_xdata()) == [1, 10]
    assert not fig.axes[0].texts
    cond = _per_seed({("mean", "accuracy"): [0.99, 0.98], ("flatten", "accuracy"): [0.97, 0.96],
                      ("mean", "head_only_accuracy"): [0.4, 0.45],
                      ("flatten", "head_only_accuracy"): [0.9, 0.92]}, ["condition", "quantity"])
    fig = P.conditions(cond)
    assert _bar_heights(fig, 1) == sorted([42.5, 91.0])
    _labelled(fig)


def test_seed_figures(tmp_path):
    acc = _per_seed({("maml", "adapted"): [0.9, 0.92, 0.94], ("anil", "nil"): [0.95, 0.96]},
                    ["algorithm", "head"])
    fig = S.seed_accuracy(acc)
    assert _bar_heights(fig) == sorted([92.0, 95.5])
    _labelled(fig)
    averaged = pd.DataFrame({"kind": ["maml vs maml"] * 2 + ["maml vs anil"] * 2,
                             "algorithm_a": "maml", "seed_a": 0,
                             "algorithm_b": ["maml", "maml", "anil", "anil"],
                             "seed_b": [1, 2, 0, 1], "measure": "cka",
                             "mean": [0.8, 0.9, 0.7, 0.6], "layers": 4})
    fig = S.between_seeds(pair_summary(averaged))
    bars = sorted(p.get_height() for p in fig.axes[0].patches
                  if not p.get_label().startswith("paper"))
    assert bars == pytest.approx([0.65, 0.85])
    assert _dot_values(fig) == pytest.approx([0.6, 0.7, 0.8, 0.9])
    assert [p for p in fig.axes[0].patches if p.get_label() == "paper: 0.83-0.86"]
    _labelled(fig)


def test_figures_name_a_missing_column():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['head'\]"):
        P.regimes(pd.DataFrame({"regime": ["MAML"], "seed_mean": [1.0], "seed_std": [0.0],
                                "per_seed": [[1.0]]}))
    with pytest.raises(ValueError, match="seed summary"):
        P.conditions(pd.DataFrame({"condition": ["a"], "quantity": ["accuracy"]}))
