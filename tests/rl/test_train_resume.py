"""Training: resume after a kill is bit-identical; checkpoints are RL-marked and refused by
classification loaders (and the reverse); bad configs fail before anything is written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

pytest.importorskip("gymnasium")

from repsim._io import CheckpointError, load_checkpoint
from repsim.meta.checkpoint import checkpoint_paths, load_trained
from repsim.rl.checkpoint import load_rl
from repsim.rl.config import RLConfig, rl_config
from repsim.rl.train import train_rl

TINY = dict(meta_batch=2, trajectories=3, horizon=8, hidden=16, checkpoint_every=2,
            log_every=1)


def _cfg(algorithm="maml", steps=4, **kw) -> RLConfig:
    return rl_config("nav2d", algorithm=algorithm, steps=steps, **{**TINY, **kw})


def _final(run: Path):
    payload = load_checkpoint(checkpoint_paths(run)[-1][1])
    return payload["model"], pd.read_csv(run / "metrics.csv")


@pytest.mark.parametrize("algorithm", ["maml", "anil"])
def test_resume_is_bit_identical(tmp_path, algorithm):
    full = train_rl(_cfg(algorithm), out_dir=tmp_path / "full", log=None)
    assert full.step == 4
    # "killed" after iteration 3 (checkpoint written there), then resumed to the end
    part = train_rl(_cfg(algorithm), out_dir=tmp_path / "part", log=None, stop_after=3)
    assert part.step == 3
    resumed = train_rl(_cfg(algorithm), out_dir=tmp_path / "part", log=None, resume=True)
    assert resumed.step == 4
    (a, ma), (b, mb) = _final(tmp_path / "full"), _final(tmp_path / "part")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    cols = ["step", "return_before", "return_after", "kl", "backtracks"]
    pd.testing.assert_frame_equal(ma[cols], mb[cols])


def test_sigterm_saves_and_resume_matches(tmp_path):
    """A real kill (SIGTERM) mid-run: the checkpoint it leaves resumes to the same result."""
    run = tmp_path / "killed"
    code = (
        "import torch; torch.set_num_threads(1)\n"
        "import repsim.rl\n"
        "from repsim.rl.config import rl_config\n"
        "from repsim.rl.train import train_rl\n"
        f"cfg = rl_config('nav2d', algorithm='maml', steps=60, **{TINY!r})\n"
        f"train_rl(cfg, out_dir={str(run)!r}, log=print)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 240
    while time.time() < deadline and not checkpoint_paths(run):
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=240)
    stopped = checkpoint_paths(run)[-1][0]
    assert 0 < stopped < 60
    steps = stopped + 1
    train_rl(_cfg(steps=steps), out_dir=run, log=None, resume=True)
    train_rl(_cfg(steps=steps), out_dir=tmp_path / "straight", log=None)
    a, b = _final(run)[0], _final(tmp_path / "straight")[0]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_rl_checkpoint_is_marked_and_kinds_are_refused(tmp_path):
    res = train_rl(_cfg(steps=1), out_dir=tmp_path / "run", log=None)
    payload = load_checkpoint(res.last_checkpoint)
    assert payload["kind"] == "rl" and payload["format"] == "repsim-checkpoint"
    torch.load(res.last_checkpoint, weights_only=True)  # loads safely
    assert load_rl(res.last_checkpoint).step == 1
    with pytest.raises(CheckpointError, match="meta-RL"):
        load_trained(res.last_checkpoint)
    # a classification checkpoint handed to the RL loader, and as an RL run to resume
    from repsim._io import save_checkpoint

    cls = tmp_path / "cls" / "checkpoints" / "step_000001.pt"
    save_checkpoint(cls, {"format": "repsim-checkpoint", "version": 1, "config": {},
                          "step": 1, "model": {}})
    with pytest.raises(CheckpointError, match="classification checkpoint"):
        load_rl(cls)
    with pytest.raises(ValueError, match="classification checkpoints"):
        train_rl(_cfg(steps=2), out_dir=tmp_path / "cls", log=None, resume=True)


def test_resume_with_other_settings_is_refused(tmp_path):
    train_rl(_cfg(steps=1), out_dir=tmp_path / "run", log=None)
    with pytest.raises(ValueError, match="already holds checkpoints"):
        train_rl(_cfg(steps=2), out_dir=tmp_path / "run", log=None, resume=False)
    with pytest.raises(ValueError, match="different config"):
        train_rl(_cfg(steps=2, inner_lr=0.2), out_dir=tmp_path / "run", log=None)


@pytest.mark.parametrize("changes, message", [
    (dict(env="pong"), "unknown RL environment"),
    (dict(algorithm="reptile"), "unknown RL algorithm"),
    (dict(horizon=3), "unreachable"),
    (dict(horizon=0), "out of range"),
    (dict(meta_batch=0), "meta_batch"),
])
def test_bad_configs_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        RLConfig(**changes)


def test_nan_observations_stop_training_with_nothing_written(tmp_path, monkeypatch):
    from repsim.rl.envs import navigation

    real_step = navigation.BatchedNavigation2D.step

    def bad_step(self, action):
        obs, reward, term = real_step(self, action)
        return obs, reward * float("nan"), term

    monkeypatch.setattr(navigation.BatchedNavigation2D, "step", bad_step)
    with pytest.raises((ValueError, FloatingPointError), match=r"(?i)nan|finite"):
        train_rl(_cfg(steps=2), out_dir=tmp_path / "run", log=None)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())
