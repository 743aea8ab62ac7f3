"""One meta-iteration of MAML-TRPO / ANIL-TRPO: sample, adapt, sample again, TRPO step.

Randomness is a pure function of ``(seed, iteration)``: the tasks, each rollout's env seed and
its action noise are drawn from seeds derived with ``numpy.random.SeedSequence``, so a run
resumed from any checkpoint retraces the uninterrupted one bit for bit.

Data parallelism (``torchrun``, :mod:`repsim.meta.distributed`): each rank rolls out a
contiguous shard of the iteration's tasks. A task's rollouts do not depend on the split (the
tasks are drawn for the whole meta-batch, and every rank draws the whole batch's action and
reset noise and keeps its slice), and every quantity TRPO needs is a mean over tasks: each rank
computes its tasks' terms and one all-reduce collects every task's term (the meta-gradient
and its loss, every Fisher-vector product of conjugate gradient, the surrogate and KL of every
line-search candidate). The terms are then added in task order (:func:`sum_over_tasks`), so
the sums have the same bits for any number of ranks: TRPO's conjugate gradient (damping 1e-5)
amplifies a change of summation order's round-off to ~1e-4 in one step, and rollouts with
different policies then drift apart. All ranks take the same step on the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.func import vjp

from repsim.meta.distributed import World
from repsim.models.policy import gaussian_log_prob, policy_mean
from repsim.rl.baseline import add_advantages
from repsim.rl.config import RLConfig
from repsim.rl.objective import (
    adapted_outputs,
    inner_gradients,
    reinforce_loss,
    task_surrogates_and_kls,
)
from repsim.rl.rollout import Trajectories, rollout
from repsim.rl.trpo import TRPOStep, trpo_step, unflatten

__all__ = [
    "IterationData",
    "adapt_all",
    "adapt_names_for",
    "derive_seed",
    "meta_gradient",
    "meta_step",
    "sample_iteration",
    "sum_over_tasks",
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
    return _adapt_with_gradients(params, train, lr=lr, adapt_names=adapt_names)[0]


def _adapt_with_gradients(params: Mapping[str, Tensor], train: Trajectories, *, lr: float,
                          adapt_names: Sequence[str]) -> tuple[Params, Params]:
    """(θ'ᵢ, ∇θ Lᵢ(θ)) for every task, detached: the inner gradients are kept for the Fisher
    product's offset (``IterationData.inner_grads``)."""
    grads = inner_gradients(params, _task_fields(train), adapt_names=adapt_names)
    adapted = {k: v.expand(train.tasks, *v.shape) for k, v in params.items()}
    adapted.update({k: params[k] - lr * g for k, g in grads.items()})
    return ({k: v.detach() for k, v in adapted.items()},
            {k: g.detach() for k, g in grads.items()})


@dataclass(frozen=True)
class IterationData:
    """The rollouts of one meta-iteration: D (under θ) and D' (under each θ'ᵢ).

    Under data parallelism these are one rank's tasks; ``total_tasks`` is then the whole
    meta-batch's size (the divisor of every task mean). ``None``: these are all the tasks.
    """

    tasks: list[dict]
    train: Trajectories
    valid: Trajectories
    total_tasks: int | None = None
    first_task: int = 0  # index of tasks[0] in the meta-batch
    # ∇θ Lᵢ(θ) on D of every task at the θ that collected D' (``theta``), or None: the
    # Fisher product's set-up then need not compute them again
    inner_grads: Params | None = None
    theta: Params | None = None

    def inner_grads_at(self, params: Mapping[str, Tensor]) -> Params | None:
        """The stored inner gradients if ``params`` is the θ that collected the data."""
        if self.inner_grads is None or self.theta is None or self.theta.keys() != params.keys():
            return None
        same = all(torch.equal(self.theta[k], params[k]) for k in params)
        return self.inner_grads if same else None

    @property
    def meta_batch(self) -> int:
        return self.train.tasks if self.total_tasks is None else self.total_tasks


def sample_iteration(
    params: Mapping[str, Tensor],
    config: RLConfig,
    iteration: int,
    *,
    adapt_names: Sequence[str],
    seed: int | None = None,
    tasks: list[dict] | None = None,
    shard: tuple[int, int] | None = None,
) -> IterationData:
    """Draw the iteration's tasks, roll out θ, adapt, roll out θ'; advantages filled in.

    ``shard = (first, count)``: only tasks ``first … first + count − 1`` of the meta-batch (one
    rank's share), with exactly the rollouts the whole batch would give them.
    """
    from repsim.rl.envs import make_batched, sample_tasks

    seed = config.seed if seed is None else seed
    k = config.trajectories
    if tasks is None:
        tasks = sample_tasks(config.env, config.meta_batch,
                             seed=derive_seed(seed, iteration, TASKS))
    total = len(tasks)
    first, b = (0, total) if shard is None else shard
    if b < 1 or not 0 <= first <= first + b <= total:
        raise ValueError(f"shard {shard} is not a non-empty part of {total} tasks")
    tasks = tasks[first: first + b]
    envs_of = (first * k, total * k)

    def collect(policy: Mapping[str, Tensor], env_stream: int, noise_stream: int, per_task: bool):
        env = make_batched(
            config.env, tasks, k, horizon=config.horizon,
            seed=derive_seed(seed, iteration, env_stream), envs_of=envs_of,
        )
        traj = rollout(
            env, policy, tasks=b, per_task=per_task, gamma=config.gamma,
            generator=_generator(derive_seed(seed, iteration, noise_stream)), envs_of=envs_of,
        )
        return add_advantages(traj, normalize=config.normalize_advantages)

    params = {k_: v.detach() for k_, v in params.items()}
    train = collect(params, TRAIN_ENV, TRAIN_NOISE, False)
    adapted, grads = _adapt_with_gradients(params, train, lr=config.inner_lr,
                                           adapt_names=adapt_names)
    valid = collect(adapted, VALID_ENV, VALID_NOISE, True)
    return IterationData(tasks=tasks, train=train, valid=valid, total_tasks=total,
                         first_task=first, inner_grads=grads, theta=params)


def _outer_parts(params, data: IterationData, config: RLConfig, adapt_names):
    train, valid = _task_fields(data.train), _task_fields(data.valid)

    def outputs(p: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        return adapted_outputs(
            p, train, valid["obs"], lr=config.inner_lr,
            adapt_names=adapt_names, first_order=config.first_order, grad_offset=None,
        )

    return outputs, valid


def sum_over_tasks(parts: Tensor, data: IterationData, world: World | None) -> Tensor:
    """Σ over the meta-batch's tasks of per-task terms, ``parts`` this rank's rows.

    Every rank places its rows in a meta-batch-sized buffer of zeros; the all-reduce fills in
    the others' rows exactly (x + 0 = x), and the rows are summed in task order: the same bits
    for any number of ranks and any split.
    """
    if world is None or world.size == 1:
        return parts.sum(0)
    buf = parts.new_zeros((data.meta_batch, *parts.shape[1:]))
    buf[data.first_task: data.first_task + parts.shape[0]] = parts
    return world.all_reduce_sum([buf], [buf])[0].sum(0)


def _task_meta_gradients(params, data: IterationData, config: RLConfig, adapt_names):
    """Per task: −surrogateᵢ / meta_batch, its flat gradient through the inner step, and the
    adapted policy's outputs on D'ᵢ at θ_old (the line search's reference).

    A per-task loop of ``torch.autograd.grad(create_graph=True)``: on 2,000 states per task it
    is faster than the vmapped inner step (benchmarks/bench_rl_meta.py).
    """
    names = list(params)
    theta = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    tr, va = data.train, data.valid
    keys = list(adapt_names)
    losses, grads, means, log_stds = [], [], [], []
    for i in range(tr.tasks):
        adapted = dict(theta)
        if keys:
            inner = reinforce_loss(theta, tr.obs[i], tr.actions[i], tr.advantages[i], tr.mask[i])
            inner_grads = torch.autograd.grad(inner, [theta[k] for k in keys],
                                              create_graph=not config.first_order)
            for k, g in zip(keys, inner_grads, strict=True):
                adapted[k] = theta[k] - config.inner_lr * g
        mean, log_std = policy_mean(adapted, va.obs[i]), adapted["head.log_std"]
        logp = gaussian_log_prob(mean, log_std, va.actions[i])
        ratio = torch.exp(logp - logp.detach())  # 1 at θ_old; its gradient is ∇ log π
        n = va.mask[i].sum().clamp_min(1.0)
        loss = -(ratio * va.advantages[i] * va.mask[i]).sum() / n / data.meta_batch
        grad = torch.autograd.grad(loss, [theta[k] for k in names])
        losses.append(loss.detach())
        grads.append(torch.cat([g.reshape(-1) for g in grad]))
        means.append(mean.detach())
        log_stds.append(log_std.detach())
    return (torch.stack(losses), torch.stack(grads), torch.stack(means),
            torch.stack(log_stds))


def meta_gradient(
    params: Mapping[str, Tensor], data: IterationData, config: RLConfig,
    adapt_names: Sequence[str], world: World | None = None,
) -> tuple[Tensor, Params]:
    """The outer loss (−mean surrogate at θ) and its gradient through the inner step."""
    losses, grads, _, _ = _task_meta_gradients(params, data, config, adapt_names)
    loss = sum_over_tasks(losses, data, world)
    return loss, unflatten(sum_over_tasks(grads, data, world), params, list(params))


def _fisher_product(params, data, config, adapt_names, old_ls):
    """v ↦ (Fᵢ v)ᵢ, per task of ``data``: F = Σᵢ Fᵢ is the Hessian at θ_old of the mean KL
    through the inner step.

    Fᵢ = Jᵢᵀ Mᵢ Jᵢ (see repsim.rl.objective): Mᵢ = w/σ² on the means (w the per-state weight of
    the task-averaged masked mean, averaged over the whole meta-batch) and 2/B on the
    log-stds. The products are taken with one θ per task (a leading task axis), so that the
    pullback returns each task's term, not their sum. With ``fisher_subsample = k > 1`` the
    product uses every k-th trajectory of each task (OpenAI baselines' TRPO uses every 5th
    sample): J is then the Jacobian of the adapted policy on the kept D' states, with the inner
    Hessian from the kept D trajectories; a constant gradient offset keeps θ'ᵢ(θ_old) exactly
    the full-data adapted parameters, so only the curvature is estimated from fewer samples.
    The gradient and the line search's KL always use all trajectories.
    """
    names = list(params)
    k = config.fisher_subsample
    train, valid = _task_fields(data.train), _task_fields(data.valid)
    offset = None
    if k > 1:
        full = data.inner_grads_at(params)
        if full is None:
            full = inner_gradients(params, train, adapt_names=adapt_names)
        train = {f: v[:, ::k] for f, v in train.items()}
        valid = {f: v[:, ::k] for f, v in valid.items()}
        sub = inner_gradients(params, train, adapt_names=adapt_names)
        offset = {n: (full[n] - sub[n]).detach() for n in full}
    b = data.train.tasks

    def outputs(p):
        return adapted_outputs(
            p, train, valid["obs"], lr=config.inner_lr, adapt_names=adapt_names,
            first_order=config.first_order, grad_offset=offset, per_task_params=True,
        )

    batched = {n: v.expand(b, *v.shape).contiguous() for n, v in params.items()}
    (mean0, ls0), pullback = vjp(outputs, batched)

    def pull(cotangent):
        return vjp(outputs, batched)[1](cotangent)

    # J v as the vector-Jacobian product of the (linear) pullback u ↦ Jᵀu: both graphs are
    # recorded once per TRPO step and replayed by every product, where forward-mode `jvp`
    # re-ran the inner step each time (2.5× slower, same products; tests/rl/test_objective.py
    # checks them against the KL's Hessian through an explicit unroll)
    _, push = vjp(pull, (torch.zeros_like(mean0), torch.zeros_like(ls0)))
    mask = valid["mask"]
    n_tasks = data.meta_batch
    w = mask / mask.sum((1, 2), keepdim=True).clamp_min(1.0) / n_tasks
    m_mean = w[..., None] * torch.exp(-2 * old_ls)[:, None, None, :]
    m_ls = torch.full_like(old_ls, 2.0 / n_tasks)

    def fvp(v_flat: Tensor) -> Tensor:
        tangent = {n: t.expand(b, *t.shape) for n, t in unflatten(v_flat, params, names).items()}
        ((j_mean, j_ls),) = push((tangent,))
        (out,) = pullback((m_mean * j_mean, m_ls * j_ls))
        return torch.cat([out[n].reshape(b, -1) for n in names], dim=1)

    return fvp


def meta_step(
    params: Mapping[str, Tensor],
    data: IterationData,
    config: RLConfig,
    adapt_names: Sequence[str],
    world: World | None = None,
) -> tuple[Params, TRPOStep]:
    """The TRPO step on the post-adaptation surrogate, differentiated through the inner step.

    ``world``: the ranks of a data-parallel run (``data`` is this rank's share of the tasks);
    every sum over tasks is collected from all ranks, so all ranks return the same step, and
    the step of any number of ranks.
    """
    params = {k: v.detach() for k, v in params.items()}
    names = list(params)
    losses, grads, old_mean, old_ls = _task_meta_gradients(params, data, config, adapt_names)
    loss0 = sum_over_tasks(losses, data, world)
    grad = unflatten(sum_over_tasks(grads, data, world), params, names)
    fvp_parts = _fisher_product(params, data, config, adapt_names, old_ls)

    def fvp(v: Tensor) -> Tensor:
        return sum_over_tasks(fvp_parts(v), data, world)

    outputs, valid = _outer_parts(params, data, config, adapt_names)

    def evaluate(candidate: Params) -> tuple[float, float]:
        with torch.no_grad():
            c_mean, c_ls = outputs(candidate)
            surrogates, kls = task_surrogates_and_kls(c_mean, c_ls, valid, old_mean, old_ls)
        terms = torch.stack([-surrogates, kls], dim=1) / data.meta_batch
        loss, kl = sum_over_tasks(terms, data, world).tolist()
        return loss, kl

    new, info = trpo_step(
        params, grad, fvp, evaluate, float(loss0),
        max_kl=config.max_kl, cg_iters=config.cg_iters, damping=config.cg_damping,
        ls_ratio=config.ls_ratio, ls_steps=config.ls_steps,
    )
    return {k: v.clone() for k, v in new.items()}, info
