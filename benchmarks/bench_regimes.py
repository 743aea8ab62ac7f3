"""Seconds per training step of every learner and body-training regime (issue 9 run plan).

    python benchmarks/bench_regimes.py [--repeats 3] [--threads 1] [--out docs/benchmarks]

One training step = the regime's loss on one batch (``repsim.meta.regimes.training_loss``),
backward, and an Adam step, on random inputs of the right shape (the cost of these networks does
not depend on pixel values; the Omniglot multiclass head has 4400 outputs, as in training).
Median of ``--repeats`` runs after one warm-up, one process, ``--threads`` intra-op threads.
Both wall-clock and process CPU seconds are recorded: on a shared machine (other processes on
the cores) wall time inflates with the load while CPU time of a one-thread process stays close
to what the step costs on an idle core, so the run plan uses CPU seconds. The results give the
cost of each planned run in ``docs/study_plan.md``; they are not a comparison against a peer
library, so no ratio is claimed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from repsim.data.classes import LabelledBatch
from repsim.meta import PRESETS, InnerLoop
from repsim.meta.checkpoint import build_model
from repsim.meta.config import TrainConfig
from repsim.meta.inner import freeze_spec, parameters_of
from repsim.meta.regimes import training_loss
from repsim.meta.timing import RandomEpisodes

OMNIGLOT_TRAIN_CLASSES = 4400  # 1100 characters x 4 rotations


def cases() -> dict[str, TrainConfig]:
    """Label -> config of every run the study plans (Omniglot)."""
    base = PRESETS["omniglot-5w1s"]
    out: dict[str, TrainConfig] = {}
    for algorithm in ("maml", "fomaml", "anil", "boil", "multitask", "nil"):
        out[f"5w1s {algorithm}"] = dataclasses.replace(base, algorithm=algorithm)
    out["5w1s multiclass"] = dataclasses.replace(base, algorithm="multiclass",
                                                 classes=OMNIGLOT_TRAIN_CLASSES)
    for k in (2, 3, 4):
        out[f"5w1s maml top-{k}"] = dataclasses.replace(base, adapt_layers=k)
    out["5w1s maml flatten"] = dataclasses.replace(base, head_input="flatten")
    out["5w1s maml 5 steps lr 0.1"] = dataclasses.replace(base, inner=InnerLoop(5, 0.1))
    out["5w1s anil 5 steps lr 0.1"] = dataclasses.replace(base, algorithm="anil",
                                                          inner=InnerLoop(5, 0.1))
    # the medium-shot grid of analysis/omniglot_study.py (smaller meta-batches, see the plan)
    for shots, query, meta_batch in ((5, 5, 16), (10, 10, 8), (15, 5, 8)):
        cfg = dataclasses.replace(base, shots=shots, query=query, meta_batch=meta_batch)
        for algorithm in ("maml", "anil"):
            out[f"5w{shots}s q{query} mb{meta_batch} {algorithm}"] = dataclasses.replace(
                cfg, algorithm=algorithm)
    for name in ("omniglot-20w1s", "omniglot-20w5s"):
        for algorithm in ("maml", "anil", "nil"):
            out[f"{name[9:]} {algorithm}"] = dataclasses.replace(PRESETS[name],
                                                                  algorithm=algorithm)
    return out


def time_step(config: TrainConfig, *, repeats: int) -> tuple[float, float]:
    """Median (wall seconds, CPU seconds) of one training step, after one warm-up."""
    torch.manual_seed(0)
    model = build_model(config)
    params = parameters_of(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.meta_lr)
    names = freeze_spec(model, algorithm=config.algorithm, adapt_layers=config.adapt_layers)
    episodes = RandomEpisodes.like(config, config.meta_batch)
    if config.algorithm == "multiclass":
        per_slot = config.ways * (config.shots + config.query)
        g = torch.Generator().manual_seed(0)
        batch = LabelledBatch(
            torch.rand(config.meta_batch, per_slot, 1, 28, 28, generator=g),
            torch.randint(0, OMNIGLOT_TRAIN_CLASSES, (config.meta_batch, per_slot), generator=g))
    else:
        batch = episodes

    def step() -> None:
        loss, _ = training_loss(config, model, params, batch, adapt_names=names)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default=None,
                        help="comma-separated substrings of the case labels to run")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--name", default="regimes_cpu", help="output file stem")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for label, cfg in cases().items():
        if args.only and not any(part in label for part in args.only.split(",")):
            continue
        load = os.getloadavg()[0]
        seconds, cpu = time_step(cfg, repeats=args.repeats)
        images = cfg.meta_batch * cfg.ways * (cfg.shots + cfg.query)
        rows.append({"case": label, "algorithm": cfg.algorithm, "ways": cfg.ways,
                     "shots": cfg.shots, "query": cfg.query, "meta_batch": cfg.meta_batch,
                     "inner_steps": cfg.inner.steps, "adapt_layers": cfg.adapt_layers,
                     "head_input": cfg.head_input, "images_per_step": images,
                     "seconds_per_step": seconds, "cpu_seconds_per_step": cpu,
                     "load_avg_1min": load})
        print(f"{label:32s} wall {seconds:8.3f} s  cpu {cpu:8.3f} s  ({images} images, "
              f"load {load:.1f})", flush=True)
    meta = {"threads": args.threads, "repeats": args.repeats, "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "note": "median of repeats after one warm-up; random inputs; forward+backward+Adam"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"meta": meta, "rows": rows},
                                                           indent=1))
    lines = ["| case | images/step | CPU s/step | wall s/step | load avg |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['case']} | {r['images_per_step']} | {r['cpu_seconds_per_step']:.3f} | "
              f"{r['seconds_per_step']:.3f} | {r['load_avg_1min']:.1f} |" for r in rows]
    (args.out / f"{args.name}.md").write_text(
        f"# Seconds per training step (CPU, {args.threads} thread, median of {args.repeats})\n\n"
        + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
