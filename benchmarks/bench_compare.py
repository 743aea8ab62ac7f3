"""The compare workload on real Omniglot activations: repsim vs google/svcca's own code.

    python benchmarks/bench_compare.py [--threads 1] [--tasks 600] [--chunk 50]
        [--checkpoint checkpoints/omniglot_5w1s_maml.pt] [--svcca DIR] [--out docs/benchmarks]

Workload (what ``repsim compare`` computes): θ vs θ' (after the checkpoint's test-time inner
loop) of the shipped Omniglot 5w1s MAML on ``--tasks`` test tasks (75 query images each), every
layer (conv1-conv4 with spatial positions as samples: n = 75·H·W, d = 64; head: n = 75, d = 5),
measures CCA, SVCCA (keep 0.99), PWCCA and linear CKA.

repsim: one :func:`repsim.similarity.similarity_batch` per layer and chunk of tasks.
google: a Python loop over tasks of google/svcca's own ``cca_core.get_cca_similarity`` (CCA,
epsilon 1e-10 on both sides: google's default, and with 0 its code fails on layers with dead
units), its tutorial's SVD-then-CCA for SVCCA (keep 0.99 of the variance), its
``pwcca.compute_pwcca`` and Kornblith et al.'s feature-space linear CKA in numpy, on the same
float32 activations in google's neurons × datapoints layout. The google/svcca files are run as
they are (``--svcca`` points at a checkout, see benchmarks/README.md); nothing is ported.

Activations are captured chunk by chunk (conv1 of 600 tasks would be 4.5 GB); capture is not
timed. Per chunk and layer, repsim and google run back to back (alternating, the order flipped
every chunk); the totals over chunks are reported with each side's per-chunk median, and the
largest difference between the two sides' values.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from repsim.analyses._common import load, sample_tasks
from repsim.analyses._layers import to_samples
from repsim.capture import adaptation_activations
from repsim.meta.inner import freeze_spec
from repsim.similarity import similarity_batch

LAYERS = ("conv1", "conv2", "conv3", "conv4", "head")
MEASURES = ("cca", "svcca", "pwcca", "cka")
KEEP = 0.99
# google's own default; with epsilon = 0 its code fails on layers with dead units (the
# square root of the pseudo-inverse goes NaN and numpy's SVD does not converge).
EPSILON = 1e-10


def google_modules(path: Path):
    """google/svcca's cca_core and pwcca, imported from a checkout of the repository."""
    if not (path / "cca_core.py").is_file():
        raise SystemExit(f"no google/svcca checkout at {path}; see benchmarks/README.md")
    sys.path.insert(0, str(path))
    import cca_core
    import pwcca

    return cca_core, pwcca


def google_pair(cca_core, pwcca, a1: np.ndarray, a2: np.ndarray) -> dict[str, float]:
    """All four measures for one pair the google way; a1 (d1, n), a2 (d2, n) float32."""
    # mean of ALL coefficients (google's "mean" stops at 98% of their sum; repsim's cca does not)
    res = cca_core.get_cca_similarity(a1, a2, epsilon=EPSILON, verbose=False)
    out = {"cca": float(np.mean(res["cca_coef1"]))}
    reduced = []
    for a in (a1, a2):  # tutorial 001: centre, SVD, keep the top directions, then CCA
        c = a - a.mean(axis=1, keepdims=True)
        _, s, vt = np.linalg.svd(c, full_matrices=False)
        frac = np.cumsum(s**2) / np.sum(s**2)
        k = min(int(np.sum(frac < KEEP)) + 1, len(s))
        reduced.append(s[:k, None] * vt[:k])
    res = cca_core.get_cca_similarity(*reduced, epsilon=EPSILON, verbose=False)
    out["svcca"] = float(np.mean(res["cca_coef1"]))
    out["pwcca"] = float(pwcca.compute_pwcca(a1, a2, epsilon=EPSILON)[0])
    x = (a1 - a1.mean(1, keepdims=True)).astype(np.float64)  # Kornblith's linear CKA
    y = (a2 - a2.mean(1, keepdims=True)).astype(np.float64)
    hxy = np.linalg.norm(x @ y.T) ** 2
    out["cka"] = float(hxy / (np.linalg.norm(x @ x.T) * np.linalg.norm(y @ y.T)))
    return out


def google_loop(cca_core, pwcca, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    vals = [google_pair(cca_core, pwcca, x[t].T, y[t].T) for t in range(x.shape[0])]
    return {m: np.array([v[m] for v in vals]) for m in MEASURES}


def capture_chunk(trained, episodes, start: int, stop: int) -> dict[str, tuple[np.ndarray, ...]]:
    names = freeze_spec(trained.model, algorithm=trained.config.algorithm)
    acts = adaptation_activations(
        trained.model, trained.params, episodes.support_x[start:stop],
        episodes.support_y[start:stop], episodes.query_x[start:stop], adapt_names=names,
        steps=trained.config.test_inner_steps, lr=trained.config.inner.lr,
    )
    out = {}
    for layer in LAYERS:
        x, _ = to_samples(acts.before[layer], "spatial")
        y, _ = to_samples(acts.after[layer], "spatial")
        out[layer] = (x.contiguous().numpy(), y.contiguous().numpy())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tasks", type=int, default=600)
    parser.add_argument("--chunk", type=int, default=50)
    parser.add_argument("--checkpoint", type=Path,
                        default=Path("checkpoints/omniglot_5w1s_maml.pt"))
    parser.add_argument("--svcca", type=Path,
                        default=Path(os.environ.get("SVCCA_DIR", "benchmarks/.peers/svcca")))
    parser.add_argument("--data", default=os.environ.get("REPSIM_TEST_DATA", "/work/shared/data"))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # numpy's BLAS: both sides run there on the CPU
    warnings.simplefilter("ignore")  # the dead-unit notes; values are compared below
    cca_core, pwcca = google_modules(args.svcca)
    trained = load(args.checkpoint)
    episodes = sample_tasks(trained, tasks=args.tasks, split="test", seed=0, query=15,
                            data_dir=args.data)
    times = {side: {layer: [] for layer in LAYERS} for side in ("repsim", "google")}
    max_diff = {m: 0.0 for m in MEASURES}
    dead_tasks = {layer: 0 for layer in LAYERS}
    for i, start in enumerate(range(0, args.tasks, args.chunk)):
        chunk = capture_chunk(trained, episodes, start, min(start + args.chunk, args.tasks))
        for layer in LAYERS:
            x, y = chunk[layer]
            results = {}
            order = ("repsim", "google") if i % 2 == 0 else ("google", "repsim")
            for side in order:
                t0 = time.perf_counter()
                if side == "repsim":
                    res = similarity_batch(x, y, measures=MEASURES, epsilon=EPSILON)
                    results[side] = {m: res[m].numpy() for m in MEASURES}
                    dead_tasks[layer] += sum(int(w.split()[1]) for w in res.warnings
                                             if "constant features" in w)
                else:
                    results[side] = google_loop(cca_core, pwcca, x, y)
                times[side][layer].append(time.perf_counter() - t0)
            for m in MEASURES:
                diff = float(np.abs(results["repsim"][m] - results["google"][m]).max())
                max_diff[m] = max(max_diff[m], diff)
        print(f"chunk {i}: " + ", ".join(
            f"{layer} {sum(times['google'][layer]) / sum(times['repsim'][layer]):.1f}x"
            for layer in LAYERS), flush=True)
    per_layer = {
        layer: {
            "repsim_s": sum(times["repsim"][layer]), "google_s": sum(times["google"][layer]),
            "speedup": sum(times["google"][layer]) / sum(times["repsim"][layer]),
            "repsim_chunk_median_s": float(np.median(times["repsim"][layer])),
            "google_chunk_median_s": float(np.median(times["google"][layer])),
            "tasks_with_dead_units": dead_tasks[layer],
        }
        for layer in LAYERS
    }
    total_r = sum(v["repsim_s"] for v in per_layer.values())
    total_g = sum(v["google_s"] for v in per_layer.values())
    result = {
        "env": {"torch": torch.__version__, "numpy": np.__version__, "threads": args.threads,
                "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                "load_avg_end": os.getloadavg(),
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "checkpoint": str(args.checkpoint), "tasks": args.tasks, "chunk": args.chunk,
        "measures": MEASURES, "layers": per_layer, "repsim_s": total_r, "google_s": total_g,
        "speedup": total_g / total_r, "max_abs_diff": max_diff,
    }
    print(json.dumps({k: result[k] for k in ("repsim_s", "google_s", "speedup", "max_abs_diff")}))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"compare_vs_google_cpu_{args.threads}t.json").write_text(
        json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
