"""``repsim train`` and ``repsim eval``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from repsim.cli._common import console, friendly_errors, split_names

__all__ = ["register"]

DataDir = Annotated[
    Optional[Path],  # noqa: UP045 (typer needs Optional on 3.10)
    typer.Option("--data-dir", help="Dataset root holding omniglot/ (default: $REPSIM_DATA or "
                 "the user cache dir)."),
]


@friendly_errors
def train_command(
    algo: Annotated[str, typer.Option("--algo", help="maml | fomaml | anil")] = "maml",
    dataset: Annotated[str, typer.Option(help="omniglot | miniimagenet | sinusoid")] = "omniglot",
    ways: Annotated[Optional[int], typer.Option(help="N-way (default: 5; 1 for sinusoid).")] = None,  # noqa: UP045
    shots: Annotated[Optional[int], typer.Option(help="K-shot (default: the preset's).")] = None,  # noqa: UP045
    query: Annotated[Optional[int], typer.Option(help="Query examples per class.")] = None,  # noqa: UP045
    inner_steps: Annotated[Optional[int], typer.Option(help="Inner steps in training.")] = None,  # noqa: UP045
    test_inner_steps: Annotated[Optional[int], typer.Option(help="Inner steps at test.")] = None,  # noqa: UP045
    inner_lr: Annotated[Optional[float], typer.Option(help="Inner-loop learning rate.")] = None,  # noqa: UP045
    meta_batch: Annotated[Optional[int], typer.Option(help="Tasks per meta-iteration.")] = None,  # noqa: UP045
    meta_lr: Annotated[Optional[float], typer.Option(help="Adam learning rate.")] = None,  # noqa: UP045
    steps: Annotated[Optional[int], typer.Option(help="Meta-iterations.")] = None,  # noqa: UP045
    seed: Annotated[int, typer.Option(help="Seed of init and task stream.")] = 0,
    val_every: Annotated[Optional[int], typer.Option(help="Validate every N steps.")] = None,  # noqa: UP045
    checkpoint_every: Annotated[Optional[int], typer.Option(help="Checkpoint every N steps.")] = None,  # noqa: UP045
    loop: Annotated[bool, typer.Option("--loop", help="Per-task Python loop instead of vmap.")] = False,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N")] = "cpu",
    out: Annotated[Path, typer.Option("--out", help="Run directory.")] = Path("runs/run"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    max_minutes: Annotated[Optional[float], typer.Option(help="Stop (with a checkpoint) after this long.")] = None,  # noqa: UP045
    data_dir: DataDir = None,
    download: Annotated[bool, typer.Option("--download", help="Fetch Omniglot if missing.")] = False,
) -> None:
    """Meta-train MAML / first-order MAML / ANIL; defaults are the paper's for the dataset."""
    from repsim.meta import InnerLoop, default_config, train

    cfg = default_config(dataset, ways=ways, shots=shots)
    if dataset == "sinusoid" and ways is None:
        ways = 1
    changes = {k: v for k, v in {
        "algorithm": algo, "ways": ways, "query": query, "test_inner_steps": test_inner_steps,
        "meta_batch": meta_batch, "meta_lr": meta_lr, "steps": steps, "seed": seed,
        "val_every": val_every, "checkpoint_every": checkpoint_every,
    }.items() if v is not None}
    inner = InnerLoop(steps=cfg.inner.steps if inner_steps is None else inner_steps,
                      lr=cfg.inner.lr if inner_lr is None else inner_lr)
    cfg = dataclasses.replace(cfg, **changes, inner=inner, vectorize=not loop)
    result = train(cfg, out_dir=out, resume=resume, data_dir=data_dir, download=download,
                   device=device, max_seconds=None if max_minutes is None else 60 * max_minutes)
    console.print(f"trained to step {result.step}; last checkpoint: {result.last_checkpoint}")
    console.print(f"metrics: {out / 'metrics.csv'}")


@friendly_errors
def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="A repsim checkpoint (.pt).")],
    head: Annotated[str, typer.Option(help="adapted | nil")] = "adapted",
    tasks: Annotated[int, typer.Option(help="Number of fixed test tasks.")] = 600,
    inner_steps: Annotated[Optional[int], typer.Option(help="Inner steps (default: config's test steps).")] = None,  # noqa: UP045
    freeze: Annotated[Optional[str], typer.Option(help="Layers frozen in the inner loop, e.g. conv1,conv2.")] = None,  # noqa: UP045
    query: Annotated[Optional[int], typer.Option(help="Query examples per class (default: training's).")] = None,  # noqa: UP045
    seed: Annotated[int, typer.Option(help="Seed of the test tasks.")] = 0,
    split: Annotated[str, typer.Option(help="test | val | train")] = "test",
    device: Annotated[str, typer.Option(help="cpu | cuda")] = "cpu",
    data_dir: DataDir = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Write the result as JSON.")] = None,  # noqa: UP045
) -> None:
    """Meta-test accuracy with 95% CI, and accuracy after each inner step."""
    from repsim._io import atomic_write_json, run_manifest
    from repsim.meta import evaluate_checkpoint

    result = evaluate_checkpoint(
        checkpoint, head=head, tasks=tasks, inner_steps=inner_steps, frozen=split_names(freeze),
        query=query, seed=seed, split=split, data_dir=data_dir, device=device,
    )
    record = result.to_dict()
    table = Table(title=f"{checkpoint.name}: {record['algorithm']} {record['dataset']} "
                  f"{record['ways']}w{record['shots']}s, head={head}")
    table.add_column("inner step", justify="right")
    table.add_column(result.metric, justify="right")
    scale = 100.0 if result.metric == "accuracy" else 1.0
    # The NIL head has no inner loop: one row, not a constant per-step column.
    steps = [(0, result.per_step[-1])] if head == "nil" else enumerate(result.per_step)
    for i, value in steps:
        table.add_row("-" if head == "nil" else str(i), f"{scale * value:.2f}")
    console.print(table)
    unit = "%" if result.metric == "accuracy" else ""
    console.print(f"{result.metric}: {scale * result.value:.2f}{unit} ± "
                  f"{scale * result.ci95:.2f}{unit} (95% CI, {result.tasks} tasks)")
    if json_path is not None:
        atomic_write_json(json_path, {"manifest": run_manifest(seed=seed), **record})
        console.print(f"wrote {json_path}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("eval")(eval_command)
