"""Prepared GPU check: the CUDA path works, and Omniglot 20w1s MAML meta-iterations per minute.

    python benchmarks/gpu_check.py [--out $OUT] [--seconds 60] [--data DIR]

For a session that has a GPU (none was available when this was written, so no GPU figure is
claimed anywhere yet). Goal from issue 10: >= 4,000 meta-iterations per minute for Omniglot
20-way 1-shot MAML (the ``omniglot-20w1s`` preset) on one GPU. Writes ``gpu_check.json`` to
``--out`` with, each measured over ``--seconds``:

1. ``train``: :func:`repsim.meta.train.train` as ``repsim train --device cuda`` runs it (data
   pipeline on the GPU pool, loss.item() check every step, Adam, logging), timed between
   ``on_step`` callbacks; validation and checkpoints pushed past the run.
2. ``step_loop``: the same meta-step (sample, meta_loss, backward, Adam) in a bare loop without
   the per-step host sync, to show what the sync and bookkeeping cost.
3. ``cuda_graph``: the meta-step (meta_loss + backward + Adam on static input buffers) captured
   once with ``torch.cuda.graph`` and replayed; episodes are copied into the static buffers
   each step. Recorded as an error string if capture fails (e.g. an op that syncs).
4. ``compile``: ``torch.compile`` of the one-task meta-loss; torch's compiler does not support
   double backward, so this is expected to fail for second-order MAML and is recorded either way.
5. ``learn2learn``: learn2learn 0.2.0's MAML loop on the same episodes when it is installed
   (benchmarks/setup_peers.sh), alternating with repsim's step, for the GPU ratio.

Also runs a CUDA correctness check first: the vmapped meta-gradient on the GPU equals the CPU
one (float32, relative 1e-4) on the same weights and episodes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

import torch

from repsim.meta.algorithms import meta_loss
from repsim.meta.checkpoint import build_model
from repsim.meta.config import PRESETS
from repsim.meta.inner import freeze_spec
from repsim.meta.tasks import task_source
from repsim.meta.train import train


def per_minute(seconds: list[float]) -> float:
    return 60.0 / statistics.median(seconds)


def meta_step(model, params, names, config, batch):
    loss, _ = meta_loss(model, params, batch.support_x, batch.support_y, batch.query_x,
                        batch.query_y, steps=config.inner.steps, lr=config.inner.lr,
                        adapt_names=names)
    return loss


def check_cuda_matches_cpu(config, source) -> dict:
    batch = source.batch(0, config.meta_batch)
    grads = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(config.seed)
        model = build_model(config).to(device)
        params = dict(model.named_parameters())
        names = freeze_spec(model, algorithm=config.algorithm)
        meta_step(model, params, names, config, batch.to(device)).backward()
        grads[device] = torch.cat([p.grad.flatten().cpu() for p in model.parameters()])
    rel = float((grads["cuda"] - grads["cpu"]).norm() / grads["cpu"].norm())
    return {"meta_gradient_rel_diff": rel, "ok": rel < 1e-4}


def time_train(config, data, seconds) -> dict:
    stamps: list[float] = []

    def on_step(step: int) -> None:
        torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    big = 10**9
    run = replace(config, steps=big, val_every=big, checkpoint_every=big)
    with tempfile.TemporaryDirectory() as tmp:
        train(run, out_dir=tmp, data_dir=data, device="cuda", progress=False,
              max_seconds=seconds, on_step=on_step)
    gaps = [b - a for a, b in itertools.pairwise(stamps[1:-1])]
    return {"iterations": len(stamps), "per_minute": per_minute(gaps)}


def time_step_loop(config, source, seconds) -> dict:
    torch.manual_seed(config.seed)
    model = build_model(config).cuda()
    params = dict(model.named_parameters())
    names = freeze_spec(model, algorithm=config.algorithm)
    opt = torch.optim.Adam(model.parameters(), lr=config.meta_lr)
    step, start = 0, time.perf_counter()
    torch.cuda.synchronize()
    while time.perf_counter() - start < seconds:
        batch = source.batch(step * config.meta_batch, config.meta_batch).to("cuda")
        opt.zero_grad(set_to_none=True)
        meta_step(model, params, names, config, batch).backward()
        opt.step()
        step += 1
    torch.cuda.synchronize()
    return {"iterations": step, "per_minute": 60.0 * step / (time.perf_counter() - start)}


def time_cuda_graph(config, source, seconds) -> dict:
    torch.manual_seed(config.seed)
    model = build_model(config).cuda()
    params = dict(model.named_parameters())
    names = freeze_spec(model, algorithm=config.algorithm)
    opt = torch.optim.Adam(model.parameters(), lr=config.meta_lr, capturable=True)
    static = source.batch(0, config.meta_batch).to("cuda")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream, as the CUDA graph docs require
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            meta_step(model, params, names, config, static).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        meta_step(model, params, names, config, static).backward()
        opt.step()
    step, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch = source.batch(step * config.meta_batch, config.meta_batch)
        for name in ("support_x", "support_y", "query_x", "query_y"):
            getattr(static, name).copy_(getattr(batch, name), non_blocking=True)
        graph.replay()
        step += 1
    torch.cuda.synchronize()
    return {"iterations": step, "per_minute": 60.0 * step / (time.perf_counter() - start)}


def time_compile(config, source, seconds) -> dict:
    torch.manual_seed(config.seed)
    model = build_model(config).cuda()
    params = dict(model.named_parameters())
    names = freeze_spec(model, algorithm=config.algorithm)
    step_fn = torch.compile(lambda b: meta_step(model, params, names, config, b))
    batch = source.batch(0, config.meta_batch).to("cuda")
    step_fn(batch).backward()  # raises if double backward is unsupported
    step, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step_fn(source.batch(step * config.meta_batch, config.meta_batch).to("cuda")).backward()
        step += 1
    torch.cuda.synchronize()
    return {"iterations": step, "per_minute": 60.0 * step / (time.perf_counter() - start)}


def time_learn2learn(config, source, seconds) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_meta import L2LLoop

    peer = L2LLoop(config, torch.device("cuda"))
    step, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        peer.iteration(source.batch(step * config.meta_batch, config.meta_batch).to("cuda"))
        step += 1
    torch.cuda.synchronize()
    return {"iterations": step, "per_minute": 60.0 * step / (time.perf_counter() - start)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/gpu-out")))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--data", default=os.environ.get("REPSIM_TEST_DATA", "/work/shared/data"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: torch sees no CUDA device")
    torch.backends.cudnn.benchmark = True
    config = PRESETS["omniglot-20w1s"]
    source = task_source(config, split="train", seed=config.seed, data_dir=args.data)
    if hasattr(source, "pool"):  # sample on the GPU: the pool lives in device memory
        source = type(source)(source.pool.to("cuda"), ways=config.ways, shots=config.shots,
                              query=config.query, seed=config.seed)
    result: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
                    "preset": "omniglot-20w1s", "meta_batch": config.meta_batch,
                    "inner_steps": config.inner.steps, "goal_per_minute": 4000}
    checks = {"cuda_matches_cpu": lambda: check_cuda_matches_cpu(config, source),
              "train": lambda: time_train(config, args.data, args.seconds),
              "step_loop": lambda: time_step_loop(config, source, args.seconds),
              "cuda_graph": lambda: time_cuda_graph(config, source, args.seconds),
              "compile": lambda: time_compile(config, source, args.seconds),
              "learn2learn": lambda: time_learn2learn(config, source, args.seconds)}
    for name, fn in checks.items():
        try:
            result[name] = fn()
        except Exception as exc:  # record and go on: one failing path must not hide the rest
            result[name] = {"error": f"{type(exc).__name__}: {exc}",
                            "trace": traceback.format_exc(limit=3)}
        print(name, json.dumps(result[name])[:300], flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
