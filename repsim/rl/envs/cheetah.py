"""HalfCheetah velocity and direction tasks (PAPER.md "Meta-RL") on gymnasium's HalfCheetah-v5.

Dynamics are gymnasium's HalfCheetah-v5 (its MuJoCo model, frame skip 5, dt = 0.05 s, reset
noise qpos + U(-0.1, 0.1), qvel + 0.1 N(0, 1)); only the reward changes with the task:

- velocity v_goal: reward = -|v_x - v_goal| - 0.05 ‖a‖²
- direction d = ±1: reward = d · v_x - 0.05 ‖a‖²

with v_x = (x after - x before) / dt the root's forward velocity, as gymnasium computes it. The
action is clipped to the actuators' range [-1, 1] before it is applied, and the control cost is
taken on the clipped action: MuJoCo clamps the controls anyway, so the cost is that of the
torque actually applied, not of exploration noise beyond the limits. This is what the official
code did (rllab's ``normalize`` wrapper clips before the env computes its reward) and what
gymnasium's ``ClipAction`` wrapper does; pytorch-maml-rl clips to [-1, 1] in its action wrapper too.
The episode never terminates; it is truncated at the horizon.

:class:`BatchedHalfCheetah` steps many simulations with ``mujoco.batch.Batch``: one C call per
environment step runs the five substeps of every simulation, carrying each one's full
integration state (warm start included), so it is bit-identical to one MjData per environment,
and therefore to the gymnasium env given the same reset noise and actions.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import torch
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from mujoco.batch import Batch

from repsim.rl.envs._base import (
    BatchedEnv,
    check_finite_array,
    check_positive_int,
    task_value,
    task_values,
)

__all__ = [
    "CTRL_COST_WEIGHT",
    "FRAME_SKIP",
    "RESET_NOISE_SCALE",
    "BatchedHalfCheetah",
    "HalfCheetahDirEnv",
    "HalfCheetahVelEnv",
    "cheetah_model",
]

CTRL_COST_WEIGHT = 0.05  # 0.5 · 1e-1 in the reference implementations
FRAME_SKIP = 5  # gymnasium's HalfCheetah-v5
RESET_NOISE_SCALE = 0.1  # gymnasium's HalfCheetah-v5
# MuJoCo meets NaN, inf or huge values by resetting the simulation and counting a warning; an
# env that silently jumped back to its initial state would corrupt returns, so these raise.
_UNSTABLE = slice(int(mujoco.mjtWarning.mjWARN_BADQPOS), int(mujoco.mjtWarning.mjWARN_BADQACC) + 1)
assert _UNSTABLE.stop - _UNSTABLE.start == 3  # BADQPOS, BADQVEL, BADQACC are consecutive
_UNSTABLE_MESSAGE = (
    "MuJoCo met NaN, infinite or huge values in {where} (the simulation is unstable) and "
    "would reset it silently"
)


def _xml_path() -> Path:
    import gymnasium.envs.mujoco as gym_mujoco

    return Path(gym_mujoco.__file__).parent / "assets" / "half_cheetah.xml"


@contextmanager
def _quiet_compile() -> Iterator[None]:
    """Compile gymnasium's half_cheetah.xml without MuJoCo's note on ``settotalmass``.

    The xml uses that deprecated attribute, and MuJoCo 4 reports it at every compile on stderr
    and in a MUJOCO_LOG.TXT it creates in the working directory. This drops that one message
    and passes any other on as a Python warning; afterwards MuJoCo's default handler is back.
    """

    def handler(message: str) -> None:
        if "settotalmass" not in message:
            warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)

    mujoco.set_mju_user_warning(handler)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(None)


def cheetah_model() -> mujoco.MjModel:
    """gymnasium's HalfCheetah-v5 MuJoCo model, compiled from the xml it ships."""
    with _quiet_compile():
        return mujoco.MjModel.from_xml_path(str(_xml_path()))


def _task_reward(kind: str, task: Any, x_velocity: Any) -> Any:
    """The task part of the reward (scalars or arrays): -|v_x - v| or d · v_x."""
    if kind == "cheetah-vel":
        return -np.abs(x_velocity - task)
    return task * x_velocity


class _HalfCheetahTask(HalfCheetahEnv):
    """HalfCheetah-v5 with a task reward; the task is set by ``reset(options={key: value})``.

    Without the key in ``options`` the previous task is kept; on the very first reset a task is
    drawn with the env's seeded generator (as :func:`repsim.rl.envs.sample_tasks` draws them).
    """

    _kind = ""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("ctrl_cost_weight", CTRL_COST_WEIGHT)
        with _quiet_compile():
            super().__init__(**kwargs)
        self.task: Any = None

    def _draw_task(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        key = "velocity" if self._kind == "cheetah-vel" else "direction"
        if options and key in options:
            self.task = task_value(self._kind, options)
        obs, info = super().reset(seed=seed, options=options)
        if self.task is None:
            self.task = self._draw_task()
        return obs, {**info, key: self.task}

    def step(self, action: Any):
        if self.task is None:
            raise RuntimeError(f"{type(self).__name__}: call reset() before step()")
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise ValueError(
                f"{type(self).__name__}: action must have shape {self.action_space.shape}, "
                f"got {a.shape}"
            )
        check_finite_array(a, f"{type(self).__name__}: the action")
        a = np.clip(a, self.action_space.low, self.action_space.high)
        obs, reward, terminated, truncated, info = super().step(a)
        if self.data.warning.number[_UNSTABLE].any():
            raise ValueError(_UNSTABLE_MESSAGE.format(where=f"{type(self).__name__}"))
        check_finite_array(obs, f"{type(self).__name__}: MuJoCo's observation")
        check_finite_array(np.asarray(reward), f"{type(self).__name__}: the reward")
        return obs, reward, terminated, truncated, info

    def _get_rew(self, x_velocity: float, action: np.ndarray):
        forward = _task_reward(self._kind, self.task, x_velocity)
        ctrl_cost = self.control_cost(action)
        return forward - ctrl_cost, {"reward_forward": forward, "reward_ctrl": -ctrl_cost}


class HalfCheetahVelEnv(_HalfCheetahTask):
    """``repsim/HalfCheetahVel-v0``: ``reset(options={"velocity": v})``; reward
    -|v_x - v| - 0.05 ‖a‖²."""

    _kind = "cheetah-vel"

    def _draw_task(self) -> float:
        return float(self.np_random.uniform(0.0, 2.0))


class HalfCheetahDirEnv(_HalfCheetahTask):
    """``repsim/HalfCheetahDir-v0``: ``reset(options={"direction": ±1})``; reward
    d · v_x - 0.05 ‖a‖²."""

    _kind = "cheetah-dir"

    def _draw_task(self) -> int:
        return 1 if self.np_random.integers(0, 2) else -1


class BatchedHalfCheetah(BatchedEnv):
    """``len(tasks) * trajectories_per_task`` HalfCheetahs in one ``mujoco.batch.Batch``.

    Reset noise: each reset draws one 63-bit seed per environment from
    ``numpy.random.default_rng(seed)`` (kept in :attr:`reset_seeds`), and environment ``i``'s
    noise is exactly what gymnasium's HalfCheetah-v5 draws after ``reset(seed=reset_seeds[i])``.
    ``threads`` > 1 steps the simulations on that many threads (bit-identical results).
    """

    act_dim = 6

    def __init__(
        self,
        name: str,
        tasks: list[dict],
        trajectories_per_task: int,
        *,
        horizon: int,
        seed: int,
        threads: int = 1,
        envs_of: tuple[int, int] | None = None,
    ):
        values = task_values(name, tasks)
        super().__init__(name, len(values), trajectories_per_task, horizon=horizon)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        # (first, total): these envs are a slice of a larger batch split over ranks
        self._envs_of = (0, self.num_envs) if envs_of is None else envs_of
        first, total = self._envs_of
        if not 0 <= first <= first + self.num_envs <= total:
            raise ValueError(f"envs_of={envs_of} does not hold {self.num_envs} environments")
        self.reset_seeds: np.ndarray | None = None
        self.model = cheetah_model()
        self.obs_dim = self.model.nq - 1 + self.model.nv  # x position excluded: 17
        self.dt = self.model.opt.timestep * FRAME_SKIP
        per_env = np.repeat(np.asarray(values, dtype=np.float64), self.trajectories_per_task)
        self._task = per_env  # task-major: env i runs tasks[i // trajectories_per_task]
        self._batch = Batch(
            self.model, self.num_envs, nthread=check_positive_int(threads, "threads")
        )
        self._qpos = self._batch.bind("qpos")  # live (num_envs, nq) views of the state rows
        self._qvel = self._batch.bind("qvel")
        self._ctrl = self._batch.bind("ctrl")
        self._warnings = self._batch.warning  # (num_envs, mjNWARNING, 2): counts, last info
        lo, hi = self.model.actuator_ctrlrange.T
        self._lo, self._hi = lo.copy(), hi.copy()
        self._obs = np.empty((self.num_envs, self.obs_dim), dtype=np.float32)
        self._done = torch.zeros(self.num_envs, dtype=torch.bool)  # HalfCheetah never ends

    def reset(self) -> torch.Tensor:
        m = self.model
        first, total = self._envs_of
        seeds = self._rng.integers(0, 2**63, size=total)  # the whole batch's, then our slice
        self.reset_seeds = seeds[first: first + self.num_envs]
        noise_q = np.empty((self.num_envs, m.nq))
        noise_v = np.empty((self.num_envs, m.nv))
        for i, s in enumerate(self.reset_seeds):
            g = np.random.default_rng(int(s))  # gymnasium's seeding.np_random(s)
            noise_q[i] = g.uniform(-RESET_NOISE_SCALE, RESET_NOISE_SCALE, size=m.nq)
            noise_v[i] = RESET_NOISE_SCALE * g.standard_normal(m.nv)
        # mj_resetData for every simulation (time, warm start and controls to zero), then the
        # noisy state, as gymnasium's reset does it.
        self._batch.reset(stage=mujoco.mjtStage.mjSTAGE_NONE)
        self._qpos[:] = m.qpos0 + noise_q
        self._qvel[:] = 0.0 + noise_v
        self._t = 0
        return self._observe()

    def _observe(self) -> torch.Tensor:
        self._obs[:, : self.model.nq - 1] = self._qpos[:, 1:]
        self._obs[:, self.model.nq - 1 :] = self._qvel
        check_finite_array(self._obs, f"{self.name}: MuJoCo's observation")
        return torch.from_numpy(self._obs.copy())

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a = self._begin_step(action, check_finite=False).numpy().astype(np.float64)
        check_finite_array(a, f"{self.name}: the action")
        np.maximum(a, self._lo, out=a)  # clip to the actuators' range (np.clip is slower)
        np.minimum(a, self._hi, out=a)
        x_before = self._qpos[:, 0].copy()
        self._ctrl[:] = a
        self._batch.step(nstep=FRAME_SKIP)
        if self._warnings[:, _UNSTABLE, 0].any():
            unstable = self._warnings[:, _UNSTABLE, 0].any(axis=1)
            where = f"{self.name} env(s) {np.flatnonzero(unstable)[:5].tolist()}"
            raise ValueError(_UNSTABLE_MESSAGE.format(where=where) + "; call reset()")
        x_velocity = (self._qpos[:, 0] - x_before) / self.dt
        reward = _task_reward(self.name, self._task, x_velocity)
        reward = reward - CTRL_COST_WEIGHT * np.einsum("ij,ij->i", a, a)
        check_finite_array(reward, f"{self.name}: the reward")
        return self._observe(), torch.from_numpy(reward.astype(np.float32)), self._done.clone()
