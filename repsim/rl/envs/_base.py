"""What every batched environment shares: the contract's attributes and input checks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

ENV_NAMES = ("nav2d", "cheetah-vel", "cheetah-dir")
TASK_KEYS = {"nav2d": "goal", "cheetah-vel": "velocity", "cheetah-dir": "direction"}


def check_env_name(name: Any) -> str:
    if name not in ENV_NAMES:
        raise ValueError(f"unknown RL environment {name!r}: choose one of {', '.join(ENV_NAMES)}")
    return name


def check_positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def task_value(name: str, task: Any) -> Any:
    """The task parameter of one task dict, checked: goal (gx, gy), velocity v, direction ±1."""
    key = TASK_KEYS[name]
    if not isinstance(task, Mapping) or key not in task:
        raise ValueError(f"a {name} task is a dict with key {key!r}, got {task!r}")
    value = task[key]
    if name == "nav2d":
        try:
            gx, gy = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(f"a nav2d goal is a pair (gx, gy) of numbers, got {value!r}") from None
        if not (math.isfinite(gx) and math.isfinite(gy)):
            raise ValueError(f"a nav2d goal must be finite, got {value!r}")
        return (gx, gy)
    if name == "cheetah-vel":
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"a goal velocity is a number, got {value!r}") from None
        if not math.isfinite(v):
            raise ValueError(f"a goal velocity must be finite, got {value!r}")
        return v
    if value not in (1, -1) or isinstance(value, bool):
        raise ValueError(f"a direction is +1 or -1, got {value!r}")
    return int(value)


def task_values(name: str, tasks: Sequence[Mapping[str, Any]]) -> list[Any]:
    if isinstance(tasks, Mapping) or not isinstance(tasks, Sequence) or len(tasks) == 0:
        raise ValueError(f"tasks must be a non-empty list of task dicts, got {tasks!r}")
    return [task_value(name, t) for t in tasks]


def check_finite_array(x: np.ndarray, what: str) -> None:
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contains NaN or infinite values")


class BatchedEnv:
    """``num_envs`` copies of one environment stepped together, task-major: env ``i`` runs
    ``tasks[i // trajectories_per_task]``.

    ``reset()`` → obs ``(num_envs, obs_dim)`` float32. ``step(action)`` with action
    ``(num_envs, act_dim)`` (the raw policy sample; the env clips it as its definition says) →
    ``(obs, reward, terminated)``: reward ``(num_envs,)`` float32 of this transition, terminated
    ``(num_envs,)`` bool = terminated at this step or earlier. Envs that terminated earlier return
    reward 0 and their last observation. The caller runs exactly ``horizon`` steps per reset.
    """

    name: str
    obs_dim: int
    act_dim: int
    horizon: int
    num_envs: int
    trajectories_per_task: int

    def __init__(self, name: str, num_tasks: int, trajectories_per_task: int, *, horizon: int):
        self.name = name
        self.trajectories_per_task = check_positive_int(
            trajectories_per_task, "trajectories_per_task"
        )
        self.horizon = check_positive_int(horizon, "horizon")
        self.num_tasks = num_tasks
        self.num_envs = num_tasks * self.trajectories_per_task
        self._t: int | None = None  # steps taken since reset; None before the first reset

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, num_envs={self.num_envs}, "
            f"tasks={self.num_tasks}, trajectories_per_task={self.trajectories_per_task}, "
            f"horizon={self.horizon})"
        )

    def _begin_step(self, action: Any, *, check_finite: bool = True) -> torch.Tensor:
        """Check the step is allowed and the action well formed; return it as float32.

        ``check_finite=False`` leaves the NaN/inf check to the caller (one numpy pass over the
        array it makes anyway is cheaper than a torch op)."""
        if self._t is None:
            raise RuntimeError(f"{self.name}: call reset() before step()")
        if self._t >= self.horizon:
            raise RuntimeError(
                f"{self.name}: the horizon of {self.horizon} steps is reached; call reset()"
            )
        # The policy's sample may carry autograd history or live on an accelerator: the
        # simulator needs plain CPU numbers.
        action = torch.as_tensor(action).detach().cpu()
        if action.shape != (self.num_envs, self.act_dim):
            raise ValueError(
                f"{self.name}: action must have shape ({self.num_envs}, {self.act_dim}), "
                f"got {tuple(action.shape)}"
            )
        if not action.is_floating_point():
            action = action.to(torch.float32)
        if check_finite and not bool(torch.isfinite(action).all()):
            raise ValueError(f"{self.name}: the action contains NaN or infinite values")
        self._t += 1
        return action.to(torch.float32)

    def reset(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(
        self, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError
