"""Training loop: exact resume, checkpoints that load safely, evaluation numbers and errors."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
import torch

from repsim._io import CheckpointError
from repsim.meta import PRESETS, TrainConfig, evaluate_checkpoint, load_trained, train
from repsim.meta.checkpoint import checkpoint_paths
from repsim.meta.evaluate import mean_ci95

SMALL_SINE = dataclasses.replace(
    PRESETS["sinusoid"],
    steps=12,
    meta_batch=4,
    val_every=6,
    val_tasks=8,
    checkpoint_every=4,
    log_every=2,
)


def _params(path):
    return load_trained(path).model.state_dict()


def test_resume_reproduces_uninterrupted_run(tmp_path):
    """Stop after 5 steps (mid-interval), resume to 12: parameters equal the straight run's."""
    straight = train(SMALL_SINE, out_dir=tmp_path / "a", progress=False)
    partial = train(SMALL_SINE, out_dir=tmp_path / "b", progress=False, max_seconds=0.0)
    assert partial.step == 1  # max_seconds=0 stops after the first step, with a checkpoint
    resumed = train(SMALL_SINE, out_dir=tmp_path / "b", progress=False, resume=True)
    assert resumed.step == straight.step == 12
    a, b = _params(straight.last_checkpoint), _params(resumed.last_checkpoint)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    # The metrics of the resumed run have no duplicated steps.
    metrics = pd.read_csv(tmp_path / "b" / "metrics.csv")
    assert not metrics.duplicated(subset=["step", "split"]).any()
    assert [s for s, _ in checkpoint_paths(tmp_path / "b")] == [1, 4, 8, 12]


def test_refuses_to_overwrite_or_mix_configs(tmp_path):
    train(SMALL_SINE, out_dir=tmp_path, progress=False, max_seconds=0.0)
    with pytest.raises(ValueError, match="already holds checkpoints"):
        train(SMALL_SINE, out_dir=tmp_path, progress=False, resume=False)
    other = dataclasses.replace(SMALL_SINE, seed=3)
    with pytest.raises(ValueError, match="different config"):
        train(other, out_dir=tmp_path, progress=False, resume=True)


def test_sinusoid_training_reduces_mse(tmp_path):
    """Meta-training on sinusoids lowers the post-adaptation query MSE (a learning signal)."""
    cfg = dataclasses.replace(
        PRESETS["sinusoid"],
        steps=150,
        val_every=150,
        val_tasks=50,
        checkpoint_every=150,
        meta_batch=10,
    )
    result = train(cfg, out_dir=tmp_path, progress=False)
    val = result.metrics[result.metrics["split"] == "val"]
    assert val["mse"].iloc[-1] < 0.8 * val["mse"].iloc[0]


def test_checkpoint_loads_with_weights_only_and_rejects_corruption(tmp_path):
    result = train(SMALL_SINE, out_dir=tmp_path, progress=False)
    raw = torch.load(result.last_checkpoint, weights_only=True)
    assert raw["format"] == "repsim-checkpoint" and raw["step"] == 12
    assert set(raw) >= {"config", "model", "optimizer", "rng", "split_hash", "metrics"}
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(result.last_checkpoint.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        load_trained(corrupt)
    with pytest.raises(CheckpointError, match="not found"):
        load_trained(tmp_path / "missing.pt")


def test_untrusted_pickle_is_not_executed(tmp_path):
    """A checkpoint carrying arbitrary pickled objects is refused, and its code never runs."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    torch.save({"format": "repsim-checkpoint", "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match=r"\(io\.open\).*never loads code") as info:
        load_trained(path)
    assert "weights_only" not in str(info.value)  # no hint to disable the safe loader
    assert not marker.exists()


def test_evaluate_sinusoid_reports_mse_with_ci(tmp_path):
    result = train(SMALL_SINE, out_dir=tmp_path, progress=False)
    ev = evaluate_checkpoint(result.last_checkpoint, tasks=20)
    record = ev.to_dict()
    assert record["metric"] == "mse" and record["tasks"] == 20
    assert len(record["mse_per_step"]) == SMALL_SINE.test_inner_steps + 1
    mean, ci = mean_ci95(ev.per_task[:, -1])
    assert record["mse"] == pytest.approx(mean) and record["ci95"] == pytest.approx(ci)
    with pytest.raises(ValueError, match="NIL head is defined for classification only"):
        evaluate_checkpoint(result.last_checkpoint, tasks=4, head="nil")


def test_mean_ci95_matches_formula():
    values = [0.2, 0.4, 0.9, 1.0]
    mean, ci = mean_ci95(values)
    std = float(torch.tensor(values, dtype=torch.float64).std())
    assert mean == pytest.approx(0.625) and ci == pytest.approx(1.96 * std / 2)


def test_config_validation_lists_choices():
    with pytest.raises(ValueError, match="valid: maml, fomaml, anil"):
        TrainConfig(algorithm="reptile")
    with pytest.raises(ValueError, match="valid: omniglot, miniimagenet, sinusoid"):
        TrainConfig(dataset="cifar")


@pytest.mark.data
def test_omniglot_training_learns_and_resumes(tmp_path, shared_data_dir):
    """Real Omniglot, ANIL: 30 steps lift validation accuracy above chance; eval JSON fields."""
    cfg = dataclasses.replace(
        PRESETS["omniglot-5w1s"],
        algorithm="anil",
        steps=30,
        val_every=30,
        val_tasks=40,
        checkpoint_every=15,
    )
    result = train(cfg, out_dir=tmp_path, data_dir=shared_data_dir, progress=False)
    raw = torch.load(result.last_checkpoint, weights_only=True)
    assert set(raw["split_hash"]) == {"train", "val"}
    ev = evaluate_checkpoint(result.last_checkpoint, tasks=40, data_dir=shared_data_dir)
    nil = evaluate_checkpoint(
        result.last_checkpoint, tasks=40, data_dir=shared_data_dir, head="nil"
    )
    assert ev.value > 0.3 and nil.value > 0.3  # chance is 0.2
    record = json.loads(json.dumps(ev.to_dict()))
    assert {"accuracy", "ci95", "tasks"} <= set(record)
    with pytest.raises(ValueError, match="unknown frozen layer name"):
        evaluate_checkpoint(
            result.last_checkpoint, tasks=4, data_dir=shared_data_dir, frozen=["conv9"]
        )


def test_resume_may_extend_or_stop_a_run_but_not_change_it(tmp_path):
    """Changing only `steps` continues the same trajectory (same params as a straight run)."""
    short = dataclasses.replace(SMALL_SINE, steps=8)
    train(short, out_dir=tmp_path / "a", progress=False)
    extended = train(SMALL_SINE, out_dir=tmp_path / "a", progress=False, resume=True)
    straight = train(SMALL_SINE, out_dir=tmp_path / "b", progress=False)
    a, b = _params(extended.last_checkpoint), _params(straight.last_checkpoint)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    with pytest.raises(ValueError, match="already at step 12, past the 8 steps"):
        train(short, out_dir=tmp_path / "a", progress=False, resume=True)
    with pytest.raises(ValueError, match=r"meta_lr: 0.001 there, 0.01 asked"):
        train(dataclasses.replace(SMALL_SINE, meta_lr=0.01), out_dir=tmp_path / "a",
              progress=False, resume=True)


def test_exported_checkpoint_drops_optimizer_and_still_evaluates(tmp_path):
    from repsim.meta.checkpoint import export_checkpoint

    result = train(SMALL_SINE, out_dir=tmp_path / "run", progress=False)
    out = export_checkpoint(result.last_checkpoint, tmp_path / "small.pt")
    raw = torch.load(out, weights_only=True)
    assert "optimizer" not in raw and raw["step"] == 12
    assert out.stat().st_size < result.last_checkpoint.stat().st_size
    a = evaluate_checkpoint(result.last_checkpoint, tasks=10).value
    assert evaluate_checkpoint(out, tasks=10).value == a
