"""repsim's meta-iteration, as `repsim train` runs it, side by side with real learn2learn 0.2.0.

    python benchmarks/bench_meta.py [--threads 1] [--algorithms maml,anil] [--reps 15]
                                    [--ways 5] [--meta-batch 32] [--device cpu] [--out DIR]

repsim side: :func:`repsim.meta.train.train` itself (the function behind ``repsim train``) on
real Omniglot (``--data``, default /work/shared/data), data pipeline included: each measured
interval runs from the end of one ``on_step`` callback to the next, i.e. episode sampling,
the vmapped meta-loss, ``loss.item()``, backward, Adam and logging. Validation and checkpoints
are pushed past the end of the run (``val_every``/``checkpoint_every`` large), the first
(warm-up) interval is dropped.

learn2learn side: the loop of learn2learn's own examples (``examples/vision/maml_omniglot.py``
for MAML, ``anil_fc100.py``'s recipe for ANIL): per task ``maml.clone()``, ``adapt`` on the
support set, query loss, ``backward``; grads scaled by 1/meta_batch; Adam. Its network is
``OmniglotCNN`` loaded with repsim's initial weights; its tasks are the very episodes repsim
draws for that step, sampled OUTSIDE the timed region (so the peer's data pipeline costs it
nothing: a conservative comparison). Its per-iteration validation is left out, like repsim's.

Alternation: one learn2learn iteration runs inside every repsim ``on_step`` callback, so the
two alternate step by step on the same machine under the same load; medians are reported.
Before timing, the first iteration's meta-loss of both is checked to agree (same weights, same
data, same math).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import learn2learn_modules, repsim_to_l2l_state

from repsim.meta.algorithms import meta_loss
from repsim.meta.checkpoint import build_model
from repsim.meta.config import InnerLoop, TrainConfig
from repsim.meta.inner import freeze_spec
from repsim.meta.tasks import task_source
from repsim.meta.train import train


class L2LLoop:
    """learn2learn 0.2.0's MAML / ANIL meta-iteration, as in its examples."""

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        maml_mod, cnn4 = learn2learn_modules()
        torch.manual_seed(config.seed)  # repsim's initial weights, copied over
        init = build_model(config).state_dict()
        net = cnn4.OmniglotCNN(config.ways)
        with torch.no_grad():  # base.* and features.1.* are the same modules: copy once
            for key, value in repsim_to_l2l_state(init).items():
                net.get_parameter(key).copy_(value)
        self.net = net.to(device)
        self.config = config
        lr = config.inner.lr
        if config.algorithm == "anil":
            self.features = self.net.features
            self.head = maml_mod.MAML(self.net.classifier, lr=lr)
            params = list(self.features.parameters()) + list(self.head.parameters())
        else:
            self.maml = maml_mod.MAML(self.net, lr=lr, first_order=config.first_order)
            params = list(self.maml.parameters())
        self.params = params
        self.opt = torch.optim.Adam(params, lr=config.meta_lr)

    def task_loss(self, sx, sy, qx, qy) -> torch.Tensor:
        steps = self.config.inner.steps
        if self.config.algorithm == "anil":  # anil_fc100.py: features once, adapt the head
            learner = self.head.clone()
            fs, fq = self.features(sx), self.features(qx)
            for _ in range(steps):
                learner.adapt(F.cross_entropy(learner(fs), sy))
            return F.cross_entropy(learner(fq), qy)
        learner = self.maml.clone()  # maml_omniglot.py's fast_adapt
        for _ in range(steps):
            learner.adapt(F.cross_entropy(learner(sx), sy))
        return F.cross_entropy(learner(qx), qy)

    def iteration(self, batch) -> float:
        self.opt.zero_grad()
        total = 0.0
        tasks = batch.support_x.shape[0]
        for t in range(tasks):
            loss = self.task_loss(batch.support_x[t], batch.support_y[t],
                                  batch.query_x[t], batch.query_y[t])
            loss.backward()
            total += loss.item()
        for p in self.params:
            p.grad.data.mul_(1.0 / tasks)
        self.opt.step()
        return total / tasks


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check_same_loss(config: TrainConfig, peer: L2LLoop, source, device) -> float:
    """Both sides' first meta-loss on the same batch and weights: they must agree."""
    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    batch = source.batch(0, config.meta_batch).to(device)
    ours, _ = meta_loss(model, dict(model.named_parameters()), batch.support_x,
                        batch.support_y, batch.query_x, batch.query_y,
                        steps=config.inner.steps, lr=config.inner.lr,
                        adapt_names=freeze_spec(model, algorithm=config.algorithm))
    theirs = torch.stack([peer.task_loss(batch.support_x[t], batch.support_y[t],
                                         batch.query_x[t], batch.query_y[t])
                          for t in range(config.meta_batch)]).mean()
    diff = abs(ours.item() - theirs.item())
    if diff > 1e-4 * max(1.0, abs(float(ours))):
        raise SystemExit(f"{config.algorithm}: repsim loss {float(ours)} vs learn2learn "
                         f"{float(theirs)}: not the same workload")
    return diff


def bench(config: TrainConfig, *, reps: int, data: str, device: torch.device) -> dict:
    source = task_source(config, split="train", seed=config.seed, data_dir=data)
    peer = L2LLoop(config, device)
    loss_diff = check_same_loss(config, peer, source, device)
    ours: list[float] = []
    theirs: list[float] = []
    mark = {"t": None}

    def on_step(step: int) -> None:
        _sync(device)
        now = time.perf_counter()
        # drop the warm-up interval and the last (it holds the final validation + checkpoint)
        if mark["t"] is not None and 2 < step < reps + 2:
            ours.append(now - mark["t"])
        batch = source.batch(step * config.meta_batch, config.meta_batch).to(device)
        _sync(device)
        start = time.perf_counter()
        peer.iteration(batch)
        _sync(device)
        if 2 < step < reps + 2:  # the same steps as repsim's intervals: pairs line up
            theirs.append(time.perf_counter() - start)
        mark["t"] = time.perf_counter()

    big = 10**9
    run_config = replace(config, steps=reps + 2, val_every=big, checkpoint_every=big)
    with tempfile.TemporaryDirectory() as tmp:
        train(run_config, out_dir=tmp, data_dir=data, device=device, progress=False,
              on_step=on_step)
    r, p = statistics.median(ours), statistics.median(theirs)
    # Each repsim step and the learn2learn iteration right after it ran under the same load:
    # the median of these paired ratios is the figure least moved by load drifting in a run.
    paired = statistics.median(t / o for o, t in zip(ours, theirs, strict=True))
    return {
        "paired_speedup": paired,
        "algorithm": config.algorithm, "ways": config.ways, "shots": config.shots,
        "meta_batch": config.meta_batch, "inner_steps": config.inner.steps,
        "repsim_s": r, "learn2learn_s": p, "speedup": p / r, "reps": len(ours),
        "repsim_all_s": ours, "learn2learn_all_s": theirs, "first_loss_abs_diff": loss_diff,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--algorithms", default="maml,anil")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--meta-batch", type=int, default=32)
    parser.add_argument("--inner-steps", type=int, default=1)
    parser.add_argument("--inner-lr", type=float, default=0.4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", default=os.environ.get("REPSIM_TEST_DATA", "/work/shared/data"))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    for algorithm in args.algorithms.split(","):
        config = TrainConfig(algorithm=algorithm, ways=args.ways, meta_batch=args.meta_batch,
                             inner=InnerLoop(steps=args.inner_steps, lr=args.inner_lr))
        row = bench(config, reps=args.reps, data=args.data, device=device)
        row["threads"] = args.threads
        rows.append(row)
        print(f"{algorithm} {args.ways}w1s threads={args.threads}: repsim "
              f"{1e3 * row['repsim_s']:.0f} ms, learn2learn {1e3 * row['learn2learn_s']:.0f} ms,"
              f" speed-up {row['speedup']:.2f}x (paired {row['paired_speedup']:.2f}x)", flush=True)
    env = {
        "torch": torch.__version__, "threads": args.threads, "device": str(device),
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "load_avg_end": os.getloadavg(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    tag = f"meta_vs_learn2learn_{device.type}_{args.ways}w_{args.threads}t"
    (args.out / f"{tag}.json").write_text(json.dumps({"env": env, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
