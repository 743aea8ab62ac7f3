"""repsim.similarity vs plain numpy (google/svcca's algorithm, per-call CKA): same data, one run.

Usage::

    python benchmarks/bench_similarity.py [--device cpu|cuda] [--quick] [--threads N]
        [--out docs/benchmarks/similarity_<device>.md]   # a .json with the raw numbers beside it
                                                          # (default; ..._quick.md with --quick)

(a) Single pairs of sizes (d, n) = (32, 132300), (64, 50000), (512, 10000), (5, 75): CCA,
    SVCCA (keep=0.99), PWCCA and linear CKA, each against its numpy baseline.
(b) The "compare" workload: 5 layers x 4 measures x 600 tasks of 5-way query sets (75 query
    images; conv1-conv4 average-pooled to 32 channels, head 5 logits), theta vs theta'.
    Baseline: a Python loop of the numpy functions; repsim: one ``similarity_batch`` per layer.

The baseline is google/svcca's algorithm written plainly in numpy (np.cov, rescaling, pinv,
eigen square root, SVD; ``compute_pwcca``'s QR weighting with the acts1/acts2 fix; the
tutorial's SVD-then-CCA for SVCCA) and Kornblith et al.'s feature-space linear CKA. Inputs are
float32 activations, as a network produces them; both sides compute in float64. Times are the
minimum over repeats, baseline and repsim interleaved; both use the same BLAS thread count.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from repsim.similarity import cca, cka, pwcca, similarity_batch, svcca

PAIRS = [(32, 132300), (64, 50000), (512, 10000), (5, 75)]
MEASURES = ("cca", "svcca", "pwcca", "cka")
KEEP = 0.99


# ----------------------------------------------------------------- numpy baselines (google layout)
def np_cca(a1: np.ndarray, a2: np.ndarray, epsilon: float = 0.0) -> dict[str, np.ndarray]:
    """google/svcca ``get_cca_similarity`` core; a1 (d1, n), a2 (d2, n)."""
    n1 = a1.shape[0]
    cov = np.cov(a1, a2)
    sxx, sxy, syy = cov[:n1, :n1], cov[:n1, n1:], cov[n1:, n1:]
    xmax, ymax = np.max(np.abs(sxx)), np.max(np.abs(syy))
    sxx, syy, sxy = sxx / xmax, syy / ymax, sxy / np.sqrt(xmax * ymax)
    xi, yi = np.abs(np.diag(sxx)) >= epsilon, np.abs(np.diag(syy)) >= epsilon
    sxx, syy, sxy = sxx[xi][:, xi], syy[yi][:, yi], sxy[xi][:, yi]
    sxx = sxx + epsilon * np.eye(len(sxx))
    syy = syy + epsilon * np.eye(len(syy))

    def sqrtm(a: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh(a)
        return v @ np.diag(np.sqrt(w)) @ v.T

    inv_xx, inv_yy = sqrtm(np.linalg.pinv(sxx)), sqrtm(np.linalg.pinv(syy))
    u, s, v = np.linalg.svd(inv_xx @ sxy @ inv_yy)
    s = np.abs(s)
    return {"u": u, "s": s, "v": v, "xi": xi, "yi": yi, "mean": s.mean()}


def np_svcca(a1: np.ndarray, a2: np.ndarray, keep: float = KEEP) -> float:
    """google's tutorial: centre, SVD, keep the top directions, then CCA."""
    reduced = []
    for a in (a1, a2):
        c = a - a.mean(axis=1, keepdims=True)
        _, s, vt = np.linalg.svd(c, full_matrices=False)
        frac = np.cumsum(s**2) / np.sum(s**2)
        k = min(int(np.sum(frac < keep)) + 1, len(s))
        reduced.append(s[:k, None] * vt[:k])
    return float(np_cca(*reduced)["mean"])


def np_pwcca(a1: np.ndarray, a2: np.ndarray, epsilon: float = 0.0) -> float:
    """google/svcca ``compute_pwcca`` (with acts2 where the 2019 code says acts1)."""
    r = np_cca(a1, a2, epsilon)
    if r["xi"].sum() <= r["yi"].sum():
        m = a1[r["xi"]].mean(axis=1, keepdims=True)
        dirns = r["u"].T @ (a1[r["xi"]] - m) + m
        acts = a1[r["xi"]]
    else:
        m = a2[r["yi"]].mean(axis=1, keepdims=True)
        dirns = r["v"] @ (a2[r["yi"]] - m) + m
        acts = a2[r["yi"]]
    p, _ = np.linalg.qr(dirns.T)
    w = np.sum(np.abs(p.T @ acts.T), axis=1)
    w = w / w.sum()
    return float(np.sum(w * r["s"]))


def np_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al.'s ``feature_space_linear_cka``; x (n, dx), y (n, dy)."""
    x = x - x.mean(0, keepdims=True, dtype=np.float64)
    y = y - y.mean(0, keepdims=True, dtype=np.float64)
    num = np.linalg.norm(x.T @ y) ** 2
    return float(num / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


BASELINES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "cca": lambda x, y: float(np_cca(x.T, y.T)["mean"]),
    "svcca": lambda x, y: np_svcca(x.T, y.T),
    "pwcca": lambda x, y: np_pwcca(x.T, y.T),
    "cka": np_cka,
}
REPSIM: dict[str, Callable[[object, object], float]] = {
    "cca": lambda x, y: cca(x, y).mean,
    "svcca": lambda x, y: svcca(x, y, keep=KEEP).mean,
    "pwcca": lambda x, y: pwcca(x, y).value,
    "cka": lambda x, y: cka(x, y).value,
}


# ----------------------------------------------------------------- data and timing
def activations(rng: np.random.Generator, n: int, d: int, shift: float) -> tuple[np.ndarray, ...]:
    """ReLU-like float32 activations of two related 'networks' (y a noisy map of x)."""
    z = rng.standard_normal((n, d), dtype=np.float32)
    x = np.maximum(z @ rng.standard_normal((d, d), dtype=np.float32) + shift, 0)
    noise = rng.standard_normal((n, d), dtype=np.float32)
    y = np.maximum(x @ rng.standard_normal((d, d), dtype=np.float32) + 2 * noise + shift, 0)
    return x.astype(np.float32), y.astype(np.float32)


def timed(fn: Callable[[], object], sync: Callable[[], None]) -> tuple[float, object]:
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - start, out


def race(
    base: Callable[[], object],
    ours: Callable[[], object],
    *,
    sync: Callable[[], None],
    budget: float,
    min_reps: int,
    max_reps: int,
) -> tuple[float, float, object, object]:
    """Interleave baseline and repsim; minimum time of each over the repeats."""
    tb, vb = timed(base, sync)  # also a warm-up for both
    to, vo = timed(ours, sync)
    best_b, best_o, spent, reps = tb, to, tb + to, 1
    while reps < max_reps and (reps < min_reps or spent < budget):
        tb, _ = timed(base, sync)
        to, _ = timed(ours, sync)
        best_b, best_o, spent, reps = min(best_b, tb), min(best_o, to), spent + tb + to, reps + 1
    return best_b, best_o, vb, vo


def to_device(a: np.ndarray, device: str) -> object:
    return a if device == "cpu" else torch.from_numpy(a).to(device)


def bench_pairs(device: str, quick: bool, sync: Callable[[], None]) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    for d, n in PAIRS:
        x, y = activations(rng, n, d, shift=0.5)
        xd, yd = to_device(x, device), to_device(y, device)
        for name in MEASURES:
            tb, to, vb, vo = race(
                lambda name=name, x=x, y=y: BASELINES[name](x, y),
                lambda name=name, xd=xd, yd=yd: REPSIM[name](xd, yd),
                sync=sync,
                budget=0.5 if quick else 3.0,
                min_reps=1 if quick else 3,
                max_reps=3 if quick else 15,
            )
            rows.append(
                {
                    "case": f"d={d}, n={n}",
                    "measure": name,
                    "numpy_s": tb,
                    "repsim_s": to,
                    "speedup": tb / to,
                    "abs_diff": abs(float(vb) - float(vo)),
                }
            )
            print(
                f"  (d={d:>3}, n={n:>6}) {name:6s} numpy {tb * 1e3:9.2f} ms  repsim "
                f"{to * 1e3:9.2f} ms  x{tb / to:6.2f}  |diff| {rows[-1]['abs_diff']:.1e}"
            )
    return rows


def workload_data(tasks: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer (conv1..conv4 pooled to 32 channels, head 5 logits): (T, 75, d) pairs."""
    rng = np.random.default_rng(1)
    layers = []
    for d, change in ((32, 0.1), (32, 0.1), (32, 0.15), (32, 0.2), (5, 1.0)):
        x = np.maximum(rng.standard_normal((tasks, 75, d), dtype=np.float32) + 0.3, 0)
        shift = change * rng.standard_normal((tasks, 75, d), dtype=np.float32)
        layers.append((x, np.maximum(x + shift, 0).astype(np.float32)))
    return layers


def bench_workload(device: str, quick: bool, sync: Callable[[], None]) -> list[dict]:
    tasks = 60 if quick else 600
    layers = workload_data(tasks)
    on_dev = [(to_device(x, device), to_device(y, device)) for x, y in layers]

    def baseline() -> dict[str, np.ndarray]:
        return {
            f"{i}/{m}": np.array([BASELINES[m](a, b) for a, b in zip(x, y, strict=True)])
            for i, (x, y) in enumerate(layers)
            for m in MEASURES
        }

    def batched() -> dict[str, np.ndarray]:
        out = {}
        for i, (x, y) in enumerate(on_dev):
            res = similarity_batch(x, y, measures=MEASURES, keep=KEEP)
            out.update({f"{i}/{m}": res[m].cpu().numpy() for m in MEASURES})
        return out

    def looped() -> dict[str, np.ndarray]:
        return {
            f"{i}/{m}": np.array([REPSIM[m](a, b) for a, b in zip(x, y, strict=True)])
            for i, (x, y) in enumerate(on_dev)
            for m in MEASURES
        }

    reps = dict(sync=sync, budget=0.0, min_reps=1 if quick else 2, max_reps=1 if quick else 2)
    tb, to, vb, vo = race(baseline, batched, **reps)
    tl, _, vl, _ = race(looped, lambda: None, **reps)
    diff = max(float(np.max(np.abs(vb[k] - vo[k]))) for k in vb)
    loop_diff = max(float(np.max(np.abs(vb[k] - vl[k]))) for k in vb)
    label = f"5 layers x 4 measures x {tasks} tasks (n=75)"
    print(
        f"  workload: numpy loop {tb:.2f} s, repsim batched {to:.2f} s (x{tb / to:.1f}), "
        f"repsim single-call loop {tl:.2f} s (x{tb / tl:.2f}); |diff| {diff:.1e}"
    )
    return [
        {
            "case": label,
            "measure": "all 4, batched",
            "numpy_s": tb,
            "repsim_s": to,
            "speedup": tb / to,
            "abs_diff": diff,
        },
        {
            "case": label,
            "measure": "all 4, loop of single calls",
            "numpy_s": tb,
            "repsim_s": tl,
            "speedup": tb / tl,
            "abs_diff": loop_diff,
        },
    ]


# ----------------------------------------------------------------- report
def environment(device: str, threads: int) -> dict:
    env = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "threads": threads,
        "cpu": platform.processor() or platform.machine(),
        "device": device,
    }
    try:
        with open("/proc/cpuinfo") as fh:
            env["cpu"] = next(ln.split(":", 1)[1].strip() for ln in fh if "model name" in ln)
    except (OSError, StopIteration):
        pass
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def markdown(rows: list[dict], env: dict, quick: bool) -> str:
    where = f"repsim on {env['device']}" + (f" ({env['gpu']})" if "gpu" in env else "")
    lines = [
        f"# repsim.similarity benchmark ({where}; numpy baseline on CPU)",
        "",
        f"{env['date']}; CPU {env['cpu']}; {env['threads']} BLAS/torch thread(s); "
        f"numpy {env['numpy']}, torch {env['torch']}, Python {env['python']}"
        + ("; QUICK mode (fewer repeats, 60 tasks)" if quick else "")
        + ".",
        "",
        "Speedup = numpy time / repsim time (> 1: repsim faster). Times: minimum over repeats.",
        "",
        "| case | measure | numpy (ms) | repsim (ms) | speedup | abs diff |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['measure']} | {r['numpy_s'] * 1e3:.2f} | "
            f"{r['repsim_s'] * 1e3:.2f} | {r['speedup']:.2f}x | {r['abs_diff']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="few repeats, 60 tasks (< 1 min)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch threads (both sides)")
    parser.add_argument("--out", type=Path, default=None, help="markdown path (.json beside)")
    args = parser.parse_args(argv)
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        print(
            f"--device cuda: torch {torch.__version__} sees no CUDA device "
            f"(torch.cuda.is_available() is False); running on the CPU instead.",
            file=sys.stderr,
        )
        device = "cpu"
    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    except ImportError:
        print("threadpoolctl missing: numpy's BLAS threads are not limited", file=sys.stderr)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    print(f"single pairs (repsim on {device}):")
    rows = bench_pairs(device, args.quick, sync)
    print("compare workload:")
    rows += bench_workload(device, args.quick, sync)
    env = environment(device, args.threads)
    quick = "_quick" if args.quick else ""  # never overwrite a full run with a quick one
    out = args.out or Path(f"docs/benchmarks/similarity_{device}{quick}.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(rows, env, args.quick))
    out.with_suffix(".json").write_text(json.dumps({"env": env, "rows": rows}, indent=2))
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
