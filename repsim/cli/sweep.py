"""``repsim sweep``: presets × algorithms × seeds, each trained and evaluated, one report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from repsim.cli._common import console, friendly_errors, option, split_names

__all__ = ["parse_overrides", "parse_seeds", "register"]


def parse_seeds(text: str) -> list[int]:
    """``"3"`` → seeds 0, 1, 2; ``"0,4,7"`` → those seeds; ``"5,"`` → seed 5 alone."""
    parts = split_names(text)
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"--seeds takes a count (3) or a comma list (0,4,7); got {text!r}"
        ) from None
    if not values:
        raise ValueError("--seeds is empty; give a count (3) or a comma list (0,4,7)")
    if len(values) == 1 and "," not in text:
        if values[0] < 1:
            raise ValueError(f"--seeds count must be >= 1; got {values[0]}")
        return list(range(values[0]))
    return values


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["val_tasks=5", "meta_lr=3e-4"]`` → ``{"val_tasks": 5, "meta_lr": 0.0003}`` (JSON values;
    anything else is kept as a string)."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes KEY=VALUE, e.g. --set val_tasks=20; got {item!r}")
        try:
            out[key.strip()] = json.loads(text)
        except ValueError:
            out[key.strip()] = text
    return out


@friendly_errors
def sweep_command(
    presets: option(str, "Comma list of presets, e.g. sinusoid,omniglot-5w1s.") = "sinusoid",
    algos: option(str, "Comma list of algorithms: maml, fomaml, anil.", "--algos") = "maml,anil",
    seeds: option(str, "Seed count (3 → 0,1,2) or comma list (0,4,7).") = "3",
    steps: option(int | None, "Training steps of every job (default: the preset's).") = None,
    eval_tasks: option(int | None, "Meta-test tasks per job (default: the preset's).") = None,
    overrides: option(
        list[str] | None, "KEY=VALUE: another training setting of every job, e.g. val_tasks=20 "
        "(repeatable).", "--set"
    ) = None,
    out: option(Path, "Results folder (rerun the same command to resume).", "--out") = Path(
        "sweep-out"
    ),
    executor: option(str, "local (process pool) | ray.") = "local",
    address: option(str | None, "Ray cluster address (default: start a local Ray).") = None,
    workers: option(int | None, "Jobs at a time (default: one per CPU core).") = None,
    cpus_per_job: option(float, "Ray: CPUs reserved per job.") = 1.0,
    gpus_per_job: option(float, "Ray: GPUs reserved per job (use with --device cuda).") = 0.0,
    threads: option(int, "Torch/BLAS threads per job.") = 1,
    device: option(str, "cpu | cuda") = "cpu",
    data_dir: option(Path | None, "Dataset root holding omniglot/.", "--data-dir") = None,
    download: option(bool, "Fetch Omniglot if missing.", "--download") = False,
    figures: option(bool, "Draw figures and the report at the end.") = True,
) -> None:
    """Train and evaluate every (preset, algorithm, seed); skip finished jobs, resume the rest."""
    from repsim.sweep import run_sweep

    summary = run_sweep(
        out,
        presets=split_names(presets),
        algorithms=split_names(algos),
        seeds=parse_seeds(seeds),
        steps=steps,
        eval_tasks=eval_tasks,
        overrides=parse_overrides(overrides),
        executor=executor,
        workers=workers,
        address=address,
        cpus_per_job=cpus_per_job,
        gpus_per_job=gpus_per_job,
        device=device,
        data_dir=data_dir,
        download=download,
        threads=threads,
        figures=figures,
        say=lambda text: console.print(text, highlight=False, soft_wrap=True),
    )
    console.print(f"{len(summary['jobs'])} jobs done; tables: {out / 'eval_seeds.csv'}"
                  + (f"; report: {out / 'report.html'}" if figures else ""))


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_command)
