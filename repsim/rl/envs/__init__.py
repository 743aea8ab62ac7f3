"""The meta-RL environments: gymnasium ids, seeded task samplers and batched rollout forms.

``ENV_NAMES`` are the CLI's ``--dataset`` names; ``GYM_IDS`` the gymnasium ids that
:func:`register_envs` registers (``gymnasium.make(GYM_IDS[name], max_episode_steps=H)`` sets the
horizon; the registered default is 100). :func:`make_batched` builds the fast form used for
training: ``len(tasks) * trajectories_per_task`` environments stepped together, task-major.
"""

from __future__ import annotations

import gymnasium as gym

from repsim.rl.envs._base import ENV_NAMES, BatchedEnv, check_env_name, check_seed
from repsim.rl.envs.cheetah import BatchedHalfCheetah, HalfCheetahDirEnv, HalfCheetahVelEnv
from repsim.rl.envs.navigation import BatchedNavigation2D, Navigation2DEnv
from repsim.rl.envs.tasks import sample_tasks

__all__ = [
    "DEFAULT_HORIZON",
    "ENV_NAMES",
    "GYM_IDS",
    "BatchedEnv",
    "BatchedHalfCheetah",
    "BatchedNavigation2D",
    "HalfCheetahDirEnv",
    "HalfCheetahVelEnv",
    "Navigation2DEnv",
    "make_batched",
    "register_envs",
    "sample_tasks",
]

GYM_IDS = {
    "nav2d": "repsim/Navigation2D-v0",
    "cheetah-vel": "repsim/HalfCheetahVel-v0",
    "cheetah-dir": "repsim/HalfCheetahDir-v0",
}
_ENTRY_POINTS = {
    "nav2d": "repsim.rl.envs.navigation:Navigation2DEnv",
    "cheetah-vel": "repsim.rl.envs.cheetah:HalfCheetahVelEnv",
    "cheetah-dir": "repsim.rl.envs.cheetah:HalfCheetahDirEnv",
}
DEFAULT_HORIZON = 100  # the common PyTorch ports' horizon (the official code used 200 for cheetah)


def register_envs() -> None:
    """Register the three gymnasium ids (idempotent: ids already registered are left alone)."""
    for name, env_id in GYM_IDS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id, entry_point=_ENTRY_POINTS[name], max_episode_steps=DEFAULT_HORIZON
            )


def make_batched(
    name: str,
    tasks: list[dict],
    trajectories_per_task: int,
    *,
    horizon: int,
    seed: int,
    threads: int = 1,
    envs_of: tuple[int, int] | None = None,
) -> BatchedEnv:
    """``len(tasks) * trajectories_per_task`` environments of ``name`` stepped together.

    Env ``i`` runs ``tasks[i // trajectories_per_task]``; ``seed`` fixes the reset noise (the
    cheetah's; navigation always starts at the origin). ``threads`` > 1 steps the cheetahs on
    that many threads of this process (same results); navigation ignores it.
    ``envs_of = (first, total)`` makes these environments ``first … first + num_envs − 1`` of a
    ``total``-environment batch split over ranks: the reset noise is the full batch's, sliced,
    so an environment's start does not depend on the split.
    """
    check_env_name(name)
    seed = check_seed(seed)
    if name == "nav2d":
        return BatchedNavigation2D(tasks, trajectories_per_task, horizon=horizon, seed=seed)
    return BatchedHalfCheetah(
        name, tasks, trajectories_per_task, horizon=horizon, seed=seed, threads=threads,
        envs_of=envs_of,
    )
