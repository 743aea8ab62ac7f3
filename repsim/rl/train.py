"""The meta-RL training loop: MAML-TRPO / first-order MAML-TRPO / ANIL-TRPO, resumable.

Each meta-iteration draws ``meta_batch`` tasks, rolls out ``trajectories`` episodes per task
under θ, adapts (one REINFORCE step), rolls out again under each θ'ᵢ and takes one TRPO step on
the post-adaptation surrogate through the inner step (:mod:`repsim.rl.algorithm`). Everything
random is a function of ``(seed, iteration)`` and the policy's initialisation of
``torch.manual_seed(seed)``, so a run killed at any point and resumed from its last checkpoint
is bit-identical to the uninterrupted run. Files (all written atomically):
``checkpoints/step_XXXXXX.pt``, ``metrics.csv`` (pre- and post-adaptation return per
iteration), ``config.json``, ``manifest.json``.

Under ``torchrun --nproc_per_node=N`` each rank rolls out its share of every meta-batch and
the ranks combine every sum over tasks (:mod:`repsim.rl.algorithm`), so the run equals the
1-process run; rank 0 writes every file, ``world_size`` is recorded in ``manifest.json`` and
the checkpoints, and a run may resume with a different N.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from repsim._io import atomic_write_bytes, atomic_write_json, load_checkpoint, run_manifest
from repsim._io import save_checkpoint as _save
from repsim.meta.checkpoint import check_resume_config, checkpoint_paths
from repsim.meta.distributed import World, from_env
from repsim.rl.algorithm import adapt_names_for, meta_step, sample_iteration, sum_over_tasks
from repsim.rl.checkpoint import FORMAT, KIND, build_policy, checkpoint_kind
from repsim.rl.config import RLConfig, rl_config_to_dict

__all__ = ["RLTrainResult", "env_dims", "train_rl"]


@dataclass(frozen=True)
class RLTrainResult:
    out_dir: Path
    last_checkpoint: Path
    step: int
    metrics: pd.DataFrame
    interrupted: bool = False  # stopped by SIGTERM / Ctrl-C (callers looping over runs stop too)


def env_dims(config: RLConfig) -> tuple[int, int]:
    """``(obs_dim, act_dim)`` of the config's environment."""
    from repsim.rl.envs import make_batched, sample_tasks

    env = make_batched(
        config.env, sample_tasks(config.env, 1, seed=0), 1, horizon=config.horizon, seed=0
    )
    return int(env.obs_dim), int(env.act_dim)


def initial_params(config: RLConfig) -> tuple[dict[str, torch.Tensor], int, int]:
    obs_dim, act_dim = env_dims(config)
    torch.manual_seed(config.seed)
    policy = build_policy(config, obs_dim, act_dim)
    return {k: v.detach().clone() for k, v in policy.named_parameters()}, obs_dim, act_dim


def _check_resumable(state: dict[str, Any], config: RLConfig, out_dir: Path) -> None:
    if state.get("format") != FORMAT or checkpoint_kind(state) != KIND:
        raise ValueError(
            f"{out_dir} holds classification checkpoints, not a meta-RL run; choose another "
            "--out directory"
        )
    check_resume_config(dict(state.get("config") or {}), rl_config_to_dict(config),
                        step=int(state["step"]), steps=config.steps, out_dir=out_dir)


def _print_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def train_rl(
    config: RLConfig,
    *,
    out_dir: str | Path,
    resume: bool = True,
    max_seconds: float | None = None,
    log: Callable[[str], None] | None = _print_line,
    stop_after: int | None = None,
) -> RLTrainResult:
    """Meta-train as ``config`` says; return where it saved. ``stop_after`` (tests): stop, with
    a checkpoint, once that many iterations are done, as if killed there. Under torchrun the
    ranks split every meta-batch (see the module's docstring)."""
    from repsim._threads import ensure_default_threads

    ensure_default_threads()
    world = from_env("cpu")  # rollouts and TRPO run on the CPU: gloo
    try:
        if world.size > config.meta_batch:
            raise ValueError(
                f"{world.size} ranks for a meta-batch of {config.meta_batch} tasks: every rank "
                "needs at least one task; start at most that many processes (--nproc_per_node)"
            )
        return _train_rl(config, world, out_dir=Path(out_dir), resume=resume,
                         max_seconds=max_seconds, log=log if world.is_main else None,
                         stop_after=stop_after)
    finally:
        world.close()


def _train_rl(
    config: RLConfig,
    world: World,
    *,
    out_dir: Path,
    resume: bool,
    max_seconds: float | None,
    log: Callable[[str], None] | None,
    stop_after: int | None,
) -> RLTrainResult:
    params, obs_dim, act_dim = initial_params(config)
    records: list[dict[str, Any]] = []
    start, elapsed = 0, 0.0
    existing = checkpoint_paths(out_dir)
    if existing and not resume:
        raise ValueError(
            f"{out_dir} already holds checkpoints; pass --resume to continue that run, or "
            "choose another --out directory"
        )
    if existing:
        state = load_checkpoint(existing[-1][1])
        _check_resumable(state, config, out_dir)
        params = {k: v.clone() for k, v in state["model"].items()}
        start, elapsed = int(state["step"]), float(state.get("elapsed", 0.0))
        records = [r for r in state.get("metrics", []) if r["step"] <= start]

    names = adapt_names_for(params, config.algorithm)
    world.broadcast_(list(params.values()))  # a guard: every rank starts from rank 0's θ
    shard = world.shard(config.meta_batch)  # this rank's tasks of every meta-batch
    written = {"meta": False}

    def checkpoint(step: int) -> Path:
        path = out_dir / "checkpoints" / f"step_{step:06d}.pt"
        if not world.is_main:
            return path
        # config and manifest go with the first checkpoint: a run that fails before it
        # (bad input, NaN rollouts) leaves nothing behind.
        if not written["meta"]:
            atomic_write_json(out_dir / "config.json", rl_config_to_dict(config))
            atomic_write_json(
                out_dir / "manifest.json",
                run_manifest(config=rl_config_to_dict(config), seed=config.seed, kind=KIND,
                             resumed_from=start or None, threads=torch.get_num_threads(),
                             world_size=world.size),
            )
            written["meta"] = True
        _save(path, {
            "format": FORMAT, "kind": KIND, "version": 1,
            "config": rl_config_to_dict(config), "step": step,
            "model": {k: v.detach().clone() for k, v in params.items()},
            "obs_dim": obs_dim, "act_dim": act_dim,
            "metrics": records, "elapsed": elapsed, "world_size": world.size,
        })
        frame = pd.DataFrame.from_records(records)
        atomic_write_bytes(out_dir / "metrics.csv", frame.to_csv(index=False).encode())
        return path

    stop = {"now": False, "asked": False}

    def request_stop(signum: int, frame: Any) -> None:  # finish the iteration, save, exit
        stop["asked"] = True  # all ranks stop at the same step: decided in an all-reduce

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, request_stop) if main else None
    step, last_path = start, None
    t0 = time.perf_counter() - elapsed
    try:
        while step < config.steps and not stop["now"]:
            t_iter = time.perf_counter()
            data = sample_iteration(params, config, step, adapt_names=names, shard=shard)
            t_sample = time.perf_counter() - t_iter
            new, info = meta_step(params, data, config, names, world)
            if not all(torch.isfinite(v).all() for v in new.values()):
                raise FloatingPointError(f"the policy's parameters diverged at iteration {step}")
            params, step = new, step + 1
            elapsed = time.perf_counter() - t0
            # mean returns over the whole meta-batch (summed in task order, as in meta_step)
            returns = torch.stack([data.train.task_returns(), data.valid.task_returns()], 1)
            before, after = (sum_over_tasks(returns, data, world) / config.meta_batch).tolist()
            # stop together: every rank stops at the step where any rank was told to
            timed_out = max_seconds is not None and elapsed >= max_seconds
            flags = torch.tensor([float(stop["asked"]), float(timed_out)])
            asked, timed_out = (x > 0 for x in world.all_reduce_sum([flags], [flags])[0])
            stop["now"] = bool(asked)
            records.append({
                "step": step, "return_before": before, "return_after": after,
                "surrogate_gain": -(info.loss_after - info.loss_before), "kl": info.kl,
                "backtracks": info.backtracks, "seconds": time.perf_counter() - t_iter,
                "sample_seconds": t_sample, "elapsed": round(elapsed, 3),
            })
            if log is not None and (step % config.log_every == 0 or step == config.steps):
                log(f"[{config.algorithm} {config.env} seed {config.seed}] iter {step}/"
                    f"{config.steps}: return before {before:.2f} after {after:.2f}, kl "
                    f"{info.kl:.4f}, {records[-1]['seconds']:.2f} s/iter")
            if step % config.checkpoint_every == 0:
                last_path = checkpoint(step)
            if timed_out:  # --max-minutes reached on some rank: all stop here
                break
            if stop_after is not None and step >= stop_after:
                break
    except KeyboardInterrupt:
        stop["now"] = stop["interrupted"] = True
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if not math.isfinite(elapsed):
        raise FloatingPointError("elapsed time is not finite")
    final = out_dir / "checkpoints" / f"step_{step:06d}.pt"
    if not final.exists() or last_path != final:
        last_path = checkpoint(step)
    if not stop.get("interrupted"):
        world.barrier()  # on return, every rank sees the last checkpoint
    return RLTrainResult(out_dir, last_path, step, pd.DataFrame.from_records(records),
                         interrupted=stop["now"])
