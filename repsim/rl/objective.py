"""The MAML-RL objective, one task at a time, as pure functions of parameter dicts.

For task ``i`` with pre-adaptation rollouts ``Dᵢ`` (under θ) and post-adaptation rollouts
``D'ᵢ`` (under θ'ᵢ, sampled when θ was θ_old):

* inner loop (one REINFORCE step): ``θ'ᵢ(θ) = θ − α ∇θ Lᵢ(θ)``, with
  ``Lᵢ(θ) = −Σ log πθ(a|s) Â / Σ mask`` over ``Dᵢ`` (only the adapted parameters move: all of
  them for MAML, the head for ANIL);
* outer loop: the TRPO surrogate ``Sᵢ(θ) = Σ πθ'ᵢ(θ)(a|s) / πθ'ᵢ(θ_old)(a|s) Â' / Σ mask`` over
  ``D'ᵢ`` and the mean ``KL(πθ'ᵢ(θ_old) ‖ πθ'ᵢ(θ))`` over its states.

Both depend on θ only through the adapted policy's action distribution on ``D'ᵢ``, so
:func:`adapted_outputs` (θ → means and log-std of πθ'ᵢ(θ) on ``D'ᵢ``, all tasks, vmapped) is the
one function the outer loop differentiates: the meta-gradient is its vector-Jacobian product,
and the KL's Hessian at θ_old (TRPO's Fisher matrix) is ``Jᵀ M J`` with ``M`` the Gaussian's
Fisher information in (mean, log-std): ``1/σ²`` and ``2``, exact because the KL's gradient in
the distribution's parameters vanishes at θ_old. Second order: the inner gradient is part of
the graph; ``first_order=True`` detaches it (first-order MAML-TRPO).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torch.func import grad, vmap

from repsim.models.policy import gaussian_log_prob, policy_mean

__all__ = [
    "adapt_task",
    "adapted_outputs",
    "gaussian_kl",
    "inner_gradients",
    "reinforce_loss",
    "surrogate_and_kl",
    "task_surrogates_and_kls",
]

Params = dict[str, Tensor]


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def reinforce_loss(params: Mapping[str, Tensor], obs, actions, advantages, mask) -> Tensor:
    """``−mean(log π(a|s) · Â)`` over one task's unmasked steps (the vanilla policy gradient)."""
    logp = gaussian_log_prob(policy_mean(params, obs), params["head.log_std"], actions)
    return -_masked_mean(logp * advantages, mask)


def adapt_task(
    params: Mapping[str, Tensor],
    obs: Tensor,
    actions: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    lr: float,
    adapt_names: Sequence[str],
    first_order: bool = False,
    grad_offset: Mapping[str, Tensor] | None = None,
) -> Params:
    """One REINFORCE step on one task's rollouts; parameters not in ``adapt_names`` stay put.

    ``grad_offset`` (a constant added to the inner gradient) lets a cheaper, subsampled inner
    loss reproduce the full one's adapted parameters at one point (see ``fisher_subsample``).
    """
    adapted = {k: params[k] for k in adapt_names}
    fixed = {k: v for k, v in params.items() if k not in adapted}

    def loss(sub: Params) -> Tensor:
        return reinforce_loss({**fixed, **sub}, obs, actions, advantages, mask)

    grads = grad(loss)(adapted)
    if first_order:
        grads = {k: g.detach() for k, g in grads.items()}
    if grad_offset is not None:
        grads = {k: g + grad_offset[k] for k, g in grads.items()}
    return {**fixed, **{k: adapted[k] - lr * grads[k] for k in adapted}}


def adapted_outputs(
    params: Mapping[str, Tensor],
    train: Mapping[str, Tensor],
    valid_obs: Tensor,
    *,
    lr: float,
    adapt_names: Sequence[str],
    first_order: bool = False,
    grad_offset: Mapping[str, Tensor] | None = None,
    per_task_params: bool = False,
) -> tuple[Tensor, Tensor]:
    """θ → (mean ``(B, K, T, act)``, log_std ``(B, act)``) of each task's adapted policy on D'ᵢ.

    ``train`` holds the pre-adaptation rollouts ``obs, actions, advantages, mask`` with a
    leading task axis. With ``lr == 0`` (or no adapted names) this is the unadapted policy.
    ``per_task_params``: ``params`` carry a leading task axis too (one θ per task, so that a
    vector-Jacobian product returns each task's part separately instead of their sum).
    """

    def one_task(p, obs, actions, advantages, mask, v_obs, offset):
        p = adapt_task(
            p, obs, actions, advantages, mask,
            lr=lr, adapt_names=adapt_names, first_order=first_order, grad_offset=offset,
        )
        return policy_mean(p, v_obs), p["head.log_std"]

    in_dims = (0 if per_task_params else None, 0, 0, 0, 0, 0,
               None if grad_offset is None else 0)
    return vmap(one_task, in_dims=in_dims)(
        params, train["obs"], train["actions"], train["advantages"], train["mask"], valid_obs,
        grad_offset,
    )


def inner_gradients(
    params: Mapping[str, Tensor], train: Mapping[str, Tensor], *, adapt_names: Sequence[str]
) -> Params:
    """∇θ Lᵢ(θ) of every task (leading task axis), for the adapted parameters only."""
    adapted = {k: params[k] for k in adapt_names}
    fixed = {k: v for k, v in params.items() if k not in adapted}

    def one_task(obs, actions, advantages, mask):
        def loss(sub: Params) -> Tensor:
            return reinforce_loss({**fixed, **sub}, obs, actions, advantages, mask)

        return grad(loss)(adapted)

    return vmap(one_task)(train["obs"], train["actions"], train["advantages"], train["mask"])


def gaussian_kl(mean_old: Tensor, log_std_old: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """``KL(N(mean_old, σ_old²) ‖ N(mean, σ²))`` per state, summed over action dimensions."""
    var_old, var = (2 * log_std_old).exp(), (2 * log_std).exp()
    kl = log_std - log_std_old + (var_old + (mean_old - mean).pow(2)) / (2 * var) - 0.5
    return kl.sum(-1)


def surrogate_and_kl(
    mean: Tensor,
    log_std: Tensor,
    valid: Mapping[str, Tensor],
    old_mean: Tensor,
    old_log_std: Tensor,
) -> tuple[Tensor, Tensor]:
    """Mean over tasks of the importance-weighted surrogate and of the mean KL from the old policy.

    ``mean``/``old_mean`` are ``(B, K, T, act)``, ``log_std``/``old_log_std`` are ``(B, act)``;
    ``valid`` holds the post-adaptation rollouts (``actions, advantages, mask``).
    """
    surrogates, kls = task_surrogates_and_kls(mean, log_std, valid, old_mean, old_log_std)
    return surrogates.mean(), kls.mean()


def task_surrogates_and_kls(
    mean: Tensor,
    log_std: Tensor,
    valid: Mapping[str, Tensor],
    old_mean: Tensor,
    old_log_std: Tensor,
) -> tuple[Tensor, Tensor]:
    """Each task's surrogate and mean KL, ``(B,)`` each (see :func:`surrogate_and_kl`)."""
    ls, ls_old = log_std[:, None, None, :], old_log_std[:, None, None, :]
    logp = gaussian_log_prob(mean, ls, valid["actions"])
    logp_old = gaussian_log_prob(old_mean, ls_old, valid["actions"])
    mask = valid["mask"]
    n = mask.sum((1, 2)).clamp_min(1.0)
    ratio = torch.exp(logp - logp_old)
    surrogates = (ratio * valid["advantages"] * mask).sum((1, 2)) / n
    kls = (gaussian_kl(old_mean, ls_old, mean, ls) * mask).sum((1, 2)) / n
    return surrogates, kls
