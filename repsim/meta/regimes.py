"""How each body-training regime turns a training batch into a loss (the paper's Table 5).

The paper trains the same body six ways and tests every one with the NIL head (PAPER.md,
"Body-training regimes"). MAML and ANIL (and the interpolations: top-k MAML, BOIL) are the
episodic learners of :mod:`repsim.meta.algorithms`; the others are defined here:

- **multiclass**: ordinary supervised classification with one softmax over every
  meta-training class (Omniglot: each rotation of a character is its own class), no episodes
  and no inner loop; the head (``config.classes`` wide) is dropped at test.
- **multitask**: the meta-training tasks with one N-way head shared by all of them and no inner
  loop. Labels are permuted per task (the sampler draws each task's classes in random order and
  label j is the j-th class drawn), so the shared head cannot carry task identity. The loss is
  the cross-entropy over all of a task's images (support and query: with no inner loop there
  is no reason to hold any back), one batch per task (BatchNorm statistics per task).
- **nil** (NIL training): no head at all: each query's class scores are the NIL vote (softmax
  over cosine similarities to the support set, weighted one-hot support labels,
  :func:`~repsim.meta.algorithms.nil_scores`), and the loss is their cross-entropy,
  −log score[q, y_q], back-propagated into the body.
- **random**: the initialised body, never trained (``train`` writes its step-0 checkpoint).

Budget of examples seen, matched across regimes: every regime runs ``config.steps`` steps and
each step sees ``meta_batch · ways · (shots + query)`` images: the episodic ones as
``meta_batch`` tasks, multiclass as an i.i.d. minibatch of that size (``ClassBatches`` with
``per_slot = ways · (shots + query)``). Only the compute per image differs (the inner loop).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import vmap

from repsim.meta.algorithms import meta_loss, nil_scores
from repsim.meta.config import TrainConfig
from repsim.meta.inner import forward

__all__ = [
    "multiclass_loss",
    "resolve_config",
    "task_multitask_loss",
    "task_nil_loss",
    "training_loss",
    "training_source",
]


def task_multitask_loss(
    model: nn.Module,
    params: dict[str, Tensor],
    support_x: Tensor,
    support_y: Tensor,
    query_x: Tensor,
    query_y: Tensor,
) -> tuple[Tensor, Tensor]:
    """Cross-entropy and accuracy of the shared head on ONE task's images, no inner loop."""
    x = torch.cat([support_x, query_x])  # (ways * (shots + query), C, H, W)
    y = torch.cat([support_y, query_y])
    out = forward(model, params, x)  # (n, ways)
    accuracy = (out.detach().argmax(dim=-1) == y).to(out.dtype).mean()
    return F.cross_entropy(out, y), accuracy


def task_nil_loss(
    model: nn.Module,
    params: dict[str, Tensor],
    support_x: Tensor,
    support_y: Tensor,
    query_x: Tensor,
    query_y: Tensor,
    *,
    ways: int,
) -> tuple[Tensor, Tensor]:
    """NIL training on ONE task: mean over queries of −log (NIL vote for the true class)."""
    scores = nil_scores(model, params, support_x, support_y, query_x, ways=ways)  # (n_query, ways)
    # every attention weight is > 0 (softmax of cosines in [-1, 1]), so the log is finite
    picked = scores.gather(1, query_y[:, None]).squeeze(1)  # (n_query,)
    accuracy = (scores.detach().argmax(dim=-1) == query_y).to(scores.dtype).mean()
    return -picked.log().mean(), accuracy


def multiclass_loss(
    model: nn.Module, params: dict[str, Tensor], x: Tensor, y: Tensor
) -> tuple[Tensor, Tensor]:
    """Cross-entropy and accuracy over every class: ``x`` (slots, per_slot, C, H, W) as ONE
    minibatch (BatchNorm statistics over all of it, as in ordinary supervised training)."""
    flat_x = x.flatten(0, 1)  # (slots * per_slot, C, H, W)
    flat_y = y.flatten()
    out = forward(model, params, flat_x)  # (slots * per_slot, classes)
    accuracy = (out.detach().argmax(dim=-1) == flat_y).to(out.dtype).mean()
    return F.cross_entropy(out, flat_y), accuracy


def _over_tasks(one_task: Any, batch: Any, vectorize: bool) -> tuple[Tensor, Tensor]:
    tensors = (batch.support_x, batch.support_y, batch.query_x, batch.query_y)
    if vectorize:
        losses, metrics = vmap(one_task)(*tensors)  # (T,), (T,)
    else:
        pairs = [one_task(*task) for task in zip(*tensors, strict=True)]
        losses = torch.stack([p[0] for p in pairs])
        metrics = torch.stack([p[1] for p in pairs])
    return losses.mean(), metrics.mean()


def training_loss(
    config: TrainConfig,
    model: nn.Module,
    params: dict[str, Tensor],
    batch: Any,
    *,
    adapt_names: Sequence[str],
) -> tuple[Tensor, Tensor]:
    """The training loss and metric of one step of ``config.algorithm`` on ``batch``.

    ``batch`` is an Episode of T tasks (a :class:`~repsim.data.classes.LabelledBatch` for
    multiclass). The episodic learners go to :func:`~repsim.meta.algorithms.meta_loss`.
    """
    algorithm = config.algorithm
    if algorithm == "multiclass":
        return multiclass_loss(model, params, batch.x, batch.y)
    if algorithm == "multitask":
        return _over_tasks(partial(task_multitask_loss, model, params), batch, config.vectorize)
    if algorithm == "nil":
        one = partial(task_nil_loss, model, params, ways=config.ways)
        return _over_tasks(one, batch, config.vectorize)
    if algorithm == "random":
        raise ValueError("the random regime is never trained: it has no training loss")
    return meta_loss(
        model,
        params,
        batch.support_x,
        batch.support_y,
        batch.query_x,
        batch.query_y,
        steps=config.inner.steps,
        lr=config.inner.lr,
        adapt_names=adapt_names,
        first_order=config.first_order,
        task=config.task,
        vectorize=config.vectorize,
    )


def training_source(
    config: TrainConfig,
    *,
    seed: int,
    data_dir: str | Path | None = None,
    download: bool = False,
) -> Any:
    """Where a run's training batches come from: tasks, or plain class batches (multiclass)."""
    from repsim.meta.tasks import task_source

    if config.algorithm != "multiclass":
        return task_source(config, split="train", seed=seed, data_dir=data_dir,
                           download=download)
    from repsim.data import load_pool
    from repsim.data.classes import ClassBatches

    pool = load_pool(config.dataset, split="train", data_dir=data_dir, download=download)
    return ClassBatches(pool, per_slot=config.ways * (config.shots + config.query), seed=seed)


def resolve_config(config: TrainConfig, source: Any) -> TrainConfig:
    """``config`` with what only the data can tell: the multiclass head's width.

    Raises
    ------
    ValueError
        ``config.classes`` was given and is not the number of meta-training classes.
    """
    if config.algorithm != "multiclass":
        return config
    n = int(source.n_classes)
    if config.classes not in (None, n):
        raise ValueError(
            f"classes={config.classes} but the {config.dataset} training split has {n} classes; "
            "leave classes unset (training fills it in)"
        )
    return dataclasses.replace(config, classes=n)
