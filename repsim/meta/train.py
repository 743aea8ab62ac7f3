"""The meta-training loop: one readable function, resumable, with atomic checkpoints.

Determinism is by construction: the tasks of meta-iteration ``i`` are tasks
``i·B … i·B + B − 1`` of a sampler seeded by ``config.seed`` (each task a pure function of
``(seed, index)``), the network is initialised from ``torch.manual_seed(config.seed)``, and
nothing else is random. So a run killed at any moment and resumed from its last checkpoint
(model, Adam state, step) retraces the uninterrupted run exactly.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from repsim._io import atomic_write_bytes, atomic_write_json, load_checkpoint, run_manifest
from repsim._progress import tqdm
from repsim.meta.checkpoint import (
    FORMAT,
    build_model,
    check_resume_config,
    checkpoint_paths,
    save_checkpoint,
)
from repsim.meta.config import TrainConfig, config_to_dict
from repsim.meta.distributed import from_env
from repsim.meta.evaluate import evaluate_tasks
from repsim.meta.inner import freeze_spec
from repsim.meta.regimes import resolve_config, training_loss, training_source
from repsim.meta.tasks import VAL_SEED_OFFSET, task_source

__all__ = ["TrainResult", "train"]


@dataclass(frozen=True)
class TrainResult:
    """Where a run left its files, and its final numbers."""

    out_dir: Path
    last_checkpoint: Path
    step: int
    metrics: pd.DataFrame


def _split_hash(source: Any) -> str:
    pool = getattr(source, "pool", None)
    return getattr(pool, "split_hash", "sinusoid")


def _write_metrics(out_dir: Path, records: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame.from_records(records)
    atomic_write_bytes(out_dir / "metrics.csv", frame.to_csv(index=False).encode())


def train(
    config: TrainConfig,
    *,
    out_dir: str | Path,
    resume: bool = True,
    data_dir: str | Path | None = None,
    download: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = True,
    max_seconds: float | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train a learner as ``config`` says (MAML / FOMAML / ANIL / BOIL / top-k MAML, or a
    body-training regime of :mod:`repsim.meta.regimes`); return where it saved.

    Writes ``out_dir/checkpoints/step_XXXXXX.pt`` every ``config.checkpoint_every`` steps and at
    the end (atomically), ``metrics.csv`` (train loss/metric every ``log_every`` steps,
    validation every ``val_every``), ``config.json`` and ``manifest.json``. With ``resume=True``
    an existing run in ``out_dir`` continues from its last checkpoint (its config must match).
    ``max_seconds`` stops early (with a checkpoint) after that much wall time; Ctrl-C and SIGTERM
    do the same, so nothing done is lost.

    Under ``torchrun --nproc_per_node=N`` each rank computes its share of every meta-batch and
    the gradients are summed across ranks (:mod:`repsim.meta.distributed`), so the run equals the
    1-process run; rank 0 validates and writes every file, and ``world_size`` is recorded in
    ``manifest.json`` and the checkpoints. A run may resume with a different N.
    """
    out_dir = Path(out_dir)
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was asked for but torch sees no CUDA device; use --device cpu"
        )
    from repsim._threads import ensure_default_threads

    ensure_default_threads()
    world = from_env(device)
    try:
        if world.size > config.meta_batch:  # as train_rl: an idle rank is a launch mistake
            raise ValueError(
                f"{world.size} ranks for a meta-batch of {config.meta_batch} tasks: every rank "
                "needs at least one task; start at most that many processes (--nproc_per_node)"
            )
        return _train(config, world, out_dir=out_dir, resume=resume, data_dir=data_dir,
                      download=download, progress=progress and world.is_main,
                      max_seconds=max_seconds, on_step=on_step)
    finally:
        world.close()


def _train(
    config: TrainConfig,
    world: Any,
    *,
    out_dir: Path,
    resume: bool,
    data_dir: str | Path | None,
    download: bool,
    progress: bool,
    max_seconds: float | None,
    on_step: Callable[[int], None] | None,
) -> TrainResult:
    device = world.device
    train_tasks = training_source(config, seed=config.seed, data_dir=data_dir, download=download)
    config = resolve_config(config, train_tasks)  # multiclass: the head's width
    val_tasks = task_source(
        config, split="val", seed=config.seed + VAL_SEED_OFFSET, data_dir=data_dir
    )
    val_batch = val_tasks.batch(0, config.val_tasks)
    split_hash = {"train": _split_hash(train_tasks), "val": _split_hash(val_tasks)}

    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.meta_lr)
    records: list[dict[str, Any]] = []
    start_step, elapsed = 0, 0.0

    existing = checkpoint_paths(out_dir)
    if existing and resume:
        last = existing[-1][1]
        # One safe read (weights_only, clear errors on corruption); the config check below
        # guarantees the architecture, so the state_dict loads straight into `model`.
        state = load_checkpoint(last, map_location=device)
        _check_resumable(state, config, out_dir)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_step, elapsed = int(state["step"]), float(state.get("elapsed", 0.0))
        records = [r for r in state.get("metrics", []) if r["step"] <= start_step]
    elif existing:
        raise ValueError(
            f"{out_dir} already holds checkpoints; pass resume=True (--resume) "
            "to continue that run, or choose another --out directory"
        )

    world.broadcast_([*model.parameters()])  # a guard: every rank starts from rank 0's θ
    if world.is_main:
        atomic_write_json(out_dir / "config.json", config_to_dict(config))
        atomic_write_json(
            out_dir / "manifest.json",
            run_manifest(
                config=config_to_dict(config),
                seed=config.seed,
                device=str(device),
                split_hash=split_hash,
                resumed_from=start_step or None,
                world_size=world.size,
            ),
        )
    params = dict(model.named_parameters())
    adapt_names = freeze_spec(
        model, algorithm=config.algorithm, adapt_layers=config.adapt_layers
    )
    metric = "accuracy" if config.task == "classification" else "mse"

    def checkpoint(step: int) -> Path:
        path = out_dir / "checkpoints" / f"step_{step:06d}.pt"
        if not world.is_main:
            return path
        save_checkpoint(
            path,
            {
                "format": FORMAT,
                "version": 1,
                "config": config_to_dict(config),
                "step": step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": {"torch": torch.get_rng_state()},
                "split_hash": split_hash,
                "metrics": records,
                "device": str(device),
                "elapsed": elapsed,
                "world_size": world.size,
            },
        )
        _write_metrics(out_dir, records)
        return path

    def validate(step: int) -> None:
        if not world.is_main:
            return
        model.eval()
        result = evaluate_tasks(
            model,
            params,
            val_batch,
            algorithm=config.algorithm,
            adapt_layers=config.adapt_layers,
            head="adapted" if config.own_head else "nil",
            steps=config.test_inner_steps,
            lr=config.inner.lr,
            task=config.task,
            ways=config.ways,
        )
        model.train()
        records.append(
            {
                "step": step,
                "split": "val",
                metric: result.value,
                "ci95": result.ci95,
                "elapsed": round(elapsed, 3),
            }
        )

    stop = {"now": False}

    def request_stop(signum: int, frame: Any) -> None:  # SIGTERM: finish the step, save, exit
        stop["asked"] = True  # every rank stops at the same step: decided in the all-reduce

    previous = signal.signal(signal.SIGTERM, request_stop) if _main_thread() else None
    step = start_step
    bar = tqdm(
        total=config.steps,
        initial=start_step,
        disable=not progress,
        desc=f"{config.algorithm} {config.dataset} {config.ways}w{config.shots}s",
        dynamic_ncols=True,
    )
    t0 = time.perf_counter() - elapsed
    trainable = [p for p in model.parameters() if p.requires_grad]
    first, count = world.shard(config.meta_batch)  # this rank's tasks of every meta-batch
    try:
        if start_step == 0 and not any(r["step"] == 0 for r in records):
            validate(0)  # not again when resuming a run saved at step 0 (the random regime)
        # the random regime is the initialised body itself: its only checkpoint is step 0
        last_step = 0 if config.algorithm == "random" else config.steps
        while step < last_step and not stop["now"]:
            optimizer.zero_grad(set_to_none=True)
            sums = [0.0, 0.0]  # this rank's Σ task loss, Σ task metric
            if count:
                # Multiclass slots are split the same way; its batch-statistics BatchNorm then
                # sees each rank's share only (as plain DDP without SyncBatchNorm would).
                batch = train_tasks.batch(step * config.meta_batch + first, count).to(device)
                loss, value = training_loss(config, model, params, batch, adapt_names=adapt_names)
                # Σ over this rank's tasks / meta_batch: summed over ranks, the 1-rank mean.
                (loss * (count / config.meta_batch)).backward()
                sums = [loss.item() * count, value.item() * count]
            timed_out = max_seconds is not None and time.perf_counter() - t0 >= max_seconds
            loss_sum, value_sum, stops = world.sum_grads_(
                trainable, [*sums, stop.get("asked", False) or timed_out]
            )
            loss, value = torch.tensor(loss_sum / config.meta_batch), torch.tensor(
                value_sum / config.meta_batch
            )
            if not math.isfinite(loss.item()):
                raise FloatingPointError(
                    f"meta-loss is {loss.item()} at step {step + 1}: training diverged; lower "
                    f"--inner-lr ({config.inner.lr}) or the meta lr ({config.meta_lr})"
                )
            stop["now"] = stops > 0
            optimizer.step()
            step += 1
            elapsed = time.perf_counter() - t0
            if step % config.log_every == 0 or step == config.steps:
                records.append(
                    {
                        "step": step,
                        "split": "train",
                        "loss": loss.item(),
                        metric: value.item(),
                        "elapsed": round(elapsed, 3),
                    }
                )
                bar.set_postfix(loss=f"{loss.item():.3f}", **{metric[:3]: f"{value.item():.3f}"})
            if step % config.val_every == 0 or step == config.steps:
                validate(step)
            if step % config.checkpoint_every == 0:
                checkpoint(step)
            bar.update(1)
            if on_step is not None:
                on_step(step)
    except KeyboardInterrupt:
        stop["now"] = stop["interrupted"] = True
    finally:
        bar.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    existing_steps = {s for s, _ in checkpoint_paths(out_dir)}
    last_path = out_dir / "checkpoints" / f"step_{step:06d}.pt"
    if step not in existing_steps:
        last_path = checkpoint(step)
    if world.is_main:
        _write_metrics(out_dir, records)
    if not stop.get("interrupted"):
        world.barrier()  # on return, every rank sees the last checkpoint
    return TrainResult(
        out_dir=out_dir,
        last_checkpoint=last_path,
        step=step,
        metrics=pd.DataFrame.from_records(records),
    )


def _check_resumable(state: dict[str, Any], config: TrainConfig, out_dir: Path) -> None:
    """A run may be resumed with a different ``steps`` (to extend or stop it), nothing else."""
    check_resume_config(dict(state.get("config") or {}), config_to_dict(config),
                        step=int(state["step"]), steps=config.steps, out_dir=out_dir)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
