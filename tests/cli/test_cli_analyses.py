"""`repsim compare` / `repsim ablate` via typer's CliRunner: tables, JSON/CSV, one-line errors."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from repsim._io import save_checkpoint
from repsim.cli.main import app
from repsim.meta import PRESETS, TrainConfig, build_model, checkpoint_paths, config_to_dict, train
from repsim.meta.checkpoint import FORMAT

runner = CliRunner()
REQUIRED_COMPARE = {"layer", "measure", "mean", "ci95", "baseline", "n_samples", "n_features",
                    "conv_mode"}


def _untrained_checkpoint(path, config: TrainConfig, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(config)
    save_checkpoint(path, {"format": FORMAT, "version": 1, "config": config_to_dict(config),
                           "step": 0, "model": model.state_dict()})
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_run")
    cfg = dataclasses.replace(PRESETS["sinusoid"], steps=4, meta_batch=4, checkpoint_every=2,
                              val_every=2, val_tasks=4, log_every=2)
    train(cfg, out_dir=out, progress=False)
    return out


def test_compare_checkpoint_writes_json_and_csv(run_dir, tmp_path):
    ckpt = checkpoint_paths(run_dir)[-1][1]
    js, csv = tmp_path / "cmp.json", tmp_path / "cmp.csv"
    result = runner.invoke(app, ["compare", str(ckpt), "--tasks", "5", "--json", str(js),
                                 "--csv", str(csv)])
    assert result.exit_code == 0, result.output
    assert "fc1" in result.output and "cka_debiased" in result.output
    assert "CCA family" in result.output  # the measure choice and its reason are printed
    data = json.loads(js.read_text())
    assert set(data) == {"manifest", "records"}
    assert all(REQUIRED_COMPARE <= set(r) for r in data["records"])
    assert data["manifest"]["kind"] == "compare-adaptation" and data["manifest"]["tasks"] == 5
    table = pd.read_csv(csv)
    assert len(table) == len(data["records"]) and set(table["layer"]) == {"fc1", "fc2", "head"}


def test_compare_run_dir_and_two_models(run_dir, tmp_path):
    js = tmp_path / "run.json"
    result = runner.invoke(app, ["compare", str(run_dir), "--tasks", "3", "--measures", "cka",
                                 "--json", str(js)])
    assert result.exit_code == 0, result.output
    assert sorted({r["step"] for r in json.loads(js.read_text())["records"]}) == [2, 4]
    (_, pa), (_, pb) = checkpoint_paths(run_dir)
    result = runner.invoke(app, ["compare", str(pa), str(pb), "--tasks", "3", "--state", "after",
                                 "--json", str(js)])
    assert result.exit_code == 0, result.output
    records = json.loads(js.read_text())["records"]
    assert {r["model_b"] for r in records} == {str(pb)}


def test_ablate_writes_rows(run_dir, tmp_path):
    js = tmp_path / "abl.json"
    result = runner.invoke(app, ["ablate", str(checkpoint_paths(run_dir)[0][1]), "--tasks", "5",
                                 "--json", str(js)])
    assert result.exit_code == 0, result.output
    records = json.loads(js.read_text())["records"]
    assert [r["frozen"] for r in records] == [[], ["fc1"], ["fc1", "fc2"]]
    assert {r["head"] for r in records} == {"adapted"}


def test_ablate_omniglot_accuracy_rows(shared_data_dir, tmp_path):
    ckpt = _untrained_checkpoint(tmp_path / "maml.pt", TrainConfig(algorithm="maml"))
    js = tmp_path / "abl.json"
    result = runner.invoke(app, ["ablate", str(ckpt), "--tasks", "8", "--data-dir",
                                 str(shared_data_dir), "--json", str(js)])
    assert result.exit_code == 0, result.output
    assert "NIL head" in result.output and "head only" in result.output
    records = json.loads(js.read_text())["records"]
    assert [r["head"] for r in records] == ["adapted"] * 5 + ["nil"]
    assert all(0 <= r["accuracy"] <= 1 and r["ci95"] >= 0 for r in records)


@pytest.mark.parametrize(("args", "message"), [
    (["compare", "{ckpt}", "--layers", "conv1"], "named 'conv1'; its layers are fc1, fc2, head"),
    (["compare", "{ckpt}", "--measures", "cca", "--layers", "fc1"],
     "no requested measure can be computed"),
    (["compare", "{ckpt}", "--conv-mode", "channels"], "conv_mode must be one of"),
    (["compare", "{missing}"], "checkpoint not found"),
    (["ablate", "{missing}"], "checkpoint not found"),
    (["ablate", "{ckpt}", "--tasks", "0"], "--tasks must be a positive integer"),
])
def test_bad_input_is_one_line(run_dir, tmp_path, args, message):
    ckpt, missing = checkpoint_paths(run_dir)[0][1], tmp_path / "nope.pt"
    argv = [a.format(ckpt=ckpt, missing=missing) for a in args]
    result = runner.invoke(app, argv if "--tasks" in argv else [*argv, "--tasks", "2"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output
