"""Seconds per MAML-TRPO / ANIL-TRPO meta-iteration on 2D navigation (one CPU thread).

    python benchmarks/bench_rl_meta.py [--repeats 3] [--out docs/benchmarks]

Per configuration (algorithm × Fisher subsampling 1 = exact / 5 = `cpu` scale): the rollout
phase (sample_iteration: 2 × 400 trajectories of 100 steps, baseline fits, inner step) and the
TRPO phase (meta_step: meta-gradient, 10 CG iterations of Fisher products, line search), as
medians over ``--repeats`` iterations after one warm-up, in CPU seconds (process time: what the
run costs, independent of other load on a shared machine) and wall seconds. Also, the
meta-gradient alone (repsim's per-task loop of ``torch.autograd.grad(create_graph=True)``)
against the vmapped inner step and its vector-Jacobian product (repsim's previous form),
alternating repetitions, same data.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch


def _timed(fn, *args, **kwargs):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.process_time() - c0, time.perf_counter() - w0


def _vmapped_grad(params, data, *, lr, adapt_names):
    """The previous form: one vmapped inner step over all tasks and its vector-Jacobian
    product (what repsim used before the per-task loop)."""
    from torch.func import vjp

    from repsim.rl.algorithm import _task_fields
    from repsim.rl.objective import adapted_outputs, surrogate_and_kl

    train, valid = _task_fields(data.train), _task_fields(data.valid)

    def outputs(p):
        return adapted_outputs(p, train, valid["obs"], lr=lr, adapt_names=adapt_names)

    (mean, log_std), pullback = vjp(outputs, dict(params))
    m, s = mean.detach().requires_grad_(True), log_std.detach().requires_grad_(True)
    surrogate, _ = surrogate_and_kl(m, s, valid, mean.detach(), log_std.detach())
    (grad,) = pullback(torch.autograd.grad(-surrogate, (m, s)))
    return grad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    import repsim.rl  # noqa: F401
    from repsim.rl.algorithm import adapt_names_for, meta_gradient, meta_step, sample_iteration
    from repsim.rl.config import rl_config
    from repsim.rl.train import initial_params

    rows = []
    for algorithm in ("maml", "anil"):
        for subsample in (5, 1):
            cfg = rl_config("nav2d", scale="cpu", algorithm=algorithm,
                            fisher_subsample=subsample)
            params, *_ = initial_params(cfg)
            names = adapt_names_for(params, algorithm)
            samples = {"rollout": [], "trpo": []}
            for it in range(args.repeats + 1):
                data, c1, w1 = _timed(sample_iteration, params, cfg, it, adapt_names=names)
                (params, _), c2, w2 = _timed(meta_step, params, data, cfg, names)
                if it:  # the first iteration warms up allocations and vmap/jvp tracing
                    samples["rollout"].append((c1, w1))
                    samples["trpo"].append((c2, w2))
            for phase, vals in samples.items():
                rows.append({"algorithm": algorithm, "fisher_subsample": subsample,
                             "phase": phase,
                             "cpu_s": statistics.median(v[0] for v in vals),
                             "wall_s": statistics.median(v[1] for v in vals)})
            print(rows[-2:], flush=True)
    # the per-task create_graph loop (repsim's) vs the vmapped vjp (previous), alternating
    cfg = rl_config("nav2d", scale="cpu", algorithm="maml")
    params, *_ = initial_params(cfg)
    names = adapt_names_for(params, "maml")
    data = sample_iteration(params, cfg, 0, adapt_names=names)
    ours, vmapped = [], []
    for _ in range(args.repeats + 1):
        ours.append(_timed(lambda: meta_gradient(params, data, cfg, names))[1])
        vmapped.append(_timed(lambda: _vmapped_grad(params, data, lr=cfg.inner_lr,
                                                    adapt_names=names))[1])
    ratio = statistics.median(b / a for a, b in zip(ours[1:], vmapped[1:], strict=True))
    grad_row = {"meta_gradient_cpu_s": statistics.median(ours[1:]),
                "vmapped_vjp_cpu_s": statistics.median(vmapped[1:]),
                "vmapped_over_ours": ratio}
    print(grad_row, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"threads": 1, "repeats": args.repeats, "rows": rows, "meta_gradient": grad_row,
              "loadavg": Path("/proc/loadavg").read_text().split()[:3]}
    (args.out / "rl_meta_cpu.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
