"""``repsim train`` and ``repsim eval``."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from repsim.cli._common import (
    Threads,
    check_device,
    console,
    friendly_errors,
    option,
    set_threads,
    split_names,
)
from repsim.cli._sources import Download, Preset, load_sources

__all__ = ["register"]

DataDir = option(
    Path | None,
    "Dataset root holding omniglot/ (default: $REPSIM_DATA or the user cache dir).",
    "--data-dir",
)
OptInt = int | None


@friendly_errors
def train_command(
    algo: option(
        str, "maml | fomaml | anil | boil | multiclass | multitask | nil | random "
        "(RL: maml | anil)", "--algo"
    ) = "maml",
    dataset: option(
        str, "omniglot | miniimagenet | sinusoid | nav2d | cheetah-vel | cheetah-dir (RL)"
    ) = "omniglot",
    ways: option(OptInt, "N-way (default: 5; 1 for sinusoid).") = None,
    shots: option(OptInt, "K-shot (default: the preset's).") = None,
    query: option(OptInt, "Query examples per class.") = None,
    inner_steps: option(OptInt, "Inner steps in training.") = None,
    test_inner_steps: option(OptInt, "Inner steps at test.") = None,
    inner_lr: option(float | None, "Inner-loop learning rate.") = None,
    meta_batch: option(OptInt, "Tasks per meta-iteration.") = None,
    meta_lr: option(float | None, "Adam learning rate.") = None,
    steps: option(OptInt, "Meta-iterations.") = None,
    seed: option(int, "Seed of init and task stream.") = 0,
    val_every: option(OptInt, "Validate every N steps.") = None,
    checkpoint_every: option(OptInt, "Checkpoint every N steps.") = None,
    loop: option(bool, "Per-task Python loop instead of vmap.", "--loop") = False,
    device: option(str, "cpu | cuda | cuda:N") = "cpu",
    out: option(Path, "Run directory.", "--out") = Path("runs/run"),
    resume: option(bool, "Continue the run in --out.", "--resume") = False,
    max_minutes: option(float | None, "Stop (with a checkpoint) after this long.") = None,
    data_dir: DataDir = None,
    download: option(bool, "Fetch Omniglot if missing.", "--download") = False,
    threads: Threads = 1,
    adapt_layers: option(OptInt, "maml: inner loop adapts the top-k layers only.") = None,
    head_input: option(str | None, "mean | flatten: conv4 maps before the head.") = None,
    head_init: option(str | None, "xavier | zeros: the head's initialisation.") = None,
    horizon: option(OptInt, "RL: episode length (default: the preset's; nav2d 100).") = None,
    scale: option(str | None, "RL: preset scale, paper | cpu (default paper).") = None,
) -> None:
    """Train MAML / FOMAML / ANIL / BOIL or a body-training regime (multiclass, multitask, NIL
    training, random), or meta-RL (MAML-TRPO / ANIL-TRPO); defaults are the paper's."""
    from repsim.cli.rl import RL_DATASETS, refuse_options, train_rl_command
    from repsim.meta import DATASETS, InnerLoop, checkpoint_paths, default_config, train

    check_device(device)
    set_threads(threads)
    if resume and not checkpoint_paths(out):
        raise FileNotFoundError(
            f"--resume: {out} holds no run to continue (no {out / 'checkpoints'}/step_*.pt); "
            "check --out, or drop --resume to start a new run"
        )
    if dataset in RL_DATASETS:  # meta-RL: MAML-TRPO / ANIL-TRPO (repsim.rl)
        refuse_options(dict(ways=ways, shots=shots, query=query, inner_steps=inner_steps,
                            test_inner_steps=test_inner_steps, inner_lr=inner_lr,
                            meta_lr=meta_lr, val_every=val_every, loop=loop,
                            data_dir=data_dir, download=download, adapt_layers=adapt_layers,
                            head_input=head_input, head_init=head_init,
                            device=device != "cpu"),  # rollouts and TRPO run on the CPU
                       f"--dataset {dataset}")
        return train_rl_command(algo=algo, dataset=dataset, horizon=horizon,
                                meta_batch=meta_batch, steps=steps, seed=seed, scale=scale,
                                out=out, resume=resume, max_minutes=max_minutes,
                                checkpoint_every=checkpoint_every)
    if dataset not in DATASETS:  # one list of every dataset `repsim train` takes
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}, and for "
                         f"meta-RL {', '.join(RL_DATASETS)}")
    refuse_options(dict(horizon=horizon, scale=scale), f"--dataset {dataset} (RL options)")

    cfg = default_config(dataset, ways=ways, shots=shots)
    if dataset == "sinusoid" and ways is None:
        ways = 1
    changes = {
        k: v
        for k, v in {
            "algorithm": algo,
            "ways": ways,
            "query": query,
            "test_inner_steps": test_inner_steps,
            "meta_batch": meta_batch,
            "meta_lr": meta_lr,
            "steps": steps,
            "seed": seed,
            "val_every": val_every,
            "checkpoint_every": checkpoint_every,
            "adapt_layers": adapt_layers,
            "head_input": head_input,
            "head_init": head_init,
        }.items()
        if v is not None
    }
    inner = InnerLoop(
        steps=cfg.inner.steps if inner_steps is None else inner_steps,
        lr=cfg.inner.lr if inner_lr is None else inner_lr,
    )
    cfg = dataclasses.replace(cfg, **changes, inner=inner, vectorize=not loop)
    result = train(
        cfg,
        out_dir=out,
        resume=resume,
        data_dir=data_dir,
        download=download,
        device=device,
        max_seconds=None if max_minutes is None else 60 * max_minutes,
    )
    if os.environ.get("RANK", "0") == "0":  # under torchrun: rank 0 speaks for all
        console.print(f"trained to step {result.step}; last checkpoint: {result.last_checkpoint}")
        console.print(f"metrics: {out / 'metrics.csv'}")


@friendly_errors
def eval_command(
    checkpoint: Annotated[
        Path,
        typer.Argument(
            help="A repsim checkpoint (.pt), or a learn2learn state_dict with --preset.",
            metavar="CHECKPOINT",
        ),
    ],
    head: option(str, "adapted | own (the model's head, same) | nil") = "adapted",
    tasks: option(OptInt, "Number of fixed test tasks (default 600; RL: 40).") = None,
    inner_steps: option(OptInt, "Inner steps (default: config's test steps).") = None,
    freeze: option(str | None, "Layers frozen in the inner loop, e.g. conv1,conv2.") = None,
    query: option(OptInt, "Query examples per class (default: training's).") = None,
    seed: option(int, "Seed of the test tasks.") = 0,
    split: option(str, "test | val | train") = "test",
    device: option(str, "cpu | cuda") = "cpu",
    data_dir: DataDir = None,
    json_path: option(Path | None, "Write the result as JSON.", "--json") = None,
    preset: Preset = None,
    download: Download = False,
    threads: Threads = 1,
) -> None:
    """Meta-test accuracy with 95% CI, and accuracy after each inner step (RL: return)."""
    from repsim._io import atomic_write_json, run_manifest
    from repsim.cli.rl import eval_rl, is_rl_source, refuse_options
    from repsim.meta import evaluate_checkpoint

    check_device(device)
    set_threads(threads)
    if is_rl_source(checkpoint):  # a policy: return before / after adaptation
        refuse_options(dict(head=head != "adapted", inner_steps=inner_steps, query=query,
                            split=split != "test", data_dir=data_dir, preset=preset,
                            download=download, device=device != "cpu"), "an RL checkpoint")
        eval_rl(checkpoint, tasks=tasks, freeze=split_names(freeze), seed=seed,
                json_path=json_path)
        return
    tasks = 600 if tasks is None else tasks
    if checkpoint.is_dir():
        raise ValueError(f"{checkpoint} is a directory; eval takes one checkpoint file (.pt)")
    (trained,) = load_sources(
        [checkpoint], preset=preset, device=device, download=download, data_dir=data_dir
    )
    result = evaluate_checkpoint(
        trained,
        head=head,
        tasks=tasks,
        inner_steps=inner_steps,
        frozen=split_names(freeze),
        query=query,
        seed=seed,
        split=split,
        data_dir=data_dir,
        device=device,
    )
    record = result.to_dict()
    table = Table(
        title=f"{checkpoint.name}: {record['algorithm']} {record['dataset']} "
        f"{record['ways']}w{record['shots']}s, head={head}"
    )
    table.add_column("inner step", justify="right")
    table.add_column(result.metric, justify="right")
    scale = 100.0 if result.metric == "accuracy" else 1.0
    # The NIL head has no inner loop: one row, not a constant per-step column.
    steps = [(0, result.per_step[-1])] if head == "nil" else enumerate(result.per_step)
    for i, value in steps:
        table.add_row("-" if head == "nil" else str(i), f"{scale * value:.2f}")
    console.print(table)
    unit = "%" if result.metric == "accuracy" else ""
    console.print(
        f"{result.metric}: {scale * result.value:.2f}{unit} ± "
        f"{scale * result.ci95:.2f}{unit} (95% CI, {result.tasks} tasks)"
    )
    if record["diverged"]:
        console.print(f"[yellow]warning:[/] {record['divergence']}", highlight=False)
    if json_path is not None:
        atomic_write_json(json_path, {"manifest": run_manifest(seed=seed), **record})
        console.print(f"wrote {json_path}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("eval")(eval_command)
