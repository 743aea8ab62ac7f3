"""TRPO's step (Schulman et al. 2015) on a params dict: conjugate gradient + line search.

The objective and its constraint come in as functions (see :mod:`repsim.rl.objective`): the
loss gradient ``g``, a Fisher-vector product ``v ↦ F v`` and an evaluator of (loss, KL) at
candidate parameters. The step solves ``F s = g`` approximately (``cg_iters`` conjugate-gradient
iterations, ``damping`` added to F), scales ``s`` so that ``½ sᵀF s = max_kl``, then backtracks
(``θ − ratio^j · β s``, j = 0 … ``ls_steps``−1) to the first candidate that lowers the loss and
keeps the mean KL within ``max_kl``; if none does, θ stays where it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["TRPOStep", "conjugate_gradient", "flatten", "trpo_step", "unflatten"]


def flatten(tensors: Mapping[str, Tensor], names) -> Tensor:
    return torch.cat([tensors[k].reshape(-1) for k in names])


def unflatten(vector: Tensor, like: Mapping[str, Tensor], names) -> dict[str, Tensor]:
    out, i = {}, 0
    for k in names:
        n = like[k].numel()
        out[k] = vector[i : i + n].view_as(like[k])
        i += n
    return out


def conjugate_gradient(
    fvp: Callable[[Tensor], Tensor], b: Tensor, *, iters: int = 10, tol: float = 1e-10,
    with_product: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Approximately solve ``A x = b`` for symmetric positive-definite ``A`` given ``x ↦ A x``.

    ``with_product``: also return ``A x``, accumulated as ``Σ αᵢ A pᵢ`` from the products CG
    took anyway (= ``b − r``), which saves TRPO one more product for ``xᵀ A x``.
    """
    x = torch.zeros_like(b)
    ax = torch.zeros_like(b)
    r, p = b.clone(), b.clone()
    rr = r @ r
    for _ in range(iters):
        if rr < tol:
            break
        ap = fvp(p)
        alpha = rr / (p @ ap)
        x = x + alpha * p
        ax = ax + alpha * ap
        r = r - alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return (x, ax) if with_product else x


@dataclass(frozen=True)
class TRPOStep:
    """What one TRPO step did: loss before/after, KL of the accepted step, backtracks used."""

    loss_before: float
    loss_after: float
    kl: float
    backtracks: int  # index of the accepted candidate; -1: none accepted, θ unchanged
    step_norm: float


def trpo_step(
    params: Mapping[str, Tensor],
    grad: Mapping[str, Tensor],
    fvp: Callable[[Tensor], Tensor],
    evaluate: Callable[[dict[str, Tensor]], tuple[float, float]],
    loss_before: float,
    *,
    max_kl: float = 1e-2,
    cg_iters: int = 10,
    damping: float = 1e-5,
    ls_ratio: float = 0.8,
    ls_steps: int = 15,
) -> tuple[dict[str, Tensor], TRPOStep]:
    """One constrained step: returns the new (detached) params and a :class:`TRPOStep`.

    ``grad`` is ∇ loss at ``params``; ``fvp(v)`` the Fisher-vector product (undamped, flat);
    ``evaluate(p)`` returns ``(loss, kl)`` at candidate ``p``.
    """
    names = list(params)
    theta = flatten({k: v.detach() for k, v in params.items()}, names)
    g = flatten(grad, names)

    def damped(v: Tensor) -> Tensor:
        return fvp(v) + damping * v

    step_dir, f_step = conjugate_gradient(damped, g, iters=cg_iters, with_product=True)
    shs = 0.5 * (step_dir @ f_step)
    if not torch.isfinite(shs) or shs <= 0:
        raise FloatingPointError(f"TRPO: sᵀFs is {float(shs)}; the Fisher product is not positive")
    full_step = step_dir * torch.sqrt(max_kl / shs)
    for j in range(ls_steps):
        candidate = theta - ls_ratio**j * full_step
        new = unflatten(candidate, params, names)
        loss, kl = evaluate(new)
        if loss < loss_before and kl <= max_kl:
            return new, TRPOStep(loss_before, loss, kl, j, float((ls_ratio**j) * full_step.norm()))
    old = unflatten(theta, params, names)
    return old, TRPOStep(loss_before, loss_before, 0.0, -1, 0.0)
