"""Figure 5 legend, accuracy legend swatch, sinusoid report wording (issue 11)."""

from __future__ import annotations

import pandas as pd
from matplotlib.colors import to_hex
from matplotlib.patches import Rectangle

from repsim.plots import figures as F
from repsim.plots import paper


def _ablate_steps() -> pd.DataFrame:
    rows = []
    for step in (100, 200):
        for frozen in ([], ["fc1"], ["fc1", "fc2"]):
            rows.append({"algorithm": "maml", "head": "adapted", "frozen": frozen, "step": step,
                         "mse": 1.0 + len(frozen), "ci95": 0.1})
        rows.append({"algorithm": "anil", "head": "adapted", "frozen": [], "step": step,
                     "mse": 1.5, "ci95": 0.1})
    return pd.DataFrame(rows)


def test_freezing_checkpoints_legend_lists_every_panels_lines() -> None:
    fig = F.freezing_checkpoints(_ablate_steps())
    legend = fig.axes[-1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["none", "fc1", "fc1–2"]


def test_accuracy_legend_swatch_has_the_bar_colours() -> None:
    rows = pd.DataFrame([
        {"algorithm": "maml", "head": "adapted", "mse": 0.5, "ci95": 0.05, "dataset": "sinusoid",
         "ways": 1, "shots": 10},
        {"algorithm": "anil", "head": "adapted", "mse": 0.9, "ci95": 0.4, "dataset": "sinusoid",
         "ways": 1, "shots": 10}])
    fig = F.accuracy(rows)
    ax = fig.axes[0]
    bar_colours = {to_hex(p.get_facecolor()) for p in ax.patches}
    legend = ax.get_legend()
    assert legend.get_texts()[0].get_text() == "ours (± 95% CI)"
    swatch = {to_hex(p.get_facecolor()) for p in legend.findobj(Rectangle)
              if p.get_visible() and p.get_facecolor()[3] > 0}
    assert bar_colours <= swatch and "#737373" not in swatch  # no grey stand-in


def test_similarity_table_wording_and_signs() -> None:
    compare = pd.DataFrame([
        {"algorithm": "maml", "layer": "fc1", "measure": "cka", "mean": 1.0, "ci95": 0.0,
         "baseline": -0.001},
        {"algorithm": "maml", "layer": "conv3", "measure": "cka", "mean": 0.9, "ci95": 0.01,
         "baseline": 0.02},
        {"algorithm": "maml", "layer": "head", "measure": "cka", "mean": -0.0004, "ci95": 0.01,
         "baseline": 0.0}])
    table = paper.similarity_table(compare).set_index("layer")
    assert "conv3/conv4" not in table.loc["fc1", "paper"]
    assert "conv3/conv4" in table.loc["conv3", "paper"]
    assert table.loc["fc1", "linear CKA"].endswith("[0.00]")
    assert not table.loc["head", "linear CKA"].startswith("-")
    text = table.to_string()
    assert "-0.00" not in text


def test_report_notes_explain_missing_nil_and_fc1() -> None:
    eval_rows = pd.DataFrame([{"algorithm": "maml", "head": "adapted", "mse": 0.5}])
    assert any("No NIL row" in n for n in paper.table_notes("eval", eval_rows))
    acc_rows = pd.DataFrame([{"algorithm": "maml", "head": "adapted", "accuracy": 0.9}])
    assert paper.table_notes("eval", acc_rows) == []
    compare = pd.DataFrame([{"layer": "fc1"}, {"layer": "fc2"}])
    assert any("by construction" in n for n in paper.table_notes("compare", compare))
    assert paper.table_notes("compare", pd.DataFrame([{"layer": "conv1"}])) == []
