"""Single pairs: repsim vs google/svcca's own code (tiny pair) and vs ckatorch / anatome (CKA).

    python benchmarks/bench_similarity.py [--threads 1] [--reps 25] [--parts tiny,cka]
                                          [--out docs/benchmarks]

(c) The tiny pair (n=75, d=5: the Omniglot head over one 5-way query set), float32 numpy
    activations as a network gives them: repsim's ``cca``/``svcca``/``pwcca``/``cka`` against
    google/svcca's ``get_cca_similarity`` (epsilon 0; mean of all coefficients), its tutorial's
    SVD-then-CCA, its ``compute_pwcca``, and Kornblith et al.'s numpy linear CKA.
(d) Linear CKA (biased and debiased) at the Omniglot layer shapes (n, d) = (75, 5),
    (300, 64), (1200, 64), (3675, 64): repsim vs ckatorch 1.0.3 ``cka_base`` (n x n Grams),
    anatome's ``linear_cka_distance`` (1 - CKA), and the numpy formula. Torch peers get float32
    tensors, numpy peers numpy arrays; repsim is timed on both (it accepts either).

(e) netrep (ahwillia/netrep, a checkout: it is not on PyPI) where its definitions match
    repsim's: ``LinearCKA`` is arccos of (biased) linear CKA and ``LinearMetric(alpha=0)`` (full
    whitening) arccos of the mean canonical correlation, so cos of its distance is compared
    with repsim's ``cka`` / ``cca``; in the tiny pair and, for CKA, at the layer shapes.

Timing: every implementation runs a block of calls, the implementations alternate block by
block (``--reps`` rounds), and each one's median per-call time is reported. Values are checked
to agree before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import anatome_distance, ckatorch_core, netrep_metrics
from bench_compare import KEEP, google_modules

from repsim.similarity import cca, cka, pwcca, svcca

CKA_SHAPES = [(75, 5), (300, 64), (1200, 64), (3675, 64)]


def relu_pair(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d))
    x = np.maximum(z @ rng.standard_normal((d, d)) + 0.5, 0)
    y = np.maximum(z @ rng.standard_normal((d, d)) + 0.3 * rng.standard_normal((n, d)), 0)
    return x.astype(np.float32), y.astype(np.float32)


def race(cases: dict[str, Callable[[], float]], reps: int, block: int) -> dict[str, float]:
    """Median seconds per call of each case, the cases alternating block by block."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(reps):
        for name, fn in cases.items():
            start = time.perf_counter()
            for _ in range(block):
                fn()
            times[name].append((time.perf_counter() - start) / block)
    return {name: statistics.median(t) for name, t in times.items()}


def numpy_cka(x: np.ndarray, y: np.ndarray) -> float:
    a = x.astype(np.float64)
    b = y.astype(np.float64)
    a = a - a.mean(0)
    b = b - b.mean(0)
    return float(np.linalg.norm(a.T @ b) ** 2
                 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))


def google_svcca(cca_core, x: np.ndarray, y: np.ndarray) -> float:
    reduced = []
    for a in (x.T, y.T):
        c = a - a.mean(axis=1, keepdims=True)
        _, s, vt = np.linalg.svd(c, full_matrices=False)
        frac = np.cumsum(s**2) / np.sum(s**2)
        k = min(int(np.sum(frac < KEEP)) + 1, len(s))
        reduced.append(s[:k, None] * vt[:k])
    return float(np.mean(cca_core.get_cca_similarity(*reduced, epsilon=0.0,
                                                     verbose=False)["cca_coef1"]))


def tiny_pair(cca_core, pw, reps: int, netrep=None) -> list[dict]:
    x, y = relu_pair(75, 5)
    xt, yt = x.T.copy(), y.T.copy()
    peers = {
        "cca": (lambda: cca(x, y).value,
                lambda: float(np.mean(cca_core.get_cca_similarity(
                    xt, yt, epsilon=0.0, verbose=False)["cca_coef1"]))),
        "svcca": (lambda: svcca(x, y).value, lambda: google_svcca(cca_core, x, y)),
        "pwcca": (lambda: pwcca(x, y).value,
                  lambda: float(pw.compute_pwcca(xt, yt, epsilon=0.0)[0])),
        "cka": (lambda: cka(x, y).value, lambda: numpy_cka(x, y)),
    }
    pairs = [(m, "numpy (Kornblith)" if m == "cka" else "google/svcca", f)
             for m, f in peers.items()]
    if netrep is not None:
        pairs += [
            ("cca", "netrep", (lambda: cca(x, y).value, lambda: float(
                np.cos(netrep.LinearMetric(alpha=0.0).fit_score(x, y))))),
            ("cka", "netrep", (lambda: cka(x, y).value,
                               lambda: float(np.cos(netrep.LinearCKA().score(x, y))))),
        ]
    rows = []
    for measure, peer, (ours, theirs) in pairs:
        diff = abs(ours() - theirs())
        t = race({"repsim": ours, "peer": theirs}, reps, 50)
        rows.append({"measure": measure, "n": 75, "d": 5, "peer": peer,
                     "repsim_us": 1e6 * t["repsim"], "peer_us": 1e6 * t["peer"],
                     "speedup": t["peer"] / t["repsim"], "abs_diff": diff})
    return rows


def _cka_cases(x, y, debiased: bool, anatome, ckatorch, netrep) -> dict:
    """One CKA per implementation on the same pair (numpy x, y; torch copies for the peers)."""
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    cases = {
        "repsim (numpy input)": lambda: cka(x, y, debiased=debiased).value,
        "repsim (torch input)": lambda: cka(tx, ty, debiased=debiased).value,
        "ckatorch": lambda: float(ckatorch.cka_base(tx, ty, unbiased=debiased)),
        "anatome": lambda: 1.0 - float(anatome.linear_cka_distance(tx, ty, debiased)),
    }
    if not debiased:
        cases["numpy (Kornblith)"] = lambda: numpy_cka(x, y)
        if netrep is not None:  # biased CKA only
            cases["netrep"] = lambda: float(np.cos(netrep.LinearCKA().score(x, y)))
    return cases


def cka_peers(anatome, ckatorch, reps: int, netrep=None) -> list[dict]:
    rows = []
    for n, d in CKA_SHAPES:
        x, y = relu_pair(n, d)
        for debiased in (False, True):
            cases = _cka_cases(x, y, debiased, anatome, ckatorch, netrep)
            values = {k: f() for k, f in cases.items()}
            ref = values["repsim (numpy input)"]
            block = max(1, int(2e5 // (n * d + n * n // 8)))
            t = race(cases, reps, block)
            for name in cases:
                if name.startswith("repsim"):
                    continue
                for side in ("repsim (numpy input)", "repsim (torch input)"):
                    rows.append({
                        "n": n, "d": d, "debiased": debiased, "peer": name, "repsim_input":
                        side.split("(")[1].rstrip(")"), "repsim_us": 1e6 * t[side],
                        "peer_us": 1e6 * t[name], "speedup": t[name] / t[side],
                        "abs_diff": abs(values[name] - ref),
                    })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=25)
    parser.add_argument("--svcca", type=Path,
                        default=Path(os.environ.get("SVCCA_DIR", "benchmarks/.peers/svcca")))
    parser.add_argument("--anatome", type=Path,
                        default=Path(os.environ.get("ANATOME_DIR", "benchmarks/.peers/anatome")))
    parser.add_argument("--netrep", type=Path,
                        default=Path(os.environ.get("NETREP_DIR", "benchmarks/.peers/netrep")))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--parts", default="tiny,cka",
                        help="which tables to measure; a part left out is kept from the JSON "
                             "already in --out, with the environment it was measured in")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    warnings.simplefilter("ignore")
    cca_core, pw = google_modules(args.svcca)
    netrep = netrep_metrics(args.netrep)
    tiny = tiny_pair(cca_core, pw, args.reps, netrep) if "tiny" in parts else []
    for r in tiny:
        print(f"tiny {r['measure']:6s} repsim {r['repsim_us']:8.1f} us  {r['peer']} "
              f"{r['peer_us']:8.1f} us  {r['speedup']:.2f}x  diff {r['abs_diff']:.1e}", flush=True)
    ckas = (cka_peers(anatome_distance(args.anatome), ckatorch_core(), args.reps, netrep)
            if "cka" in parts else [])
    for r in ckas:
        print(f"cka n={r['n']} d={r['d']} deb={r['debiased']} vs {r['peer']} (repsim "
              f"{r['repsim_input']}): {r['speedup']:.2f}x", flush=True)
    env = {"torch": torch.__version__, "numpy": np.__version__, "threads": args.threads,
           "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
           "load_avg_end": os.getloadavg(),
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = args.out / f"similarity_vs_peers_cpu_{args.threads}t.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    result = {"env": env, "tiny_pair": tiny, "cka": ckas,
              "env_parts": {"tiny_pair": env, "cka": env}}
    for key in ("tiny_pair", "cka"):  # a part not measured now: the earlier run's, as it was
        if (key == "tiny_pair" and "tiny" not in parts) or (key == "cka" and "cka" not in parts):
            result[key] = old.get(key, [])
            result["env_parts"][key] = old.get("env_parts", {}).get(key, old.get("env"))
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
