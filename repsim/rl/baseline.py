"""The linear feature baseline of Duan et al. (2016), fitted per task, and the advantages.

Features of a visited state ``s`` at step ``t`` (``a = t / 100``): ``[s, s², a, a², a³, 1]``; the
baseline is the ridge regression (coefficient ``1e-5``) of the discounted returns on them, fitted
on the task's own trajectories (the reference implementations fit one per task, on the same
rollouts they then use, and so do we). All tasks are solved in one batched float64 solve.
"""

from __future__ import annotations

import torch
from torch import Tensor

from repsim.rl.rollout import Trajectories

__all__ = ["RIDGE", "add_advantages", "baseline_features", "fit_linear_baseline"]

RIDGE = 1e-5


def baseline_features(obs: Tensor, mask: Tensor) -> Tensor:
    """``[s, s², a, a², a³, 1]`` per step, ``(..., T, 2·obs_dim + 4)``; zero rows where masked."""
    horizon = obs.shape[-2]
    a = (torch.arange(horizon, dtype=obs.dtype) / 100.0).expand(*obs.shape[:-1])[..., None]
    feats = torch.cat([obs, obs.pow(2), a, a.pow(2), a.pow(3), torch.ones_like(a)], dim=-1)
    return feats * mask[..., None]


def fit_linear_baseline(
    obs: Tensor, returns: Tensor, mask: Tensor, *, ridge: float = RIDGE
) -> Tensor:
    """Per-task ridge fit; returns the baseline values ``(B, K, T)`` at every step.

    ``obs`` is ``(B, K, T, obs_dim)``; the weights solve ``(XᵀX + ridge·I) w = Xᵀy`` over the
    task's unmasked steps, in float64 (squared features of long episodes are badly scaled).
    """
    b = obs.shape[0]
    feats = baseline_features(obs.double(), mask.double())  # (B, K, T, F)
    x = feats.reshape(b, -1, feats.shape[-1])
    y = (returns.double() * mask.double()).reshape(b, -1, 1)
    gram = x.transpose(1, 2) @ x + ridge * torch.eye(x.shape[-1], dtype=torch.float64)
    weights = torch.linalg.solve(gram, x.transpose(1, 2) @ y)  # (B, F, 1)
    values = (feats @ weights[:, None]).squeeze(-1)  # (B, K, T)
    if not torch.isfinite(values).all():
        raise FloatingPointError(
            "the linear baseline fit is not finite: the observations or returns hold NaN/inf "
            "or are too large to fit"
        )
    return values.to(returns.dtype)


def add_advantages(
    traj: Trajectories, *, normalize: bool = True, ridge: float = RIDGE
) -> Trajectories:
    """``A = R − b(s, t)`` on unmasked steps; with ``normalize``, standardised per task.

    Standardising each task's advantages (mean 0, std 1 over its unmasked steps) is what both
    reference implementations do before every policy-gradient and TRPO step (rllab's
    ``center_adv``, pytorch-maml-rl's ``normalize=True``); the inner-loop lr 0.1 assumes it.
    """
    values = fit_linear_baseline(traj.obs, traj.returns, traj.mask, ridge=ridge)
    adv = (traj.returns - values) * traj.mask
    if normalize:
        n = traj.mask.sum((1, 2), keepdim=True).clamp_min(1.0)
        mean = adv.sum((1, 2), keepdim=True) / n
        var = ((adv - mean).pow(2) * traj.mask).sum((1, 2), keepdim=True) / n
        adv = (adv - mean) / (var.sqrt() + 1e-8) * traj.mask
    return traj.with_advantages(adv)
