"""Train HalfCheetah velocity and direction, MAML and ANIL, at the `cpu` scale.

    python analysis/rl_cheetah_train.py --until 12:14 [--steps 150] [--envs cheetah-vel] \
        [--seeds 0,1,2]

`cpu` scale (repsim.rl.config): horizon 100, meta-batch 20, 10 trajectories per task, TRPO with
Fisher products from every 5th trajectory, 150 iterations planned. The four runs
(``runs/rl-cheetah/ENV/ALGO-sSEED``) advance in turns of ``--chunk`` iterations until ``--until``
(UTC), so they end at about the same iteration; every run is resumable.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--until", default=None, help="HH:MM UTC: stop starting new chunks")
    parser.add_argument("--chunk", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "rl-cheetah")
    parser.add_argument("--envs", default="cheetah-vel,cheetah-dir",
                        help="comma-separated: which of the two environments to advance")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import repsim.rl  # noqa: F401
    from repsim.meta.checkpoint import checkpoint_paths
    from repsim.rl.config import rl_config
    from repsim.rl.train import train_rl

    deadline = None
    if args.until:
        hh, mm = (int(x) for x in args.until.split(":"))
        deadline = datetime.now(timezone.utc).replace(hour=hh, minute=mm, second=0,
                                                      microsecond=0)
    runs = [(rl_config(env, scale="cpu", algorithm=alg, seed=seed, steps=args.steps,
                       checkpoint_every=5, log_every=5), args.out / env / f"{alg}-s{seed}")
            for env in args.envs.split(",") for seed in (int(s) for s in args.seeds.split(","))
            for alg in ("maml", "anil")]
    while not deadline or datetime.now(timezone.utc) < deadline:
        pending = [(checkpoint_paths(o)[-1][0] if checkpoint_paths(o) else 0, c, o)
                   for c, o in runs]
        pending = [p for p in pending if p[0] < p[1].steps]
        if not pending:
            break
        done, cfg, out = min(pending, key=lambda p: p[0])
        result = train_rl(cfg, out_dir=out, resume=True,
                          stop_after=min(cfg.steps, done + args.chunk))
        if result.interrupted:
            break


if __name__ == "__main__":
    main()
