"""One meta-iteration of MAML-TRPO / ANIL-TRPO: sample, adapt, sample again, TRPO step.

Randomness is a pure function of ``(seed, iteration)``: the tasks, each rollout's env seed and
its action noise are drawn from seeds derived with ``numpy.random.SeedSequence``, so a run
resumed from any checkpoint retraces the uninterrupted one bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.func import jvp, vjp, vmap

from repsim.rl.baseline import add_advantages
from repsim.rl.config import RLConfig
from repsim.rl.objective import adapt_task, adapted_outputs, inner_gradients, surrogate_and_kl
from repsim.rl.rollout import Trajectories, rollout
from repsim.rl.trpo import TRPOStep, flatten, trpo_step, unflatten

__all__ = [
    "IterationData",
    "adapt_all",
    "adapt_names_for",
    "derive_seed",
    "meta_gradient",
    "meta_step",
    "sample_iteration",
]

Params = dict[str, Tensor]
# Streams of per-iteration randomness.
TASKS, TRAIN_ENV, TRAIN_NOISE, VALID_ENV, VALID_NOISE = range(5)


def derive_seed(seed: int, iteration: int, stream: int) -> int:
    """A 31-bit seed for ``stream`` of meta-iteration ``iteration`` of a run seeded ``seed``."""
    state = np.random.SeedSequence([seed, iteration, stream]).generate_state(1)[0]
    return int(state) & 0x7FFFFFFF


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def adapt_names_for(
    params: Mapping[str, Tensor], algorithm: str, frozen: Sequence[str] = ()
) -> tuple[str, ...]:
    """Parameters the inner loop moves: all (MAML) or the head's (ANIL), minus frozen layers."""
    names = [k for k in params if algorithm != "anil" or k.startswith("head.")]
    return tuple(k for k in names if k.split(".", 1)[0] not in set(frozen))


def _task_fields(traj: Trajectories) -> dict[str, Tensor]:
    return {
        "obs": traj.obs, "actions": traj.actions,
        "advantages": traj.advantages, "mask": traj.mask,
    }


def adapt_all(
    params: Mapping[str, Tensor], train: Trajectories, *, lr: float, adapt_names: Sequence[str]
) -> Params:
    """θ'ᵢ for every task (a leading task axis), detached: the policies that collect D'ᵢ."""
    f = _task_fields(train)

    def one(obs, actions, advantages, mask):
        return adapt_task(params, obs, actions, advantages, mask, lr=lr, adapt_names=adapt_names)

    out = vmap(one)(f["obs"], f["actions"], f["advantages"], f["mask"])
    return {k: v.detach() for k, v in out.items()}


@dataclass(frozen=True)
class IterationData:
    """The rollouts of one meta-iteration: D (under θ) and D' (under each θ'ᵢ)."""

    tasks: list[dict]
    train: Trajectories
    valid: Trajectories


def sample_iteration(
    params: Mapping[str, Tensor],
    config: RLConfig,
    iteration: int,
    *,
    adapt_names: Sequence[str],
    seed: int | None = None,
    tasks: list[dict] | None = None,
) -> IterationData:
    """Draw the iteration's tasks, roll out θ, adapt, roll out θ'; advantages filled in."""
    from repsim.rl.envs import make_batched, sample_tasks

    seed = config.seed if seed is None else seed
    b, k = config.meta_batch, config.trajectories
    if tasks is None:
        tasks = sample_tasks(config.env, b, seed=derive_seed(seed, iteration, TASKS))
    b = len(tasks)

    def collect(policy: Mapping[str, Tensor], env_stream: int, noise_stream: int, per_task: bool):
        env = make_batched(
            config.env, tasks, k, horizon=config.horizon,
            seed=derive_seed(seed, iteration, env_stream),
        )
        traj = rollout(
            env, policy, tasks=b, per_task=per_task, gamma=config.gamma,
            generator=_generator(derive_seed(seed, iteration, noise_stream)),
        )
        return add_advantages(traj, normalize=config.normalize_advantages)

    params = {k_: v.detach() for k_, v in params.items()}
    train = collect(params, TRAIN_ENV, TRAIN_NOISE, False)
    adapted = adapt_all(params, train, lr=config.inner_lr, adapt_names=adapt_names)
    valid = collect(adapted, VALID_ENV, VALID_NOISE, True)
    return IterationData(tasks=tasks, train=train, valid=valid)


def _outer_parts(params, data: IterationData, config: RLConfig, adapt_names):
    train, valid = _task_fields(data.train), _task_fields(data.valid)

    def outputs(p: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        return adapted_outputs(
            p, train, valid["obs"], lr=config.inner_lr,
            adapt_names=adapt_names, first_order=config.first_order, grad_offset=None,
        )

    return outputs, valid


def meta_gradient(
    params: Mapping[str, Tensor], data: IterationData, config: RLConfig,
    adapt_names: Sequence[str],
) -> tuple[Tensor, Params]:
    """The outer loss (−mean surrogate at θ) and its gradient through the inner step."""
    outputs, valid = _outer_parts(params, data, config, adapt_names)
    (mean, log_std), pullback = vjp(outputs, dict(params))
    loss, cot = _loss_cotangent(mean, log_std, valid)
    (grad,) = pullback(cot)
    return loss, grad


def _loss_cotangent(mean: Tensor, log_std: Tensor, valid):
    old_mean, old_ls = mean.detach(), log_std.detach()
    m = old_mean.clone().requires_grad_(True)
    ls = old_ls.clone().requires_grad_(True)
    surrogate, _ = surrogate_and_kl(m, ls, valid, old_mean, old_ls)
    loss = -surrogate
    cot = torch.autograd.grad(loss, (m, ls))
    return loss.detach(), cot


def _fisher_product(params, data, config, adapt_names, old_ls, outputs, pullback, valid):
    """v ↦ F v, F the Hessian at θ_old of the mean KL through the inner step.

    F = Jᵀ M J (see repsim.rl.objective): M = w/σ² on the means (w the per-state weight of the
    task-averaged masked mean) and 2/B on the log-stds. With ``fisher_subsample = k > 1`` the
    product uses every k-th trajectory of each task (OpenAI baselines' TRPO uses every 5th
    sample): J is then the Jacobian of the adapted policy on the kept D' states, with the inner
    Hessian from the kept D trajectories; a constant gradient offset keeps θ'ᵢ(θ_old) exactly
    the full-data adapted parameters, so only the curvature is estimated from fewer samples.
    The gradient and the line search's KL always use all trajectories.
    """
    names = list(params)
    k = config.fisher_subsample
    if k > 1:
        train = {f: v[:, ::k] for f, v in _task_fields(data.train).items()}
        valid = {f: v[:, ::k] for f, v in valid.items()}
        full = inner_gradients(params, _task_fields(data.train), adapt_names=adapt_names)
        sub = inner_gradients(params, train, adapt_names=adapt_names)
        offset = {n: (full[n] - sub[n]).detach() for n in full}

        def outputs(p):
            return adapted_outputs(
                p, train, valid["obs"], lr=config.inner_lr, adapt_names=adapt_names,
                first_order=config.first_order, grad_offset=offset,
            )

        _, pullback = vjp(outputs, params)
    mask = valid["mask"]
    n_tasks = mask.shape[0]
    w = mask / mask.sum((1, 2), keepdim=True).clamp_min(1.0) / n_tasks
    m_mean = w[..., None] * torch.exp(-2 * old_ls)[:, None, None, :]
    m_ls = torch.full_like(old_ls, 2.0 / n_tasks)

    def fvp(v_flat: Tensor) -> Tensor:
        tangent = unflatten(v_flat, params, names)
        _, (j_mean, j_ls) = jvp(outputs, (params,), (tangent,))
        (out,) = pullback((m_mean * j_mean, m_ls * j_ls))
        return flatten(out, names)

    return fvp


def meta_step(
    params: Mapping[str, Tensor],
    data: IterationData,
    config: RLConfig,
    adapt_names: Sequence[str],
) -> tuple[Params, TRPOStep]:
    """The TRPO step on the post-adaptation surrogate, differentiated through the inner step."""
    params = {k: v.detach() for k, v in params.items()}
    list(params)
    outputs, valid = _outer_parts(params, data, config, adapt_names)
    (mean, log_std), pullback = vjp(outputs, params)
    old_mean, old_ls = mean.detach(), log_std.detach()
    loss0, cot = _loss_cotangent(mean, log_std, valid)
    (grad,) = pullback(cot)

    fvp = _fisher_product(params, data, config, adapt_names, old_ls, outputs, pullback, valid)

    def evaluate(candidate: Params) -> tuple[float, float]:
        with torch.no_grad():
            c_mean, c_ls = outputs(candidate)
            surrogate, kl = surrogate_and_kl(c_mean, c_ls, valid, old_mean, old_ls)
        return float(-surrogate), float(kl)

    new, info = trpo_step(
        params, grad, fvp, evaluate, float(loss0),
        max_kl=config.max_kl, cg_iters=config.cg_iters, damping=config.cg_damping,
        ls_ratio=config.ls_ratio, ls_steps=config.ls_steps,
    )
    return {k: v.clone() for k, v in new.items()}, info
