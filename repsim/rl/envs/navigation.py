"""2D navigation (Finn et al. 2017; PAPER.md "Meta-RL"), as a gymnasium env and in batched form.

The state is the agent's position in R², starting at (0, 0); a task is a goal (gx, gy). An
action is clipped to [-0.1, 0.1] per coordinate and added to the position; the reward, taken
after the move, is minus the Euclidean distance to the goal. An episode terminates when
|x - gx| < 0.01 and |y - gy| < 0.01, and is truncated at the horizon.

Both forms compute in float32 with the same operations (clip, add, subtract, sqrt(dx² + dy²)),
so the batched form reproduces the gymnasium env exactly, step for step.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from repsim.rl.envs._base import BatchedEnv, check_finite_array, task_value, task_values

__all__ = ["MAX_STEP", "SUCCESS_RADIUS", "BatchedNavigation2D", "Navigation2DEnv"]

MAX_STEP = 0.1  # largest move per coordinate per step
SUCCESS_RADIUS = 0.01  # terminate when both |x - gx| and |y - gy| are below this


class Navigation2DEnv(gym.Env):
    """``repsim/Navigation2D-v0``: set the goal with ``reset(options={"goal": (gx, gy)})``.

    Without a goal in ``options`` the previous goal is kept; on the very first reset a goal is
    drawn from U[-0.5, 0.5]² with the env's seeded generator.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-MAX_STEP, MAX_STEP, shape=(2,), dtype=np.float32)
        self._goal: np.ndarray | None = None
        self._pos = np.zeros(2, dtype=np.float32)

    @property
    def goal(self) -> tuple[float, float] | None:
        return None if self._goal is None else (float(self._goal[0]), float(self._goal[1]))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "goal" in options:
            self._goal = np.asarray(task_value("nav2d", options), dtype=np.float32)
        elif self._goal is None:
            self._goal = self.np_random.uniform(-0.5, 0.5, size=2).astype(np.float32)
        self._pos = np.zeros(2, dtype=np.float32)
        return self._pos.copy(), {"goal": self.goal}

    def step(self, action: Any):
        if self._goal is None:
            raise RuntimeError("Navigation2DEnv: call reset() before step()")
        a = np.asarray(action, dtype=np.float32)
        if a.shape != (2,):
            raise ValueError(f"Navigation2DEnv: action must have shape (2,), got {a.shape}")
        check_finite_array(a, "Navigation2DEnv: the action")
        self._pos = self._pos + np.clip(a, np.float32(-MAX_STEP), np.float32(MAX_STEP))
        dx, dy = self._pos - self._goal
        reward = -np.sqrt(dx * dx + dy * dy)
        terminated = bool(abs(dx) < SUCCESS_RADIUS and abs(dy) < SUCCESS_RADIUS)
        return self._pos.copy(), float(reward), terminated, False, {"goal": self.goal}


class BatchedNavigation2D(BatchedEnv):
    """All tasks × trajectories of 2D navigation in one tensor op per step (pure torch)."""

    obs_dim = 2
    act_dim = 2

    def __init__(
        self, tasks: list[dict], trajectories_per_task: int, *, horizon: int, seed: int = 0
    ):
        goals = task_values("nav2d", tasks)
        super().__init__("nav2d", len(goals), trajectories_per_task, horizon=horizon)
        self.seed = seed  # recorded only: navigation starts at the origin, nothing is random
        goal = torch.tensor(goals, dtype=torch.float32)
        self._goal = goal.repeat_interleave(self.trajectories_per_task, dim=0)  # task-major
        self._pos = torch.zeros(self.num_envs, 2)
        self._done = torch.zeros(self.num_envs, dtype=torch.bool)

    def reset(self) -> torch.Tensor:
        self._t = 0
        self._pos = torch.zeros(self.num_envs, 2)
        self._done = torch.zeros(self.num_envs, dtype=torch.bool)
        return self._pos.clone()

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a = self._begin_step(action).clamp(-MAX_STEP, MAX_STEP)
        live = ~self._done
        pos = torch.where(live[:, None], self._pos + a, self._pos)  # finished envs stay put
        d = pos - self._goal
        dx, dy = d[:, 0], d[:, 1]
        # torch's float32 sqrt is not always correctly rounded (numpy's is); sqrt in float64
        # then rounding to float32 is, so both forms give the same bits.
        dist = torch.sqrt((dx * dx + dy * dy).double()).float()
        reward = torch.where(live, -dist, 0.0)
        self._done = self._done | ((dx.abs() < SUCCESS_RADIUS) & (dy.abs() < SUCCESS_RADIUS))
        self._pos = pos
        return pos.clone(), reward, self._done.clone()
