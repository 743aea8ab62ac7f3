"""Data-parallel meta-training: N ranks give the 1-rank run; a killed rank loses nothing saved.

The 2-rank runs are real: ``torchrun`` (the command users type) and ``torch.multiprocessing``
processes joined with gloo on the CPU.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from repsim._io import load_checkpoint
from repsim.meta import PRESETS, load_trained, train
from repsim.meta.checkpoint import checkpoint_paths
from repsim.meta.distributed import World, from_env

ROOT = Path(__file__).resolve().parents[2]

# Meta-batch 5 over 2 ranks: shards of 3 and 2 tasks, so uneven shards are exercised.
TINY = dataclasses.replace(
    PRESETS["sinusoid"],
    steps=20,
    meta_batch=5,
    val_every=10,
    val_tasks=4,
    checkpoint_every=10,
    log_every=5,
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _state(path: Path) -> dict[str, torch.Tensor]:
    return load_trained(path).model.state_dict()


def _assert_params_close(a: Path, b: Path, atol: float = 1e-5) -> None:
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=atol, msg=key)


@pytest.mark.parametrize(("n", "size"), [(5, 2), (32, 3), (2, 4), (7, 1)])
def test_shards_cover_the_meta_batch_once(n, size):
    parts = [World(rank=r, size=size).shard(n) for r in range(size)]
    covered = [i for start, count in parts for i in range(start, start + count)]
    assert covered == list(range(n))
    counts = [c for _, c in parts]
    assert max(counts) - min(counts) <= 1


def test_one_process_world_without_torchrun(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    world = from_env("cpu")
    assert (world.rank, world.size, world.is_main, world.owns_group) == (0, 1, True, False)
    p = torch.nn.Parameter(torch.ones(3))
    assert world.sum_grads_([p], [2.0, 1.0]) == [2.0, 1.0] and p.grad is None


def test_torchrun_two_ranks_equal_one_rank(tmp_path):
    """`torchrun --nproc_per_node=2 -m repsim train`: after 20 steps, θ equals 1 rank's to 1e-5."""
    one = train(TINY, out_dir=tmp_path / "one", progress=False)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        f"--master_port={_free_port()}", "-m", "repsim", "train",
        "--dataset", "sinusoid", "--steps", "20", "--meta-batch", "5", "--val-every", "10",
        "--checkpoint-every", "10", "--out", str(tmp_path / "two"),
    ]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    two = tmp_path / "two" / "checkpoints" / "step_000020.pt"
    saved = load_checkpoint(two)
    assert saved["world_size"] == 2 and saved["step"] == 20
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["world_size"] == 2
    # The CLI's config is the preset with the options above; the 1-rank run used the same.
    assert saved["config"]["meta_batch"] == TINY.meta_batch
    assert saved["config"]["val_tasks"] == PRESETS["sinusoid"].val_tasks
    _assert_params_close(one.last_checkpoint, two)
    # Not trivially equal: training moved θ away from its initialisation.
    init = train(dataclasses.replace(TINY, steps=1), out_dir=tmp_path / "init", progress=False)
    moved = max((a - b).abs().max().item() for a, b in zip(
        _state(init.last_checkpoint).values(), _state(two).values(), strict=True))
    assert moved > 1e-3


def _rank_main(rank: int, size: int, port: int, out: str, slow_from: int) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    cfg = dataclasses.replace(TINY, steps=1_000)  # far more than the test lets it run

    def pace(step: int) -> None:  # slow the run down so the test can kill it mid-way
        if step >= slow_from:
            time.sleep(0.2)

    train(cfg, out_dir=out, progress=False, on_step=pace)


def test_killed_rank_leaves_a_valid_checkpoint_that_resumes(tmp_path):
    """SIGKILL rank 1 after the step-10 checkpoint; resuming on ONE rank then gives the
    uninterrupted 1-rank run's θ at step 20 (so the run may also change its number of ranks)."""
    out = tmp_path / "killed"
    ctx = mp.get_context("spawn")
    port = _free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, 2, port, str(out), 10)) for r in range(2)]
    for p in procs:
        p.start()
    try:
        deadline = time.monotonic() + 180
        while not checkpoint_paths(out) and time.monotonic() < deadline:
            if not all(p.is_alive() for p in procs):
                pytest.fail("a rank exited before the first checkpoint")
            time.sleep(0.01)
        assert checkpoint_paths(out), "no checkpoint within 180 s"
        os.kill(procs[1].pid, signal.SIGKILL)
        procs[0].join(timeout=120)  # the survivor fails in its next all-reduce
        survivor_exited = not procs[0].is_alive()
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join()
    assert survivor_exited, "rank 0 hung after its peer died"
    assert procs[0].exitcode != 0
    steps = [s for s, _ in checkpoint_paths(out)]
    assert steps and steps[-1] % 10 == 0 and steps[-1] < 1_000
    last = load_checkpoint(checkpoint_paths(out)[-1][1])  # loads (weights_only): not torn
    assert last["world_size"] == 2
    resumed = train(dataclasses.replace(TINY, steps=steps[-1] + 10), out_dir=out, progress=False)
    straight = train(dataclasses.replace(TINY, steps=steps[-1] + 10), out_dir=tmp_path / "one",
                     progress=False)
    assert resumed.step == straight.step == steps[-1] + 10
    _assert_params_close(straight.last_checkpoint, resumed.last_checkpoint)
    assert json.loads((out / "manifest.json").read_text())["world_size"] == 1
