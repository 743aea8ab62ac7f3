"""Test-time check of a meta-RL policy's inner step: does the gain after − before grow with
more trajectories per inner step (a less noisy REINFORCE gradient) or another inner lr?

No training: the shipped θ is adapted on the same fixed test tasks with the config's
trajectories and inner lr replaced. Answers whether a policy that does not gain from its
inner step at the training settings (MAML on HalfCheetah-Vel at `cpu` scale) can gain at all.

    PYTHONPATH=. python analysis/rl_inner_step_check.py checkpoints/rl/cheetah-vel_maml_s0.pt \
        checkpoints/rl/cheetah-vel_anil_s0.pt --trajectories 10,40 --inner-lr 0.05,0.1,0.2 \
        --tasks 100 --out runs/rl-inner-check/cheetah-vel.csv
    PYTHONPATH=. python analysis/rl_inner_step_check.py \
        --from-csv runs/rl-inner-check/cheetah-vel.csv --ship figures/rl-cheetah-vel

The report section (``## The inner step at test time``) is kept when `analysis/rl_nav2d.py`
regenerates the report; the index figures carry ``inner_trajectories`` and ``inner_lr``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import pandas as pd

from repsim._io import atomic_write_text
from repsim.analyses.checkpoint_index import merge_index, read_index
from repsim.cli._common import set_threads
from repsim.rl.checkpoint import load_rl
from repsim.rl.evaluate import evaluate_policy

SECTION = "## The inner step at test time"
ROOT = Path(__file__).resolve().parents[1]


def markdown(table: pd.DataFrame) -> str:
    lines = [
        SECTION, "",
        "No training: each shipped θ is adapted on the same fixed test tasks with the inner "
        "step's trajectories per task and learning rate replaced (`analysis/"
        "rl_inner_step_check.py`). A gain that appears with more trajectories means the "
        "training-time inner step was too noisy to use what θ had learned. ± is the 95% CI "
        "over tasks of the paired difference; **bold**: the training settings.", "",
        "| algorithm | iterations | trajectories per inner step | inner lr | tasks | before | "
        "after | after − before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in table.to_dict("records"):
        trained = (r["trajectories"] == r["trained_trajectories"]
                   and r["inner_lr"] == r["trained_inner_lr"])
        mark = "**" if trained else ""
        lines.append(
            f"| {r['algorithm']} | {r['step']} | {mark}{r['trajectories']}{mark} | "
            f"{mark}{r['inner_lr']:g}{mark} | {r['tasks']} | {r['return_before']:.1f} | "
            f"{r['return_after']:.1f} | {r['gain']:+.1f} ± {r['ci95_gain']:.1f} |")
    return "\n".join([*lines, "", reading(table)]) + "\n"


def reading(table: pd.DataFrame) -> str:
    """The section's reading, from the numbers: each algorithm's gain at its training settings
    and at the most trajectories (same lr), and where ANIL's gain exceeds MAML's."""
    def gain(r):
        return f"{r['gain']:+.1f} ± {r['ci95_gain']:.1f}"

    parts = []
    for alg, rows in table.groupby("algorithm", sort=False):
        trained = rows[(rows.trajectories == rows.trained_trajectories)
                       & (rows.inner_lr == rows.trained_inner_lr)]
        if trained.empty:
            continue
        t = trained.iloc[0]
        most = rows[(rows.trajectories == rows.trajectories.max())
                    & (rows.inner_lr == t["inner_lr"])].iloc[0]
        parts.append(f"{alg.upper()} gains {gain(t)} at its training settings "
                     f"({t['trajectories']} trajectories, lr {t['inner_lr']:g}) and "
                     f"{gain(most)} with {most['trajectories']} trajectories")
    text = "**Reading.** " + "; ".join(parts) + "."
    if {"maml", "anil"} <= set(table.algorithm):
        keys = ["trajectories", "inner_lr"]
        both = table[table.algorithm == "maml"].merge(table[table.algorithm == "anil"],
                                                      on=keys, suffixes=("_maml", "_anil"))
        ahead = int((both.gain_anil > both.gain_maml).sum())
        text += (f" ANIL's gain is larger than MAML's at {ahead} of the {len(both)} settings "
                 "tried.")
    return text


def ship(table: pd.DataFrame, figures_dir: Path) -> None:
    """Table and report section into ``figures_dir``; the figures into checkpoints/index.json."""
    atomic_write_text(figures_dir / "inner_step_check.csv", table.to_csv(index=False))
    section = markdown(table)
    atomic_write_text(figures_dir / "inner_step_check.md", section)
    report = figures_dir / "report.md"
    text = report.read_text() if report.exists() else ""
    if SECTION in text:  # replace our section, keep any that follow it
        start = text.index(SECTION)
        rest = text[start + len(SECTION):]
        end = rest.find("\n## ")
        text = text[:start] + section + ("" if end < 0 else rest[end:])
    else:
        text = text.rstrip() + "\n\n" + section
    atomic_write_text(report, text)
    index_path = ROOT / "checkpoints" / "index.json"
    shipped = {e["path"]: e for e in read_index(index_path)["checkpoints"]}
    entries = []
    for path, rows in table.groupby("checkpoint"):
        entry = dict(shipped[str(Path(path))])
        if entry["steps"] != int(rows["step"].iloc[0]):
            raise SystemExit(f"{path}: the index lists step {entry['steps']}, the check ran "
                             f"at step {int(rows['step'].iloc[0])}")
        old = [f for f in entry["figures"] if "inner_trajectories" not in f]
        new = [{"metric": metric, "head": "adapted", "frozen": [], "value": r[column],
                "ci95": r[ci], "tasks": int(r["tasks"]), "test_seed": int(r["test_seed"]),
                "inner_trajectories": int(r["trajectories"]), "inner_lr": float(r["inner_lr"])}
               for r in rows.to_dict("records")
               for metric, column, ci in (("return_after", "return_after", "ci95_after"),
                                          ("improvement", "gain", "ci95_gain"))
               if ci in r]
        entries.append({**entry, "figures": old + new})
    merge_index(index_path, entries)
    print(f"shipped {figures_dir}/inner_step_check.{{csv,md}}, report section, "
          f"{len(entries)} index entries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", type=Path)
    parser.add_argument("--from-csv", type=Path, default=None,
                        help="ship a finished check instead of running one")
    parser.add_argument("--ship", type=Path, default=None,
                        help="figures folder of the study (e.g. figures/rl-cheetah-vel)")
    parser.add_argument("--trajectories", default="10,40")
    parser.add_argument("--inner-lr", default="0.1")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="CSV of the check")
    args = parser.parse_args()
    if args.from_csv:
        table = pd.read_csv(args.from_csv)
    else:
        if not args.checkpoints or not args.out:
            parser.error("give checkpoints and --out (or --from-csv)")
        table = run_check(args)
        atomic_write_text(args.out, table.to_csv(index=False))
    if args.ship:
        ship(table, args.ship)


def run_check(args: argparse.Namespace) -> pd.DataFrame:
    set_threads(1)
    rows = []
    for path in args.checkpoints:
        trained = load_rl(path)
        for trajectories in (int(x) for x in args.trajectories.split(",")):
            for lr in (float(x) for x in args.inner_lr.split(",")):
                config = dataclasses.replace(trained.config, trajectories=trajectories,
                                             inner_lr=lr)
                start = time.process_time()
                result = evaluate_policy(trained.params, config, tasks=args.tasks,
                                         seed=args.seed, step=trained.step).to_dict()
                rows.append({
                    "checkpoint": str(path), "env": config.env, "algorithm": config.algorithm,
                    "step": trained.step, "trained_trajectories": trained.config.trajectories,
                    "trained_inner_lr": trained.config.inner_lr, "trajectories": trajectories,
                    "inner_lr": lr, "tasks": args.tasks, "test_seed": args.seed,
                    "return_before": result["return_before"],
                    "return_after": result["return_after"],
                    "ci95_before": result["ci95_before"], "ci95_after": result["ci95_after"],
                    "gain": result["improvement"], "ci95_gain": result["ci95_improvement"],
                    "cpu_s": time.process_time() - start,
                })
                r = rows[-1]
                print(f"{config.algorithm} {config.env} traj {trajectories} lr {lr}: "
                      f"{r['return_before']:.1f} -> {r['return_after']:.1f} "
                      f"gain {r['gain']:.1f} ± {r['ci95_gain']:.1f}", flush=True)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
