"""Wall-clock cost of one meta-iteration (training) and one evaluation batch (inference).

Used by ``repsim reproduce`` for the paper's "ANIL is faster" figure (the side-by-side
comparison with learn2learn is ``benchmarks/bench_meta.py``). Inputs are random tensors of the
task's shape: the cost of these networks does not depend on pixel values, so no data set is
needed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from repsim.meta.algorithms import meta_loss
from repsim.meta.checkpoint import build_model
from repsim.meta.config import TrainConfig
from repsim.meta.evaluate import evaluate_tasks
from repsim.meta.inner import freeze_spec, parameters_of

__all__ = ["RandomEpisodes", "time_call", "time_per_iteration"]


@dataclass(frozen=True)
class RandomEpisodes:
    """A batch of T random tasks shaped like ``config``'s (images or sinusoid points)."""

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor

    @classmethod
    def like(
        cls, config: TrainConfig, tasks: int, *, device: torch.device | str = "cpu", seed: int = 0
    ) -> RandomEpisodes:
        g = torch.Generator().manual_seed(seed)
        n_s, n_q = config.ways * config.shots, config.ways * config.query
        if config.dataset == "sinusoid":
            shape: tuple[int, ...] = (1,)
            sy = torch.randn(tasks, n_s, 1, generator=g)
            qy = torch.randn(tasks, n_q, 1, generator=g)
        else:
            shape = (1, 28, 28) if config.dataset == "omniglot" else (3, 84, 84)
            labels = torch.arange(config.ways)
            sy = labels.repeat_interleave(config.shots).repeat(tasks, 1)
            qy = labels.repeat_interleave(config.query).repeat(tasks, 1)
        sx = torch.rand(tasks, n_s, *shape, generator=g)
        qx = torch.rand(tasks, n_q, *shape, generator=g)
        return cls(*(t.to(device) for t in (sx, sy, qx, qy)))


def time_call(fn: Callable[[], object], *, device: torch.device, repeats: int = 5) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up (CUDA-synchronised)."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_per_iteration(
    config: TrainConfig,
    *,
    algorithms: Sequence[str] = ("maml", "anil"),
    device: str | torch.device = "cpu",
    repeats: int = 5,
    seed: int = 0,
) -> list[dict[str, object]]:
    """Seconds per training meta-iteration and per inference batch, for each algorithm.

    Training: one meta-batch (``config.meta_batch`` tasks), forward + backward of the meta-loss
    with ``config.inner``. Inference: the same number of tasks adapted with
    ``config.test_inner_steps`` steps and scored on the query set, without gradients.
    Returns records with the ``timing`` columns of :mod:`repsim.analyses.tables`.
    """
    device = torch.device(device)
    torch.manual_seed(seed)
    model = build_model(config).to(device)
    params = parameters_of(model)
    episodes = RandomEpisodes.like(config, config.meta_batch, device=device, seed=seed)
    shape = f"{config.dataset}-{config.ways}w{config.shots}s"
    rows: list[dict[str, object]] = []
    for algorithm in algorithms:
        adapt_names = freeze_spec(model, algorithm=algorithm)

        def train_step(names: tuple[str, ...] = adapt_names, algo: str = algorithm) -> None:
            loss, _ = meta_loss(
                model,
                params,
                episodes.support_x,
                episodes.support_y,
                episodes.query_x,
                episodes.query_y,
                steps=config.inner.steps,
                lr=config.inner.lr,
                adapt_names=names,
                first_order=algo == "fomaml",
                task=config.task,
            )
            model.zero_grad(set_to_none=True)
            loss.backward()

        def inference(algo: str = algorithm) -> None:
            evaluate_tasks(
                model,
                params,
                episodes,
                algorithm=algo,
                steps=config.test_inner_steps,
                lr=config.inner.lr,
                task=config.task,
                ways=config.ways,
                chunk=config.meta_batch,
            )

        for phase, fn in (("train", train_step), ("inference", inference)):
            rows.append(
                {
                    "shape": shape,
                    "phase": phase,
                    "algorithm": algorithm,
                    "path": "repsim vmap",
                    "device": str(device),
                    "seconds": time_call(fn, device=device, repeats=repeats),
                }
            )
    return rows
