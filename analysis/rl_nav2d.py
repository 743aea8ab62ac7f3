"""The shipped meta-RL results (2D navigation; HalfCheetah with --preset): analyse and ship.

    python analysis/rl_nav2d_train.py --group 0 &  python analysis/rl_nav2d_train.py --group 1
    python analysis/rl_nav2d.py                      # after (or while) they train

Analyses the last checkpoint of each run in ``runs/rl-nav2d/ALGO-sSEED`` (MAML and ANIL, seeds
0-2, `cpu` scale: the paper's settings with TRPO's Fisher products from every 5th trajectory)
with :func:`repsim.study_rl.run_rl_study`, then ships what the repository keeps:
``checkpoints/rl/nav2d_ALGO_sSEED.pt`` with its ``_metrics.csv``, ``figures/rl-nav2d/``
(figures, tables, report) and the entries of ``checkpoints/index.json``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
KEPT_SECTIONS = ("## Against the paper's", "## The inner step at test time")


def _figure_key(figure: dict) -> tuple:
    """What a figure measures (everything but its value and CI)."""
    return tuple(sorted((k, str(v)) for k, v in figure.items() if k not in ("value", "ci95")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "rl-nav2d")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "rl-nav2d-study")
    parser.add_argument("--ship", type=Path, default=ROOT,
                        help="repository root to ship into (checkpoints/, figures/)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--preset", default="rl-nav2d",
                        help="rl-nav2d | rl-cheetah-vel | rl-cheetah-dir (runs at `cpu` scale)")
    parser.add_argument("--tasks", type=int, default=40)
    args = parser.parse_args()
    env = args.preset.removeprefix("rl-")
    torch.set_num_threads(1)
    from repsim.analyses.checkpoint_index import merge_index, read_index
    from repsim.rl.checkpoint import load_rl
    from repsim.study_rl import run_rl_study

    files = run_rl_study(args.preset, scale="cpu", seeds=args.seeds, out_dir=args.out,
                         runs_dir=args.runs, train=False, tasks=args.tasks)
    ship_ckpt = args.ship / "checkpoints" / "rl"
    ship_fig = args.ship / "figures" / args.preset
    ship_ckpt.mkdir(parents=True, exist_ok=True)
    shutil.copytree(args.out / "figures", ship_fig, dirs_exist_ok=True)
    for name in ("summary", "eval", "compare", "ablate"):
        for ext in ("csv", "json"):
            shutil.copy(args.out / f"{name}.{ext}", ship_fig / f"{name}.{ext}")
    report = files["report_md"].read_text().replace("](figures/", "](")
    old = ship_fig / "report.md"
    # Separate analyses whose sections live at the end of the shipped report (the conventions
    # check, analysis/rl_nav2d_vs_reference.py; the test-time inner-step check,
    # analysis/rl_inner_step_check.py): keep them across regenerations.
    previous = old.read_text() if old.exists() else ""
    kept = [previous.index(m) for m in KEPT_SECTIONS if m in previous and m not in report]
    if kept:
        report = report.rstrip() + "\n\n" + previous[min(kept):]
    old.write_text(report)

    evals = pd.read_csv(args.out / "eval.csv")
    ablate = pd.read_csv(args.out / "ablate.csv")
    shipped = {e["path"]: e for e in read_index(args.ship / "checkpoints" / "index.json")
               ["checkpoints"]}
    entries = []
    for rec in evals.to_dict("records"):
        alg, seed = rec["algorithm"], int(rec["seed"])
        stem = f"{env}_{alg}_s{seed}"
        shutil.copy(rec["checkpoint"], ship_ckpt / f"{stem}.pt")
        shutil.copy(Path(rec["checkpoint"]).parents[1] / "metrics.csv",
                    ship_ckpt / f"{stem}_metrics.csv")
        common = {"tasks": int(rec["tasks"]), "test_seed": int(rec["test_seed"])}
        figures = [
            {"metric": "return_before", "head": "adapted", "frozen": [],
             "value": rec["return_before"], "ci95": rec["ci95_before"], **common},
            {"metric": "return_after", "head": "adapted", "frozen": [],
             "value": rec["return_after"], "ci95": rec["ci95_after"], **common},
        ]
        rows = ablate[(ablate["algorithm"] == alg) & (ablate["seed"] == seed)]
        for row in rows.to_dict("records"):
            frozen = [x for x in str(row["frozen"]).strip("[]").replace("'", "").split(", ") if x]
            if frozen:
                figures.append({"metric": "return_after", "head": "adapted", "frozen": frozen,
                                "value": row["return"], "ci95": row["ci95"], **common})
        cfg = load_rl(rec["checkpoint"]).config
        # Figures measured elsewhere on this same checkpoint (e.g. 400 test tasks, the
        # inner-step check) stay; a checkpoint trained further makes them stale.
        before = shipped.get(f"checkpoints/rl/{stem}.pt")
        if before and before["steps"] == int(rec["step"]):
            here = {_figure_key(f) for f in figures}
            figures += [f for f in before["figures"] if _figure_key(f) not in here]
        entries.append({"path": f"checkpoints/rl/{stem}.pt",
                        "preset": f"{args.preset} (cpu scale: Fisher products from every "
                                  f"{cfg.fisher_subsample}th trajectory; horizon {cfg.horizon}, "
                                  f"meta-batch {cfg.meta_batch}, {cfg.trajectories} "
                                  "trajectories per task)",
                        "algorithm": alg, "seed": seed, "steps": int(rec["step"]),
                        "figures": figures})
    index = merge_index(args.ship / "checkpoints" / "index.json", entries)
    print(f"shipped {len(entries)} checkpoints to {ship_ckpt}, figures to {ship_fig}, {index}")


if __name__ == "__main__":
    main()
