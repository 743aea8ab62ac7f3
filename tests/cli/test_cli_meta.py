"""`repsim train` / `repsim eval` through typer's CliRunner: outputs, JSON, one-line errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from repsim.cli.main import app

runner = CliRunner()


def test_train_then_eval_sinusoid(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            "sinusoid",
            "--algo",
            "maml",
            "--steps",
            "6",
            "--meta-batch",
            "4",
            "--val-every",
            "3",
            "--checkpoint-every",
            "3",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "checkpoints" / "step_000006.pt").is_file()
    assert (out / "metrics.csv").is_file() and (out / "manifest.json").is_file()
    js = tmp_path / "eval.json"
    result = runner.invoke(
        app,
        ["eval", str(out / "checkpoints" / "step_000006.pt"), "--tasks", "10", "--json", str(js)],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(js.read_text())
    assert data["tasks"] == 10 and data["metric"] == "mse" and "manifest" in data
    # Resume of a finished run is a no-op that still reports the last checkpoint.
    result = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            "sinusoid",
            "--steps",
            "6",
            "--meta-batch",
            "4",
            "--val-every",
            "3",
            "--checkpoint-every",
            "3",
            "--out",
            str(out),
            "--resume",
        ],
    )
    assert result.exit_code == 0 and "step 6" in result.output


def test_bad_input_gives_one_line_error(tmp_path):
    result = runner.invoke(app, ["train", "--dataset", "cifar", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "unknown dataset 'cifar'" in result.output and "Traceback" not in result.output
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    result = runner.invoke(app, ["eval", str(bogus)])
    assert result.exit_code == 1 and "cannot load checkpoint" in result.output
    result = runner.invoke(app, ["train", "--algo", "reptile", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "valid: maml, fomaml, anil" in result.output
