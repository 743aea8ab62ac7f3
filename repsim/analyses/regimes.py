"""Tidy rows for the study of issue 9: regimes with their heads, and one model's adaptation profile.

- :func:`regime_name`: the display name of how a body was trained (``"top-3"``, ``"BOIL"``…),
  the ``regime`` column of every study table.
- :func:`evaluate_heads`: meta-test accuracy with the NIL head and, where the regime has one,
  its own head (the paper's Table 5 tests every body with the NIL head).
- :func:`adaptation_profile`: on the same fixed tasks, accuracy with the full test-time inner
  loop, with the head alone adapted (body frozen), with the NIL head, the per-task head-only gap
  (a paired difference, with its own CI), and θ vs θ' similarity per layer. These are the
  quantities of the medium-shot, interpolation and conv4 questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from repsim.analyses import tables as C
from repsim.analyses._common import checkpoint_name, load, sample_tasks
from repsim.analyses.compare import compare_adaptation
from repsim.meta.checkpoint import TrainedModel
from repsim.meta.config import TrainConfig
from repsim.meta.evaluate import evaluate_checkpoint, evaluate_tasks, mean_ci95
from repsim.meta.inner import layer_names
from repsim.meta.tasks import TEST_SEED

__all__ = ["REGIME_ORDER", "adaptation_profile", "describe_config", "evaluate_heads",
           "regime_name"]

#: From rapid learning (the body must adapt) to feature reuse (only the head adapts), then the
#: regimes without an inner loop.
REGIME_ORDER = ("BOIL", "MAML", "top-4", "top-3", "top-2", "ANIL", "FOMAML", "multitask",
                "multiclass", "NIL training", "random")


def regime_name(config: TrainConfig) -> str:
    """How the body was trained: ``MAML``, ``top-k`` (k = 2..4), ``ANIL``, ``BOIL``, ...

    Top-k with k = 1 is named ANIL and k = all (5 for conv4) MAML: they are the same learners.
    """
    k, algorithm = config.adapt_layers, config.algorithm
    if algorithm == "maml" and k is not None:
        return "ANIL" if k == 1 else ("MAML" if k >= 5 else f"top-{k}")
    names = {"maml": "MAML", "fomaml": "FOMAML", "anil": "ANIL", "boil": "BOIL",
             "multiclass": "multiclass", "multitask": "multitask", "nil": "NIL training",
             "random": "random"}
    return names[algorithm]


def describe_config(config: TrainConfig) -> dict[str, Any]:
    """The columns that say which run a row comes from."""
    return {"regime": regime_name(config), C.ALGORITHM: config.algorithm,
            "adapt_layers": config.adapt_layers, C.DATASET: config.dataset, C.WAYS: config.ways,
            C.SHOTS: config.shots, C.SEED: config.seed, "inner_steps_train": config.inner.steps,
            "inner_lr": config.inner.lr, "head_input": config.head_input or "default",
            "head_init": config.head_init or "xavier"}


def evaluate_heads(
    checkpoint: str | Path | TrainedModel,
    *,
    tasks: int = 600,
    data_dir: str | Path | None = None,
    device: str = "cpu",
) -> pd.DataFrame:
    """Accuracy of a trained body with the NIL head and (where it has one) its own head.

    Returns one row per head (``"nil"``, ``"own"``): :func:`describe_config` columns plus
    ``head, accuracy, ci95, tasks, step, checkpoint``.
    """
    trained = load(checkpoint, device=device)
    heads = ("nil", "own") if trained.config.own_head else ("nil",)
    rows = []
    for head in heads:
        res = evaluate_checkpoint(trained, head=head, tasks=tasks, data_dir=data_dir,
                                  device=device)
        rows.append({**describe_config(trained.config), C.HEAD: head, C.ACCURACY: res.value,
                     C.CI95: res.ci95, C.TASKS: res.tasks, C.STEP: trained.step,
                     C.CHECKPOINT: checkpoint_name(trained)})
    return pd.DataFrame.from_records(rows)


def adaptation_profile(
    checkpoint: str | Path | TrainedModel,
    *,
    tasks: int = 600,
    compare_tasks: int = 100,
    query: int | None = None,
    compare_query: int | None = 15,
    measures: Sequence[str] = ("cka", "cka_debiased"),
    data_dir: str | Path | None = None,
    device: str = "cpu",
    seed: int | None = None,
) -> pd.DataFrame:
    """What the inner loop does for one model: accuracies, head-only gap, θ vs θ' per layer.

    Parameters
    ----------
    checkpoint : path or TrainedModel
    tasks : int, default=600
        Fixed test tasks for the accuracies (the same tasks for every quantity).
    compare_tasks : int, default=100
        Tasks for the θ vs θ' similarity.
    query, compare_query : int or None
        Query examples per class for the accuracies (None: training's) and the comparison.
        On Omniglot shots + query <= 20 (20 drawings per character).
    measures : sequence of str, default=("cka", "cka_debiased")
    data_dir, device, seed
        As in :func:`repsim.meta.evaluate_checkpoint` (``seed``: the test tasks' sampler).

    Returns
    -------
    DataFrame
        Long rows: :func:`describe_config` columns, ``quantity`` (``accuracy``,
        ``head_only_accuracy``, ``head_only_gap``, ``nil_accuracy``, ``similarity``),
        ``layer`` and ``measure`` (similarity rows), ``value``, ``ci95``, ``tasks``, ``step``,
        ``checkpoint``. Accuracies are fractions; the gap is accuracy − head-only accuracy,
        averaged per task, with its paired 95% CI.
    """
    trained = load(checkpoint, device=device)
    cfg = trained.config
    if not cfg.own_head:
        raise ValueError(f"adaptation_profile needs a model with an inner loop; a "
                         f"{cfg.algorithm!r} body has none (use evaluate_heads)")
    seed = TEST_SEED if seed is None else seed
    episodes = sample_tasks(trained, tasks=tasks, split="test", seed=seed, query=query,
                            data_dir=data_dir).to(device)
    body = tuple(n for n in layer_names(trained.model) if n != "head")
    common = {"algorithm": cfg.algorithm, "steps": cfg.test_inner_steps, "lr": cfg.inner.lr,
              "ways": cfg.ways, "adapt_layers": cfg.adapt_layers}
    full = evaluate_tasks(trained.model, trained.params, episodes, **common)
    head_only = evaluate_tasks(trained.model, trained.params, episodes, frozen=body, **common)
    nil = evaluate_tasks(trained.model, trained.params, episodes, head="nil", **common)
    base = {**describe_config(cfg), C.TASKS: tasks, C.STEP: trained.step,
            C.CHECKPOINT: checkpoint_name(trained)}
    rows = []
    gap = full.per_task[:, -1] - head_only.per_task[:, -1]  # paired, per task
    for quantity, values in (("accuracy", full.per_task[:, -1]),
                             ("head_only_accuracy", head_only.per_task[:, -1]),
                             ("head_only_gap", gap), ("nil_accuracy", nil.per_task[:, -1])):
        mean, ci = mean_ci95(values)
        rows.append({**base, "quantity": quantity, C.LAYER: None, C.MEASURE: None,
                     "value": mean, C.CI95: ci})
    sim = compare_adaptation(trained, tasks=compare_tasks, query=compare_query,
                             measures=list(measures), data_dir=data_dir, device=device,
                             seed=seed)
    for r in sim.itertuples():
        rows.append({**base, "quantity": "similarity", C.LAYER: r.layer, C.MEASURE: r.measure,
                     "value": r.mean, C.CI95: r.ci95, C.TASKS: compare_tasks})
    frame = pd.DataFrame.from_records(rows)
    frame.attrs["manifest"] = {"kind": "adaptation-profile", "checkpoint":
                               checkpoint_name(trained), "tasks": tasks,
                               "compare_tasks": compare_tasks, "query": query,
                               "compare_query": compare_query, "test_seed": seed,
                               "head_only": f"frozen at test: {list(body)}",
                               "similarity": sim.attrs.get("manifest", {}).get("measure_choice")}
    return frame
