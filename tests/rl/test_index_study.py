"""checkpoints/index.json merging; the RL study end to end on a tiny run; RL figures."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from repsim.analyses.checkpoint_index import merge_index, read_index


def _entry(path, value):
    return {"path": path, "preset": "p", "algorithm": "maml", "seed": 0, "steps": 5,
            "figures": [{"metric": "return_after", "head": "adapted", "value": value,
                         "ci95": 1.0, "tasks": 40, "test_seed": 0}]}


def test_index_merges_by_path_and_keeps_others(tmp_path):
    index = tmp_path / "index.json"
    merge_index(index, [_entry("b.pt", 1.0), _entry("a.pt", 2.0)])
    merge_index(index, [_entry("b.pt", 3.0)])
    data = read_index(index)
    assert [e["path"] for e in data["checkpoints"]] == ["a.pt", "b.pt"]
    assert data["checkpoints"][1]["figures"][0]["value"] == 3.0
    assert json.loads(index.read_text()) == data


def test_index_refuses_incomplete_entries(tmp_path):
    bad = _entry("a.pt", 1.0)
    del bad["seed"]
    with pytest.raises(ValueError, match="lacks"):
        merge_index(tmp_path / "index.json", [bad])
    fig_bad = _entry("a.pt", 1.0)
    del fig_bad["figures"][0]["head"]
    with pytest.raises(ValueError, match="head"):
        merge_index(tmp_path / "index.json", [fig_bad])
    assert not (tmp_path / "index.json").exists()


def test_rl_study_on_tiny_runs(tmp_path):
    pytest.importorskip("gymnasium")
    from repsim.rl.config import rl_config
    from repsim.rl.train import train_rl
    from repsim.study_rl import run_rl_study

    runs = tmp_path / "runs"
    for alg in ("maml", "anil"):
        cfg = rl_config("nav2d", algorithm=alg, steps=1, meta_batch=2, trajectories=3,
                        horizon=10, hidden=16)
        train_rl(cfg, out_dir=runs / f"{alg}-s0", log=None)
    files = run_rl_study("rl-nav2d", seeds=1, out_dir=tmp_path / "study", runs_dir=runs,
                         train=False, tasks=3, compare_tasks=2, log=lambda *_: None)
    summary = pd.read_csv(files["summary"].with_suffix(".csv"))
    assert list(summary["algorithm"]) == ["maml", "anil"]
    assert list(summary["paper_return_after"]) == [-20.3, -20.1]
    for key in ("fig_curves", "fig_gain", "fig_similarity", "fig_freezing"):
        assert files[key].is_file() and files[key].with_suffix(".pdf").is_file()
    report = files["report_md"].read_text()
    assert "-20.3 ± 3.2" in report and "cpu" in report
