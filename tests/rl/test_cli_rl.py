"""The RL side of the CLI: same verbs, JSON keys, one-line errors, nothing half-written."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

pytest.importorskip("gymnasium")

from repsim._io import save_checkpoint
from repsim.cli.main import app
from repsim.rl.config import rl_config
from repsim.rl.train import train_rl

runner = CliRunner()
TINY = dict(meta_batch=2, trajectories=3, horizon=8, hidden=16, checkpoint_every=1)


@pytest.fixture(scope="module")
def rl_ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("rl_run")
    res = train_rl(rl_config("nav2d", algorithm="maml", steps=1, **TINY), out_dir=out, log=None)
    return res.last_checkpoint


@pytest.fixture(scope="module")
def cls_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("cls") / "checkpoints" / "step_000001.pt"
    save_checkpoint(path, {"format": "repsim-checkpoint", "version": 1, "config": {},
                           "step": 1, "model": {}})
    return path


def _one_line_error(result, *needles):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


def test_eval_json_keys(rl_ckpt, tmp_path):
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["eval", str(rl_ckpt), "--tasks", "3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    for key in ("return_before", "return_after", "ci95_before", "ci95_after", "tasks",
                "manifest"):
        assert key in record
    assert record["tasks"] == 3 and record["manifest"]["config"]["env"] == "nav2d"


def test_eval_freeze_and_bad_layer(rl_ckpt):
    ok = runner.invoke(app, ["eval", str(rl_ckpt), "--tasks", "2", "--freeze", "fc1,fc2"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["eval", str(rl_ckpt), "--tasks", "2", "--freeze", "conv1"])
    _one_line_error(bad, "unknown layer")


def test_ablate_and_compare_run(rl_ckpt, tmp_path):
    result = runner.invoke(app, ["ablate", str(rl_ckpt), "--tasks", "2",
                                 "--json", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "a.json").read_text())["records"]
    assert [r["label"] for r in rows] == ["none", "fc1", "fc1,fc2 (head only)"]
    result = runner.invoke(app, ["compare", str(rl_ckpt), "--tasks", "2",
                                 "--json", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    layers = {r["layer"] for r in json.loads((tmp_path / "c.json").read_text())["records"]}
    assert layers == {"fc1", "fc2", "head"}


@pytest.mark.parametrize("args, needles", [
    (["--algo", "reptile", "--dataset", "nav2d"], ["unknown RL algorithm"]),
    (["--dataset", "nav2d", "--horizon", "2"], ["horizon 2", "unreachable"]),
    (["--dataset", "nav2d", "--ways", "5"], ["--ways", "classification only"]),
    (["--dataset", "omniglot", "--horizon", "50"], ["--horizon"]),
])
def test_train_bad_input_writes_nothing(tmp_path, args, needles):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", *args, "--steps", "1", "--out", str(out)])
    _one_line_error(result, *needles)
    assert not out.exists()


def test_classification_checkpoint_to_rl_and_reverse(rl_ckpt, cls_ckpt):
    # an RL run directory that holds classification checkpoints
    result = runner.invoke(app, ["train", "--dataset", "nav2d", "--steps", "1", "--resume",
                                 "--out", str(cls_ckpt.parents[1])])
    _one_line_error(result, "classification checkpoints")
    # classification-only options on an RL checkpoint
    result = runner.invoke(app, ["eval", str(rl_ckpt), "--head", "nil"])
    _one_line_error(result, "--head", "classification only")
    # the classification loader on an RL checkpoint
    from repsim._io import CheckpointError
    from repsim.meta.checkpoint import load_trained

    with pytest.raises(CheckpointError, match="meta-RL"):
        load_trained(rl_ckpt)


def test_missing_extra_names_it(monkeypatch):
    from repsim.cli.rl import require_rl

    for name in [m for m in sys.modules if m == "repsim.rl" or m.startswith("repsim.rl.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    with pytest.raises(ValueError, match=r"repsim-maml\[rl\]"):
        require_rl()


def test_reproduce_unknown_rl_preset():
    result = runner.invoke(app, ["reproduce", "rl-pong"])
    assert result.exit_code == 1 and "Traceback" not in result.output


@pytest.mark.parametrize("command", ["eval", "compare", "ablate"])
def test_classification_flags_refused_for_policies(rl_ckpt, command):
    # --preset / --download describe image data and are refused, not silently ignored
    result = runner.invoke(app, [command, str(rl_ckpt), "--preset", "omniglot-5w1s"])
    _one_line_error(result, "--preset applies", "classification only")
    result = runner.invoke(app, [command, str(rl_ckpt), "--download"])
    _one_line_error(result, "--download", "classification only")
