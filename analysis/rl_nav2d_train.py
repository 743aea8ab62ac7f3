"""Train the shipped 2D-navigation runs: MAML and ANIL, 3 seeds, `cpu` scale.

    python analysis/rl_nav2d_train.py --group 0 --until 12:10   # and --group 1 in parallel

`cpu` scale = the paper's settings (horizon 100, meta-batch 20, 20 trajectories per task,
TRPO δ 0.01, 10 CG iterations) with TRPO's Fisher products from every 5th trajectory.
The six runs are split over two processes (one CPU thread each); each process advances its
three runs in turns of ``--chunk`` meta-iterations, so that whatever time there is, all runs
reach about the same iteration. Every run is resumable (``runs/rl-nav2d/ALGO-sSEED``): starting
the script again continues where it stopped, bit-identically.
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
GROUPS = {0: [("maml", 0), ("maml", 1), ("anil", 2)], 1: [("anil", 0), ("anil", 1), ("maml", 2)]}
GROUPS[2] = GROUPS[0] + GROUPS[1]  # all six in one process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", type=int, choices=(0, 1, 2), required=True)
    parser.add_argument("--until", default=None, help="HH:MM UTC: stop starting new chunks")
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "rl-nav2d")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import repsim.rl  # noqa: F401  (registers the envs; fails clearly without repsim-maml[rl])
    from repsim.meta.checkpoint import checkpoint_paths
    from repsim.rl.config import rl_config
    from repsim.rl.train import train_rl

    deadline = None
    if args.until:
        hh, mm = (int(x) for x in args.until.split(":"))
        now = datetime.now(timezone.utc)
        deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    runs = [(rl_config("nav2d", scale="cpu", algorithm=a, seed=s, steps=args.steps),
             args.out / f"{a}-s{s}") for a, s in GROUPS[args.group]]
    while True:
        pending = []
        for cfg, out in runs:
            done = checkpoint_paths(out)[-1][0] if checkpoint_paths(out) else 0
            if done < cfg.steps:
                pending.append((done, cfg, out))
        if not pending or (deadline and datetime.now(timezone.utc) >= deadline):
            break
        done, cfg, out = min(pending, key=lambda p: p[0])
        target = min(cfg.steps, done + args.chunk)
        result = train_rl(dataclasses.replace(cfg), out_dir=out, resume=True, stop_after=target)
        if result.interrupted:  # SIGTERM / Ctrl-C: the run saved its checkpoint; stop here
            break
    print("finished", [(str(o), checkpoint_paths(o)[-1][0]) for _, o in runs], flush=True)


if __name__ == "__main__":
    main()
