"""New CLI options of issue 11: --preset, --download, --threads, export, plain help."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import repsim.data
from repsim.cli._common import DEBUG_ENV
from repsim.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "checkpoints" / "omniglot_5w1s_maml.pt"


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    monkeypatch.setenv("REPSIM_CACHE", str(tmp_path / "cache"))


def _run(*args: object) -> object:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


@pytest.mark.parametrize("command", ["train", "eval", "compare", "ablate", "reproduce", "demo",
                                     "figures", "export"])
def test_help_shows_flags_and_arguments_plainly(command: str) -> None:
    text = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "160"}).stdout
    assert "<bool>" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert re.search(r"\{[a-z_]+\}", usage) is None


def test_train_threads_default_to_one(tmp_path: Path) -> None:
    torch.set_num_threads(2)
    try:
        _run("train", "--dataset", "sinusoid", "--steps", "2", "--out", tmp_path / "run")
        assert torch.get_num_threads() == 1
        _run("train", "--dataset", "sinusoid", "--steps", "4", "--out", tmp_path / "run",
             "--resume", "--threads", "2")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_export_then_eval_with_a_preset(tmp_path: Path, shared_data_dir: Path) -> None:
    l2l = tmp_path / "l2l.pt"
    _run("export", GOOD, l2l, "--to", "learn2learn")
    assert "classifier.weight" in torch.load(l2l, weights_only=True)
    common = ["--tasks", "5", "--data-dir", shared_data_dir]
    _run("eval", GOOD, *common, "--json", tmp_path / "a.json")
    _run("eval", l2l, "--preset", "omniglot-5w1s", *common, "--json", tmp_path / "b.json")
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert a["accuracy_per_step"] == b["accuracy_per_step"] and a["accuracy"] == b["accuracy"]


@pytest.mark.parametrize("command", ["eval", "compare", "ablate"])
def test_download_fetches_before_loading_tasks(command: str, tmp_path: Path,
                                               shared_data_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """--download reaches download_omniglot (here a local copy stands in for the network)."""
    calls = []

    def fake_download(data_dir: object = None, **kwargs: object) -> list[Path]:
        calls.append(Path(str(data_dir)))
        target = Path(str(data_dir)) / "omniglot"
        target.mkdir(parents=True, exist_ok=True)
        for part in ("images_background", "images_evaluation"):
            shutil.copy(shared_data_dir / "omniglot" / f"{part}.zip", target)
        return list(target.glob("*.zip"))

    monkeypatch.setattr(repsim.data, "download_omniglot", fake_download)
    data = tmp_path / "fresh"
    extra = ["--layers", "head"] if command == "compare" else []
    _run(command, GOOD, "--tasks", "2", "--data-dir", data, "--download", *extra)
    assert calls == [data]
