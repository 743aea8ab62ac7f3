"""Data-parallel meta-training: N ranks give the 1-rank run; a killed rank loses nothing saved.

The 2-rank runs are real: ``torchrun`` (the command users type) and ``torch.multiprocessing``
processes joined with gloo on the CPU.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from repsim._io import load_checkpoint
from repsim.meta import PRESETS, config_to_dict, load_trained, train
from repsim.meta.checkpoint import checkpoint_paths
from repsim.meta.distributed import World, from_env

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


def _state(path: Path) -> dict[str, torch.Tensor]:
    return load_trained(path).model.state_dict()


def _assert_params_close(a: Path, b: Path, atol: float = 1e-5, skip: tuple[str, ...] = ()
                         ) -> None:
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        if key.endswith(skip) and skip:
            continue
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


def test_torchrun_two_ranks_equal_one_rank(tmp_path, subprocess_env, free_port):
    """`torchrun --nproc_per_node=2 -m repsim train`: after 20 steps, θ equals 1 rank's to 1e-5."""
    one = train(TINY, out_dir=tmp_path / "one", progress=False)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        f"--master_port={free_port}", "-m", "repsim", "train",
        "--dataset", "sinusoid", "--steps", "20", "--meta-batch", "5", "--val-every", "10",
        "--checkpoint-every", "10", "--out", str(tmp_path / "two"),
    ]
    done = subprocess.run(cmd, env=subprocess_env, capture_output=True, text=True, timeout=240)
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


# One rank of a process group, in a fresh interpreter (a script, not a pickled test function:
# the test module need not be importable from the child).
_RANK_SCRIPT = """
import json, os, sys, time
rank, size, port, out, cfg, data_dir, slow_from = sys.argv[1:8]
os.environ.update(RANK=rank, LOCAL_RANK=rank, WORLD_SIZE=size, MASTER_ADDR="127.0.0.1",
                  MASTER_PORT=port, OMP_NUM_THREADS="1")
import torch
from repsim.meta import config_from_dict, train
torch.set_num_threads(1)

def pace(step):  # slow the run down from `slow_from` on, so a test can kill it mid-way
    if step >= int(slow_from):
        time.sleep(0.2)

train(config_from_dict(json.loads(cfg)), out_dir=out, data_dir=data_dir or None,
      progress=False, on_step=pace)
"""


def _start_ranks(cfg, out: Path, env: dict[str, str], port: int, size: int = 2,
                 data_dir: Path | None = None, slow_from: int = 10**9
                 ) -> list[subprocess.Popen]:
    text = json.dumps(config_to_dict(cfg))
    procs = []
    for r in range(size):
        with open(_log(out, r), "wb") as log:  # a file, not a pipe: a full pipe would block
            procs.append(subprocess.Popen(
                [sys.executable, "-c", _RANK_SCRIPT, str(r), str(size), str(port), str(out),
                 text, str(data_dir or ""), str(slow_from)],
                env=env, stdout=subprocess.DEVNULL, stderr=log))
    return procs


def _log(out: Path, rank: int) -> Path:
    return out.parent / f"{out.name}.rank{rank}.log"


def test_killed_rank_leaves_a_valid_checkpoint_that_resumes(tmp_path, subprocess_env, free_port):
    """SIGKILL rank 1 after the step-10 checkpoint; resuming on ONE rank then gives the
    uninterrupted 1-rank run's θ at step 20 (so the run may also change its number of ranks)."""
    out = tmp_path / "killed"
    procs = _start_ranks(dataclasses.replace(TINY, steps=1_000), out, subprocess_env, free_port,
                         slow_from=10)
    try:
        deadline = time.monotonic() + 180
        while not checkpoint_paths(out) and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                pytest.fail("a rank exited before the first checkpoint: "
                            + _log(out, 0).read_text()[-2000:])
            time.sleep(0.01)
        assert checkpoint_paths(out), "no checkpoint within 180 s"
        procs[1].send_signal(signal.SIGKILL)
        try:  # the survivor fails in its next all-reduce
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
    assert steps and steps[-1] % 10 == 0 and steps[-1] < 1_000
    last = load_checkpoint(checkpoint_paths(out)[-1][1])  # loads (weights_only): not torn
    assert last["world_size"] == 2
    resumed = train(dataclasses.replace(TINY, steps=steps[-1] + 10), out_dir=out, progress=False)
    straight = train(dataclasses.replace(TINY, steps=steps[-1] + 10), out_dir=tmp_path / "one",
                     progress=False)
    assert resumed.step == straight.step == steps[-1] + 10
    _assert_params_close(straight.last_checkpoint, resumed.last_checkpoint)
    assert json.loads((out / "manifest.json").read_text())["world_size"] == 1


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("algorithm", ["maml", "anil"])
def test_two_ranks_equal_one_rank_on_omniglot(tmp_path, shared_data_dir, algorithm,
                                              subprocess_env, free_port):
    """Conv-4 with per-task batch statistics on real Omniglot: 2 ranks (3 + 2 tasks) give the
    1-rank θ after 5 steps, and the same network function.

    Except the conv biases: batch-statistics BatchNorm subtracts each channel's mean right
    after the conv, so its bias has no effect and an exactly zero gradient. What the gradient
    holds is float round-off, and Adam (which divides by its running RMS) turns round-off into
    ±lr steps, so those biases wander differently under any change of summation order (ranks,
    threads, vmap vs loop) while the function stays the same: checked on the outputs below."""
    cfg = dataclasses.replace(PRESETS["omniglot-5w1s"], algorithm=algorithm, steps=5,
                              meta_batch=5, val_every=5, val_tasks=2, checkpoint_every=5)
    one = train(cfg, out_dir=tmp_path / "one", data_dir=shared_data_dir, progress=False)
    procs = _start_ranks(cfg, tmp_path / "two", subprocess_env, free_port,
                         data_dir=shared_data_dir)
    for p in procs:
        p.wait(timeout=600)
    errors = [_log(tmp_path / "two", r).read_text()[-2000:] for r in range(2)]
    assert [p.returncode for p in procs] == [0, 0], errors
    two = tmp_path / "two" / "checkpoints" / "step_000005.pt"
    _assert_params_close(one.last_checkpoint, two, skip=(".conv.bias",))
    from repsim.meta.tasks import task_source

    batch = task_source(cfg, split="val", seed=1, data_dir=shared_data_dir).batch(0, 1)
    x = batch.query_x[0]
    outs = [load_trained(path).model(x) for path in (one.last_checkpoint, two)]
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-4)
