"""Data-parallel meta-RL: N ranks give the 1-rank run; a killed rank loses nothing saved.

The 2-rank runs are real: ``torchrun`` (the command users type) and processes joined with gloo
on the CPU, as in tests/meta/test_distributed.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("gymnasium")

from repsim._io import load_checkpoint
from repsim.meta.checkpoint import checkpoint_paths
from repsim.rl.algorithm import adapt_names_for, sample_iteration
from repsim.rl.config import rl_config, rl_config_to_dict
from repsim.rl.train import initial_params, train_rl

# Meta-batch 5 over 2 ranks: shards of 2 and 3 tasks, so uneven shards are exercised.
CLI_ARGS = ["--dataset", "nav2d", "--scale", "cpu", "--meta-batch", "5", "--horizon", "10",
            "--steps", "4"]
CLI_CFG = rl_config("nav2d", scale="cpu", meta_batch=5, horizon=10, steps=4)
TINY = rl_config("nav2d", scale="cpu", meta_batch=4, trajectories=3, horizon=8, hidden=16,
                 checkpoint_every=2, log_every=1, steps=1_000)


def _model(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def _assert_params_close(a: Path, b: Path, atol: float = 1e-5) -> None:
    ma, mb = _model(a), _model(b)
    assert ma.keys() == mb.keys()
    for key in ma:
        torch.testing.assert_close(ma[key], mb[key], rtol=0, atol=atol, msg=key)


@pytest.mark.parametrize("env", ["nav2d", "cheetah-vel"])
def test_a_tasks_rollouts_do_not_depend_on_the_split(env):
    """Shards (2 + 3 tasks) roll out exactly what the whole meta-batch gives those tasks:
    same action noise, same cheetah reset noise, same adapted policies."""
    if env != "nav2d":
        pytest.importorskip("mujoco")
    cfg = rl_config(env, scale="cpu", meta_batch=5, trajectories=2, horizon=6, hidden=8)
    params, *_ = initial_params(cfg)
    names = adapt_names_for(params, "maml")
    whole = sample_iteration(params, cfg, 3, adapt_names=names)
    parts = [sample_iteration(params, cfg, 3, adapt_names=names, shard=s)
             for s in ((0, 2), (2, 3))]
    assert [p.first_task for p in parts] == [0, 2]
    assert all(p.meta_batch == 5 for p in parts)
    assert parts[0].tasks + parts[1].tasks == whole.tasks
    for which in ("train", "valid"):
        for name, value in getattr(whole, which).to_dict().items():
            joined = torch.cat([getattr(getattr(p, which), name) for p in parts])
            assert torch.equal(joined, value), (which, name)


def test_torchrun_two_ranks_equal_one_rank(tmp_path, subprocess_env, free_port):
    """`torchrun --nproc_per_node=2 -m repsim train --dataset nav2d`: after 4 iterations θ
    equals the 1-rank run's to 1e-5 (in fact bit for bit: every sum is taken in task order)."""
    one = train_rl(CLI_CFG, out_dir=tmp_path / "one", log=None)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        f"--master_port={free_port}", "-m", "repsim", "train", *CLI_ARGS,
        "--out", str(tmp_path / "two"),
    ]
    done = subprocess.run(cmd, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained to iteration 4") == 1  # rank 0 speaks for both
    two = tmp_path / "two" / "checkpoints" / "step_000004.pt"
    saved = load_checkpoint(two)
    assert saved["world_size"] == 2 and saved["step"] == 4
    assert saved["config"] == rl_config_to_dict(CLI_CFG)
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["world_size"] == 2
    _assert_params_close(one.last_checkpoint, two)
    # the per-iteration returns are the whole meta-batch's, not rank 0's share
    a = (tmp_path / "one" / "metrics.csv").read_text().splitlines()
    b = (tmp_path / "two" / "metrics.csv").read_text().splitlines()
    cols = slice(0, 3)  # step, return_before, return_after
    assert [r.split(",")[cols] for r in a] == [r.split(",")[cols] for r in b]
    # Not trivially equal: training moved θ away from its initialisation.
    init, *_ = initial_params(CLI_CFG)
    moved = max(float((init[k] - v).abs().max()) for k, v in _model(two).items())
    assert moved > 1e-3


# One rank of a process group, in a fresh interpreter.
_RANK_SCRIPT = """
import json, os, sys
rank, size, port, out, cfg = sys.argv[1:6]
os.environ.update(RANK=rank, LOCAL_RANK=rank, WORLD_SIZE=size, MASTER_ADDR="127.0.0.1",
                  MASTER_PORT=port, OMP_NUM_THREADS="1")
import torch
from repsim.rl.config import rl_config_from_dict
from repsim.rl.train import train_rl
torch.set_num_threads(1)
train_rl(rl_config_from_dict(json.loads(cfg)), out_dir=out, log=None)
"""


def _log(out: Path, rank: int) -> Path:
    return out.parent / f"{out.name}.rank{rank}.log"


def test_killed_rank_leaves_a_valid_checkpoint_that_resumes(tmp_path, subprocess_env, free_port):
    """SIGKILL rank 1 of a 2-rank run after its first checkpoint: rank 0 fails instead of
    hanging, the last checkpoint loads, and resuming it on ONE rank gives the uninterrupted
    1-rank run's θ (so a run may also change its number of ranks)."""
    out = tmp_path / "killed"
    port, text = free_port, json.dumps(rl_config_to_dict(TINY))
    procs = []
    for r in range(2):
        with open(_log(out, r), "wb") as log:  # a file, not a pipe: a full pipe would block
            procs.append(subprocess.Popen(
                [sys.executable, "-c", _RANK_SCRIPT, str(r), "2", str(port), str(out), text],
                env=subprocess_env, stdout=subprocess.DEVNULL, stderr=log))
    try:
        deadline = time.monotonic() + 180
        while not checkpoint_paths(out) and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                pytest.fail("a rank exited before the first checkpoint: "
                            + _log(out, 0).read_text()[-2000:] + _log(out, 1).read_text()[-2000:])
            time.sleep(0.01)
        assert checkpoint_paths(out), "no checkpoint within 180 s"
        procs[1].send_signal(signal.SIGKILL)
        try:  # the survivor fails in its next collective
            procs[0].wait(timeout=120)
        except subprocess.TimeoutExpired:
            pass
        survivor_exited = procs[0].poll() is not None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    assert survivor_exited, "rank 0 hung after its peer died"
    assert procs[0].returncode != 0
    steps = [s for s, _ in checkpoint_paths(out)]
    assert steps and steps[-1] % TINY.checkpoint_every == 0 and steps[-1] < TINY.steps
    last = load_checkpoint(checkpoint_paths(out)[-1][1])  # loads (weights_only): not torn
    assert last["world_size"] == 2
    target = dataclasses.replace(TINY, steps=steps[-1] + 2)
    resumed = train_rl(target, out_dir=out, log=None)
    straight = train_rl(target, out_dir=tmp_path / "one", log=None)
    assert resumed.step == straight.step == steps[-1] + 2
    _assert_params_close(straight.last_checkpoint, resumed.last_checkpoint)
    assert json.loads((out / "manifest.json").read_text())["world_size"] == 1


def test_task_policy_means_is_the_vmapped_policy():
    from torch.func import vmap

    from repsim.models.policy import policy_mean, task_policy_means

    from ._fixtures import small_params

    params = {k: torch.stack([small_params(seed=s)[1][k] for s in range(3)])
              for k in small_params()[1]}
    obs = torch.randn(3, 5, 3)
    got = task_policy_means(params, obs)
    assert torch.equal(got, vmap(policy_mean)(params, obs))
    for i in range(3):  # and task i's rows are task i's policy
        one = {k: v[i] for k, v in params.items()}
        torch.testing.assert_close(got[i], policy_mean(one, obs[i]))
    assert not torch.allclose(got[0], got[1])


def test_more_ranks_than_tasks_is_refused(tmp_path, subprocess_env, free_port):
    """2 ranks for a meta-batch of 1 task: one clear error per rank, no traceback, nothing
    written."""
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        f"--master_port={free_port}", "-m", "repsim", "train", "--dataset", "nav2d",
        "--meta-batch", "1", "--horizon", "5", "--steps", "1", "--out", str(out),
    ]
    done = subprocess.run(cmd, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert text.count("error: 2 ranks for a meta-batch of 1 tasks") == 2, text[-3000:]
    # torchrun's launcher adds its own traceback (ChildFailedError); none from repsim's code
    assert f"{os.sep}repsim{os.sep}rl{os.sep}" not in text
    assert not out.exists()
