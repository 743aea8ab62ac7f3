"""Seconds per training step of every learner and body-training regime (issue 9 run plan).

    python benchmarks/bench_regimes.py [--repeats 3] [--threads 1] [--out docs/benchmarks]

One training step = the regime's loss on one batch (``repsim.meta.regimes.training_loss``),
backward, and an Adam step, on random inputs of the right shape (the cost of these networks does
not depend on pixel values; the Omniglot multiclass head has 4400 outputs, as in training).
Median of ``--repeats`` runs after one warm-up, one process, ``--threads`` intra-op threads. The
results give the CPU cost of each planned run in ``docs/study_plan.md``; they are not a
comparison against a peer library, so no ratio is claimed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
from pathlib import Path

import torch

from repsim.data.classes import LabelledBatch
from repsim.meta import PRESETS, InnerLoop
from repsim.meta.checkpoint import build_model
from repsim.meta.config import TrainConfig
from repsim.meta.inner import freeze_spec, parameters_of
from repsim.meta.regimes import training_loss
from repsim.meta.timing import RandomEpisodes, time_call

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
    for shots, query in ((5, 5), (10, 10), (15, 5)):
        cfg = dataclasses.replace(base, shots=shots, query=query)
        for algorithm in ("maml", "anil"):
            out[f"5w{shots}s q{query} {algorithm}"] = dataclasses.replace(cfg, algorithm=algorithm)
    for name in ("omniglot-20w1s", "omniglot-20w5s"):
        for algorithm in ("maml", "anil", "nil"):
            out[f"{name[9:]} {algorithm}"] = dataclasses.replace(PRESETS[name],
                                                                  algorithm=algorithm)
    return out


def time_step(config: TrainConfig, *, repeats: int) -> float:
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

    return time_call(step, device=torch.device("cpu"), repeats=repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default=None, help="substring of the case labels to run")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for label, cfg in cases().items():
        if args.only and args.only not in label:
            continue
        seconds = time_step(cfg, repeats=args.repeats)
        images = cfg.meta_batch * cfg.ways * (cfg.shots + cfg.query)
        rows.append({"case": label, "algorithm": cfg.algorithm, "ways": cfg.ways,
                     "shots": cfg.shots, "query": cfg.query, "meta_batch": cfg.meta_batch,
                     "inner_steps": cfg.inner.steps, "adapt_layers": cfg.adapt_layers,
                     "head_input": cfg.head_input, "images_per_step": images,
                     "seconds_per_step": seconds})
        print(f"{label:32s} {seconds:8.3f} s/step  ({images} images/step)", flush=True)
    meta = {"threads": args.threads, "repeats": args.repeats, "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "note": "median of repeats after one warm-up; random inputs; forward+backward+Adam"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "regimes_cpu.json").write_text(json.dumps({"meta": meta, "rows": rows},
                                                          indent=1))
    lines = ["| case | images/step | s/step |", "|---|---:|---:|"]
    lines += [f"| {r['case']} | {r['images_per_step']} | {r['seconds_per_step']:.3f} |"
              for r in rows]
    (args.out / "regimes_cpu.md").write_text(
        f"# Seconds per training step (CPU, {args.threads} thread, median of {args.repeats})\n\n"
        + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
