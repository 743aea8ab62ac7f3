"""The Gaussian MLP policy of the meta-RL experiments (Finn et al. 2017; PAPER.md "Meta-RL").

``obs → fc1 (100, ReLU) → fc2 (100, ReLU) → head`` where ``head`` gives the action mean and owns
the state-independent log standard deviation (``head.log_std``), so that ANIL's head-only inner
loop adapts the exploration noise too, as the paper counts it. Layer names match the
classification models (``fc1``, ``fc2``, ``head``), so capture and freezing work unchanged.

:func:`policy_mean` is the same network as a pure function of a params dict (what the inner and
outer loops differentiate and ``torch.func.vmap`` lifts over tasks); the module's ``forward``
runs through the submodules so forward hooks (``repsim.capture``) see every layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from repsim.models.mlp import _Dense  # relu(linear(x)): a layer's activation is post-ReLU

__all__ = [
    "POLICY_BODY_LAYERS",
    "GaussianHead",
    "GaussianMLPPolicy",
    "gaussian_log_prob",
    "policy_mean",
    "task_policy_means",
]

POLICY_BODY_LAYERS: tuple[str, ...] = ("fc1", "fc2")


class GaussianHead(nn.Module):
    """Linear action mean plus a state-independent ``log_std`` (one per action dimension)."""

    def __init__(self, n_in: int, act_dim: int, *, init_std: float = 1.0) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, act_dim)
        self.log_std = nn.Parameter(torch.full((act_dim,), math.log(init_std)))

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


class GaussianMLPPolicy(nn.Module):
    """π(a|s) = N(mean(s), diag(exp(log_std))²), mean an MLP with two hidden ReLU layers.

    Weights are Xavier-uniform and biases zero, the initial std 1 (the reference ports' choice).
    """

    def __init__(
        self, obs_dim: int, act_dim: int, *, hidden: int = 100, init_std: float = 1.0
    ) -> None:
        super().__init__()
        if obs_dim < 1 or act_dim < 1 or hidden < 1:
            raise ValueError(
                f"policy sizes must be positive: obs_dim={obs_dim}, act_dim={act_dim}, "
                f"hidden={hidden}"
            )
        self.obs_dim, self.act_dim, self.hidden = obs_dim, act_dim, hidden
        self.fc1 = _Dense(obs_dim, hidden)
        self.fc2 = _Dense(hidden, hidden)
        self.head = GaussianHead(hidden, act_dim, init_std=init_std)
        for layer in (self.fc1.linear, self.fc2.linear, self.head.linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, obs: Tensor) -> Tensor:
        """The action mean ``(..., act_dim)``; the std is ``self.head.log_std.exp()``."""
        return self.head(self.fc2(self.fc1(obs)))


def policy_mean(params: Mapping[str, Tensor], obs: Tensor) -> Tensor:
    """:class:`GaussianMLPPolicy`'s mean as a pure function of its params dict."""
    h = F.relu(F.linear(obs, params["fc1.linear.weight"], params["fc1.linear.bias"]))
    h = F.relu(F.linear(h, params["fc2.linear.weight"], params["fc2.linear.bias"]))
    return F.linear(h, params["head.linear.weight"], params["head.linear.bias"])


_LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(mean: Tensor, log_std: Tensor, action: Tensor) -> Tensor:
    """log N(action; mean, diag(exp(log_std))²), summed over the last (action) dimension."""
    z = (action - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - 0.5 * _LOG_2PI).sum(-1)


def task_policy_means(params: Mapping[str, Tensor], obs: Tensor) -> Tensor:
    """:func:`policy_mean` of task ``i``'s params (a leading task axis) on its states ``obs[i]``.

    ``obs`` is ``(B, n, obs_dim)``, the result ``(B, n, act_dim)``: the numbers of
    ``torch.func.vmap(policy_mean)``, as three batched matmuls without vmap's per-call overhead
    (a rollout makes hundreds of these small calls). Each task's rows are one matrix product of
    their own, so a row's result does not depend on how many tasks share the call.
    """
    h = F.relu(torch.baddbmm(params["fc1.linear.bias"].unsqueeze(1), obs,
                             params["fc1.linear.weight"].transpose(1, 2)))
    h = F.relu(torch.baddbmm(params["fc2.linear.bias"].unsqueeze(1), h,
                             params["fc2.linear.weight"].transpose(1, 2)))
    return torch.baddbmm(params["head.linear.bias"].unsqueeze(1), h,
                         params["head.linear.weight"].transpose(1, 2))
