"""Seeded task draws for the three settings of PAPER.md "Meta-RL"."""

from __future__ import annotations

import numpy as np

from repsim.rl.envs._base import check_env_name, check_positive_int, check_seed

__all__ = ["GOAL_RANGE", "VELOCITY_RANGE", "sample_tasks"]

GOAL_RANGE = (-0.5, 0.5)  # nav2d goals: U[-0.5, 0.5]² (Finn et al. 2017)
VELOCITY_RANGE = (0.0, 2.0)  # cheetah-vel goal velocities: U[0, 2]


def sample_tasks(name: str, n: int, *, seed: int) -> list[dict]:
    """``n`` tasks of environment ``name``, a pure function of ``(name, n, seed)``.

    nav2d → ``{"goal": (gx, gy)}`` with (gx, gy) ~ U[-0.5, 0.5]²; cheetah-vel →
    ``{"velocity": v}`` with v ~ U[0, 2]; cheetah-dir → ``{"direction": ±1}``, each sign with
    probability 1/2. Draws are sequential from ``numpy.random.default_rng(seed)``, so the first
    k of n tasks are the tasks drawn with n = k.
    """
    check_env_name(name)
    n = check_positive_int(n, "n")
    rng = np.random.default_rng(check_seed(seed))
    if name == "nav2d":
        goals = rng.uniform(*GOAL_RANGE, size=(n, 2))
        return [{"goal": (float(gx), float(gy))} for gx, gy in goals]
    if name == "cheetah-vel":
        return [{"velocity": float(v)} for v in rng.uniform(*VELOCITY_RANGE, size=n)]
    return [{"direction": 1 if b else -1} for b in rng.integers(0, 2, size=n)]
