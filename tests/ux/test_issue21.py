"""Issue 21 (items 3-10): what a hostile user found, each pinned against the behaviour asked for.

The command-line cases (exit code, one ``error:`` line, no traceback) are in the bad-input
corpus of ``test_cli_robustness.py``; here are the library sides and the cases that succeed.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from repsim import _threads
from repsim._io import CheckpointError
from repsim.cli._checks import MAX_META_BATCH, check_options, max_threads
from repsim.cli._common import DEBUG_ENV
from repsim.cli.main import app
from repsim.meta import PRESETS, load_trained

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "checkpoints" / "omniglot_5w1s_maml.pt"
RL_GOOD = ROOT / "checkpoints" / "rl" / "nav2d_anil_s0.pt"


def _with_model(src: Path, dst: Path, change) -> Path:
    payload = torch.load(src, weights_only=True)
    model = {k: v.clone() for k, v in payload["model"].items()}
    change(model)
    torch.save({**payload, "model": model}, dst)
    return dst


def _first_float(model: dict) -> str:
    return next(k for k, v in model.items() if v.is_floating_point())


# ------------------------------------------------------------------ item 4: non-finite weights
def test_nan_weights_are_refused_by_the_loader(tmp_path):
    """NaN weights evaluated to 20% with exit 0; the loader now names the weight."""
    path = _with_model(GOOD, tmp_path / "nan.pt",
                       lambda m: m[_first_float(m)].view(-1).__setitem__(0, math.nan))
    with pytest.raises(CheckpointError, match=r"weight 'conv1\.conv\.weight' holds 1 non-finite"):
        load_trained(path)
    inf = _with_model(GOOD, tmp_path / "inf.pt",
                      lambda m: m["head.bias"].__setitem__(0, math.inf))
    with pytest.raises(CheckpointError, match=r"'head\.bias' holds 1 non-finite"):
        load_trained(inf)
    load_trained(GOOD)  # the shipped checkpoint is finite


def test_a_list_instead_of_a_tensor_is_refused(tmp_path):
    """item 3: a ``model`` entry holding a list raised AttributeError (a traceback)."""
    path = _with_model(GOOD, tmp_path / "list.pt",
                       lambda m: m.__setitem__("head.bias", [0.0] * 5))
    with pytest.raises(CheckpointError, match=r"weight 'head\.bias' is a list, not a tensor"):
        load_trained(path)


def test_rl_loader_refuses_nan_and_lists(tmp_path):
    pytest.importorskip("gymnasium")
    from repsim.rl.checkpoint import load_rl

    nan = _with_model(RL_GOOD, tmp_path / "nan.pt",
                      lambda m: m["fc1.linear.weight"].view(-1).__setitem__(3, math.nan))
    with pytest.raises(CheckpointError, match=r"'fc1\.linear\.weight' holds 1 non-finite"):
        load_rl(nan)
    payload = torch.load(RL_GOOD, weights_only=True)
    torch.save({**payload, "model": [1, 2]}, tmp_path / "model_list.pt")
    with pytest.raises(CheckpointError, match="has no 'model' state_dict \\(it holds a list\\)"):
        load_rl(tmp_path / "model_list.pt")


# ------------------------------------------------------------------ one validation layer
@pytest.mark.parametrize(("options", "message"), [
    ({"inner_steps": -1}, r"--inner-steps must be an integer >= 0 .*got -1"),
    ({"tasks": 0}, r"--tasks must be a positive integer \(a number of tasks\); got 0"),
    ({"workers": 0}, r"--workers must be a positive integer \(jobs at a time\); got 0"),
    ({"workers": -2}, r"--workers must be a positive integer .*got -2"),
    ({"seed": -1}, r"--seed must be an integer >= 0 \(a seed\); got -1"),
    ({"meta_batch": MAX_META_BATCH + 1}, r"--meta-batch 10001 is more tasks .*at most 10000"),
    ({"max_minutes": math.nan}, r"--max-minutes must be a finite number > 0; got nan"),
    ({"max_minutes": -1.0}, r"--max-minutes must be a finite number > 0; got -1"),
    ({"gpus_per_job": math.inf}, r"--gpus-per-job must be a finite number >= 0"),
    ({"threads": 100_000}, r"--threads must be between 0 .* and \d+ .*got 100000"),
    ({"threads": -1}, r"--threads must be between 0"),
])
def test_shared_option_rules(options, message):
    with pytest.raises(ValueError, match=message):
        check_options(options)


def test_shared_option_rules_let_good_values_through(tmp_path):
    check_options({"inner_steps": 0, "tasks": 1, "workers": 1, "meta_batch": 32, "seed": 0,
                   "max_minutes": 0.5, "threads": max_threads(), "json_path": tmp_path / "a/b.json",
                   "tasks_unknown_option": -5, "steps": None})


def test_output_path_checked_before_the_work_and_named(tmp_path):
    """item 7: --json was checked only after the work, and the error named the temp file."""
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=rf"--json {tmp_path}/file/x\.json: {tmp_path}/file is a "
                                         "file, not a folder"):
        check_options({"json_path": tmp_path / "file" / "x.json"})
    with pytest.raises(ValueError, match=r"--csv .* is a directory"):
        check_options({"csv_path": tmp_path})
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ValueError, match=r"the folder .*locked is not writable"):
            check_options({"json_path": locked / "x.json"})


def test_eval_inner_steps_negative_is_refused_by_the_library(shared_data_dir):
    """item 4: --inner-steps -1 printed 0.00% with exit 0; the library refuses it too."""
    from repsim.meta import evaluate_checkpoint

    with pytest.raises(ValueError, match=r"inner_steps must be >= 0 \(0: no adaptation\); got -1"):
        evaluate_checkpoint(load_trained(GOOD), tasks=1, inner_steps=-1, data_dir=shared_data_dir)


# ------------------------------------------------------------------ item 5: RL options honoured
def test_rl_compare_layers_are_validated_and_honoured(tmp_path, monkeypatch):
    pytest.importorskip("gymnasium")
    from repsim.cli.rl import policy_layers

    assert policy_layers(("fc*",)) == ("fc1", "fc2")
    assert policy_layers(("head", "fc1", "head")) == ("head", "fc1")
    with pytest.raises(ValueError, match=r"--layers 'conv1' names no layer of a policy; its "
                                         r"layers are fc1, fc2, head"):
        policy_layers(("conv1",))
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    out = tmp_path / "cmp.json"
    result = CliRunner().invoke(app, ["compare", str(RL_GOOD), "--tasks", "2", "--layers",
                                      "fc2", "--measures", "cka", "--json", str(out)])
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())["records"]
    assert {r["layer"] for r in records} == {"fc2"}


def test_rl_train_honours_checkpoint_every(tmp_path, monkeypatch):
    """RL train ignored --checkpoint-every: the config it trains with now carries it."""
    pytest.importorskip("gymnasium")
    rl_train = importlib.import_module("repsim.rl.train")
    seen = {}

    def fake_train_rl(cfg, **kwargs):
        seen["cfg"] = cfg
        raise ValueError("stop here")

    monkeypatch.setattr(rl_train, "train_rl", fake_train_rl)
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    result = CliRunner().invoke(app, ["train", "--dataset", "nav2d", "--scale", "cpu",
                                      "--checkpoint-every", "7", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "stop here" in result.stderr
    assert seen["cfg"].checkpoint_every == 7


# ------------------------------------------------------------------ idle ranks (item 10)
def test_classification_refuses_idle_ranks_as_rl_does(tmp_path, monkeypatch):
    """More ranks than tasks in a meta-batch: RL refused, classification trained with idle
    ranks; both refuse now, with the same words."""
    from repsim.meta.distributed import World

    meta_train = importlib.import_module("repsim.meta.train")  # repsim.meta.train: the function

    monkeypatch.setattr(meta_train, "from_env", lambda device: World(rank=0, size=3))
    cfg = dataclasses.replace(PRESETS["sinusoid"], meta_batch=2, steps=1)
    with pytest.raises(ValueError, match="3 ranks for a meta-batch of 2 tasks: every rank needs "
                                         "at least one task"):
        meta_train.train(cfg, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    pytest.importorskip("gymnasium")
    from repsim.rl.config import rl_config

    rl_train = importlib.import_module("repsim.rl.train")

    monkeypatch.setattr(rl_train, "from_env", lambda device: World(rank=0, size=3))
    with pytest.raises(ValueError, match="3 ranks for a meta-batch of 2 tasks: every rank needs "
                                         "at least one task"):
        rl_train.train_rl(rl_config("nav2d", scale="cpu", meta_batch=2), out_dir=tmp_path / "rl")


# ------------------------------------------------------------------ item 9: thread defaults
def test_library_entry_sets_the_cli_thread_default(monkeypatch):
    """repsim.compare at torch's default threads was 2.4x slower than the CLI's 1 thread: the
    library's first entry now applies the same default, unless the user chose."""
    before = torch.get_num_threads()
    try:
        for env in ("OMP_NUM_THREADS", _threads.THREADS_ENV):
            monkeypatch.delenv(env, raising=False)
        torch.set_num_threads(2)
        monkeypatch.setattr(_threads, "_chosen", False)
        monkeypatch.setattr(_threads, "_at_import", 2)
        load_trained(GOOD)
        assert torch.get_num_threads() == _threads.DEFAULT_THREADS == 1
        # a user's torch.set_num_threads after import repsim is kept
        torch.set_num_threads(2)
        monkeypatch.setattr(_threads, "_chosen", False)
        monkeypatch.setattr(_threads, "_at_import", 3)
        load_trained(GOOD)
        assert torch.get_num_threads() == 2
        # REPSIM_THREADS wins
        monkeypatch.setattr(_threads, "_chosen", False)
        monkeypatch.setenv(_threads.THREADS_ENV, "2")
        torch.set_num_threads(1)
        load_trained(GOOD)
        assert torch.get_num_threads() == 2
        monkeypatch.setenv(_threads.THREADS_ENV, "two")
        with pytest.raises(ValueError, match=r"\$REPSIM_THREADS must be an integer >= 0"):
            _threads.default_threads()
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------ item 3: figures on RL folders
@pytest.mark.parametrize("name", ["rl-nav2d", "rl-cheetah-vel"])
def test_figures_redraws_a_shipped_rl_study(name, tmp_path, monkeypatch):
    """`repsim figures figures/rl-nav2d` raised KeyError: 'mse'; it now draws what the
    folder's tables allow and names what it skipped."""
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    src = tmp_path / name
    shutil.copytree(ROOT / "figures" / name, src)
    result = CliRunner().invoke(app, ["figures", str(src), "--out", str(tmp_path / "f")])
    assert result.exit_code == 0, result.output
    drawn = sorted(p.name for p in (tmp_path / "f").glob("*.png"))
    assert {"rl_similarity.png", "rl_freezing.png"} <= set(drawn)
    if not (src / "curves.json").exists():
        assert "skipped rl_curves: no curves.json" in result.stdout


def test_figures_on_a_seeds_folder_without_summaries_fails_clearly(tmp_path, monkeypatch):
    """A `reproduce --seeds` folder drew nothing and exited 0."""
    from repsim.study_seeds import is_seeds_folder

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    (tmp_path / "seed0").mkdir()
    (tmp_path / "seed0" / "eval.json").write_text('{"records": []}')
    assert is_seeds_folder(tmp_path)
    result = CliRunner().invoke(app, ["figures", str(tmp_path)])
    assert result.exit_code == 1
    assert "is a multi-seed study without its seed summaries" in result.stderr
    (tmp_path / "sweep.json").write_text("{}")
    assert not is_seeds_folder(tmp_path)


def test_empty_metrics_csv_is_named(tmp_path):
    """item 7: pandas' "No columns to parse from file" now names the file."""
    from repsim._csv import read_csv

    (tmp_path / "metrics.csv").write_text("")
    with pytest.raises(ValueError, match=rf"{tmp_path}/metrics\.csv is empty"):
        read_csv(tmp_path / "metrics.csv")
    (tmp_path / "ok.csv").write_text("a,b\n1,2\n")
    assert read_csv(tmp_path / "ok.csv").equals(pd.DataFrame({"a": [1], "b": [2]}))


# ------------------------------------------------------------------ item 3: merge_index
def _entry(path: str) -> dict:
    return {"path": path, "preset": "p", "algorithm": "maml", "seed": 0, "steps": 10,
            "figures": [{"metric": "accuracy", "head": "adapted", "value": 0.5, "ci95": 0.1,
                         "tasks": 10, "test_seed": 0}]}


@pytest.mark.parametrize(("bad", "message"), [
    (["not", "a", "dict"], r"must be a dict with keys"),
    ({**_entry("a.pt"), "figures": "none"}, r"'figures' must be a list of dicts; got a str"),
    ({**_entry("a.pt"), "figures": [3]}, r"a figure of 'a\.pt' must be a dict"),
    ({**_entry("a.pt"), "seed": "zero"}, r"'seed' must be an integer >= 0"),
    ({**_entry("a.pt"), "path": 7}, r"'path' must be a non-empty string"),
])
def test_merge_index_refuses_malformed_entries(tmp_path, bad, message):
    from repsim.analyses.checkpoint_index import merge_index

    with pytest.raises(ValueError, match=message):
        merge_index(tmp_path / "index.json", [bad])
    assert not (tmp_path / "index.json").exists()


def test_merge_index_refuses_a_file_whose_entries_lack_keys(tmp_path):
    """Entries already in the file that lack keys were kept by a merge; now they are named."""
    from repsim.analyses.checkpoint_index import merge_index

    index = tmp_path / "index.json"
    index.write_text(json.dumps({"checkpoints": [{"path": "old.pt"}]}))
    with pytest.raises(ValueError, match=r"entry 0 of .*index\.json 'old\.pt' lacks \['preset'"):
        merge_index(index, [_entry("new.pt")])


# ------------------------------------------------------------------ item 8: divergence flagged
def _result(per_task, metric="mse"):
    from repsim.meta.evaluate import EvalResult

    return EvalResult(per_task=torch.as_tensor(per_task, dtype=torch.float64), metric=metric,
                      head="adapted", frozen=(), inner_steps=len(per_task[0]) - 1, inner_lr=0.01)


def test_divergence_is_flagged_in_eval_rows():
    """ANIL's sinusoid MSE 0.991 ± 0.690 after 10 steps came from a loop diverging after step
    6 (0.747); nothing said so. The row now carries diverged/divergence."""
    gen = torch.Generator().manual_seed(0)
    base = torch.tensor([2.0, 1.2, 0.9, 0.85, 0.8, 0.78, 0.747, 0.8, 0.86, 0.93, 0.991])
    per_task = base + 0.02 * torch.randn(40, 11, generator=gen, dtype=torch.float64)
    row = _result(per_task).to_dict()
    assert row["diverged"] is True
    assert re.search(r"after inner step 6 \(0\.7\d*\) up to step 10 \(0\.9\d*\)",
                     row["divergence"]) and "--inner-steps 6" in row["divergence"]
    # the shipped demo's ANIL curve (per-step means, issue 21): flagged after step 6
    demo = [3.062, 1.373, 0.965, 0.858, 0.789, 0.766, 0.747, 0.767, 0.789, 0.88, 0.991]
    tails = torch.tensor(demo).repeat(40, 1)
    tails[:2, 7:] *= torch.tensor([1.0, 2.0, 4.0, 8.0])  # two tasks blow up: a wide CI
    tails[2:, 7:] = tails[2:, 6:7]
    assert "after inner step 6" in _result(tails).divergence
    # a loop that keeps improving, or worsens within the margin, is not flagged
    assert _result(torch.linspace(1.0, 0.5, 11).repeat(40, 1)).to_dict()["diverged"] is False
    flat = torch.tensor([1.0, 0.70, 0.71]).repeat(40, 1)
    assert _result(flat).to_dict()["diverged"] is False
    # accuracy: higher is better; non-finite anywhere is divergence
    acc = torch.tensor([0.2, 0.9, 0.8]).repeat(40, 1) + 0.01 * torch.rand(40, 3, generator=gen)
    assert _result(acc, "accuracy").to_dict()["diverged"] is True
    nan = _result(torch.tensor([[1.0, math.nan], [1.0, 2.0]]))
    assert "not finite after inner step 1" in nan.divergence


def test_divergence_sentence_in_the_report_table():
    from repsim.plots.paper import accuracy_table, table_notes

    rows = pd.DataFrame([{"algorithm": "anil", "head": "adapted", "dataset": "sinusoid",
                          "ways": 1, "shots": 10, "mse": 0.991, "ci95": 0.69, "tasks": 600,
                          "diverged": True, "divergence": "the mse gets worse after step 6"},
                         {"algorithm": "maml", "head": "adapted", "dataset": "sinusoid",
                          "ways": 1, "shots": 10, "mse": 0.41, "ci95": 0.05, "tasks": 600,
                          "diverged": False, "divergence": ""}])
    table = accuracy_table(rows)
    assert dict(zip(table["method"], table["inner loop"], strict=True)) == {
        "ANIL": "diverges ⚠", "MAML": "ok"}
    notes = [n for n in table_notes("eval", rows) if n.startswith("Divergence")]
    assert notes == ["Divergence (ANIL): the mse gets worse after step 6. Its number above is "
                     "after the last inner step, not the best one."]


# ------------------------------------------------------------------ item 7: the install hint once
def test_missing_rl_extra_names_the_install_command_once(monkeypatch):
    """The RL extra's install hint was printed twice in one line (repsim.rl's, then ours)."""
    import sys

    from repsim.cli.rl import require_rl

    hint = 'pip install "repsim-maml[rl]"'

    class _Missing:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "repsim.rl":
                raise ImportError("repsim.rl needs gymnasium and mujoco (mujoco is not "
                                  f"installed): install the RL extra with  {hint}")
            return None

    monkeypatch.delitem(sys.modules, "repsim.rl", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_Missing(), *sys.meta_path])
    with pytest.raises(ValueError) as info:
        require_rl()
    assert str(info.value).count("repsim-maml[rl]") == 1 and "mujoco is not installed" in str(
        info.value)
