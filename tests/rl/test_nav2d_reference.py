"""repsim's 2D navigation replayed against the reference implementations' step rule.

The reference rules are re-stated here from reading the public code (nothing imported):

- ``_pytorch_maml_rl_episode``: tristandeleu/pytorch-maml-rl, ``maml_rl/envs/navigation.py``
  at commit 21d4ba1ccd300a403928e6db553c9529bcc3fbdf (2020), registered as ``2DNavigation-v0``
  with ``max_episode_steps=100`` and no action wrapper. The 2019 version (commit 493e677, the
  one public when the ANIL paper was written) and learn2learn's ``Particles2DEnv`` (commit
  db5cee3) have the same step. Per step: clip the action to [-0.1, 0.1], add it to the float32
  state, reward ``-sqrt(dx² + dy²)`` with the goal in float64, ``done = |dx| < 0.01 and
  |dy| < 0.01``. A done episode is not stepped again; its return is the sum of the rewards of
  the steps taken (``episode.rewards.sum(dim=0)``, zeros after the end).
- ``_rllab_episode``: cbfinn/maml_rl (the original MAML code) at commit
  9c8e2ebd741cb0c7b8bf2d040c4caeeb8e06cc95, ``maml_examples/point_env_randgoal.py`` wrapped in
  ``rllab/envs/normalized_env.py``'s ``normalize``: the policy acts in [-1, 1], the wrapper maps
  ``a ↦ clip(lb + (a + 1)·(ub - lb)/2, lb, ub)`` = ``clip(0.1·a, -0.1, 0.1)``; the point env
  itself does not clip. Reward and termination as above; the sampler stops the path at ``done``.

repsim's env is the pytorch-maml-rl rule; rllab's is the same rule on actions scaled by 0.1
(a reparametrisation of the policy's output, not a different task). Both repsim forms (the
gymnasium env and the batched torch env) and the rollout's return bookkeeping are compared.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("gymnasium")
pytest.importorskip("mujoco")

import gymnasium as gym

import repsim.rl  # noqa: F401  (registers the ids)
from repsim.rl.envs import GYM_IDS, make_batched, sample_tasks
from repsim.rl.rollout import rollout

HORIZON = 100


def _pytorch_maml_rl_episode(goal, actions):
    """Rewards of one episode under pytorch-maml-rl's step rule; stops at ``done``."""
    goal = np.asarray(goal, dtype=np.float64)
    state = np.zeros(2, dtype=np.float32)
    rewards, done = [], False
    for a in np.asarray(actions, dtype=np.float32)[:HORIZON]:
        a = np.clip(a, -0.1, 0.1)
        state = state + a
        x, y = state[0] - goal[0], state[1] - goal[1]
        rewards.append(-np.sqrt(x**2 + y**2))
        done = bool(np.abs(x) < 0.01 and np.abs(y) < 0.01)
        if done:
            break
    return np.array(rewards), done


def _rllab_episode(goal, policy_actions):
    """Rewards of one episode of rllab's normalize(PointEnvRandGoal); stops at ``done``."""
    lb, ub = np.full(2, -0.1), np.full(2, 0.1)
    state = np.zeros(2)  # rllab: a tuple (0, 0), promoted to float64 by the first addition
    rewards, done = [], False
    for a in np.asarray(policy_actions, dtype=np.float64)[:HORIZON]:
        scaled = np.clip(lb + (a + 1.0) * 0.5 * (ub - lb), lb, ub)
        state = state + scaled
        x, y = state[0] - goal[0], state[1] - goal[1]
        rewards.append(-((x**2 + y**2) ** 0.5))
        done = bool(abs(x) < 0.01 and abs(y) < 0.01)
        if done:
            break
    return np.array(rewards), done


def _homing_actions(goal, rng, noise):
    """Open-loop moves toward the goal, then jitter: long runs of clipped and unclipped
    actions, and (at small noise) an entry into the 0.01 box, so termination is exercised."""
    goal = np.asarray(goal, dtype=np.float64)
    pos, out = np.zeros(2), []
    for _ in range(HORIZON):
        a = np.clip(goal - pos, -0.1, 0.1) * 1.3 + noise * rng.standard_normal(2)
        out.append(a)
        pos = pos + np.clip(a, -0.1, 0.1)
    return np.array(out)


def _action_sets():
    """(goal, actions) pairs: saturating Gaussian noise, small noise, homing with jitter."""
    goals = [t["goal"] for t in sample_tasks("nav2d", 12, seed=7)] + [(0.05, -0.03)]
    rng = np.random.default_rng(3)
    cases = []
    for i, goal in enumerate(goals):
        cases.append((goal, rng.standard_normal((HORIZON, 2))))  # std 1: almost always clipped
        cases.append((goal, 0.05 * rng.standard_normal((HORIZON, 2))))  # mostly unclipped
        cases.append((goal, _homing_actions(goal, rng, noise=0.0 if i % 2 else 0.003)))
    return cases


def _ours_gym(goal, actions):
    env = gym.make(GYM_IDS["nav2d"], max_episode_steps=HORIZON)
    env.reset(seed=0, options={"goal": goal})
    rewards, terminated = [], False
    for a in actions:
        _, r, terminated, truncated, _ = env.step(np.asarray(a, dtype=np.float32))
        rewards.append(r)
        if terminated or truncated:
            break
    return np.array(rewards), terminated


def test_cases_exercise_clipping_termination_and_full_episodes():
    ends = [_pytorch_maml_rl_episode(g, a) for g, a in _action_sets()]
    lengths = [len(r) for r, _ in ends]
    assert sum(d for _, d in ends) >= 6  # several episodes end inside the box
    assert HORIZON in lengths and min(lengths) < 20  # some run to the horizon, some end early


@pytest.mark.parametrize("case", range(len(_action_sets())))
def test_gym_env_matches_pytorch_maml_rl_step_rule(case):
    goal, actions = _action_sets()[case]
    ref_rewards, ref_done = _pytorch_maml_rl_episode(goal, actions)
    rewards, terminated = _ours_gym(goal, actions)
    assert len(rewards) == len(ref_rewards) and terminated == ref_done
    np.testing.assert_allclose(rewards, ref_rewards, rtol=0, atol=2e-6)
    assert rewards.sum() == pytest.approx(ref_rewards.sum(), abs=1e-4)


def test_batched_env_and_rollout_returns_match_pytorch_maml_rl():
    cases = _action_sets()
    tasks = [{"goal": g} for g, _ in cases]
    env = make_batched("nav2d", tasks, 1, horizon=HORIZON, seed=0)
    env.reset()
    acts = torch.tensor(np.stack([a for _, a in cases]), dtype=torch.float32)  # (N, T, 2)
    rew = torch.zeros(len(cases), HORIZON)
    alive = torch.ones(len(cases), dtype=torch.bool)
    for t in range(HORIZON):
        _, r, term = env.step(acts[:, t])
        rew[:, t] = torch.where(alive, r, 0.0)
        alive = ~term
    for i, (goal, actions) in enumerate(cases):
        ref_rewards, ref_done = _pytorch_maml_rl_episode(goal, actions)
        n = len(ref_rewards)
        np.testing.assert_allclose(rew[i, :n].numpy(), ref_rewards, rtol=0, atol=2e-6)
        assert bool(alive[i]) == (not ref_done)
        assert rew[i, n:].abs().sum() == 0  # nothing is charged after the episode ends


def test_rollout_episode_returns_are_the_reference_per_trajectory_sums():
    """A zero-mean Gaussian policy (all weights 0, std 1): the rollout's per-trajectory return
    and per-task mean equal pytorch-maml-rl's ``rewards.sum(dim=0)`` on the same actions."""
    tasks = [*sample_tasks("nav2d", 3, seed=11), {"goal": (0.05, -0.03)}]
    k, horizon = 5, HORIZON
    params = {
        "fc1.linear.weight": torch.zeros(4, 2),
        "fc1.linear.bias": torch.zeros(4),
        "fc2.linear.weight": torch.zeros(4, 4),
        "fc2.linear.bias": torch.zeros(4),
        "head.linear.weight": torch.zeros(2, 4),
        "head.linear.bias": torch.zeros(2),
        "head.log_std": torch.full((2,), np.log(0.03)),  # small: some episodes terminate
    }
    env = make_batched("nav2d", tasks, k, horizon=horizon, seed=0)
    traj = rollout(env, params, tasks=len(tasks), generator=torch.Generator().manual_seed(5))
    ours = traj.episode_returns()  # (B, K)
    # The rollout's actions are mean + std·ε = std·ε: replay exactly those.
    ref = np.zeros((len(tasks), k))
    dones = 0
    for b, task in enumerate(tasks):
        for j in range(k):
            r, d = _pytorch_maml_rl_episode(task["goal"], traj.actions[b, j].numpy())
            ref[b, j], dones = r.sum(), dones + d
            assert int(traj.mask[b, j].sum()) == len(r)
    assert dones > 0
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-4)
    np.testing.assert_allclose(traj.task_returns().numpy(), ref.mean(1), rtol=0, atol=1e-4)


@pytest.mark.parametrize("case", range(0, len(_action_sets()), 4))
def test_rllab_rule_is_ours_on_actions_scaled_by_a_tenth(case):
    """rllab's normalize(PointEnvRandGoal) on policy actions a = repsim's env on 0.1·a."""
    goal, actions = _action_sets()[case]
    actions = 10.0 * actions  # policy-space actions of rllab's [-1, 1] box (and beyond)
    ref_rewards, ref_done = _rllab_episode(goal, actions)
    rewards, terminated = _ours_gym(goal, 0.1 * actions)
    assert len(rewards) == len(ref_rewards) and terminated == ref_done
    # rllab keeps the position in float64, repsim in float32: rounding accumulates over steps
    np.testing.assert_allclose(rewards, ref_rewards, rtol=0, atol=1e-5)
