"""HalfCheetah velocity/direction: rewards against MuJoCo's own forward velocity, the control
cost on the clipped action, gymnasium's reset noise, and batched == gymnasium step by step."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

pytest.importorskip("gymnasium")

import gymnasium as gym

import repsim.rl  # noqa: F401  (registers the ids)
from repsim.rl.envs import GYM_IDS, make_batched, sample_tasks
from repsim.rl.envs.cheetah import cheetah_model

# An action partly outside the actuators' range [-1, 1]: applied as CLIPPED, whose cost is
# 0.05 * (1 + 1 + 0.25 + 0 + 1 + 0.04) = 0.1645.
RAW = np.array([2.0, -3.0, 0.5, 0.0, 1.5, -0.2])
CLIPPED = np.array([1.0, -1.0, 0.5, 0.0, 1.0, -0.2])
COST = 0.1645


def _gym(name, task, seed=0, horizon=100):
    env = gym.make(GYM_IDS[name], max_episode_steps=horizon)
    obs, _ = env.reset(seed=seed, options=task)
    return env, obs


def _mujoco_forward_velocity(env, action):
    """v_x over one env step from a plain MjData copy: the mean of the root's x velocity after
    each of the 5 substeps (semi-implicit Euler: x' = x + h·v'), i.e. Δx / dt."""
    u = env.unwrapped
    m = cheetah_model()
    d = mujoco.MjData(m)
    d.qpos[:], d.qvel[:] = u.data.qpos, u.data.qvel
    d.qacc_warmstart[:] = u.data.qacc_warmstart
    d.ctrl[:] = action
    vx = []
    for _ in range(5):
        mujoco.mj_step(m, d)
        vx.append(d.qvel[0])
    assert m.opt.timestep * 5 == pytest.approx(0.05)
    return float(np.mean(vx))


@pytest.mark.parametrize("v_goal", [0.0, 1.3, 40.0])
def test_velocity_reward_is_minus_speed_error_minus_ctrl_cost(v_goal):
    env, _ = _gym("cheetah-vel", {"velocity": v_goal}, seed=3)
    for _ in range(3):  # get the cheetah moving first
        env.step(np.full(6, 0.7))
    vx = _mujoco_forward_velocity(env, CLIPPED)
    _, r, term, trunc, info = env.step(RAW)
    assert not term and not trunc
    assert info["x_velocity"] == pytest.approx(vx, rel=1e-9, abs=1e-12)
    assert r == pytest.approx(-abs(vx - v_goal) - COST, rel=1e-9)


def test_direction_reward_and_clipping_hand_computed():
    # Same seed, same actions, opposite directions: r(+1) + r(-1) = -2 cost, r(+1) - r(-1) = 2 v_x
    rewards, obs = {}, {}
    for d in (1, -1):
        env, _ = _gym("cheetah-dir", {"direction": d}, seed=7)
        env.step(np.full(6, -0.4))
        vx = _mujoco_forward_velocity(env, CLIPPED)
        obs[d], rewards[d], *_ = env.step(RAW)
    assert rewards[1] + rewards[-1] == pytest.approx(-2 * COST, rel=1e-9)
    assert rewards[1] - rewards[-1] == pytest.approx(2 * vx, rel=1e-9)
    assert np.array_equal(obs[1], obs[-1])  # the task changes the reward only
    # the raw action moves the cheetah exactly as the clipped one does
    env, _ = _gym("cheetah-dir", {"direction": 1}, seed=7)
    env.step(np.full(6, -0.4))
    assert np.array_equal(env.step(CLIPPED)[0], obs[1])


def test_dynamics_and_reset_noise_are_gymnasiums_halfcheetah_v5():
    ours, obs = _gym("cheetah-vel", {"velocity": 1.0}, seed=11)
    ref = gym.make("HalfCheetah-v5")
    ref_obs, _ = ref.reset(seed=11)
    assert obs.shape == (17,) and np.array_equal(obs, ref_obs)
    u = ref.unwrapped
    assert np.abs(u.data.qpos - u.init_qpos).max() <= 0.1  # qpos + U(-0.1, 0.1)
    for k in range(5):
        a = np.linspace(-1, 1, 6) * (-1) ** k
        o1, r1, *_ = ours.step(a)
        o2, r2, *_ = ref.step(a)
        assert np.array_equal(o1, o2)
        # gymnasium's reward is v_x - 0.1 |a|², ours for v=1 is -|v_x - 1| - 0.05 |a|²
        cost = float(np.sum(a * a))
        vx = r2 + 0.1 * cost
        assert r1 == pytest.approx(-abs(vx - 1.0) - 0.05 * cost, rel=1e-9, abs=1e-12)


def test_task_is_kept_and_a_seeded_one_is_drawn_first():
    a, b = gym.make(GYM_IDS["cheetah-vel"]), gym.make(GYM_IDS["cheetah-vel"])
    assert a.reset(seed=4)[1]["velocity"] == b.reset(seed=4)[1]["velocity"]
    v = a.reset(seed=5)[1]["velocity"]
    assert 0.0 <= v <= 2.0 and a.reset(seed=9)[1]["velocity"] == v
    d = gym.make(GYM_IDS["cheetah-dir"])
    assert d.reset(seed=0, options={"direction": -1})[1]["direction"] == -1
    with pytest.raises(ValueError, match=r"\+1 or -1"):
        d.reset(seed=0, options={"direction": 0.5})


@pytest.mark.parametrize("name", ["cheetah-vel", "cheetah-dir"])
def test_batched_equals_gymnasium_step_by_step(name):
    tasks = sample_tasks(name, 2, seed=1)
    horizon, per_task = 40, 2
    env = make_batched(name, tasks, per_task, horizon=horizon, seed=5)
    assert (env.num_envs, env.obs_dim, env.act_dim) == (4, 17, 6)
    g = torch.Generator().manual_seed(0)
    actions = 1.5 * torch.randn(horizon, env.num_envs, 6, generator=g)  # some beyond ±1
    for _ in range(2):  # a second reset draws new noise and still matches
        obs0 = env.reset()
        batched = [env.step(actions[t]) for t in range(horizon)]
        for i in range(env.num_envs):
            single, obs = _gym(name, tasks[i // per_task], seed=int(env.reset_seeds[i]))
            assert np.array_equal(obs.astype(np.float32), obs0[i].numpy())
            for t in range(horizon):
                obs, r, term, *_ = single.step(actions[t, i].numpy())
                assert np.array_equal(obs.astype(np.float32), batched[t][0][i].numpy())
                assert np.float32(r) == pytest.approx(batched[t][1][i].item(), rel=1e-6)
                assert term is False and not batched[t][2][i].item()


def test_batched_threads_give_the_same_rollout_and_seeds_are_deterministic():
    tasks = [{"velocity": 0.5}, {"velocity": 1.5}]
    act = torch.rand(10, 6, 6, generator=torch.Generator().manual_seed(1)) * 2 - 1
    runs = []
    for threads, seed in ((1, 3), (2, 3), (1, 4)):
        env = make_batched("cheetah-vel", tasks, 3, horizon=10, seed=seed, threads=threads)
        out = [env.reset()] + [env.step(a)[0] for a in act]
        runs.append(torch.stack(out))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0][0], runs[2][0])
    # trajectories of one task differ by their reset noise only
    assert not torch.equal(runs[0][0][0], runs[0][0][1])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_actions_are_refused(bad):
    env = make_batched("cheetah-dir", [{"direction": 1}], 2, horizon=3, seed=0)
    env.reset()
    act = torch.zeros(2, 6)
    act[0, 3] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        env.step(act)
    single, _ = _gym("cheetah-dir", {"direction": 1})
    with pytest.raises(ValueError, match="NaN or infinite"):
        single.step(np.where(np.arange(6) == 2, bad, 0.0))


def test_unstable_simulation_is_an_error_not_a_silent_reset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo logs the instability to ./MUJOCO_LOG.TXT
    env = make_batched("cheetah-vel", [{"velocity": 1.0}], 3, horizon=5, seed=0)
    env.reset()
    env._qvel[1, 2] = np.inf  # what a blown-up simulation would hold
    with pytest.raises(ValueError, match=r"env\(s\) \[1\].*unstable"):
        env.step(torch.zeros(3, 6))
    env.reset()  # a reset clears it
    env.step(torch.zeros(3, 6))
    single, _ = _gym("cheetah-vel", {"velocity": 1.0})
    single.unwrapped.data.qvel[0] = np.nan
    with pytest.raises(ValueError, match="unstable"):
        single.step(np.zeros(6))


@pytest.mark.parametrize(
    ("tasks", "match"),
    [([{"goal": (0, 0)}], "key 'velocity'"), ([{"velocity": float("inf")}], "finite")],
)
def test_bad_cheetah_tasks_are_refused(tasks, match):
    with pytest.raises(ValueError, match=match):
        make_batched("cheetah-vel", tasks, 1, horizon=5, seed=0)


def test_building_the_envs_leaves_no_mujoco_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_batched("cheetah-dir", [{"direction": 1}], 1, horizon=1, seed=0)
    gym.make(GYM_IDS["cheetah-vel"]).reset(seed=0)
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
