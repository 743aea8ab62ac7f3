"""Small random policies and fixed trajectory batches for the algorithm tests."""

from __future__ import annotations

import torch

from repsim.models.policy import GaussianMLPPolicy
from repsim.rl.baseline import add_advantages
from repsim.rl.rollout import Trajectories, discounted_returns


def small_params(obs_dim: int = 3, act_dim: int = 2, hidden: int = 6, seed: int = 0):
    torch.manual_seed(seed)
    policy = GaussianMLPPolicy(obs_dim, act_dim, hidden=hidden, init_std=0.7)
    with torch.no_grad():  # non-zero biases, so every term of the gradient is exercised
        for p in policy.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return policy, {k: v.detach().clone() for k, v in policy.named_parameters()}


def fixed_trajectories(tasks=3, k=4, horizon=7, obs_dim=3, act_dim=2, seed=1, terminate=True):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(tasks, k, horizon, obs_dim, generator=g)
    actions = torch.randn(tasks, k, horizon, act_dim, generator=g)
    rewards = torch.randn(tasks, k, horizon, generator=g)
    mask = torch.ones(tasks, k, horizon)
    if terminate:  # some episodes end early
        mask[0, min(1, k - 1), horizon // 2 :] = 0
        mask[tasks - 1, k - 1, 2:] = 0
    rewards = rewards * mask
    traj = Trajectories(obs, actions, rewards, mask, discounted_returns(rewards, mask, 0.99))
    return add_advantages(traj)
