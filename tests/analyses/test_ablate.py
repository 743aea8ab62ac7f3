"""repsim.analyses.ablate: the paper's Table 1 rows, checked against independent evaluations."""

from __future__ import annotations

import pytest

from repsim.analyses import ablate, ablate_run, ablation_rows
from repsim.analyses.tables import ABLATE_COLUMNS
from repsim.meta import checkpoint_paths, evaluate_checkpoint, evaluate_tasks
from repsim.meta.tasks import task_source

CONV4 = ("conv1", "conv2", "conv3", "conv4", "head")


def test_rows_for_maml_are_table_1():
    rows = ablation_rows(CONV4, algorithm="maml", task="classification")
    assert [r.frozen for r in rows] == [(), ("conv1",), ("conv1", "conv2"),
                                        ("conv1", "conv2", "conv3"), CONV4[:4], CONV4[:4]]
    assert [r.head for r in rows] == ["adapted"] * 5 + ["nil"]
    assert rows[4].label.endswith("(head only)") and rows[5].label == "NIL head"


def test_rows_for_anil_and_regression():
    """ANIL's inner loop is head-only already: no freezing rows. Regression: no NIL head."""
    anil = ablation_rows(CONV4, algorithm="anil", task="classification")
    assert [(r.frozen, r.head) for r in anil] == [((), "adapted"), (CONV4[:4], "nil")]
    sine = ablation_rows(("fc1", "fc2", "head"), algorithm="maml", task="regression")
    assert [r.frozen for r in sine] == [(), ("fc1",), ("fc1", "fc2")]


def test_regression_checkpoint_reports_mse(sinusoid):
    frame = ablate(sinusoid(), tasks=10)
    assert "mse" in frame and "accuracy" not in frame
    assert frame["head"].tolist() == ["adapted"] * 3
    assert frame["frozen"].tolist() == [[], ["fc1"], ["fc1", "fc2"]]
    assert (frame["mse"] > 0).all() and frame["ci95"].notna().all()


def test_ablate_run_every_checkpoint_same_tasks(sinusoid_run):
    frame = ablate_run(sinusoid_run, tasks=6)
    assert frame["step"].tolist() == [2] * 3 + [4] * 3
    direct = ablate(checkpoint_paths(sinusoid_run)[0][1], tasks=6)
    assert frame.loc[frame.step == 2, "mse"].tolist() == direct["mse"].tolist()
    assert ablate(sinusoid_run, tasks=6)["step"].tolist() == frame["step"].tolist()


def test_bad_input(sinusoid, omniglot, tmp_path):
    with pytest.raises(ValueError, match="tasks must be an integer >= 1; got 0"):
        ablate(sinusoid(), tasks=0)
    with pytest.raises(ValueError, match="inner_steps must be >= 0; got -1"):
        ablate(sinusoid(), tasks=2, inner_steps=-1)
    with pytest.raises(FileNotFoundError, match="needs the omniglot test split"):
        ablate(omniglot(), tasks=2, data_dir=tmp_path)
    with pytest.raises(ValueError, match="holds no checkpoints"):
        ablate(tmp_path)


@pytest.fixture(scope="module")
def maml_table(shared_data_dir, omniglot):
    model = omniglot(algorithm="maml", seed=3)
    return model, ablate(model, tasks=20, data_dir=shared_data_dir)


def test_classification_columns(maml_table):
    _, frame = maml_table
    assert list(frame.columns[1: len(ABLATE_COLUMNS) + 1]) == list(ABLATE_COLUMNS)
    assert frame["accuracy"].between(0, 1).all() and len(frame) == 6
    assert frame.attrs["manifest"]["kind"] == "ablate"


def test_rows_match_independent_evaluations(maml_table, shared_data_dir):
    """none = `repsim eval`; all-body-frozen MAML = ANIL's head-only loop; NIL = eval --head nil."""
    model, frame = maml_table
    by_label = frame.set_index("label")
    plain = evaluate_checkpoint(model, tasks=20, data_dir=shared_data_dir)
    assert by_label.loc["none", "accuracy"] == pytest.approx(plain.value)
    nil = evaluate_checkpoint(model, tasks=20, head="nil", data_dir=shared_data_dir)
    assert by_label.loc["NIL head", "accuracy"] == pytest.approx(nil.value)
    cfg = model.config
    episodes = task_source(cfg, split="test", seed=0, data_dir=shared_data_dir).batch(0, 20)
    head_only = evaluate_tasks(model.model, model.params, episodes, algorithm="anil",
                               steps=cfg.test_inner_steps, lr=cfg.inner.lr)
    row = frame[frame.label.str.endswith("(head only)")].iloc[0]
    assert row["accuracy"] == pytest.approx(head_only.value)
