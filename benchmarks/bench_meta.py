"""Time per meta-iteration: MAML (vmap, per-task loop), FOMAML, ANIL, and a learn2learn-style
baseline, for training and inference, on Omniglot 5w1s and 20w1s shapes.

    python benchmarks/bench_meta.py [--device cpu|cuda] [--repeats 5] [--out docs/benchmarks]

The baseline is the per-task ``clone`` / ``adapt`` loop written the way learn2learn's ``MAML``
wrapper does it (clone the module so its parameters are graph nodes, ``autograd.grad`` with
``create_graph=True``, write the updated tensors back into the clone's ``_parameters``), run in
the same process on the same inputs. Inputs are random images of the right shape: the cost does
not depend on pixel values. Results: a Markdown table and JSON with ratios.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from repsim.meta.algorithms import meta_loss
from repsim.meta.evaluate import evaluate_tasks
from repsim.meta.inner import freeze_spec, parameters_of
from repsim.models import conv4_for

SHAPES = {
    # name: (ways, shots, query, meta_batch, train inner steps, test inner steps, inner lr)
    "omniglot-5w1s": (5, 1, 1, 32, 1, 3, 0.4),
    "omniglot-20w1s": (20, 1, 1, 16, 5, 5, 0.1),
}


class _Episodes:
    def __init__(self, t, ways, shots, query, device):
        g = torch.Generator().manual_seed(0)
        self.support_x = torch.rand(t, ways * shots, 1, 28, 28, generator=g).to(device)
        self.query_x = torch.rand(t, ways * query, 1, 28, 28, generator=g).to(device)
        self.support_y = torch.arange(ways).repeat_interleave(shots).repeat(t, 1).to(device)
        self.query_y = torch.arange(ways).repeat_interleave(query).repeat(t, 1).to(device)


def _l2l_clone(module: nn.Module) -> nn.Module:
    """learn2learn's clone_module, in short: a copy whose parameters are p.clone() graph nodes."""
    clone = copy.copy(module)
    clone._parameters = {
        k: (p.clone() if p is not None else None) for k, p in module._parameters.items()
    }
    clone._modules = {k: _l2l_clone(m) for k, m in module._modules.items()}
    clone._buffers = dict(module._buffers)
    return clone


def _l2l_update(module: nn.Module, updates: dict[str, torch.Tensor], prefix: str = "") -> None:
    for name in list(module._parameters):
        key = prefix + name
        if key in updates:
            module._parameters[name] = updates[key]
    for child_name, child in module._modules.items():
        _l2l_update(child, updates, prefix + child_name + ".")


def l2l_style_meta_step(model, eps, *, steps, lr, first_order=False, head_only=False):
    total = 0.0
    for t in range(eps.support_x.shape[0]):
        learner = _l2l_clone(model)
        for _ in range(steps):
            loss = F.cross_entropy(learner(eps.support_x[t]), eps.support_y[t])
            named = [
                (n, p)
                for n, p in learner.named_parameters()
                if not head_only or n.startswith("head.")
            ]
            grads = torch.autograd.grad(loss, [p for _, p in named], create_graph=not first_order)
            _l2l_update(learner, {n: p - lr * g for (n, p), g in zip(named, grads, strict=True)})
        total = total + F.cross_entropy(learner(eps.query_x[t]), eps.query_y[t])
    (total / eps.support_x.shape[0]).backward()


def _time(fn: Callable[[], None], device: torch.device, repeats: int) -> float:
    fn()  # warm-up (allocations, cuDNN autotune, vmap tracing)
    if device.type == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_shape(name: str, device: torch.device, repeats: int) -> list[dict]:
    ways, shots, query, meta_batch, steps, test_steps, lr = SHAPES[name]
    torch.manual_seed(0)
    model = conv4_for("omniglot", ways).to(device)
    params = parameters_of(model)
    eps = _Episodes(meta_batch, ways, shots, query, device)
    rows = []

    def train_step(algorithm: str, vectorize: bool) -> Callable[[], None]:
        adapt = freeze_spec(model, algorithm=algorithm)

        def run() -> None:
            loss, _ = meta_loss(
                model,
                params,
                eps.support_x,
                eps.support_y,
                eps.query_x,
                eps.query_y,
                steps=steps,
                lr=lr,
                adapt_names=adapt,
                first_order=algorithm == "fomaml",
                vectorize=vectorize,
            )
            model.zero_grad(set_to_none=True)
            loss.backward()

        return run

    def infer(algorithm: str) -> Callable[[], None]:
        def run() -> None:
            evaluate_tasks(
                model,
                params,
                eps,
                algorithm=algorithm,
                steps=test_steps,
                lr=lr,
                ways=ways,
                chunk=meta_batch,
            )

        return run

    cases = {
        ("train", "maml", "l2l-style loop (baseline)"): lambda: l2l_style_meta_step(
            model, eps, steps=steps, lr=lr
        ),
        ("train", "maml", "repsim loop"): train_step("maml", False),
        ("train", "maml", "repsim vmap"): train_step("maml", True),
        ("train", "fomaml", "repsim vmap"): train_step("fomaml", True),
        ("train", "anil", "l2l-style loop (baseline)"): lambda: l2l_style_meta_step(
            model, eps, steps=steps, lr=lr, head_only=True
        ),
        ("train", "anil", "repsim vmap"): train_step("anil", True),
        ("inference", "maml", "repsim vmap"): infer("maml"),
        ("inference", "anil", "repsim vmap"): infer("anil"),
    }
    for (phase, algorithm, path), fn in cases.items():
        seconds = _time(fn, device, repeats)
        rows.append(
            {
                "shape": name,
                "phase": phase,
                "algorithm": algorithm,
                "path": path,
                "seconds": seconds,
                "device": str(device),
            }
        )
        print(
            f"{name:15s} {phase:9s} {algorithm:6s} {path:28s} {1e3 * seconds:9.1f} ms", flush=True
        )
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    out = []
    for shape in SHAPES:
        r = {
            (x["phase"], x["algorithm"], x["path"]): x["seconds"]
            for x in rows
            if x["shape"] == shape
        }
        if not r:
            continue
        out.append(
            {
                "shape": shape,
                "maml vmap vs l2l-style loop (speed-up)": r[
                    ("train", "maml", "l2l-style loop (baseline)")
                ]
                / r[("train", "maml", "repsim vmap")],
                "maml vmap vs repsim loop": r[("train", "maml", "repsim loop")]
                / r[("train", "maml", "repsim vmap")],
                "anil vs maml, training": r[("train", "maml", "repsim vmap")]
                / r[("train", "anil", "repsim vmap")],
                "anil vs maml, inference": r[("inference", "maml", "repsim vmap")]
                / r[("inference", "anil", "repsim vmap")],
                "fomaml vs maml, training": r[("train", "maml", "repsim vmap")]
                / r[("train", "fomaml", "repsim vmap")],
            }
        )
    return out


def to_markdown(rows: list[dict], summary: list[dict], device: str, env: str) -> str:
    lines = [
        f"# Meta-iteration timings ({device})",
        "",
        env,
        "",
        "| shape | phase | algorithm | implementation | ms / iteration |",
        "|---|---|---|---|---:|",
    ]
    lines += [
        f"| {r['shape']} | {r['phase']} | {r['algorithm']} | {r['path']} | "
        f"{1e3 * r['seconds']:.1f} |"
        for r in rows
    ]
    lines += ["", "Ratios (higher = repsim / the first-named is faster):", ""]
    keys = [k for k in summary[0] if k != "shape"] if summary else []
    lines += ["| shape | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    lines += [
        "| " + s["shape"] + " | " + " | ".join(f"{s[k]:.2f}x" for k in keys) + " |" for s in summary
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device here")
    rows = []
    for shape in args.shapes.split(","):
        rows += bench_shape(shape, device, args.repeats)
    summary = ratios(rows)
    env = (
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"{torch.cuda.get_device_name(0) if device.type == 'cuda' else 'CPU'}; "
        f"median of {args.repeats} after one warm-up"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    tag = device.type
    (args.out / f"meta_{tag}.md").write_text(to_markdown(rows, summary, tag, env))
    (args.out / f"meta_{tag}.json").write_text(
        json.dumps({"env": env, "rows": rows, "ratios": summary}, indent=2)
    )
    print(to_markdown(rows, summary, tag, env))


if __name__ == "__main__":
    main()
