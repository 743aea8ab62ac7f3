"""Statistics over seeds (issue 9) against values computed by hand."""

from __future__ import annotations

import dataclasses
import io
import math

import pandas as pd
import pytest
from rich.console import Console

from repsim.analyses.seeds import (
    body_average,
    format_mean_std,
    pair_summary,
    seed_pairs,
    seed_summary,
)
from repsim.analyses.tables import read_table
from repsim.study import STUDY_PRESETS
from repsim.study_seeds import parse_seeds, run_seeds


def test_seed_summary_matches_hand_computed_mean_and_std():
    # rows deliberately out of seed order; two groups
    frame = pd.DataFrame({
        "algorithm": ["maml", "anil", "maml", "anil", "maml", "anil"],
        "seed": [2, 0, 0, 1, 1, 2],
        "accuracy": [0.97, 0.80, 0.90, 0.84, 0.95, 0.82],
        "ci95": [0.03, 0.01, 0.01, 0.02, 0.02, 0.03],
    })
    out = seed_summary(frame, by=["algorithm"], value="accuracy").set_index("algorithm")
    maml = out.loc["maml"]
    # by hand: mean (0.90 + 0.95 + 0.97) / 3 = 0.94; deviations -0.04, 0.01, 0.03;
    # sample variance (0.0016 + 0.0001 + 0.0009) / 2 = 0.0013
    assert maml.seed_mean == pytest.approx(0.94)
    assert maml.seed_std == pytest.approx(math.sqrt(0.0013))
    assert maml.n_seeds == 3 and maml.seeds == [0, 1, 2]
    assert maml.per_seed == pytest.approx([0.90, 0.95, 0.97])
    assert maml.per_seed_ci95 == pytest.approx([0.01, 0.02, 0.03])
    anil = out.loc["anil"]
    # (0.80 + 0.84 + 0.82) / 3 = 0.82; deviations -0.02, 0.02, 0 -> variance 0.0008 / 2
    assert anil.seed_mean == pytest.approx(0.82)
    assert anil.seed_std == pytest.approx(0.02)
    pop = seed_summary(frame, by=["algorithm"], value="accuracy", ddof=0).set_index("algorithm")
    assert pop.loc["anil"].seed_std == pytest.approx(math.sqrt(0.0008 / 3))


def test_seed_summary_single_seed_and_errors():
    one = pd.DataFrame({"algorithm": ["maml"], "seed": [0], "accuracy": [0.5], "ci95": [0.1]})
    row = seed_summary(one, by=["algorithm"], value="accuracy").iloc[0]
    assert row.seed_mean == 0.5 and math.isnan(row.seed_std)
    dup = pd.concat([one, one])
    with pytest.raises(ValueError, match="one row per seed"):
        seed_summary(dup, by=["algorithm"], value="accuracy")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['mse'\]"):
        seed_summary(one, by=["algorithm"], value="mse")


def test_format_mean_std():
    assert format_mean_std(0.97314, 0.0042) == "97.3 ± 0.4"
    assert format_mean_std(0.5, float("nan")) == "50.0"


def test_seed_pairs_kinds_and_counts():
    ckpts = {(a, s): f"{a}{s}" for a in ("anil", "maml") for s in range(3)}
    pairs = seed_pairs(ckpts)
    kinds = [k for k, _, _ in pairs]
    # C(3,2) within each algorithm; across, 3 x 3 minus the 3 same-seed pairs (shared init)
    assert kinds.count("maml vs maml") == 3
    assert kinds.count("anil vs anil") == 3
    assert kinds.count("maml vs anil") == 6
    assert all(a[1] != b[1] for _, a, b in pairs)
    assert all(a[0] == "maml" for k, a, _ in pairs if k == "maml vs anil")


def test_body_average_and_pair_summary_by_hand():
    rows = []
    for seed_b, values in ((1, [0.9, 0.8, 0.7, 0.6, 0.1]), (2, [0.5, 0.5, 0.5, 0.5, 0.2])):
        for layer, v in zip(["conv1", "conv2", "conv3", "conv4", "head"], values, strict=True):
            rows.append({"kind": "maml vs maml", "algorithm_a": "maml", "seed_a": 0,
                         "algorithm_b": "maml", "seed_b": seed_b, "measure": "cka",
                         "layer": layer, "mean": v})
    averaged = body_average(pd.DataFrame(rows))
    # (0.9 + 0.8 + 0.7 + 0.6) / 4 = 0.75; the head is not part of the body
    assert averaged["mean"].tolist() == pytest.approx([0.75, 0.5])
    assert averaged["layers"].tolist() == [4, 4]
    summary = pair_summary(averaged).iloc[0]
    assert summary.pair_mean == pytest.approx(0.625)
    assert summary.pair_std == pytest.approx(math.sqrt(2 * 0.125 ** 2))
    assert summary.pairs == ["maml s0 / maml s1", "maml s0 / maml s2"]


def test_parse_seeds():
    assert parse_seeds("3") == (0, 1, 2)
    assert parse_seeds("0,4,7") == (0, 4, 7)
    assert parse_seeds(2) == (0, 1)
    assert parse_seeds("5,") == (5,)
    with pytest.raises(ValueError, match="a count"):
        parse_seeds("three")
    with pytest.raises(ValueError, match="distinct"):
        parse_seeds("1,1")
    with pytest.raises(ValueError, match="N >= 1"):
        parse_seeds("0")


TINY = dataclasses.replace(
    STUDY_PRESETS["sinusoid"],
    train=dataclasses.replace(STUDY_PRESETS["sinusoid"].train, steps=10, checkpoint_every=10,
                              val_every=10, val_tasks=10, meta_batch=5),
    eval_tasks=20, compare_tasks=6, compare_query=60, ablate_tasks=10, steps_tasks=4,
)


@pytest.mark.slow
def test_run_seeds_aggregates_every_seed_and_resumes(tmp_path):
    """Two seeds end to end: the summary is the mean of the seeds' own eval tables."""
    console = Console(file=io.StringIO(), width=120)
    files = run_seeds(TINY, [0, 1], out_dir=tmp_path, console=console, progress=False)
    per_seed = [read_table(tmp_path / f"seed{s}" / "eval.json")[0] for s in (0, 1)]
    summary, _ = read_table(files["eval_summary"])
    for _, row in summary.iterrows():
        values = [float(f[(f["algorithm"] == row.algorithm)
                          & (f["head"] == row["head"])]["mse"].iloc[0]) for f in per_seed]
        assert row.per_seed == pytest.approx(values)
        assert row.seed_mean == pytest.approx(sum(values) / 2)
        assert row.seed_std == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
    between, _ = read_table(files["between_seeds_summary"])
    counts = dict(zip(between["kind"], between["n_pairs"], strict=False))
    assert counts == {"maml vs maml": 1, "anil vs anil": 1, "maml vs anil": 2}
    assert (tmp_path / "figures" / "seed_accuracy.png").is_file()
    stamp = (tmp_path / "between_seeds.json").stat().st_mtime_ns
    run_seeds(TINY, [0, 1], out_dir=tmp_path, console=console, progress=False)
    assert (tmp_path / "between_seeds.json").stat().st_mtime_ns == stamp
