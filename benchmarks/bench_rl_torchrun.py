"""Wall time of 2D-navigation MAML-TRPO as users run it: `repsim train`, 1 rank vs torchrun.

    python benchmarks/bench_rl_torchrun.py [--iters 30] [--repeats 2] [--baseline-src DIR]
                                           [--full 500] [--keep DIR] [--out docs/benchmarks]

Arms, run as subprocesses with one thread per process (``OMP_NUM_THREADS=1``, ``--threads 1``)
and alternated repetition by repetition, each a fresh run of ``--iters`` meta-iterations at
the ``cpu`` scale preset of the shipped runs (``repsim train --dataset nav2d --scale cpu``):

* ``1 rank``: ``python -m repsim train ...``;
* ``2 ranks``: ``torchrun --nproc_per_node=2 -m repsim train ...`` (gloo);
* ``previous, 1 rank`` (with ``--baseline-src DIR``): the same command on an older source tree
  (e.g. ``git archive <commit> | tar -x -C DIR``), for the ratio against the previous code.

Per run: wall seconds of the whole command (interpreter start, torchrun rendezvous, checkpoint
writes included), the training loop's own seconds (``elapsed`` of the last checkpoint), the
first iteration (warm-up) and the median and mean of the others (``metrics.csv``), and the CPU
seconds of the process tree. The 500-iteration extrapolation is
``start-up + first iteration + 499 × mean of the others``. ``--full N`` then runs the 2-rank
arm once for N iterations (``--repeats 0 --full N``: that run only). Writes
``rl_torchrun_cpu.json`` (``rl_torchrun_cpu_fullN.json``) with the load average before and
after every run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]


def _load() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(arm: str, iters: int, out: Path, src: Path, algo: str) -> dict:
    train = ["-m", "repsim", "train", "--dataset", "nav2d", "--scale", "cpu", "--algo", algo,
             "--steps", str(iters), "--threads", "1", "--out", str(out)]
    if arm == "2 ranks":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_port=29571", *train]
    else:
        cmd = [sys.executable, *train]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(src)}
    load_before, cpu0, w0 = _load(), _children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=src)
    wall, cpu = time.perf_counter() - w0, _children_cpu() - cpu0
    if done.returncode:
        raise RuntimeError(f"{arm} failed:\n{done.stderr[-3000:]}")
    last = sorted((out / "checkpoints").glob("step_*.pt"))[-1]
    state = torch.load(last, weights_only=True)
    metrics = pd.read_csv(out / "metrics.csv")
    per_iter = metrics["seconds"].tolist()
    loop = float(state["elapsed"])
    rest = per_iter[1:]
    startup = wall - loop
    return {
        "arm": arm, "iters": iters, "wall_s": wall, "loop_s": loop, "startup_s": startup,
        "cpu_s": cpu, "first_iter_s": per_iter[0],
        "median_iter_s": statistics.median(rest), "mean_iter_s": statistics.mean(rest),
        "extrapolated_500_s": startup + per_iter[0] + 499 * statistics.mean(rest),
        "return_after_last": float(metrics["return_after"].iloc[-1]),
        "per_iter_s": [round(x, 4) for x in per_iter],
        "world_size": int(state.get("world_size", 1)),
        "load_before": load_before, "load_after": _load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--algo", default="maml")
    parser.add_argument("--baseline-src", type=Path, default=None)
    parser.add_argument("--full", type=int, default=0, help="then one 2-rank run of N iters")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--keep", type=Path, default=None,
                        help="copy the --full run's folder (checkpoints, metrics) here")
    args = parser.parse_args()
    arms = [("1 rank", ROOT), ("2 ranks", ROOT)]
    if args.baseline_src is not None:
        arms.insert(0, ("previous, 1 rank", args.baseline_src.resolve()))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for arm, src in arms if rep % 2 == 0 else arms[::-1]:
                out = Path(tmp) / f"{arm.replace(' ', '_').replace(',', '')}_{rep}"
                row = {"repeat": rep, **_run(arm, args.iters, out, src, args.algo)}
                rows.append(row)
                print(json.dumps(row), flush=True)
                shutil.rmtree(out)
        if args.full:
            out = Path(tmp) / "full"
            full = _run("2 ranks", args.full, out, ROOT, args.algo)
            print(json.dumps(full), flush=True)
            if args.keep is not None:
                shutil.copytree(out, args.keep, dirs_exist_ok=True)
        else:
            full = None
    summary = {}
    for arm, _ in arms if rows else ():  # --repeats 0: the --full run only
        mine = [r for r in rows if r["arm"] == arm]
        summary[arm] = {k: statistics.median(r[k] for r in mine)
                        for k in ("wall_s", "startup_s", "mean_iter_s", "median_iter_s",
                                  "extrapolated_500_s", "cpu_s")}
    result = {"settings": {"preset": "nav2d, cpu scale", "algorithm": args.algo,
                           "iters": args.iters if args.repeats else None,
                           "repeats": args.repeats, "full": args.full or None,
                           "threads_per_process": 1, "torch": torch.__version__,
                           "cpus": os.cpu_count()},
              "runs": rows, "median_over_repeats": summary, "full_run": full}
    args.out.mkdir(parents=True, exist_ok=True)
    name = "rl_torchrun_cpu.json" if not args.full else f"rl_torchrun_cpu_full{args.full}.json"
    (args.out / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
