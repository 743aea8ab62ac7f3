"""Task samplers (seeded, deterministic, the right distributions), names, and registration."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium")
pytest.importorskip("mujoco")

import gymnasium as gym

import repsim.rl  # noqa: F401
from repsim.rl.envs import ENV_NAMES, GYM_IDS, make_batched, register_envs, sample_tasks


@pytest.mark.parametrize("name", ENV_NAMES)
def test_same_seed_same_tasks_other_seed_other_tasks(name):
    a = sample_tasks(name, 50, seed=3)
    assert a == sample_tasks(name, 50, seed=3)
    assert a != sample_tasks(name, 50, seed=4)
    assert sample_tasks(name, 10, seed=3) == a[:10]  # prefix-stable


def test_nav2d_goals_are_uniform_on_the_square():
    goals = np.array([t["goal"] for t in sample_tasks("nav2d", 4000, seed=0)])
    assert goals.shape == (4000, 2)
    assert goals.min() >= -0.5 and goals.max() <= 0.5
    # U[-0.5, 0.5]: mean 0 (sd of the mean 0.0046), variance 1/12, independent coordinates
    assert np.abs(goals.mean(0)).max() < 0.02
    assert np.allclose(goals.var(0), 1 / 12, atol=0.006)
    assert abs(np.corrcoef(goals.T)[0, 1]) < 0.05
    assert goals.min() < -0.49 and goals.max() > 0.49


def test_velocities_are_uniform_on_0_2():
    v = np.array([t["velocity"] for t in sample_tasks("cheetah-vel", 4000, seed=0)])
    assert v.min() >= 0.0 and v.max() <= 2.0
    assert abs(v.mean() - 1.0) < 0.04 and abs(v.var() - 4 / 12) < 0.025
    assert v.min() < 0.01 and v.max() > 1.99


def test_directions_are_fair_signs():
    d = [t["direction"] for t in sample_tasks("cheetah-dir", 4000, seed=0)]
    assert set(d) == {1, -1} and all(isinstance(x, int) for x in d)
    assert abs(np.mean(d)) < 0.05  # sd of the mean 0.016


@pytest.mark.parametrize(("n", "seed"), [(0, 0), (-1, 0), (2.0, 0), (3, -1), (3, 1.5)])
def test_bad_sampler_arguments(n, seed):
    with pytest.raises(ValueError, match="must be a"):
        sample_tasks("nav2d", n, seed=seed)


def test_unknown_env_name_lists_the_valid_names():
    for call in (
        lambda: sample_tasks("nav3d", 3, seed=0),
        lambda: make_batched("halfcheetah", [{"goal": (0, 0)}], 1, horizon=5, seed=0),
    ):
        with pytest.raises(ValueError, match="nav2d, cheetah-vel, cheetah-dir") as err:
            call()
        assert "unknown RL environment" in str(err.value)


def test_register_envs_is_idempotent_and_registers_every_id():
    register_envs()
    register_envs()
    for env_id in GYM_IDS.values():
        assert env_id in gym.registry
        assert gym.registry[env_id].max_episode_steps == 100


def test_missing_extra_names_repsim_rl(monkeypatch):
    # gymnasium made unimportable, repsim.rl imported afresh: the message names the extra.
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "gymnasium", None)
    monkeypatch.delitem(sys.modules, "repsim.rl")
    with pytest.raises(ImportError, match=r'gymnasium.*pip install "repsim-maml\[rl\]"'):
        importlib.import_module("repsim.rl")
