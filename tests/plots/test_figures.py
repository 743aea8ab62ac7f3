"""repsim.plots.figures: each figure draws what its table says, labelled and legible."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from repsim.plots import figures as F
from repsim.plots import load_results, paper
from repsim.plots.style import frozen_label, layer_order, save_figure, short_names


@pytest.fixture(scope="module")
def res(results_factory):
    return load_results(results_factory("figs"))


@pytest.fixture(scope="module")
def all_figures(res) -> dict[str, Figure]:
    t = res.tables
    pick = F.select_unique
    return {
        "accuracy": F.accuracy(t["eval"].frame),
        "similarity_inner_loop": F.similarity_inner_loop(
            pick(t["compare"].frame, ["algorithm", "layer", "measure"])[0]),
        "freezing": F.freezing(t["ablate"].frame, paper=paper.FREEZING[("miniimagenet", 5, 1)]),
        "similarity_checkpoints": F.similarity_checkpoints(t["compare_steps"].frame),
        "freezing_checkpoints": F.freezing_checkpoints(t["ablate_steps"].frame),
        "timing": F.timing(t["timing"].frame, paper=paper.SPEEDUP),
        "similarity_between_models": F.similarity_between_models(t["compare_models"].frame),
        "training_curves": F.training_curves({k: s.frame for k, s in res.runs.items()}),
    }


def _data_axes(fig: Figure):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def test_every_axes_has_labels_and_title(all_figures):
    """Publication check: no unlabelled axis anywhere (colorbars carry their own label)."""
    for name, fig in all_figures.items():
        for ax in _data_axes(fig):
            assert ax.get_xlabel().strip(), f"{name}: x axis unlabelled"
            assert ax.get_ylabel().strip(), f"{name}: y axis unlabelled"
            assert ax.get_title().strip(), f"{name}: panel without title"
        bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert all(cb.get_ylabel() for cb in bars), f"{name}: colorbar unlabelled"


def test_legends_where_several_series_and_outside_the_data(all_figures):
    """Every figure with several series has a legend, and no legend covers a plotting area."""
    for name, fig in all_figures.items():
        if name == "similarity_between_models":  # a heatmap: colorbar + annotated cells
            continue
        FigureCanvasAgg(fig).draw()
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        assert legends, f"{name}: several series but no legend"
        for legend in legends:
            texts = [t.get_text() for t in legend.get_texts()]
            assert len(texts) >= 2 and all(texts), f"{name}: legend {texts}"
            box = legend.get_window_extent()
            for ax in _data_axes(fig):
                assert not box.overlaps(ax.get_window_extent()), f"{name}: legend over data"


def test_tick_labels_do_not_overlap(all_figures):
    """Long category labels (frozen sets, model pairs, task shapes) stay readable."""
    for name, fig in all_figures.items():
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        for ax in _data_axes(fig):
            labels = [t for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
            if labels and labels[0].get_rotation():
                # rotated: parallel lines of text; their gap is Δx·sin(θ), at least a line height
                theta = np.deg2rad(labels[0].get_rotation())
                xs = sorted(t.get_window_extent(renderer).x1 for t in labels)
                line = labels[0].get_fontsize() * fig.dpi / 72
                assert np.all(np.diff(xs) * np.sin(theta) >= line), f"{name}: labels collide"
                continue
            boxes = [t.get_window_extent(renderer) for t in labels]
            for a, b in itertools.combinations(boxes, 2):
                assert not a.overlaps(b), f"{name}: x tick labels overlap"


def test_freezing_draws_percent_and_paper_table1(res, all_figures):
    """Accuracy fractions from ablate.json are drawn ×100; the paper's crosses are Table 1."""
    ax = all_figures["freezing"].axes[0]
    series = {c.get_label(): c.lines[0] for c in ax.containers}  # errorbar containers
    ablate = res.tables["ablate"].frame
    maml = ablate[(ablate["algorithm"] == "maml") & (ablate["head"] == "adapted")]
    want = sorted(maml.accuracy * 100, reverse=True)
    assert np.allclose(sorted(series["MAML"].get_ydata(), reverse=True), want)
    assert set(series) == {"MAML", "ANIL", "MAML body, NIL head"}
    paper_line = next(ln for ln in ax.get_lines() if ln.get_label().startswith("paper"))
    assert list(paper_line.get_ydata()) == [46.9, 46.5, 46.4, 46.3, 46.3]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["none", "conv1", "conv1–2", "conv1–3", "conv1–4"]


def test_accuracy_bars_are_ours_and_the_papers(res, all_figures):
    """Bar heights: our accuracy ×100 in method order, then the paper's Table 2 values."""
    ax = all_figures["accuracy"].axes[0]
    heights = [p.get_height() for p in ax.patches if np.isfinite(p.get_height())]
    ev = res.tables["eval"].frame.set_index(["algorithm", "head"]).accuracy * 100
    ours = [ev[("maml", "adapted")], ev[("anil", "adapted")], ev[("anil", "nil")],
            ev[("maml", "nil")]]
    assert np.allclose(heights[:4], ours)
    assert np.allclose(heights[4:], [46.9, 46.7, 48.0, 48.4])


def test_between_models_heatmap_holds_the_means(res, all_figures):
    """Each heatmap cell is the table's mean for (layer, model pair)."""
    frame = res.tables["compare_models"].frame
    ax = _data_axes(all_figures["similarity_between_models"])[0]
    cca = frame[frame.measure == "cca"]
    short = short_names([*cca.model_a, *cca.model_b])
    grid = cca.assign(pair=cca.model_a.map(short) + " vs " + cca.model_b.map(short)).pivot(
        index="layer", columns="pair", values="mean")
    grid = grid.reindex(index=layer_order(grid.index), columns=sorted(grid.columns))
    assert np.allclose(ax.images[0].get_array(), grid.to_numpy())


def test_similarity_bars_and_baseline_segments(res, all_figures):
    """Bar tops are the `mean` column; the black segments sit at the `baseline` column."""
    frame = F.select_unique(res.tables["compare"].frame, ["algorithm", "layer", "measure"])[0]
    ax = all_figures["similarity_inner_loop"].axes[0]  # MAML, CCA family
    assert ax.get_title() == "MAML: CCA family"
    rows = frame[(frame.algorithm == "maml") & (frame.measure == "cca")].set_index("layer")
    bars = [p for p in ax.patches][:5]  # the first measure's bars, layer order
    assert np.allclose([b.get_height() for b in bars], rows.loc[layer_order(rows.index), "mean"])
    baseline = next(c for c in ax.collections if c.get_label() == "noise baseline")
    segs = baseline.get_segments()
    assert np.allclose([s[0][1] for s in segs], rows.loc[layer_order(rows.index), "baseline"])


def test_distances_and_missing_measures_are_drawn_as_such(all_figures):
    """Procrustes is a distance (own panel, own reversed colour scale); a measure not computed
    for a layer is written "n/a" rather than left as an empty slot that reads as 0."""
    sim = all_figures["similarity_inner_loop"]
    titles = [ax.get_title() for ax in sim.axes]
    assert "MAML: distance" in titles
    distance_ax = sim.axes[titles.index("MAML: distance")]
    assert "0 = identical" in distance_ax.get_ylabel()
    cca_ax = sim.axes[titles.index("MAML: CCA family")]
    assert [t.get_text() for t in cca_ax.texts] == ["n/a"]  # svcca at head
    heat = all_figures["similarity_between_models"]
    labels = {ax.get_ylabel() for ax in heat.axes if ax.get_label() == "<colorbar>"}
    assert labels == {"similarity", "distance (0 = identical)"}
    procrustes = next(ax for ax in heat.axes if ax.get_title() == "Procrustes distance")
    assert procrustes.images[0].get_cmap().name == "viridis_r"
    assert procrustes.images[0].get_clim() == (0.0, 2.0)


def test_timing_annotates_the_maml_over_anil_ratio(all_figures):
    """The synthetic times are 1.7× (train) and 4.1× (inference) apart; the labels say so."""
    train, inference = _data_axes(all_figures["timing"])
    assert {t.get_text() for t in train.texts} == {"1.7×"}
    assert {t.get_text() for t in inference.texts} == {"4.1×"}


def test_select_unique_prefers_latest_step_and_common_mode():
    """Duplicates per point are resolved explicitly, and the choice is reported."""
    frame = pd.DataFrame({"layer": ["conv1"] * 3 + ["conv2"], "measure": "cka",
                          "algorithm": "maml", "mean": [0.1, 0.2, 0.3, 0.4],
                          "conv_mode": ["pool", "flatten", "pool", "pool"],
                          "step": [10, 10, 20, 20]})
    kept, notes = F.select_unique(frame, ["algorithm", "layer", "measure"])
    assert kept["mean"].tolist() == [0.3, 0.4]
    assert any("step" in n for n in notes)


def test_duplicate_points_are_refused_with_the_varying_column():
    """A figure never silently averages or overplots rows that differ in a condition."""
    frame = pd.DataFrame({"layer": ["conv1", "conv1"], "measure": "cka", "algorithm": "maml",
                          "mean": [0.1, 0.2], "conv_mode": ["pool", "flatten"]})
    with pytest.raises(ValueError, match=r"share .*varying: \['conv_mode'\].*select_unique"):
        F.similarity_inner_loop(frame)


def test_missing_columns_are_named():
    """A wrong table says which columns are missing and which it has."""
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['frozen'\]"):
        F.freezing(pd.DataFrame({"algorithm": ["maml"], "accuracy": [0.5]}))
    with pytest.raises(ValueError, match="neither 'accuracy' nor 'mse'"):
        F.accuracy(pd.DataFrame({"algorithm": ["maml"]}))


def test_frozen_labels_and_short_names():
    """Display names: contiguous conv/fc ranges collapse; checkpoint paths lose common parts."""
    assert frozen_label(()) == "none"
    assert frozen_label(("conv2", "conv1", "conv3")) == "conv1–3"
    assert frozen_label(("fc1", "fc2")) == "fc1–2"
    assert frozen_label(("conv1", "conv3")) == "conv1+conv3"
    assert short_names(["/r/runs/maml/final.pt", "/r/runs/anil/final.pt"]) == {
        "/r/runs/maml/final.pt": "maml", "/r/runs/anil/final.pt": "anil"}


def test_save_figure_is_atomic_and_deterministic(tmp_path: Path, res):
    """PNG + PDF + caption; the same data gives the same bytes (no timestamps in the files)."""
    ablate = res.tables["ablate"].frame
    first = save_figure(F.freezing(ablate), tmp_path / "a" / "fig", caption="**x.** y")
    second = save_figure(F.freezing(ablate), tmp_path / "b" / "fig")
    assert [p.suffix for p in first] == [".png", ".pdf"]
    assert first[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert first[1].read_bytes()[:5] == b"%PDF-"
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert (tmp_path / "a" / "fig.caption.md").read_text() == "**x.** y\n"
    assert not list(tmp_path.rglob("*.tmp"))
