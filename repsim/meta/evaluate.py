"""Meta-test evaluation: accuracy (or MSE) over a fixed, seeded set of tasks, with a 95% CI.

The CI is the paper's: 1.96 · std / √(tasks) over per-task query accuracies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.func import vmap

from repsim.meta.algorithms import task_eval
from repsim.meta.inner import detach_params, freeze_spec

__all__ = ["EvalResult", "evaluate_checkpoint", "evaluate_tasks", "mean_ci95"]


def mean_ci95(values: Tensor | Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its normal 95% CI, 1.96 · std / √n (std with n − 1)."""
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() == 0:
        raise ValueError("mean_ci95 needs at least one value")
    if v.numel() == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), float(1.96 * v.std(unbiased=True) / math.sqrt(v.numel()))


# A final metric this much worse than the best inner step's flags divergence.
DIVERGENCE_MSE_RATIO = 1.10  # MSE more than 10% above the best step's
DIVERGENCE_ACCURACY_DROP = 0.01  # accuracy more than 1 point below the best step's


@dataclass(frozen=True)
class EvalResult:
    """Per-task query metric after each inner step, and its summary.

    ``per_task`` has shape ``(tasks, steps + 1)``: column s is the metric after s inner steps.
    ``metric`` is ``"accuracy"`` (fraction in [0, 1]) or ``"mse"``.
    """

    per_task: Tensor  # (tasks, steps + 1), float64, CPU
    metric: str
    head: str
    frozen: tuple[str, ...]
    inner_steps: int
    inner_lr: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tasks(self) -> int:
        return int(self.per_task.shape[0])

    @property
    def value(self) -> float:
        """Mean metric after the last inner step."""
        return mean_ci95(self.per_task[:, -1])[0]

    @property
    def ci95(self) -> float:
        return mean_ci95(self.per_task[:, -1])[1]

    @property
    def per_step(self) -> list[float]:
        """Mean metric after 0, 1, ..., steps inner steps."""
        return [float(x) for x in self.per_task.mean(dim=0)]

    @property
    def divergence(self) -> str | None:
        """Why the test-time inner loop looks divergent, or None when it does not.

        Divergent: a non-finite per-step metric, or a final metric (mean over tasks) worse
        than the best step's by a clear margin (MSE: more than :data:`DIVERGENCE_MSE_RATIO`
        times the best; accuracy: more than :data:`DIVERGENCE_ACCURACY_DROP` below it). The
        steps are measured on the same tasks, so the margin is not test-task noise; no test
        over tasks is asked for, because a diverging loop blows up on a few tasks, which
        widens any interval (issue 21: ANIL's sinusoid MSE 0.99 ± 0.69 after 10 steps against
        0.747 after step 6; the paired 95% CI of the difference held 0).
        """
        steps = self.per_step
        bad = [i for i, v in enumerate(steps) if not math.isfinite(v)]
        if bad:
            return (f"the {self.metric} is not finite after inner step {bad[0]}: the test-time "
                    "inner loop diverges; use fewer inner steps or a lower inner lr")
        lower_is_better = self.metric != "accuracy"
        best = (min if lower_is_better else max)(range(len(steps)), key=steps.__getitem__)
        last = len(steps) - 1
        if best == last:
            return None
        sign = 1.0 if lower_is_better else -1.0  # > 0: the last step is worse
        worse = sign * (steps[last] - steps[best])
        margin = ((DIVERGENCE_MSE_RATIO - 1.0) * abs(steps[best]) if lower_is_better
                  else DIVERGENCE_ACCURACY_DROP)
        if worse <= margin:
            return None
        return (f"the {self.metric} gets worse after inner step {best} ({steps[best]:.4g}) up "
                f"to step {last} ({steps[last]:.4g}): the test-time inner loop diverges; "
                f"{best} inner steps (--inner-steps {best}) or a lower inner lr would do better")

    def to_dict(self) -> dict[str, Any]:
        key = "accuracy" if self.metric == "accuracy" else self.metric
        divergence = self.divergence
        return {
            key: self.value,
            "ci95": self.ci95,
            "tasks": self.tasks,
            "metric": self.metric,
            "head": self.head,
            "frozen": list(self.frozen),
            "inner_steps": self.inner_steps,
            "inner_lr": self.inner_lr,
            f"{key}_per_step": self.per_step,
            "diverged": divergence is not None,
            "divergence": divergence or "",
            **self.extra,
        }


def evaluate_tasks(
    model: nn.Module,
    params: dict[str, Tensor],
    episodes: Any,
    *,
    algorithm: str,
    steps: int,
    lr: float,
    task: Literal["classification", "regression"] = "classification",
    head: Literal["adapted", "nil"] = "adapted",
    frozen: Sequence[str] = (),
    ways: int = 5,
    chunk: int = 100,
    n_tasks: int | None = None,
    progress: Any = None,
    adapt_layers: int | None = None,
) -> EvalResult:
    """Evaluate θ on a batch of tasks (an ``Episode`` with a leading task dimension), or on
    tasks ``0 .. n_tasks - 1`` of a sampler (anything with ``.batch(start, n)``).

    Adapts θ on each task's support set as ``algorithm`` does (MAML: every layer not in
    ``frozen``; ANIL: the head), records the query metric after each inner step, and returns
    the per-task table. ``head="nil"`` replaces the head with the NIL cosine vote (no inner loop).
    Runs under ``no_grad`` in chunks of ``chunk`` tasks vmapped together. ``adapt_layers``
    restricts MAML's inner loop to the top k layers (a top-k trained model adapts as it trained).
    """
    if head not in ("adapted", "nil"):
        raise ValueError(f"head must be 'adapted' or 'nil', got {head!r}")
    adapt_names = freeze_spec(model, algorithm=algorithm, frozen=frozen, adapt_layers=adapt_layers)
    params = detach_params(params)
    device = next(iter(params.values())).device

    def one(sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor) -> Tensor:
        return task_eval(
            model,
            params,
            sx,
            sy,
            qx,
            qy,
            steps=steps,
            lr=lr,
            adapt_names=adapt_names,
            task=task,
            head=head,
            ways=ways,
        )

    # A sampler is read chunk by chunk (600 MiniImageNet tasks at once would be ~4 GB).
    if hasattr(episodes, "batch"):
        if n_tasks is None:
            raise ValueError("evaluate_tasks: pass n_tasks when giving a task sampler")
        n = n_tasks
    else:
        n = episodes.support_x.shape[0] if n_tasks is None else n_tasks
    rows = []
    with torch.no_grad():
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            part = episodes.batch(start, size) if hasattr(episodes, "batch") else episodes
            sl = slice(0, size) if hasattr(episodes, "batch") else slice(start, start + size)
            batch = [
                t[sl].to(device)
                for t in (part.support_x, part.support_y, part.query_x, part.query_y)
            ]
            rows.append(vmap(one)(*batch).double().cpu())  # (chunk, steps + 1)
            if progress is not None:
                progress(min(start + chunk, n), n)
    per_task = torch.cat(rows)
    if not torch.isfinite(per_task).all():
        raise ValueError(
            "evaluation produced NaN/Inf query metrics: the checkpoint's parameters or the "
            f"inner loop (lr={lr}, steps={steps}) diverge on these tasks"
        )
    return EvalResult(
        per_task=per_task,
        metric="accuracy" if task == "classification" else "mse",
        head=head,
        frozen=tuple(frozen),
        inner_steps=steps,
        inner_lr=lr,
    )


def evaluate_checkpoint(
    checkpoint: str | Any,
    *,
    head: Literal["adapted", "nil", "own"] = "adapted",
    tasks: int = 600,
    inner_steps: int | None = None,
    inner_lr: float | None = None,
    frozen: Sequence[str] = (),
    query: int | None = None,
    seed: int | None = None,
    split: str = "test",
    data_dir: Any = None,
    download: bool = False,
    device: str = "cpu",
    progress: Any = None,
    config: Any = None,
) -> EvalResult:
    """Meta-test a checkpoint on ``tasks`` fixed, seeded tasks of its dataset's ``split``.

    ``config`` (a TrainConfig or preset name) is needed only for a bare (learn2learn) state_dict.

    Defaults follow the checkpoint's config: its test-time inner steps and lr, its query count.
    The same ``seed`` always yields the same tasks (``repsim.meta.tasks.TEST_SEED`` by default).
    ``checkpoint`` is a path or an already loaded :class:`~repsim.meta.checkpoint.TrainedModel`.
    ``head="own"`` (the same as ``"adapted"``) tests with the model's own head and its own
    test-time inner loop; multiclass, NIL-trained and random bodies have none (NIL head only).
    """
    from repsim.meta.checkpoint import TrainedModel, load_trained
    from repsim.meta.tasks import TEST_SEED, task_source

    trained = (
        checkpoint
        if isinstance(checkpoint, TrainedModel)
        else load_trained(checkpoint, device=device, config=config)
    )
    cfg = trained.config
    if head == "own":
        head = "adapted"
    if head == "adapted" and not cfg.own_head:
        raise ValueError(
            f"a {cfg.algorithm!r} body has no N-way head of its own to test with; "
            "use the NIL head (--head nil)"
        )
    if tasks < 1:
        raise ValueError(f"tasks must be >= 1, got {tasks}")
    if inner_steps is not None and inner_steps < 0:  # issue 21: -1 read as 0% accuracy
        raise ValueError(f"inner_steps must be >= 0 (0: no adaptation); got {inner_steps}")
    seed = TEST_SEED if seed is None else seed
    source = task_source(
        cfg, split=split, seed=seed, data_dir=data_dir, download=download, query=query
    )
    steps = cfg.test_inner_steps if inner_steps is None else inner_steps
    lr = cfg.inner.lr if inner_lr is None else inner_lr
    result = evaluate_tasks(
        trained.model,
        trained.params,
        source,
        algorithm=cfg.algorithm,
        steps=steps,
        lr=lr,
        task=cfg.task,
        head=head,
        frozen=frozen,
        ways=cfg.ways,
        n_tasks=tasks,
        progress=progress,
        adapt_layers=cfg.adapt_layers,
    )
    extra = {
        "algorithm": cfg.algorithm,
        "dataset": cfg.dataset,
        "ways": cfg.ways,
        "shots": cfg.shots,
        "query": cfg.query if query is None else query,
        "seed": seed,
        "split": split,
        "step": trained.step,
        "checkpoint": str(trained.path) if trained.path else None,
    }
    return EvalResult(
        per_task=result.per_task,
        metric=result.metric,
        head=head,
        frozen=tuple(frozen),
        inner_steps=steps,
        inner_lr=lr,
        extra=extra,
    )
