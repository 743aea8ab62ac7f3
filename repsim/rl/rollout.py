"""Batched rollouts of the Gaussian policy, and the per-task trajectory tensors they fill.

Every tensor of a :class:`Trajectories` is laid out ``(tasks, trajectories, horizon, ...)`` so
one task is one leading index (what ``torch.func.vmap`` lifts over). The environment is a
``BatchedEnv`` (``repsim.rl.envs.make_batched``): all tasks × trajectories advance in one call,
task-major (env ``i`` runs task ``i // trajectories``). The only randomness here is the action
noise, drawn from an explicit ``torch.Generator`` so a rollout is a pure function of its seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from repsim.models.policy import task_policy_means

__all__ = ["Trajectories", "discounted_returns", "rollout"]


@dataclass(frozen=True)
class Trajectories:
    """Rollouts of ``K`` trajectories for each of ``B`` tasks, ``T`` steps each.

    ``obs[b, k, t]`` is the state the action ``actions[b, k, t]`` was taken in and
    ``rewards[b, k, t]`` the reward after it; ``mask[b, k, t]`` is 1 while the episode is running
    (it includes the step that terminates it) and 0 after. ``returns`` are discounted
    reward-to-go; ``advantages`` are filled in by :func:`repsim.rl.baseline.add_advantages`.
    """

    obs: Tensor  # (B, K, T, obs_dim) float32
    actions: Tensor  # (B, K, T, act_dim) float32
    rewards: Tensor  # (B, K, T) float32, 0 after termination
    mask: Tensor  # (B, K, T) float32
    returns: Tensor  # (B, K, T) float32
    advantages: Tensor | None = None  # (B, K, T) float32

    @property
    def tasks(self) -> int:
        return int(self.obs.shape[0])

    def episode_returns(self) -> Tensor:
        """Undiscounted return of every trajectory, ``(B, K)``: what the paper reports."""
        return (self.rewards * self.mask).sum(-1)

    def task_returns(self) -> Tensor:
        """Mean undiscounted return per task, ``(B,)``."""
        return self.episode_returns().mean(-1)

    def to_dict(self) -> dict[str, Tensor]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    def with_advantages(self, advantages: Tensor) -> Trajectories:
        return replace(self, advantages=advantages)


def discounted_returns(rewards: Tensor, mask: Tensor, gamma: float) -> Tensor:
    """Reward-to-go ``R_t = r_t + γ R_{t+1}`` along the last axis, zero where ``mask`` is 0."""
    rewards = rewards * mask
    out = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[..., 0])
    for t in range(rewards.shape[-1] - 1, -1, -1):
        running = rewards[..., t] + gamma * running
        out[..., t] = running
    return out * mask


@torch.no_grad()
def rollout(
    env,
    params: Mapping[str, Tensor],
    *,
    tasks: int,
    generator: torch.Generator,
    gamma: float = 0.99,
    per_task: bool = False,
    envs_of: tuple[int, int] | None = None,
) -> Trajectories:
    """Run ``env.horizon`` steps of the Gaussian policy in every env of ``env``.

    ``tasks`` is the number of tasks the env's ``num_envs`` are split over (task-major).
    ``params`` are the policy's parameters, shared by all tasks, or with ``per_task=True`` one
    set per task (a leading axis of length ``tasks``, e.g. the adapted θ'ᵢ). Actions are
    ``mean + std·ε`` with ε from ``generator``; the env clips them as its definition says.
    """
    n_envs, horizon = env.num_envs, env.horizon
    obs_dim, act_dim = env.obs_dim, env.act_dim
    log_std = params["head.log_std"]
    n_tasks = tasks
    if n_envs % n_tasks:
        raise ValueError(f"{n_envs} envs cannot be split evenly over {n_tasks} tasks")
    k = n_envs // n_tasks
    if per_task and log_std.shape[0] != n_tasks:
        raise ValueError(f"per-task parameters for {log_std.shape[0]} tasks, env has {n_tasks}")
    first, total = (0, n_envs) if envs_of is None else envs_of
    if not 0 <= first <= first + n_envs <= total:
        raise ValueError(f"envs_of={envs_of} does not hold the env's {n_envs} environments")
    if not per_task:
        # One θ for every task, still evaluated task by task (a batched matmul of k rows per
        # task): a plain matmul over all envs takes another kernel for few rows, so an env's
        # actions would depend on how many envs share the call (how tasks are split over ranks).
        params = {name: v.expand(n_tasks, *v.shape) for name, v in params.items()}
        log_std = params["head.log_std"]
    obs_buf = torch.empty(horizon, n_envs, obs_dim)
    act_buf = torch.empty(horizon, n_envs, act_dim)
    rew_buf = torch.empty(horizon, n_envs)
    mask_buf = torch.empty(horizon, n_envs)
    alive = torch.ones(n_envs, dtype=torch.bool)
    obs = env.reset()
    for t in range(horizon):
        mean = task_policy_means(params, obs.view(n_tasks, k, obs_dim)).reshape(n_envs, act_dim)
        std = log_std.exp().repeat_interleave(k, dim=0)
        noise = torch.randn(total, act_dim, generator=generator)[first: first + n_envs]
        action = mean + std * noise
        obs_buf[t], act_buf[t], mask_buf[t] = obs, action, alive
        obs, reward, terminated = env.step(action)
        rew_buf[t] = torch.where(alive, reward, torch.zeros_like(reward))
        alive = ~terminated
    return _to_trajectories(obs_buf, act_buf, rew_buf, mask_buf, n_tasks, gamma)


def _to_trajectories(obs, act, rew, mask, n_tasks: int, gamma: float) -> Trajectories:
    k = obs.shape[1] // n_tasks

    def shape(x: Tensor) -> Tensor:  # (T, N, ...) -> (B, K, T, ...)
        x = x.reshape(x.shape[0], n_tasks, k, *x.shape[2:])
        return x.movedim(0, 2).contiguous()

    rewards, valid = shape(rew), shape(mask)
    return Trajectories(
        obs=shape(obs),
        actions=shape(act),
        rewards=rewards,
        mask=valid,
        returns=discounted_returns(rewards, valid, gamma),
    )
