"""Environment steps per second of repsim's batched RL rollouts, policy included, against
gymnasium's own SyncVectorEnv / AsyncVectorEnv and against MuJoCo's bare stepping rate.

    python benchmarks/bench_rl_envs.py [--repeats 5] [--horizon 100] [--out docs/benchmarks]

Every rollout runs the same policy: a Gaussian MLP with 2 hidden layers of 100 ReLU units and
random weights (torch, one thread, no grad), sampling a ~ N(mean(obs), 1) at every step; the
env clips. A rollout = reset + ``horizon`` steps of every env; env-steps/s = envs · horizon /
seconds. Configurations run in alternating order within each repetition; tables give medians.

The physical limit for HalfCheetah replays exactly the simulation work of a repsim rollout (its
initial states and its clipped actions, 5 substeps per env step) through MuJoCo with no env and
no policy: as one C call (``mujoco.rollout``) and as a plain ``mj_step(m, d, 5)`` loop; the
faster of the two is the limit. Multi-process figures start their workers together behind a
barrier and count all their env-steps over the slowest worker's time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym
import mujoco
import numpy as np
import torch
from mujoco import rollout as mj_rollout
from mujoco.batch import Batch

import repsim.rl  # noqa: F401  (registers the gymnasium ids)
from repsim._io import atomic_write_json, atomic_write_text
from repsim.rl.envs import GYM_IDS, make_batched, sample_tasks
from repsim.rl.envs.cheetah import FRAME_SKIP, cheetah_model

torch.set_num_threads(1)


class GaussianMLP(torch.nn.Module):
    """The paper's policy shape (fc1, fc2, head + state-independent log-std), random weights."""

    def __init__(self, obs_dim: int, act_dim: int):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.fc1 = torch.nn.Linear(obs_dim, 100)
        self.fc2 = torch.nn.Linear(100, 100)
        self.head = torch.nn.Linear(100, act_dim)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
        self.log_std = torch.nn.Parameter(torch.zeros(act_dim))

    @torch.no_grad()
    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc2(torch.relu(self.fc1(obs))))
        mean = self.head(h)
        return mean + self.log_std.exp() * torch.randn_like(mean)


# ---------------------------------------------------------------- one rollout per kind of runner


class Repsim:
    """repsim's batched env: one reset, ``horizon`` steps, the policy on the whole batch."""

    def __init__(self, name: str, envs: int, horizon: int, threads: int = 1, seed: int = 0):
        per_task = 20 if envs % 20 == 0 else 1
        tasks = sample_tasks(name, envs // per_task, seed=seed)
        self.env = make_batched(name, tasks, per_task, horizon=horizon, seed=seed, threads=threads)
        self.policy = GaussianMLP(self.env.obs_dim, self.env.act_dim)
        self.steps = envs * horizon

    def __call__(self) -> None:
        obs = self.env.reset()
        for _ in range(self.env.horizon):
            obs, _, _ = self.env.step(self.policy(obs))

    def record(self) -> tuple[np.ndarray, np.ndarray]:
        """One rollout's MuJoCo initial states and applied (clipped) controls, for the limit."""
        env, m = self.env, self.env.model
        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        obs = env.reset()
        d = mujoco.MjData(m)
        states = np.empty((env.num_envs, mujoco.mj_stateSize(m, spec)))
        for i in range(env.num_envs):
            d.qpos[:], d.qvel[:] = env._qpos[i], env._qvel[i]
            mujoco.mj_getState(m, d, states[i], spec)
        ctrl = np.empty((env.num_envs, env.horizon, m.nu))
        for t in range(env.horizon):
            action = self.policy(obs)
            ctrl[:, t] = np.clip(action.numpy().astype(np.float64), -1.0, 1.0)
            obs, _, _ = env.step(action)
        return states, np.repeat(ctrl, FRAME_SKIP, axis=1)  # one control per substep


def _task_env(env_id: str, horizon: int, task: dict) -> gym.Env:
    env = gym.make(env_id, max_episode_steps=horizon)
    env.reset(seed=0, options=task)  # the task stays for later resets
    return env


class GymVector:
    """gymnasium's SyncVectorEnv / AsyncVectorEnv of the same registered env, same policy.

    Rollouts are repeated ``rounds`` times per call so that a call is ~``min_steps`` env-steps.
    """

    def __init__(
        self, name: str, envs: int, horizon: int, kind: str, min_steps: int, seed: int = 0
    ):
        cls = gym.vector.SyncVectorEnv if kind == "sync" else gym.vector.AsyncVectorEnv
        tasks = sample_tasks(name, envs, seed=seed)
        self.env = cls([partial(_task_env, GYM_IDS[name], horizon, t) for t in tasks])
        obs_dim = self.env.single_observation_space.shape[0]
        self.policy = GaussianMLP(obs_dim, self.env.single_action_space.shape[0])
        self.rounds = max(1, min_steps // (envs * horizon))
        self.horizon, self.steps, self.seed = horizon, self.rounds * envs * horizon, seed

    def __call__(self) -> None:
        for _ in range(self.rounds):
            obs, _ = self.env.reset(seed=self.seed)
            for _ in range(self.horizon):
                action = self.policy(torch.from_numpy(obs).to(torch.float32))
                obs, *_ = self.env.step(action.numpy())

    def close(self) -> None:
        self.env.close()


class Limit:
    """MuJoCo alone on the recorded states and controls, three ways: one C call per rollout
    (``mujoco.rollout``), a plain ``mj_step(m, d, 5)`` loop, or one ``mujoco.batch`` call per
    env step for all trajectories (what repsim's env does, without the policy and the env)."""

    def __init__(self, states: np.ndarray, ctrl: np.ndarray, how: str):
        self.m = m = cheetah_model()
        self.d = mujoco.MjData(self.m)
        self.states, self.ctrl, self.how = states, ctrl, how
        self.steps = ctrl.shape[0] * ctrl.shape[1] // FRAME_SKIP
        if how == "rollout":
            self.pool = mj_rollout.Rollout(nthread=0)
            self.out = np.empty((states.shape[0], ctrl.shape[1], states.shape[1]))
        if how == "batch":
            self.batch = Batch(m, states.shape[0], nthread=1)
            spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
            self.qpos0 = np.empty((states.shape[0], m.nq))
            self.qvel0 = np.empty((states.shape[0], m.nv))
            for i, state in enumerate(states):
                mujoco.mj_setState(m, self.d, state, spec)
                self.qpos0[i], self.qvel0[i] = self.d.qpos, self.d.qvel
            self.env_ctrl = np.ascontiguousarray(ctrl[:, ::FRAME_SKIP].transpose(1, 0, 2))

    def __call__(self) -> None:
        m, d = self.m, self.d
        if self.how == "rollout":
            self.pool.rollout(m, d, self.states, self.ctrl, state=self.out)
            return
        if self.how == "batch":
            b = self.batch
            b.reset(stage=mujoco.mjtStage.mjSTAGE_NONE)
            b.bind("qpos")[:], b.bind("qvel")[:] = self.qpos0, self.qvel0
            ctrl = b.bind("ctrl")
            for u in self.env_ctrl:
                ctrl[:] = u
                b.step(nstep=FRAME_SKIP)
            return
        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        for state, ctrl in zip(self.states, self.ctrl[:, ::FRAME_SKIP], strict=True):
            mujoco.mj_resetData(m, d)
            mujoco.mj_setState(m, d, state, spec)
            for u in ctrl:
                d.ctrl[:] = u
                mujoco.mj_step(m, d, FRAME_SKIP)


def _lap(total: list[float], clocks: tuple, start: list[float]) -> list[float]:
    return [x + c() - s0 for x, c, s0 in zip(total, clocks, start, strict=True)]


def interleaved(name: str, envs: int, horizon: int, repeats: int) -> dict[str, dict]:
    """repsim's rollout and MuJoCo alone on the SAME trajectories, timed env step by env step.

    At every step repsim's env takes the policy's action; then a ``mujoco.batch`` of its own
    and a loop of ``mj_step(m, d, 5)`` over one MjData per env apply the same clipped action
    from the same initial states (so all three simulate identical trajectories, checked at the
    end). Each env step's three timings lie milliseconds apart, so the machine's load cancels
    from their ratio far better than between whole rollouts. repsim goes first (it makes the
    action); the other two swap order every step.
    """
    run = Repsim(name, envs, horizon)
    env, policy, m = run.env, run.policy, run.env.model
    batch = Batch(m, envs, nthread=1)
    bq, bv, bc = batch.bind("qpos"), batch.bind("qvel"), batch.bind("ctrl")
    datas = [mujoco.MjData(m) for _ in range(envs)]
    clocks = (time.perf_counter, time.thread_time)  # wall, this thread's CPU
    keys = ("repsim batched", "MuJoCo alone (mujoco.batch)", "MuJoCo alone (mj_step loop)")
    rates: dict[str, list[list[float]]] = {k: [[], []] for k in keys}
    for rep in range(repeats + 1):
        spent = {k: [0.0, 0.0] for k in keys}
        start = [c() for c in clocks]
        obs = env.reset()
        spent[keys[0]] = _lap(spent[keys[0]], clocks, start)
        batch.reset(stage=mujoco.mjtStage.mjSTAGE_NONE)
        bq[:], bv[:] = env._qpos, env._qvel
        for i, d in enumerate(datas):
            mujoco.mj_resetData(m, d)
            d.qpos[:], d.qvel[:] = env._qpos[i], env._qvel[i]
        for t in range(horizon):
            start = [c() for c in clocks]
            action = policy(obs)
            obs, _, _ = env.step(action)
            spent[keys[0]] = _lap(spent[keys[0]], clocks, start)
            u = np.clip(action.numpy().astype(np.float64), -1.0, 1.0)
            for key in keys[1:] if t % 2 else keys[:0:-1]:
                start = [c() for c in clocks]
                if key == keys[1]:
                    bc[:] = u
                    batch.step(nstep=FRAME_SKIP)
                else:
                    for d, ui in zip(datas, u, strict=True):
                        d.ctrl[:] = ui
                        mujoco.mj_step(m, d, FRAME_SKIP)
                spent[key] = _lap(spent[key], clocks, start)
        assert np.array_equal(bq, env._qpos), "MuJoCo alone did not simulate the same steps"
        assert np.array_equal(np.array([d.qpos for d in datas]), env._qpos)
        if rep:  # the first round warms up
            for k in keys:
                for c in range(2):
                    rates[k][c].append(envs * horizon / spent[k][c])
    return {
        k: {
            "env_steps_per_s": statistics.median(rates[k][0]),
            "env_steps_per_cpu_s": statistics.median(rates[k][1]),
            "all_env_steps_per_s": rates[k][0],
            "all_env_steps_per_cpu_s": rates[k][1],
            "env_steps_per_call": envs * horizon,
        }
        for k in keys
    }


def _timed(run: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


# ------------------------------------------------------------ several processes, started together


def _worker(make: Callable[[], Callable[[], None]], conn, barrier) -> None:
    torch.set_num_threads(1)
    run = make()
    conn.send("ready")
    while conn.recv() == "go":
        barrier.wait()
        conn.send(_timed(run)[0])


class MultiProcess:
    """``procs`` persistent workers, each with its own runner; a call runs them all at once."""

    def __init__(self, makers: list[Callable[[], Callable[[], None]]], steps: int):
        ctx = mp.get_context("fork")
        self.barrier = ctx.Barrier(len(makers))
        self.conns, self.procs = [], []
        for make in makers:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(make, child, self.barrier), daemon=True)
            p.start()
            self.conns.append(parent)
            self.procs.append(p)
        for c in self.conns:
            assert c.recv() == "ready"
        self.steps = steps

    def timed(self) -> tuple[float, float]:
        for c in self.conns:
            c.send("go")
        return max(c.recv() for c in self.conns), float("nan")

    def close(self) -> None:
        for c in self.conns:
            c.send("stop")
        for p in self.procs:
            p.join()


# --------------------------------------------------------------------------------- measurement


def measure(configs: dict[str, object], repeats: int) -> dict[str, dict]:
    """Alternate the configurations ``repeats`` times after one warm-up; medians of rates."""
    walls: dict[str, list[float]] = {k: [] for k in configs}
    cpus: dict[str, list[float]] = {k: [] for k in configs}
    for rep in range(repeats + 1):
        for key, runner in configs.items():
            wall, cpu = runner.timed() if isinstance(runner, MultiProcess) else _timed(runner)
            if rep:  # the first round warms up
                walls[key].append(runner.steps / wall)
                cpus[key].append(runner.steps / cpu)
            print(f"  rep {rep} {key}: {runner.steps / wall:,.0f} env-steps/s", flush=True)
    out = {}
    for k, runner in configs.items():
        # CPU time is this process's only: meaningless for subprocess workers (Async, multi-proc)
        own_cpu = not isinstance(runner, MultiProcess) and not (
            isinstance(runner, GymVector) and isinstance(runner.env, gym.vector.AsyncVectorEnv)
        )
        out[k] = {
            "env_steps_per_s": statistics.median(walls[k]),
            "env_steps_per_cpu_s": statistics.median(cpus[k]) if own_cpu else None,
            "all_env_steps_per_s": walls[k],
            "all_env_steps_per_cpu_s": cpus[k] if own_cpu else None,
            "env_steps_per_call": runner.steps,
        }
    return out


def _halves(states: np.ndarray, ctrl: np.ndarray, how: str, k: int, of: int):
    n = states.shape[0] // of
    return lambda: Limit(states[k * n : (k + 1) * n], ctrl[k * n : (k + 1) * n], how)


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--horizon", type=int, default=100)
    parser.add_argument("--nav-envs", type=int, default=400, help="20 tasks x 20 trajectories")
    parser.add_argument("--cheetah-envs", type=int, default=400, help="20 tasks x 20 traj.")
    parser.add_argument("--gym-envs", type=int, default=20)
    parser.add_argument("--min-steps", type=int, default=20_000, help="per gymnasium call")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--render", type=Path, help="only rewrite the Markdown from this JSON")
    args = parser.parse_args()
    if args.render:
        saved = json.loads(args.render.read_text())
        md = _markdown(saved["results"], saved["ratios"], saved["env"])
        atomic_write_text(args.render.with_suffix(".md"), md)
        print(md)
        return
    H, N, G = args.horizon, args.cheetah_envs, args.gym_envs
    load_at_start = os.getloadavg()
    cores = os.cpu_count() or 1
    results: dict[str, dict] = {}

    # Workers fork before anything in this process starts threads.
    print("starting multi-process workers", flush=True)
    rec = Repsim("cheetah-vel", N, H)
    states, ctrl = rec.record()
    half = N // 2
    multi = {
        "MuJoCo limit (C rollout), 2 processes": MultiProcess(
            [_halves(states, ctrl, "rollout", k, 2) for k in range(2)], N * H
        ),
        "MuJoCo limit (mujoco.batch), 2 processes": MultiProcess(
            [_halves(states, ctrl, "batch", k, 2) for k in range(2)], N * H
        ),
        "repsim batched, 2 processes": MultiProcess(
            [partial(Repsim, "cheetah-vel", half, H, 1, k) for k in range(2)], N * H
        ),
        f"gymnasium SyncVectorEnv ({G // 2} envs) x 2 processes": MultiProcess(
            [
                partial(GymVector, "cheetah-vel", G // 2, H, "sync", args.min_steps // 2, k)
                for k in range(2)
            ],
            2 * max(1, (args.min_steps // 2) // (G // 2 * H)) * (G // 2) * H,
        ),
    }

    print("2D navigation, one process", flush=True)
    nav = {
        f"repsim batched ({args.nav_envs} envs)": Repsim("nav2d", args.nav_envs, H),
        f"gymnasium SyncVectorEnv ({G} envs)": GymVector("nav2d", G, H, "sync", args.min_steps),
        f"gymnasium SyncVectorEnv ({args.nav_envs} envs)": GymVector(
            "nav2d", args.nav_envs, H, "sync", args.min_steps
        ),
        f"gymnasium AsyncVectorEnv ({G} envs, {G} processes)": GymVector(
            "nav2d", G, H, "async", args.min_steps
        ),
    }
    results["nav2d"] = measure(nav, args.repeats)
    for r in nav.values():
        if isinstance(r, GymVector):
            r.close()

    print("HalfCheetah-Vel, one process", flush=True)
    one = {
        "MuJoCo limit (C rollout)": Limit(states, ctrl, "rollout"),
        "MuJoCo limit (mj_step loop)": Limit(states, ctrl, "mj_step"),
        "MuJoCo limit (mujoco.batch)": Limit(states, ctrl, "batch"),
        f"repsim batched ({N} envs)": Repsim("cheetah-vel", N, H),
        f"gymnasium SyncVectorEnv ({G} envs)": GymVector(
            "cheetah-vel", G, H, "sync", args.min_steps
        ),
    }
    results["cheetah_1proc"] = measure(one, args.repeats)

    print("HalfCheetah-Vel, one process, interleaved step by step", flush=True)
    results["cheetah_interleaved"] = interleaved("cheetah-vel", N, H, args.repeats)

    print(f"HalfCheetah-Vel, all {cores} cores", flush=True)
    allc = {
        **multi,
        f"repsim batched ({N} envs), {cores} threads": Repsim("cheetah-vel", N, H, cores),
        f"gymnasium AsyncVectorEnv ({cores} envs)": GymVector(  # slow: a quarter of the steps
            "cheetah-vel", cores, H, "async", args.min_steps // 4
        ),
        f"gymnasium AsyncVectorEnv ({G} envs)": GymVector(
            "cheetah-vel", G, H, "async", args.min_steps
        ),
    }
    results["cheetah_allcores"] = measure(allc, args.repeats)
    for r in allc.values():
        if isinstance(r, (GymVector, MultiProcess)):
            r.close()

    env = {
        "torch": torch.__version__,
        "mujoco": mujoco.__version__,
        "gymnasium": gym.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cores": cores,
        "torch_threads": torch.get_num_threads(),
        "horizon": H,
        "repeats": args.repeats,
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "cheetah_envs": N,
        "nav_envs": args.nav_envs,
        "gym_envs": G,
    }
    ratios = _ratios(results, N, G, cores)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        args.out / "rl_envs_cpu.json", {"env": env, "results": results, "ratios": ratios}
    )
    atomic_write_text(args.out / "rl_envs_cpu.md", _markdown(results, ratios, env))
    print(_markdown(results, ratios, env))


def _paired(num: list[float], *dens: list[float]) -> float:
    """Median over repetitions of num[i] / den[i], den the group member with the highest median
    rate: configurations measured next to each other in a repetition saw the same load, so
    their ratio is steadier than the rates. (Taking the best member per repetition instead
    would pick the luckiest of several noisy draws and bias the ratio low.)"""
    den = max(dens, key=statistics.median)
    return statistics.median(n / d for n, d in zip(num, den, strict=True))


def _ratios(results: dict, N: int, G: int, cores: int) -> dict[str, float]:
    one, allc, nav = results["cheetah_1proc"], results["cheetah_allcores"], results["nav2d"]
    wall = {k: v["all_env_steps_per_s"] for k, v in {**one, **allc}.items()}
    cpu = {k: v["all_env_steps_per_cpu_s"] for k, v in one.items()}
    limits1 = [k for k in one if k.startswith("MuJoCo limit")]
    ours1 = f"repsim batched ({N} envs)"
    limits2 = [v for k, v in wall.items() if k.startswith("MuJoCo limit") and k in allc]
    gym_all = [v for k, v in wall.items() if k.startswith("gymnasium") and k in allc]
    nav_ours = next(v["all_env_steps_per_s"] for k, v in nav.items() if k.startswith("repsim"))
    nav_gym = [v["all_env_steps_per_s"] for k, v in nav.items() if k.startswith("gymnasium")]
    out = {
        "cheetah 1 process: repsim / MuJoCo limit": _paired(
            wall[ours1], *(wall[k] for k in limits1)
        ),
        "cheetah 1 process, per CPU-second: repsim / MuJoCo limit": _paired(
            cpu[ours1], *(cpu[k] for k in limits1)
        ),
        "cheetah 1 process: repsim / SyncVectorEnv": _paired(
            wall[ours1], wall[f"gymnasium SyncVectorEnv ({G} envs)"]
        ),
        "cheetah 2 processes: repsim / MuJoCo limit (2 processes)": _paired(
            wall["repsim batched, 2 processes"], *limits2
        ),
        f"cheetah {cores} threads: repsim / MuJoCo limit (2 processes)": _paired(
            wall[f"repsim batched ({N} envs), {cores} threads"], *limits2
        ),
        "cheetah all cores: repsim 2 processes / best gymnasium vector env": _paired(
            wall["repsim batched, 2 processes"], *gym_all
        ),
        "nav2d: repsim / best gymnasium vector env": _paired(nav_ours, *nav_gym),
    }
    inter = results.get("cheetah_interleaved")
    if inter:
        ours = inter["repsim batched"]
        alone = [v for k, v in inter.items() if k.startswith("MuJoCo alone")]
        for clock, field in (("wall", "all_env_steps_per_s"), ("CPU", "all_env_steps_per_cpu_s")):
            out[f"cheetah 1 process, interleaved by env step ({clock}): repsim / MuJoCo alone"] = (
                _paired(ours[field], *(a[field] for a in alone))
            )
    return out


def _markdown(results: dict, ratios: dict, env: dict) -> str:
    titles = {
        "nav2d": "2D navigation, one process",
        "cheetah_1proc": "HalfCheetah-Vel, one process",
        "cheetah_interleaved": "HalfCheetah-Vel, one process, timed env step by env step on "
        "the same trajectories",
        "cheetah_allcores": f"HalfCheetah-Vel, all {env['cores']} cores",
    }
    lines = [
        "# RL environment rollouts (cpu)",
        "",
        f"torch {env['torch']}, mujoco {env['mujoco']}, gymnasium {env['gymnasium']}, Python "
        f"{env['python']}; {env['cores']} cores; torch threads {env['torch_threads']} per "
        f"process; horizon {env['horizon']}; median of {env['repeats']} alternating "
        "repetitions after one warm-up. Policy: Gaussian MLP 2x100 ReLU, random weights, "
        "sampled every step (included in every figure).",
        "",
    ]
    for key, title in titles.items():
        if key not in results:
            continue
        lines += [
            f"## {title}",
            "",
            "| configuration | env-steps/s (wall) | env-steps per CPU-second |",
            "|---|---:|---:|",
        ]
        for name, r in results[key].items():
            lines.append(
                f"| {name} | {_fmt(r['env_steps_per_s'])} | {_fmt(r['env_steps_per_cpu_s'])} |"
            )
        lines.append("")
    lines += [
        "## Ratios",
        "",
        "Median over repetitions of the ratio of the two rates measured in that repetition "
        "(where the denominator names a group, the member with the highest median rate).",
        "",
        "| ratio | value |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.2f} |" for k, v in ratios.items()]
    goal = [(k, v) for k, v in ratios.items() if "MuJoCo limit" in k or "MuJoCo alone" in k]
    ahead = [(k, v) for k, v in ratios.items() if "gymnasium" in k or "SyncVectorEnv" in k]
    lines += ["", "## Goals", ""]
    lines += [
        f"- HalfCheetah rollouts >= 85% of the bare MuJoCo limit ({k}): {v:.0%}, "
        f"{'met' if v >= 0.85 else 'NOT met'}"
        for k, v in goal
    ]
    lines += [
        f"- ahead of gymnasium's vector envs ({k}): {v:.2f}x, {'met' if v > 1 else 'NOT met'}"
        for k, v in ahead
    ]
    lines += [
        "",
        "## How to read this",
        "",
        "- The MuJoCo limit replays the exact simulation work of one repsim rollout (its "
        "initial states and clipped actions) with no env and no policy, three ways: one "
        "`mujoco.rollout` C call per trajectory set, a plain `mj_step(m, d, 5)` loop, and "
        "`mujoco.batch` stepping all trajectories once per env step. The ratio's denominator "
        "is the one of them with the highest median rate.",
        "- The interleaved section times, at every env step, repsim's step (policy included) "
        "and then MuJoCo alone doing the same step of the same trajectories (a `mujoco.batch` "
        "and an `mj_step` loop over one MjData per env; final states checked equal), so "
        "the three timings of a step lie milliseconds apart and see the same load: it is the "
        "most reliable ratio on a busy machine.",
        "- repsim's figure includes the policy forward pass and sampling, action checks and "
        "clipping, rewards, observations and resets.",
        "- gymnasium's vector envs run the same registered env (`repsim/HalfCheetahVel-v0`, "
        "same task reward) and the same policy; AsyncVectorEnv runs one process per env.",
        "- Wall-clock rates depend on the CPU share the shared machine gave each run; "
        "per-CPU-second rates measure the work itself and are the steadier comparison for "
        "single-process configurations.",
    ]
    start, end = env["load_average_at_start"], env["load_average_at_end"]
    lines += [
        "",
        f"Load average (1, 5, 15 min) at start {tuple(round(x, 1) for x in start)}, at end "
        f"{tuple(round(x, 1) for x in end)} on {env['cores']} cores: the machine was shared "
        "with other work (other helpers' tests and training runs) while this ran, so absolute "
        "rates are low and noisy and the all-core figures gain little over one process (the "
        "cores were already busy); the ratios come from alternating repetitions on the same "
        "machine. Per-CPU-second figures count this process's CPU time only (so not for "
        "subprocess workers).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
