"""2D navigation against hand-computed values from PAPER.md's definition, and batched == gym."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("gymnasium")
pytest.importorskip("mujoco")

import gymnasium as gym

import repsim.rl  # noqa: F401  (registers the ids)
from repsim.rl.envs import GYM_IDS, make_batched, sample_tasks


def _gym_nav(goal):
    env = gym.make(GYM_IDS["nav2d"])
    obs, _ = env.reset(seed=0, options={"goal": goal})
    return env, obs


def test_gym_nav2d_clips_moves_and_rewards_after_the_move():
    env, obs = _gym_nav((0.3, -0.2))
    assert obs.tolist() == [0.0, 0.0]
    # (0.5, -0.03) clips to (0.1, -0.03): position (0.1, -0.03); reward -|(0.1-0.3, -0.03+0.2)|
    obs, r, term, trunc, _ = env.step(np.array([0.5, -0.03]))
    assert obs == pytest.approx([0.1, -0.03], abs=1e-7)
    assert r == pytest.approx(-math.hypot(-0.2, 0.17), abs=1e-6)
    assert not term and not trunc
    # (-7, -7) clips to (-0.1, -0.1): position (0.0, -0.13)
    obs, r, *_ = env.step(np.array([-7.0, -7.0]))
    assert obs == pytest.approx([0.0, -0.13], abs=1e-7)
    assert r == pytest.approx(-math.hypot(-0.3, 0.07), abs=1e-6)


def test_gym_nav2d_terminates_inside_the_box_only():
    env, _ = _gym_nav((0.1, 0.05))
    # (0.1, 0.0405): |dy| = 0.0095 < 0.01 and dx = 0 -> terminated, reward = -0.0095
    _, r, term, _, _ = env.step(np.array([0.1, 0.0405]))
    assert term and r == pytest.approx(-0.0095, abs=1e-6)
    env, _ = _gym_nav((0.1, 0.05))
    # |dy| = 0.0105: outside the box although the distance is small -> not terminated
    _, _, term, _, _ = env.step(np.array([0.1, 0.0395]))
    assert not term
    env, _ = _gym_nav((0.1, 0.05))
    # a diagonal miss: |dx| = |dy| = 0.0099 inside the box, distance 0.014 > 0.01 -> terminated
    _, _, term, _, _ = env.step(np.array([0.0901, 0.0401]))
    assert term


def test_gym_nav2d_truncates_at_the_horizon():
    env = gym.make(GYM_IDS["nav2d"], max_episode_steps=3)
    env.reset(seed=0, options={"goal": (0.5, 0.5)})
    truncs = [env.step(np.zeros(2))[3] for _ in range(3)]
    assert truncs == [False, False, True]


def test_gym_nav2d_keeps_the_goal_and_draws_a_seeded_one_first():
    a, b = gym.make(GYM_IDS["nav2d"]), gym.make(GYM_IDS["nav2d"])
    _, info_a = a.reset(seed=5)
    _, info_b = b.reset(seed=5)
    assert info_a["goal"] == info_b["goal"]
    assert all(-0.5 <= g <= 0.5 for g in info_a["goal"])
    _, info = a.reset(seed=6)  # no goal in options: the previous goal stays
    assert info["goal"] == info_a["goal"]


def test_batched_nav2d_hand_computed_first_steps():
    tasks = [{"goal": (0.3, -0.2)}, {"goal": (0.1, 0.05)}]
    env = make_batched("nav2d", tasks, 2, horizon=4, seed=0)
    assert env.num_envs == 4 and env.obs_dim == 2 and env.act_dim == 2
    obs = env.reset()
    assert obs.dtype == torch.float32 and obs.tolist() == [[0.0, 0.0]] * 4
    act = torch.tensor([[0.5, -0.03], [0.0, 0.0], [0.1, 0.0405], [0.1, 0.0395]])
    obs, r, term = env.step(act)
    assert obs[0].tolist() == pytest.approx([0.1, -0.03], abs=1e-7)
    expected = [-math.hypot(-0.2, 0.17), -math.hypot(-0.3, -0.2), -0.0095, -0.0105]
    assert r.tolist() == pytest.approx(expected, abs=1e-6)
    assert term.tolist() == [False, False, True, False]
    # env 2 terminated: reward 0 and its last observation from now on; the others move on
    obs2, r2, term2 = env.step(torch.full((4, 2), 0.05))
    assert r2[2].item() == 0.0 and obs2[2].tolist() == obs[2].tolist()
    assert term2[2].item() and obs2[0].tolist() == pytest.approx([0.15, 0.02], abs=1e-7)


def test_batched_nav2d_termination_is_the_box_not_the_circle():
    env = make_batched("nav2d", [{"goal": (0.1, 0.05)}], 3, horizon=2, seed=0)
    env.reset()
    # |dx| = |dy| = 0.0099 (distance 0.014): inside the box -> terminated; |dx| = 0.0101,
    # dy = 0 (distance 0.0101): outside -> not; dx = dy = 0 exactly -> terminated
    act = torch.tensor([[0.0901, 0.0401], [0.0899, 0.05], [0.1, 0.05]])
    _, r, term = env.step(act)
    assert term.tolist() == [True, False, True]
    assert r.tolist() == pytest.approx([-0.0099 * math.sqrt(2), -0.0101, 0.0], abs=1e-6)


def _random_actions(n_steps, num_envs, seed):
    g = torch.Generator().manual_seed(seed)
    return 0.08 * torch.randn(n_steps, num_envs, 2, generator=g)


def test_batched_nav2d_equals_the_gym_env_step_by_step():
    tasks = [*sample_tasks("nav2d", 3, seed=1), {"goal": (0.02, 0.01)}]  # one terminates
    horizon, per_task = 30, 2
    env = make_batched("nav2d", tasks, per_task, horizon=horizon, seed=0)
    actions = _random_actions(horizon, env.num_envs, seed=2)
    actions[:, 6:] = torch.tensor([0.02, 0.01]) / 3  # envs 6, 7 reach goal 3 within 3 steps
    env.reset()
    batched = [env.step(actions[t]) for t in range(horizon)]
    saw_termination = False
    for i in range(env.num_envs):
        single = gym.make(GYM_IDS["nav2d"], max_episode_steps=horizon)
        single.reset(seed=0, options=tasks[i // per_task])
        for t in range(horizon):
            obs, r, term, _, _ = single.step(actions[t, i].numpy())
            assert np.array_equal(batched[t][0][i].numpy(), obs)
            assert batched[t][1][i].item() == np.float32(r)
            assert batched[t][2][i].item() == term
            if term:
                saw_termination = True
                for later in batched[t + 1 :]:  # frozen afterwards
                    assert later[1][i].item() == 0.0 and later[2][i].item()
                    assert np.array_equal(later[0][i].numpy(), obs)
                break
    assert saw_termination


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nonfinite_actions_are_refused(bad):
    env = make_batched("nav2d", [{"goal": (0.1, 0.1)}], 2, horizon=3, seed=0)
    env.reset()
    act = torch.zeros(2, 2)
    act[1, 0] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        env.step(act)
    single, _ = _gym_nav((0.1, 0.1))
    with pytest.raises(ValueError, match="NaN or infinite"):
        single.step(np.array([0.0, bad]))


def test_batched_nav2d_checks_shapes_and_the_horizon():
    env = make_batched("nav2d", [{"goal": (0.1, 0.1)}], 2, horizon=1, seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(torch.zeros(2, 2))
    env.reset()
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        env.step(torch.zeros(3, 2))
    env.step(torch.zeros(2, 2))
    with pytest.raises(RuntimeError, match="horizon"):
        env.step(torch.zeros(2, 2))


@pytest.mark.parametrize(
    ("tasks", "match"),
    [
        ([], "non-empty"),
        ([{"velocity": 1.0}], "key 'goal'"),
        ([{"goal": (0.1,)}], "pair"),
        ([{"goal": (0.1, float("nan"))}], "finite"),
    ],
)
def test_bad_nav2d_tasks_are_refused(tasks, match):
    with pytest.raises(ValueError, match=match):
        make_batched("nav2d", tasks, 1, horizon=5, seed=0)


@pytest.mark.parametrize("horizon", [0, -3, 2.5, True])
def test_unreachable_horizon_is_refused(horizon):
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        make_batched("nav2d", [{"goal": (0.1, 0.1)}], 1, horizon=horizon, seed=0)


def test_actions_with_autograd_history_are_accepted():
    env = make_batched("nav2d", [{"goal": (0.3, 0.0)}], 1, horizon=2, seed=0)
    env.reset()
    w = torch.ones(1, 2, requires_grad=True)
    obs, r, _ = env.step(0.05 * w)
    assert obs[0].tolist() == pytest.approx([0.05, 0.05]) and not r.requires_grad


@pytest.mark.parametrize("seed", [-1, 1.5, None])
def test_bad_seed_is_refused(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        make_batched("nav2d", [{"goal": (0.1, 0.1)}], 1, horizon=5, seed=seed)
