"""Every command over a corpus of bad inputs (issue 11).

For each case: a non-zero exit, exactly one line on stderr that starts with ``error:`` (repsim's
words, no torch/zlib/click wording such as "weights_only" or "Traceback"), and nothing written:
no new file and no temporary left in the working folder. Runs in-process with typer's
CliRunner; a few subprocess checks cover the real entry point and ``--debug``.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from repsim.cli._common import DEBUG_ENV
from repsim.cli.main import app
from repsim.meta.checkpoint import export_learn2learn

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "checkpoints" / "omniglot_5w1s_maml.pt"
RL_GOOD = ROOT / "checkpoints" / "rl" / "nav2d_anil_s0.pt"
FORBIDDEN = ("Traceback", "weights_only", "zlib", "Exception", "IndexError", "KeyError")


class _Payload:
    """Pickles to a call of os.system: a checkpoint that would run code if unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    (d / "empty.pt").write_bytes(b"")
    (d / "random.pt").write_bytes(rng.bytes(4096))
    (d / "text.pt").write_text("not a checkpoint\n")
    (d / "truncated.pt").write_bytes(GOOD.read_bytes()[: GOOD.stat().st_size // 2])
    torch.save({"model": _Payload(d / "PWNED")}, d / "evil.pt")
    (d / "pickle.pt").write_bytes(pickle.dumps({"a": 1}))  # plain pickle, not torch's zip
    torch.save(torch.zeros(3), d / "tensor.pt")
    torch.save([1, 2, 3], d / "list.pt")
    torch.save({"conv1.conv.weight": torch.zeros(3)}, d / "wrong_state.pt")
    torch.save({"format": "repsim-checkpoint", "config": {"dataset": "nope"}, "model": {}},
               d / "bad_config.pt")
    export_learn2learn(GOOD, d / "l2l.pt")
    # issue 21: a NaN weight, a list where a tensor belongs, and the same for a policy
    payload = torch.load(GOOD, weights_only=True)
    nan = {k: v.clone() for k, v in payload["model"].items()}
    nan["head.bias"][0] = float("nan")
    torch.save({**payload, "model": nan}, d / "nan_weights.pt")
    torch.save({**payload, "model": {**payload["model"], "head.bias": [0.0] * 5}},
               d / "list_weight.pt")
    rl = torch.load(RL_GOOD, weights_only=True)
    inf = {k: v.clone() for k, v in rl["model"].items()}
    inf["fc1.linear.weight"][0, 0] = float("inf")
    torch.save({**rl, "model": inf}, d / "rl_inf_weights.pt")
    torch.save({**rl, "model": [1, 2]}, d / "rl_model_list.pt")
    (d / "seeds_study" / "seed0").mkdir(parents=True)
    (d / "seeds_study" / "seed0" / "eval.json").write_text('{"records": []}')
    (d / "a_dir").mkdir()
    (d / "empty_data" / "omniglot").mkdir(parents=True)
    (d / "bad_zip" / "omniglot").mkdir(parents=True)
    for part in ("images_background", "images_evaluation"):
        (d / "bad_zip" / "omniglot" / f"{part}.zip").write_bytes(rng.bytes(2048))
    return d


BAD_FILES = ["empty.pt", "random.pt", "text.pt", "truncated.pt", "evil.pt", "pickle.pt",
             "tensor.pt", "list.pt", "wrong_state.pt", "bad_config.pt", "l2l.pt", "a_dir",
             "missing.pt", "nan_weights.pt", "list_weight.pt", "rl_inf_weights.pt",
             "rl_model_list.pt"]
COMMANDS = {
    "eval": ["eval", "{f}"],
    "compare": ["compare", "{f}"],
    "compare-two": ["compare", "{good}", "{f}"],
    "ablate": ["ablate", "{f}"],
    "export": ["export", "{f}", "{out}", "--to", "learn2learn"],
    "export-copy": ["export", "{f}", "{out}"],
}
FLAG_CASES = {
    "eval-tasks0": ["eval", "{good}", "--tasks", "0"],
    "eval-head": ["eval", "{good}", "--head", "bogus"],
    "eval-split": ["eval", "{good}", "--split", "bogus"],
    "eval-freeze": ["eval", "{good}", "--freeze", "conv9"],
    "eval-threads": ["eval", "{good}", "--threads", "-1"],
    "eval-preset": ["eval", "{d}/l2l.pt", "--preset", "omniglot-9w"],
    "eval-json-dir": ["eval", "{good}", "--json", "{d}/a_dir", "--tasks", "0"],
    "eval-no-data": ["eval", "{good}", "--data-dir", "{d}/empty_data"],
    "eval-bad-zip": ["eval", "{good}", "--data-dir", "{d}/bad_zip"],
    "eval-not-int": ["eval", "{good}", "--tasks", "many"],
    "eval-unknown-flag": ["eval", "{good}", "--bogus"],
    "eval-no-arg": ["eval"],
    "compare-inputs": ["compare", "{good}", "--inputs", "bogus"],
    "compare-conv-mode": ["compare", "{good}", "--conv-mode", "bogus"],
    "compare-measures": ["compare", "{good}", "--measures", "bogus"],
    "compare-baseline": ["compare", "{good}", "--baseline", "bogus"],
    "compare-three": ["compare", "{good}", "{good}", "{good}"],
    "compare-state": ["compare", "{good}", "--state", "after"],
    "compare-no-data": ["compare", "{good}", "--data-dir", "{d}/empty_data"],
    "ablate-tasks0": ["ablate", "{good}", "--tasks", "0"],
    "ablate-split": ["ablate", "{good}", "--split", "bogus"],
    "ablate-empty-run": ["ablate", "{d}/a_dir"],
    "train-resume-missing": ["train", "--resume", "--out", "{d}/no_run"],
    "train-algo": ["train", "--algo", "bogus", "--out", "{d}/no_run"],
    "train-dataset": ["train", "--dataset", "bogus", "--out", "{d}/no_run"],
    "train-threads": ["train", "--threads", "-1", "--out", "{d}/no_run"],
    "train-no-data": ["train", "--out", "{d}/no_run", "--data-dir", "{d}/empty_data"],
    "reproduce-preset": ["reproduce", "bogus", "--out", "{d}/no_study"],
    "figures-missing": ["figures", "{d}/no_results"],
    "figures-empty": ["figures", "{d}/a_dir"],
    "export-same": ["export", "{good}", "{good}"],
    "export-format": ["export", "{good}", "{out}", "--to", "bogus"],
}
# Issue 21: each case is refused before any work, with its own message (ISSUE21_MESSAGES).
SWEEP = ["sweep", "--out", "{d}/no_sweep", "--steps", "1", "--seeds", "1", "--algos", "maml"]
ISSUE21_CASES = {
    "eval-threads-huge": ["eval", "{good}", "--threads", "100000"],
    "eval-inner-steps-neg": ["eval", "{good}", "--inner-steps", "-1"],
    "eval-seed-neg": ["eval", "{good}", "--seed", "-1"],
    "eval-json-under-file": ["eval", "{good}", "--json", "{d}/empty.pt/x.json"],
    "eval-rl-threads-huge": ["eval", "{rl}", "--threads", "100000"],
    "compare-json-under-file": ["compare", "{good}", "--json", "{d}/empty.pt/x.json"],
    "compare-csv-dir": ["compare", "{good}", "--csv", "{d}/a_dir"],
    "compare-tasks-neg": ["compare", "{good}", "--tasks", "-3"],
    "compare-rl-layers": ["compare", "{rl}", "--layers", "conv1"],
    "compare-rl-inner-steps": ["compare", "{rl}", "--inner-steps", "7"],
    "compare-rl-conv-mode": ["compare", "{rl}", "--conv-mode", "pool"],
    "ablate-rl-inner-steps": ["ablate", "{rl}", "--inner-steps", "7"],
    "ablate-rl-query": ["ablate", "{rl}", "--query", "3"],
    "train-max-minutes-nan": ["train", "--dataset", "sinusoid", "--max-minutes", "nan",
                              "--out", "{d}/no_run"],
    "train-max-minutes-neg": ["train", "--dataset", "sinusoid", "--max-minutes", "-1",
                              "--out", "{d}/no_run"],
    "train-meta-batch-huge": ["train", "--dataset", "sinusoid", "--meta-batch", "100000000",
                              "--out", "{d}/no_run"],
    "train-rl-meta-batch-huge": ["train", "--dataset", "nav2d", "--meta-batch", "100000000",
                                 "--out", "{d}/no_run"],
    "train-inner-steps-neg": ["train", "--dataset", "sinusoid", "--inner-steps", "-1",
                              "--out", "{d}/no_run"],
    "train-steps0": ["train", "--dataset", "sinusoid", "--steps", "0", "--out", "{d}/no_run"],
    "train-rl-checkpoint-every0": ["train", "--dataset", "nav2d", "--checkpoint-every", "0",
                                   "--out", "{d}/no_run"],
    "reproduce-rl-data-dir": ["reproduce", "rl-nav2d", "--data-dir", "{d}/empty_data",
                              "--out", "{d}/no_study"],
    "reproduce-rl-download": ["reproduce", "rl-nav2d", "--download", "--out", "{d}/no_study"],
    "sweep-workers0": [*SWEEP, "--workers", "0"],
    "sweep-workers-neg": [*SWEEP, "--workers", "-2"],
    "sweep-ray-no-listener": [*SWEEP, "--executor", "ray", "--address", "127.0.0.1:9"],
    "figures-seeds-no-summaries": ["figures", "{d}/seeds_study"],
}
if not torch.cuda.is_available():
    ISSUE21_CASES["sweep-ray-gpus-no-gpu"] = [*SWEEP, "--executor", "ray", "--gpus-per-job", "1"]
ISSUE21_MESSAGES = {
    "eval-threads-huge": "--threads must be between 0",
    "eval-inner-steps-neg": "--inner-steps must be an integer >= 0",
    "eval-seed-neg": "--seed must be an integer >= 0",
    "eval-json-under-file": "empty.pt is a file, not a folder",
    "eval-rl-threads-huge": "--threads must be between 0",
    "compare-json-under-file": "/empty.pt/x.json",
    "compare-csv-dir": "--csv",
    "compare-tasks-neg": "--tasks must be a positive integer",
    "compare-rl-layers": "names no layer of a policy; its layers are fc1, fc2, head",
    "compare-rl-inner-steps": "adapts with exactly one inner step",
    "compare-rl-conv-mode": "--conv-mode applies to classification only",
    "ablate-rl-inner-steps": "adapts with exactly one inner step",
    "ablate-rl-query": "--query applies to classification only",
    "train-max-minutes-nan": "--max-minutes must be a finite number > 0; got nan",
    "train-max-minutes-neg": "--max-minutes must be a finite number > 0; got -1",
    "train-meta-batch-huge": "--meta-batch 100000000 is more tasks",
    "train-rl-meta-batch-huge": "--meta-batch 100000000 is more tasks",
    "train-inner-steps-neg": "--inner-steps must be an integer >= 0",
    "train-steps0": "--steps must be a positive integer",
    "train-rl-checkpoint-every0": "--checkpoint-every must be a positive integer",
    "reproduce-rl-data-dir": "--data-dir applies to classification only",
    "reproduce-rl-download": "--download applies to classification only",
    "sweep-workers0": "--workers must be a positive integer",
    "sweep-workers-neg": "--workers must be a positive integer",
    "sweep-ray-no-listener": "no Ray cluster answers there",
    "sweep-ray-gpus-no-gpu": "--gpus-per-job 1: this machine has 0 GPU(s)",
    "figures-seeds-no-summaries": "multi-seed study without its seed summaries",
    "eval-nan_weights.pt": "holds 1 non-finite value(s)",
    "eval-list_weight.pt": "'head.bias' is a list, not a tensor",
    "eval-rl_inf_weights.pt": "holds 1 non-finite value(s)",
    "compare-rl_model_list.pt": "has no 'model' state_dict (it holds a list)",
    "ablate-nan_weights.pt": "holds 1 non-finite value(s)",
    "export-copy-nan_weights.pt": "holds 1 non-finite value(s)",
    "export-copy-rl_inf_weights.pt": "holds 1 non-finite value(s)",
    "train-dataset": "valid: omniglot, miniimagenet, sinusoid, and for meta-RL nav2d, "
                     "cheetah-vel, cheetah-dir",
}
DEVICE_CASES = {
    f"{cmd}-{dev}": [*args, "--device", dev]
    for cmd, args in {
        "train": ["train", "--out", "{d}/no_run"],
        "eval": ["eval", "{good}"],
        "compare": ["compare", "{good}"],
        "ablate": ["ablate", "{good}"],
        "reproduce": ["reproduce", "sinusoid", "--out", "{d}/no_study"],
        "demo": ["demo", "--out", "{d}/no_study"],
    }.items()
    for dev in (("cuda", "tpu") if not torch.cuda.is_available() else ("tpu", "cuda:99"))
}
CASES = {
    **{f"{c}-{f}": [a.replace("{f}", "{d}/" + f) for a in args]
       for c, args in COMMANDS.items() for f in BAD_FILES},
    **FLAG_CASES,
    **DEVICE_CASES,
    **ISSUE21_CASES,
}


def _snapshot(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_line(case: str, corpus: Path, monkeypatch: pytest.MonkeyPatch,
                                  tmp_path: Path) -> None:
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    monkeypatch.setenv("REPSIM_DATA", str(corpus / "empty_data"))
    monkeypatch.setenv("REPSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    args = [a.format(d=corpus, good=GOOD, rl=RL_GOOD, out=tmp_path / "out.pt")
            for a in CASES[case]]
    before = _snapshot(corpus)
    result = CliRunner().invoke(app, args)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.exit_code not in (0, None), (case, result.stdout, result.stderr)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), (case, result.exception)
    assert len(lines) == 1 and lines[0].startswith("error: "), (case, result.stderr)
    assert not any(word in lines[0] for word in FORBIDDEN), (case, lines[0])
    assert ISSUE21_MESSAGES.get(case, "") in lines[0], (case, lines[0])
    assert _snapshot(corpus) == before, case  # nothing written next to the inputs
    assert not (corpus / "PWNED").exists()
    assert not list(tmp_path.rglob("*")) or all(
        p.name != "out.pt" and not p.name.endswith(".tmp") for p in tmp_path.rglob("*")
    ), (case, list(tmp_path.rglob("*")))


def test_messages_say_what_happened(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    monkeypatch.setenv("REPSIM_DATA", str(corpus / "empty_data"))

    def error(*args: str) -> str:
        return CliRunner().invoke(app, [str(a) for a in args]).stderr

    assert "is empty (0 bytes)" in error("eval", corpus / "empty.pt")
    evil = error("eval", corpus / "evil.pt")
    assert "posix.system" in evil and "never loads code" in evil
    assert "--preset NAME" in error("ablate", corpus / "l2l.pt")
    assert "permission" not in error("eval", GOOD, "--data-dir", corpus / "bad_zip")
    assert "sees no CUDA device" in error("demo", "--device", "cuda") or torch.cuda.is_available()
    assert "Omniglot not found" in error("compare", GOOD, "--data-dir", corpus / "empty_data")


def test_debug_keeps_the_traceback(corpus: Path) -> None:
    """Subprocess: the installed entry point, one line by default, the traceback on --debug."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), DEBUG_ENV: ""}
    cmd = [sys.executable, "-m", "repsim"]
    plain = subprocess.run([*cmd, "eval", str(corpus / "empty.pt")], capture_output=True,
                           text=True, env=env, timeout=120)
    assert plain.returncode == 1
    assert plain.stderr.strip().count("\n") == 0 and plain.stderr.startswith("error: ")
    debug = subprocess.run([*cmd, "--debug", "eval", str(corpus / "empty.pt")],
                           capture_output=True, text=True, env=env, timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    # the error itself ends the traceback (not an error of the error handling)
    assert debug.stderr.strip().splitlines()[-1].startswith("repsim._io.CheckpointError")
    assert "During handling of the above exception" not in debug.stderr


def test_device_refused_before_the_study_folder_exists(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this torch has CUDA: --device cuda is valid here")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "study"
    run = subprocess.run([sys.executable, "-m", "repsim", "demo", "--device", "cuda", "--out",
                          str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 1 and "sees no CUDA device" in run.stderr
    assert not out.exists()


def test_corrupt_member_of_the_real_zip(shared_data_dir: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The official zip with one member's bytes damaged: one line, no zlib traceback."""
    data = tmp_path / "data" / "omniglot"
    data.mkdir(parents=True)
    for part in ("images_background", "images_evaluation"):
        shutil.copy(shared_data_dir / "omniglot" / f"{part}.zip", data)
    path = data / "images_background.zip"
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(".png"))
    raw = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + 20 : start + 60] = bytes(40)
    path.write_bytes(bytes(raw))
    monkeypatch.setenv("REPSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    result = CliRunner().invoke(app, ["eval", str(GOOD), "--data-dir", str(tmp_path / "data"),
                                      "--tasks", "2"])
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert result.exit_code == 1 and len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert all(ln.startswith("decoding Omniglot PNGs") for ln in lines[:-1])  # progress lines
    assert "is corrupt: member" in errors[0] and "--download" in errors[0]
    assert "Traceback" not in result.stderr
