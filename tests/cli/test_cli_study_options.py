"""Issue 9's CLI options: regimes, --adapt-layers, --head own, reproduce --seeds (CliRunner)."""

from __future__ import annotations

from typer.testing import CliRunner

from repsim.cli.main import app
from repsim.meta import load_trained

runner = CliRunner()


def _train(tmp_path, data_dir, *extra: str):
    out = tmp_path / "run"
    args = ["train", "--steps", "1", "--meta-batch", "2", "--val-every", "1",
            "--data-dir", str(data_dir), "--out", str(out), *extra]
    return out, runner.invoke(app, args)


def test_train_nil_regime_then_eval_with_nil_and_own_heads(tmp_path, shared_data_dir):
    out, result = _train(tmp_path, shared_data_dir, "--algo", "nil")
    assert result.exit_code == 0, result.output
    ckpt = out / "checkpoints" / "step_000001.pt"
    assert load_trained(ckpt).config.algorithm == "nil"
    ok = runner.invoke(app, ["eval", str(ckpt), "--head", "nil", "--tasks", "4",
                             "--data-dir", str(shared_data_dir)])
    assert ok.exit_code == 0, ok.output
    assert "accuracy" in ok.output
    bad = runner.invoke(app, ["eval", str(ckpt), "--head", "own", "--tasks", "4",
                              "--data-dir", str(shared_data_dir)])
    assert bad.exit_code == 1
    assert "no N-way head of its own" in bad.output and "Traceback" not in bad.output


def test_train_top_k_records_adapt_layers(tmp_path, shared_data_dir):
    out, result = _train(tmp_path, shared_data_dir, "--adapt-layers", "3", "--head-input",
                         "flatten")
    assert result.exit_code == 0, result.output
    cfg = load_trained(out / "checkpoints" / "step_000001.pt").config
    assert (cfg.adapt_layers, cfg.head_input) == (3, "flatten")


def test_study_options_give_one_line_errors(tmp_path):
    bad = runner.invoke(app, ["train", "--algo", "anil", "--adapt-layers", "2", "--dataset",
                              "sinusoid", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "applies to maml/fomaml" in bad.output
    bad = runner.invoke(app, ["train", "--algo", "multiclass", "--dataset", "sinusoid",
                              "--out", str(tmp_path / "y")])
    assert bad.exit_code == 1 and "classification regime" in bad.output
    bad = runner.invoke(app, ["reproduce", "sinusoid", "--seeds", "two", "--out",
                              str(tmp_path / "z")])
    assert bad.exit_code == 1 and "--seeds takes a count" in bad.output
    assert "Traceback" not in bad.output
