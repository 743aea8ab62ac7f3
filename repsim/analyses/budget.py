"""The adaptation-budget decomposition: what only body adaptation buys, free of the head.

A model's *head-only gap* (full inner loop minus head-only inner loop) mixes two things: the body
must change for the task ("rapid learning"), and a head that starts in the wrong place cannot
catch up in the trained number of steps. This analysis separates them on one fixed set of test
tasks by asking every head-side reader that keeps θ's body how well it can do:

=====  ======================  ============================================================
 key    quantity                what it is
=====  ======================  ============================================================
 (a)    ``inner_loop``          the trained inner loop at test (its steps, its lr)
 (b)    ``head_only``           the head alone adapted, body frozen at θ, the trained steps
 (c)    ``head_only_<k>``       the same with k = 10, 50, 200 steps (same lr)
 (d)    ``nil``                 the NIL head: cosine-softmax vote of the support labels
 (d)    ``prototype``           nearest class mean (squared Euclidean) of θ's body features
 (e)    ``probe``               logistic regression (scikit-learn) fit on the support set's
                                θ body features, read on the query's θ body features
 (f)    ``probe_adapted``       the same probe on θ' body features after the full inner loop
 (g)    ``top_and_head``        the last body layer (conv4) and the head adapted alone
=====  ======================  ============================================================

and two differences, each per task (paired) with its 95% CI over tasks:

- ``body_only_gain`` = (a) − the best head-side answer that keeps θ's body, the largest mean of
  (b), (c), (d), (e) (which one is named in ``detail``). What only adapting the body buys. The
  best is picked on the same tasks, so it leans in its own favour: the gain is if anything
  understated.
- ``probe_gain`` = (f) − (e): how much better the body's features become for a linear reader
  fit on the same support set, free of any trained head (0 when the body does not adapt).

Accuracies are fractions; rows are tidy: ``quantity``, ``value``, ``ci95``, ``detail``, plus
:func:`repsim.analyses.regimes.describe_config` columns, ``tasks``, ``step``, ``checkpoint``.
A body without an inner loop (multiclass, NIL-trained, random) has (d) and (e) only.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import vmap

from repsim.analyses import tables as C
from repsim.analyses._common import checkpoint_name, load, sample_tasks
from repsim.analyses.regimes import describe_config
from repsim.meta.checkpoint import TrainedModel
from repsim.meta.evaluate import evaluate_tasks, mean_ci95
from repsim.meta.inner import adapt, detach_params, forward, freeze_spec, layer_names
from repsim.meta.tasks import TEST_SEED

__all__ = ["HEAD_ONLY_STEPS", "adaptation_budget", "probe_accuracy", "prototype_accuracy"]

#: Head-only inner-loop lengths of (c).
HEAD_ONLY_STEPS = (10, 50, 200)
#: Inverse regularisation strength of the logistic-regression probe (scikit-learn's default).
PROBE_C = 1.0


def prototype_accuracy(f_support: Tensor, support_y: Tensor, f_query: Tensor, query_y: Tensor,
                       ways: int) -> Tensor:
    """Per-task accuracy of the nearest class mean: inputs ``(T, n, D)`` / ``(T, n)``."""
    onehot = F.one_hot(support_y, ways).to(f_support.dtype)  # (T, n_s, ways)
    means = onehot.transpose(1, 2) @ f_support / onehot.sum(1).clamp_min(1)[..., None]
    distance = torch.cdist(f_query, means) ** 2  # (T, n_q, ways)
    return (distance.argmin(-1) == query_y).double().mean(-1)


def probe_accuracy(f_support: Tensor, support_y: Tensor, f_query: Tensor, query_y: Tensor,
                   *, c: float = PROBE_C) -> np.ndarray:
    """Per-task accuracy of a logistic-regression probe fit on each task's support features.

    Features are L2-normalised first (a few-shot support set is too small to standardise);
    scikit-learn's ``LogisticRegression(C=c)`` (multinomial, lbfgs) is fit on the support set
    and read on the query set, one task at a time.
    """
    from sklearn.linear_model import LogisticRegression

    xs = F.normalize(f_support.double(), dim=-1).cpu().numpy()
    xq = F.normalize(f_query.double(), dim=-1).cpu().numpy()
    ys, yq = support_y.cpu().numpy(), query_y.cpu().numpy()
    out = np.empty(len(xs))
    for t in range(len(xs)):
        probe = LogisticRegression(C=c, max_iter=1000)
        with warnings.catch_warnings():  # a separable support set converges slowly; fine
            warnings.simplefilter("ignore")
            probe.fit(xs[t], ys[t])
        out[t] = float((probe.predict(xq[t]) == yq[t]).mean())
    return out


def _features(trained: TrainedModel, episodes, adapt_names: Sequence[str], *, steps: int,
              lr: float, chunk: int = 100) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Body features of support and query under θ and under θ' (the full inner loop)."""
    model, params = trained.model, detach_params(trained.params)
    adapts_body = any(not n.startswith("head.") for n in adapt_names)
    task = trained.config.task

    def one(sx, sy, qx):
        fs, fq = forward(model, params, sx, output="features"), forward(model, params, qx,
                                                                           output="features")
        if not adapts_body:
            return fs, fq, fs, fq
        fast = adapt(model, params, sx, sy, steps=steps, lr=lr, adapt_names=adapt_names,
                     task=task)
        return fs, fq, forward(model, fast, sx, output="features"), forward(
            model, fast, qx, output="features")

    parts = []
    n = episodes.support_x.shape[0]
    with torch.no_grad():
        for start in range(0, n, chunk):
            sl = slice(start, start + chunk)
            parts.append(vmap(one)(episodes.support_x[sl], episodes.support_y[sl],
                                   episodes.query_x[sl]))
    return tuple(torch.cat([p[i] for p in parts]).cpu() for i in range(4))  # type: ignore


def adaptation_budget(
    checkpoint: str | Path | TrainedModel,
    *,
    tasks: int = 600,
    query: int | None = None,
    head_only_steps: Sequence[int] = HEAD_ONLY_STEPS,
    probe_c: float = PROBE_C,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    seed: int | None = None,
) -> pd.DataFrame:
    """The adaptation-budget decomposition of one model on ``tasks`` fixed test tasks.

    Parameters
    ----------
    checkpoint : path or TrainedModel
    tasks : int, default=600
        Fixed, seeded test tasks; every quantity is measured on the same ones.
    query : int or None
        Query examples per class (None: training's).
    head_only_steps : sequence of int, default=(10, 50, 200)
        The longer head-only inner loops of (c).
    probe_c : float, default=1.0
        The probe's inverse regularisation strength.
    data_dir, device, seed
        As in :func:`repsim.meta.evaluate_checkpoint` (``seed``: the test tasks' sampler).

    Returns
    -------
    DataFrame
        One row per quantity (see the module docstring); ``value`` and ``ci95`` are fractions.
    """
    if any(int(k) < 1 for k in head_only_steps):
        raise ValueError(f"head_only_steps must be >= 1; got {list(head_only_steps)}")
    if not probe_c > 0:
        raise ValueError(f"probe_c must be > 0; got {probe_c}")
    trained = load(checkpoint, device=device)
    cfg = trained.config
    if cfg.task != "classification":
        raise ValueError("the adaptation budget is defined for classification models; "
                         f"{cfg.dataset!r} is {cfg.task}")
    seed = TEST_SEED if seed is None else seed
    episodes = sample_tasks(trained, tasks=tasks, split="test", seed=seed, query=query,
                            data_dir=data_dir).to(device)
    model, ways = trained.model, cfg.ways
    names = layer_names(model)
    body = tuple(n for n in names if n != "head")
    steps, lr = cfg.test_inner_steps, cfg.inner.lr
    common = {"algorithm": cfg.algorithm, "lr": lr, "ways": ways,
              "adapt_layers": cfg.adapt_layers}
    per_task: dict[str, np.ndarray] = {}
    if cfg.own_head:
        per_task["inner_loop"] = evaluate_tasks(model, trained.params, episodes, steps=steps,
                                                **common).per_task[:, -1].numpy()
        longest = max([steps, *map(int, head_only_steps)])
        # ``frozen=body`` adapts the head alone whatever the algorithm (BOIL's head too)
        head_path = evaluate_tasks(model, trained.params, episodes, steps=longest,
                                   **{**common, "algorithm": "maml", "adapt_layers": None},
                                   frozen=body).per_task.numpy()
        per_task["head_only"] = head_path[:, steps]
        for k in head_only_steps:
            per_task[f"head_only_{int(k)}"] = head_path[:, int(k)]
        per_task["top_and_head"] = evaluate_tasks(
            model, trained.params, episodes, steps=steps,
            **{**common, "algorithm": "maml", "adapt_layers": None},
            frozen=body[:-1]).per_task[:, -1].numpy()
    per_task["nil"] = evaluate_tasks(model, trained.params, episodes, steps=0, head="nil",
                                     **common).per_task[:, -1].numpy()
    adapt_names = (freeze_spec(model, algorithm=cfg.algorithm, adapt_layers=cfg.adapt_layers)
                   if cfg.own_head else ())
    fs, fq, fs2, fq2 = _features(trained, episodes, adapt_names, steps=steps, lr=lr)
    sy, qy = episodes.support_y.cpu(), episodes.query_y.cpu()
    per_task["prototype"] = prototype_accuracy(fs, sy, fq, qy, ways).numpy()
    per_task["probe"] = probe_accuracy(fs, sy, fq, qy, c=probe_c)
    if cfg.own_head:
        adapts_body = any(not n.startswith("head.") for n in adapt_names)
        per_task["probe_adapted"] = (probe_accuracy(fs2, sy, fq2, qy, c=probe_c)
                                     if adapts_body else per_task["probe"].copy())
    base = {**describe_config(cfg), C.TASKS: tasks, C.STEP: trained.step,
            C.CHECKPOINT: checkpoint_name(trained)}
    rows = []

    def add(quantity: str, values: np.ndarray, detail: str | None = None) -> None:
        mean, ci = mean_ci95(torch.as_tensor(values))
        rows.append({**base, "quantity": quantity, "value": mean, C.CI95: ci,
                     "detail": detail})

    for quantity, values in per_task.items():
        add(quantity, values, f"{body[-1]} and head" if quantity == "top_and_head" else None)
    head_side = [q for q in per_task if q == "head_only" or q.startswith("head_only_")
                 or q in ("nil", "prototype", "probe")]
    best = max(head_side, key=lambda q: (per_task[q].mean(), -head_side.index(q)))
    add("best_head_side", per_task[best], best)
    if cfg.own_head:
        add("body_only_gain", per_task["inner_loop"] - per_task[best], best)
        add("probe_gain", per_task["probe_adapted"] - per_task["probe"])
    frame = pd.DataFrame.from_records(rows)
    frame.attrs["manifest"] = {
        "kind": "adaptation-budget", "checkpoint": checkpoint_name(trained), "tasks": tasks,
        "query": query, "test_seed": seed, "inner_steps": steps, "inner_lr": lr,
        "head_only_steps": [int(k) for k in head_only_steps], "probe": (
            f"sklearn LogisticRegression(C={probe_c}, lbfgs, max_iter=1000) on L2-normalised "
            "body features, fit on the support set"),
        "best_head_side": "largest mean over head_only*, nil, prototype, probe (same tasks)"}
    return frame
