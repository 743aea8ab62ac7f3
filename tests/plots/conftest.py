"""A small synthetic results directory, shaped like what train/eval/compare/ablate write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repsim.analyses.tables import write_table

CONVS = ("conv1", "conv2", "conv3", "conv4")
MANIFEST = {"created": "2024-01-01T00:00:00+00:00", "seed": 0, "git_sha": "0123456789abcdef",
            "versions": {"repsim": "0.1.0"},
            "config": {"dataset": "miniimagenet", "ways": 5, "shots": 1}}


def _compare_rows(rng: np.random.Generator, *, step: int, layers: tuple[str, ...],
                  measures: tuple[str, ...]) -> list[dict]:
    rows = []
    for alg in ("maml", "anil"):
        for depth, layer in enumerate(layers):
            for measure in measures:
                body = layer != "head"
                mean = (1.0 if alg == "anil" and body else
                        0.97 - 0.02 * depth if body else 0.35 + 0.1 * rng.random())
                if measure == "procrustes":  # a distance: 0 = identical
                    mean = 1.0 - mean
                if measure == "svcca" and layer == "head":  # not computed for this layer
                    continue
                rows.append({"layer": layer, "measure": measure, "mean": mean,
                             "ci95": 0.0 if mean == 1.0 else 0.01 + 0.01 * rng.random(),
                             "baseline": 0.15 + 0.1 * rng.random(), "baseline_ci95": 0.02,
                             "n_samples": 75, "n_features": 32, "conv_mode": "pool",
                             "inputs": "query", "tasks": 100, "algorithm": alg, "step": step,
                             "checkpoint": f"runs/{alg}/step{step}.pt"})
    return rows


def build_results(root: Path, *, sinusoid: bool = False, seed: int = 0) -> Path:
    """Write every result kind repsim.plots reads (a sinusoid variant: mse, fc layers, no NIL)."""
    rng = np.random.default_rng(seed)
    metric = "mse" if sinusoid else "accuracy"
    layers = ("fc1", "fc2", "head") if sinusoid else (*CONVS, "head")
    manifest = {**MANIFEST, "config": {"dataset": "sinusoid", "ways": 1, "shots": 10}
                } if sinusoid else MANIFEST
    if sinusoid:
        write_table([{"algorithm": a, "head": "adapted", "dataset": "sinusoid", "ways": 1,
                      "shots": 10, "mse": m, "ci95": 0.05, "tasks": 600, "step": 1000}
                     for a, m in (("maml", 0.41), ("anil", 0.47))], root / "eval",
                    manifest=manifest)
    else:
        write_table([{"algorithm": a, "head": h, "dataset": "miniimagenet", "ways": 5,
                      "shots": 1, "accuracy": acc, "ci95": 0.008, "tasks": 600, "step": 60000}
                     for a, h, acc in (("maml", "adapted", 0.465), ("anil", "adapted", 0.462),
                                       ("anil", "nil", 0.478), ("maml", "nil", 0.481))],
                    root / "eval", manifest=manifest)
    measures = ("cca", "svcca", "pwcca", "cka", "cka_debiased", "procrustes")
    rows = _compare_rows(rng, step=60000, layers=layers, measures=measures)
    # a second conv_mode for the body: the figure must pick one and say so in its caption
    rows += [{**r, "conv_mode": "flatten", "mean": 0.5} for r in rows
             if r["layer"].startswith("conv") and r["measure"] == "cka_debiased"]
    write_table(rows, root / "compare", manifest=manifest)
    write_table([r for s in (10000, 20000, 30000)
                 for r in _compare_rows(rng, step=s, layers=layers, measures=("cca", "cka"))],
                root / "compare_steps", manifest=manifest)
    if not sinusoid:
        pairs = (("maml-s0", "maml-s1"), ("maml-s0", "anil-s0"), ("anil-s0", "anil-s1"))
        write_table([{**r, "model_a": a, "model_b": b, "mean": 0.5 + 0.3 * rng.random()}
                     for a, b in pairs
                     for r in _compare_rows(rng, step=60000, layers=layers,
                                            measures=("cca", "cka", "procrustes"))
                         [:3 * len(layers)]],
                    root / "compare_models", manifest=manifest)
    frozen_sets = [list(layers[:k]) for k in range(len(layers))]  # none, conv1, conv1-2, ...
    ablate = [{"frozen": f, "head": h, metric: 0.47 - 0.002 * len(f) - (h == "nil") * 0.01,
               "ci95": 0.008, "tasks": 600, "algorithm": a, "step": 60000, "checkpoint": "x.pt"}
              for a, h in (("maml", "adapted"), ("anil", "adapted"),
                           *([] if sinusoid else [("maml", "nil")]))
              for f in frozen_sets]
    write_table(ablate, root / "ablate", manifest=manifest)
    write_table([{**r, "step": s, metric: r[metric] - 0.05 + s / 1e6}
                 for s in (10000, 20000, 30000) for r in ablate if r["head"] == "adapted"],
                root / "ablate_steps", manifest=manifest)
    write_table([{"shape": shape, "phase": phase, "algorithm": alg, "path": "vmap",
                  "seconds": base * (1.0 if alg == "maml" else 1 / speed) * (1 + 0.05 * k),
                  "device": "cpu"}
                 for shape, base in (("omniglot-20w1s", 0.08), ("miniimagenet-5w1s", 0.5))
                 for phase, speed in (("train", 1.7), ("inference", 4.1))
                 for alg in ("maml", "anil") for k in range(3)], root / "timing",
                manifest=manifest)
    for alg in ("maml", "anil"):
        steps = np.arange(0, 1001, 100)
        curve = [{"step": int(s), "split": "train",
                  "loss": 1.6 * np.exp(-s / (400 if alg == "maml" else 250)) + 0.1,
                  metric: 0.2 + (0.3 if alg == "maml" else 0.27) * (1 - np.exp(-s / 300)),
                  "elapsed": s * 0.1}
                 for s in steps[1:]]
        curve += [{"step": int(s), "split": "val", metric: 0.2 + 0.28 * (1 - np.exp(-s / 300)),
                   "ci95": 0.02, "elapsed": s * 0.1} for s in steps[::2]]
        path = root / "runs" / alg / "metrics.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(curve).to_csv(path, index=False)
    return root


@pytest.fixture(scope="session")
def results_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``factory(name, sinusoid=False)`` → a fresh synthetic results directory."""

    def make(name: str, **kwargs: bool) -> Path:
        return build_results(tmp_path_factory.mktemp(name), **kwargs)

    return make
