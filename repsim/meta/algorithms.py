"""MAML, first-order MAML, ANIL and the NIL head, written for ONE task and lifted with ``vmap``.

- **MAML** (Finn et al. 2017): the inner loop adapts every layer; the meta-gradient flows through
  the inner steps (second order).
- **FOMAML**: the same with the inner gradients detached.
- **ANIL** (Raghu et al. 2020): the inner loop adapts the ``head`` only, at train and test; the
  outer loop updates every layer, and the body's meta-gradient includes the term through the
  head's adaptation (the head's inner step depends on the body's features), so ANIL is still
  second order in the body.
- **NIL** (No Inner Loop, test time only): drop the head; embed support and query with the body;
  each query's class scores are the softmax-over-cosine-similarity weighted vote of the support
  labels (Matching Networks' attention kernel, Vinyals et al. 2016); predict the argmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from repsim.meta.inner import adapt, forward, layer_of, loss_for

__all__ = ["meta_loss", "nil_scores", "task_eval", "task_meta_loss"]

TaskKind = Literal["classification", "regression"]


def _metric(out: Tensor, y: Tensor, task: TaskKind) -> Tensor:
    """Accuracy (classification) or mean squared error (regression) of ``out`` against ``y``."""
    if task == "classification":
        return (out.argmax(dim=-1) == y).to(out.dtype).mean()
    return F.mse_loss(out, y)


def task_meta_loss(
    model: nn.Module,
    params: dict[str, Tensor],
    support_x: Tensor,
    support_y: Tensor,
    query_x: Tensor,
    query_y: Tensor,
    *,
    steps: int,
    lr: float,
    adapt_names: Sequence[str],
    first_order: bool,
    task: TaskKind,
) -> tuple[Tensor, Tensor]:
    """Query loss and metric of ONE task after adapting θ on its support set."""
    if _head_only(adapt_names):
        out = _head_only_query_out(
            model,
            params,
            support_x,
            support_y,
            query_x,
            steps=steps,
            lr=lr,
            first_order=first_order,
            task=task,
        )
    else:
        adapted = adapt(
            model,
            params,
            support_x,
            support_y,
            steps=steps,
            lr=lr,
            adapt_names=adapt_names,
            first_order=first_order,
            task=task,
        )
        out = forward(model, adapted, query_x)
    return loss_for(task)(out, query_y), _metric(out.detach(), query_y, task)


def _head_only(adapt_names: Sequence[str]) -> bool:
    return len(adapt_names) > 0 and all(layer_of(n) == "head" for n in adapt_names)


def _head_only_query_out(
    model: nn.Module,
    params: dict[str, Tensor],
    support_x: Tensor,
    support_y: Tensor,
    query_x: Tensor,
    *,
    steps: int,
    lr: float,
    first_order: bool = False,
    task: TaskKind,
    trajectory: bool = False,
) -> Tensor | list[Tensor]:
    """ANIL's inner loop done where it is cheap: the body runs once per set, not once per step.

    When only the head adapts, the body's features of the support set do not change during the
    inner loop, so they are computed once (keeping their graph, so the body still receives the
    meta-gradient through the head's adaptation) and the steps run on the linear head alone.
    Same result as :func:`adapt` on the whole model; this is where ANIL's speed-up comes from.
    Returns the query outputs after the last step, or after each step with ``trajectory``.
    """
    head_params = {k.split(".", 1)[1]: v for k, v in params.items() if layer_of(k) == "head"}
    f_support = forward(model, params, support_x, output="features")  # (n_support, D)
    f_query = forward(model, params, query_x, output="features")  # (n_query, D)
    head = model.get_submodule("head")
    adapted = adapt(
        head,
        head_params,
        f_support,
        support_y,
        steps=steps,
        lr=lr,
        first_order=first_order,
        task=task,
        trajectory=trajectory,
    )
    if trajectory:
        return [functional_call(head, p, (f_query,)) for p in adapted]
    return functional_call(head, adapted, (f_query,))


def meta_loss(
    model: nn.Module,
    params: dict[str, Tensor],
    support_x: Tensor,
    support_y: Tensor,
    query_x: Tensor,
    query_y: Tensor,
    *,
    steps: int,
    lr: float,
    adapt_names: Sequence[str],
    first_order: bool = False,
    task: TaskKind = "classification",
    vectorize: bool = True,
) -> tuple[Tensor, Tensor]:
    """Mean query loss and metric over a meta-batch of T tasks.

    ``support_x`` is ``(T, n_support, ...)`` and so on. ``vectorize=True`` lifts the one-task
    function with ``torch.func.vmap``; ``False`` runs the same function in a Python loop (the
    reference the vmap path is tested against).
    """
    one_task = partial(
        task_meta_loss,
        model,
        params,
        steps=steps,
        lr=lr,
        adapt_names=tuple(adapt_names),
        first_order=first_order,
        task=task,
    )
    if vectorize:
        losses, metrics = vmap(one_task)(support_x, support_y, query_x, query_y)  # (T,), (T,)
    else:
        pairs = [
            one_task(sx, sy, qx, qy)
            for sx, sy, qx, qy in zip(support_x, support_y, query_x, query_y, strict=True)
        ]
        losses = torch.stack([p[0] for p in pairs])
        metrics = torch.stack([p[1] for p in pairs])
    return losses.mean(), metrics.mean()


def nil_scores(
    model: nn.Module,
    params: dict[str, Tensor],
    support_x: Tensor,
    support_y: Tensor,
    query_x: Tensor,
    *,
    ways: int,
) -> Tensor:
    """NIL class scores ``(n_query, ways)`` for ONE task: cosine-attention vote of support labels.

    scores[q, c] = Σ_s softmax_s(cos(f(x_q), f(x_s))) · 1[y_s = c], with f the body's
    penultimate features under θ (no head, no inner loop). Support and query go through the body
    as separate batches, as in the adapted path (BatchNorm uses each batch's statistics).
    """
    f_support = forward(model, params, support_x, output="features")  # (n_support, D)
    f_query = forward(model, params, query_x, output="features")  # (n_query, D)
    cosine = F.normalize(f_query, dim=-1) @ F.normalize(f_support, dim=-1).T  # (n_query, n_support)
    attention = cosine.softmax(dim=-1)
    return attention @ F.one_hot(support_y, ways).to(attention.dtype)  # (n_query, ways)


def task_eval(
    model: nn.Module,
    params: dict[str, Tensor],
    support_x: Tensor,
    support_y: Tensor,
    query_x: Tensor,
    query_y: Tensor,
    *,
    steps: int,
    lr: float,
    adapt_names: Sequence[str],
    task: TaskKind,
    head: Literal["adapted", "nil"],
    ways: int,
) -> Tensor:
    """Query metric of ONE task after each inner step: shape ``(steps + 1,)``.

    Entry s is the metric after s inner steps (entry 0 = before adaptation). With
    ``head="nil"`` there is no inner loop and every entry is the NIL metric.
    """
    if head == "nil":
        if task != "classification":
            raise ValueError("the NIL head is defined for classification only")
        scores = nil_scores(model, params, support_x, support_y, query_x, ways=ways)
        return _metric(scores, query_y, task).expand(steps + 1)
    if _head_only(adapt_names):
        outs = _head_only_query_out(
            model,
            params,
            support_x,
            support_y,
            query_x,
            steps=steps,
            lr=lr,
            task=task,
            trajectory=True,
        )
    else:
        path = adapt(
            model,
            params,
            support_x,
            support_y,
            steps=steps,
            lr=lr,
            adapt_names=adapt_names,
            task=task,
            trajectory=True,
        )
        outs = [forward(model, p, query_x) for p in path]
    return torch.stack([_metric(out, query_y, task) for out in outs])
