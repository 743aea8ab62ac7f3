"""Shipped 2D-navigation checkpoints under the reference implementations' conventions.

    python analysis/rl_nav2d_vs_reference.py [--out figures/rl-nav2d]

Writes ``vs_reference.csv`` (one row per convention × checkpoint) and ``vs_reference.json``
(the summary over seeds, the reference values and a manifest). The findings are discussed in
docs/rl_nav2d_vs_paper.md; the step rule itself is checked by tests/rl/test_nav2d_reference.py.
Cheap: about two CPU minutes on one thread.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from repsim._io import atomic_write_json, atomic_write_text, run_manifest
from repsim.cli._common import set_threads
from repsim.rl.algorithm import adapt_names_for, sample_iteration
from repsim.rl.checkpoint import load_rl
from repsim.rl.envs import make_batched, sample_tasks
from repsim.rl.evaluate import TEST_ITERATION, evaluate_policy

ROOT = Path(__file__).resolve().parents[1]
RUNS = [f"nav2d_{a}_s{s}" for a in ("maml", "anil") for s in range(3)]
FRESH_SEEDS = range(1, 11)  # 10 draws of 40 test tasks, none of them the shipped draw (seed 0)

# Finn et al. 2017 (cbfinn/maml_rl @9c8e2eb, icml/icml_point_results_maml.pkl and
# icml_point_results_random.pkl): mean over the 40 test goals of rllab's AverageReturn, with 40
# trajectories (batch 4000 steps) per goal. Raghu et al. 2020: mean ± std over seeds.
REFERENCE = {
    "finn2017_maml_before": -40.41,
    "finn2017_maml_after": -11.68,
    "finn2017_random_init_before": -82.66,
    "paper_maml_after": (-20.3, 3.2),
    "paper_anil_after": (-20.1, 2.3),
}


def maml_paper_goals() -> list[dict]:
    """The 40 test goals of cbfinn/maml_rl's maml_examples/test_maml_point.py."""
    rng = np.random.RandomState(1)  # the script's np.random.seed(1); legacy MT19937 is stable
    return [{"goal": (float(x), float(y))} for x, y in rng.uniform(-0.5, 0.5, size=(40, 2))]


def _eval(params, cfg, seeds) -> tuple[float, float, int]:
    out = [evaluate_policy(params, cfg, tasks=40, seed=s) for s in seeds]
    before = torch.cat([r.before for r in out]).mean().item()
    after = torch.cat([r.after for r in out]).mean().item()
    return before, after, 40 * len(out)


def _eval_on(params, cfg, tasks, noise_seeds) -> tuple[float, float, int]:
    names = adapt_names_for(params, cfg.algorithm)
    b, a = [], []
    for s in noise_seeds:
        d = sample_iteration(params, cfg, TEST_ITERATION, adapt_names=names, seed=s, tasks=tasks)
        b.append(d.train.task_returns().mean().item())
        a.append(d.valid.task_returns().mean().item())
    return float(np.mean(b)), float(np.mean(a)), len(tasks)


def checkpoint_rows(run: str) -> list[dict]:
    trained = load_rl(ROOT / "checkpoints" / "rl" / f"{run}.pt")
    p, cfg = trained.params, trained.config
    rows = []

    def add(convention, result):
        before, after, tasks = result
        rows.append(
            {
                "convention": convention,
                "run": run,
                "algorithm": cfg.algorithm,
                "seed": cfg.seed,
                "step": trained.step,
                "tasks": tasks,
                "return_before": before,
                "return_after": after,
            }
        )

    add("shipped: test seed 0, 40 tasks, K=20, H=100, gamma .99", _eval(p, cfg, [0]))
    add("fresh test tasks: seeds 1-10 (400 tasks)", _eval(p, cfg, FRESH_SEEDS))
    goals = maml_paper_goals()
    add("Finn et al. test goals, K=20", _eval_on(p, cfg, goals, range(5)))
    add(
        "Finn et al. test goals, K=40 (rllab batch 4000)",
        _eval_on(p, dataclasses.replace(cfg, trajectories=40), goals, range(5)),
    )
    add("horizon 200 (fresh tasks)", _eval(p, dataclasses.replace(cfg, horizon=200), FRESH_SEEDS))
    add(
        "inner-step gamma 0.95 (fresh tasks)",
        _eval(p, dataclasses.replace(cfg, gamma=0.95), FRESH_SEEDS),
    )
    curve = pd.read_csv(ROOT / "checkpoints" / "rl" / f"{run}_metrics.csv")
    for label, part in (
        ("training curve, all iterations", curve),
        ("training curve, last 20 iterations", curve.tail(20)),
    ):
        rows.append(
            {
                "convention": label,
                "run": run,
                "algorithm": cfg.algorithm,
                "seed": cfg.seed,
                "step": trained.step,
                "tasks": 20 * len(part),
                "return_before": part.return_before.mean(),
                "return_after": part.return_after.mean(),
            }
        )
    return rows


def random_policy_rows() -> list[dict]:
    """A zero-mean Gaussian policy (std 1 in the policy's action units), before any learning:
    repsim / pytorch-maml-rl act in env units (scale 1); rllab's normalize maps a -> 0.1·a."""
    tasks = [t for s in FRESH_SEEDS for t in sample_tasks("nav2d", 40, seed=1000 + s)]
    gen = torch.Generator().manual_seed(0)
    rows = []
    for label, scale in (
        ("random policy, std 1 in env units (repsim, pytorch-maml-rl)", 1.0),
        ("random policy, std 1 in rllab's normalized units", 0.1),
    ):
        env = make_batched("nav2d", tasks, 20, horizon=100, seed=0)
        env.reset()
        total = torch.zeros(env.num_envs)
        alive = torch.ones(env.num_envs, dtype=torch.bool)
        for _ in range(100):
            _, r, term = env.step(scale * torch.randn(env.num_envs, 2, generator=gen))
            total += torch.where(alive, r, 0.0)
            alive = ~term
        rows.append(
            {
                "convention": label,
                "run": "none",
                "algorithm": "random",
                "seed": 0,
                "step": 0,
                "tasks": len(tasks),
                "return_before": total.mean().item(),
                "return_after": float("nan"),
            }
        )
    return rows


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby(["convention", "algorithm"], sort=False)
    out = g.agg(
        seeds=("seed", "count"),
        tasks=("tasks", "first"),
        before_mean=("return_before", "mean"),
        before_std=("return_before", "std"),
        after_mean=("return_after", "mean"),
        after_std=("return_after", "std"),
    )
    return out.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "figures" / "rl-nav2d")
    args = parser.parse_args()
    set_threads(1)
    df = pd.DataFrame([r for run in RUNS for r in checkpoint_rows(run)] + random_policy_rows())
    summary = summarise(df)
    atomic_write_text(args.out / "vs_reference.csv", df.to_csv(index=False))
    atomic_write_json(
        args.out / "vs_reference.json",
        {
            "summary": summary.astype(object)
            .where(summary.notna(), None)
            .to_dict(orient="records"),
            "reference": REFERENCE,
            "manifest": run_manifest(
                runs=RUNS,
                fresh_test_seeds=list(FRESH_SEEDS),
                threads=1,
                script="analysis/rl_nav2d_vs_reference.py",
            ),
        },
    )
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(summary.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
