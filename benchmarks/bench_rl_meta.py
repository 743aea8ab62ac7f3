"""Seconds per MAML-TRPO / ANIL-TRPO meta-iteration on 2D navigation (one CPU thread).

    python benchmarks/bench_rl_meta.py [--repeats 3] [--out docs/benchmarks]

Per configuration (algorithm × Fisher subsampling 1 = exact / 5 = `cpu` scale): the rollout
phase (sample_iteration: 2 × 400 trajectories of 100 steps, baseline fits, inner step) and the
TRPO phase (meta_step: meta-gradient, 10 CG iterations of Fisher products, line search), as
medians over ``--repeats`` iterations after one warm-up, in CPU seconds (process time: what the
run costs, independent of other load on a shared machine) and wall seconds. Also, the
meta-gradient alone against a per-task Python loop with ``torch.autograd.grad(create_graph=
True)`` (the textbook unroll, also the reference of tests/rl/test_objective.py), alternating
repetitions, same data: does vmap over tasks pay?
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


def _unrolled_grad(params, data, *, lr, adapt_names):
    from repsim.models.policy import gaussian_log_prob, policy_mean

    theta = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    tr, va = data.train, data.valid
    total = 0.0
    for i in range(tr.tasks):
        logp = gaussian_log_prob(policy_mean(theta, tr.obs[i]), theta["head.log_std"],
                                 tr.actions[i])
        inner = -(logp * tr.advantages[i] * tr.mask[i]).sum() / tr.mask[i].sum()
        grads = torch.autograd.grad(inner, [theta[k] for k in adapt_names], create_graph=True)
        adapted = dict(theta)
        for k, g in zip(adapt_names, grads, strict=True):
            adapted[k] = theta[k] - lr * g
        logp_new = gaussian_log_prob(policy_mean(adapted, va.obs[i]), adapted["head.log_std"],
                                     va.actions[i])
        ratio = torch.exp(logp_new - logp_new.detach())
        total = total - (ratio * va.advantages[i] * va.mask[i]).sum() / va.mask[i].sum()
    loss = total / tr.tasks
    return torch.autograd.grad(loss, list(theta.values()))


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
    # vmap + vjp meta-gradient vs the per-task create_graph loop, alternating
    cfg = rl_config("nav2d", scale="cpu", algorithm="maml")
    params, *_ = initial_params(cfg)
    names = adapt_names_for(params, "maml")
    data = sample_iteration(params, cfg, 0, adapt_names=names)
    ours, loop = [], []
    for _ in range(args.repeats + 1):
        ours.append(_timed(lambda: meta_gradient(params, data, cfg, names))[1])
        loop.append(_timed(lambda: _unrolled_grad(params, data, lr=cfg.inner_lr,
                                                  adapt_names=names))[1])
    ratio = statistics.median(b / a for a, b in zip(ours[1:], loop[1:], strict=True))
    grad_row = {"meta_gradient_cpu_s": statistics.median(ours[1:]),
                "per_task_loop_cpu_s": statistics.median(loop[1:]),
                "loop_over_ours": ratio}
    print(grad_row, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"threads": 1, "repeats": args.repeats, "rows": rows, "meta_gradient": grad_row}
    (args.out / "rl_meta_cpu.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
