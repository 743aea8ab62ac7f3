"""``repsim train`` and ``repsim eval``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from repsim.cli._common import console, friendly_errors, option, split_names

__all__ = ["register"]

DataDir = option(
    Path | None,
    "Dataset root holding omniglot/ (default: $REPSIM_DATA or the user cache dir).",
    "--data-dir",
)
OptInt = int | None


@friendly_errors
def train_command(
    algo: option(str, "maml | fomaml | anil", "--algo") = "maml",
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
    horizon: option(OptInt, "RL: episode length (default: the preset's; nav2d 100).") = None,
    scale: option(str | None, "RL: preset scale, paper | cpu (default paper).") = None,
) -> None:
    """Meta-train MAML / first-order MAML / ANIL; defaults are the paper's for the dataset."""
    from repsim.cli.rl import RL_DATASETS, refuse_options, train_rl_command

    if dataset in RL_DATASETS:  # meta-RL: MAML-TRPO / ANIL-TRPO (repsim.rl)
        refuse_options(dict(ways=ways, shots=shots, query=query, inner_steps=inner_steps,
                            test_inner_steps=test_inner_steps, inner_lr=inner_lr,
                            meta_lr=meta_lr, val_every=val_every, loop=loop,
                            data_dir=data_dir, download=download), f"--dataset {dataset}")
        return train_rl_command(algo=algo, dataset=dataset, horizon=horizon,
                                meta_batch=meta_batch, steps=steps, seed=seed, scale=scale,
                                out=out, resume=resume, max_minutes=max_minutes)
    refuse_options(dict(horizon=horizon, scale=scale), f"--dataset {dataset} (RL options)")
    from repsim.meta import InnerLoop, default_config, train

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
    console.print(f"trained to step {result.step}; last checkpoint: {result.last_checkpoint}")
    console.print(f"metrics: {out / 'metrics.csv'}")


@friendly_errors
def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="A repsim checkpoint (.pt).")],
    head: option(str, "adapted | nil") = "adapted",
    tasks: option(OptInt, "Number of fixed test tasks (default 600; RL: 40).") = None,
    inner_steps: option(OptInt, "Inner steps (default: config's test steps).") = None,
    freeze: option(str | None, "Layers frozen in the inner loop, e.g. conv1,conv2.") = None,
    query: option(OptInt, "Query examples per class (default: training's).") = None,
    seed: option(int, "Seed of the test tasks.") = 0,
    split: option(str, "test | val | train") = "test",
    device: option(str, "cpu | cuda") = "cpu",
    data_dir: DataDir = None,
    json_path: option(Path | None, "Write the result as JSON.", "--json") = None,
) -> None:
    """Meta-test accuracy with 95% CI, and accuracy after each inner step (RL: return)."""
    from repsim.cli.rl import eval_rl, is_rl_source, refuse_options

    if is_rl_source(checkpoint):  # a policy: return before / after adaptation
        refuse_options(dict(head=head != "adapted", inner_steps=inner_steps, query=query,
                            split=split != "test", data_dir=data_dir), "an RL checkpoint")
        eval_rl(checkpoint, tasks=tasks, freeze=split_names(freeze), seed=seed,
                json_path=json_path)
        return
    tasks = 600 if tasks is None else tasks
    from repsim._io import atomic_write_json, run_manifest
    from repsim.meta import evaluate_checkpoint

    result = evaluate_checkpoint(
        checkpoint,
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
    if json_path is not None:
        atomic_write_json(json_path, {"manifest": run_manifest(seed=seed), **record})
        console.print(f"wrote {json_path}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("eval")(eval_command)
