"""Meta-test returns of a policy: before and after one inner step, on fixed test tasks.

The test tasks and all rollout noise are functions of ``seed`` alone (streams disjoint from
training's), so two evaluations with the same seed see the same tasks and the same noise. The
paper reports the average undiscounted return after adaptation; the CI is 1.96 · std / √tasks
over per-task returns (each the mean of the task's trajectories), as for classification.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from repsim.meta.evaluate import mean_ci95
from repsim.rl.algorithm import IterationData, adapt_names_for, sample_iteration
from repsim.rl.config import RLConfig

__all__ = ["TEST_ITERATION", "RLEvalResult", "evaluate_policy", "test_rollouts"]

# Test tasks use the "iteration" slot 2**31 - 1 of the seed derivation, which training (fewer
# than 2**31 iterations) never reaches: test and training randomness never coincide.
TEST_ITERATION = 2**31 - 1


def test_rollouts(
    params: Mapping[str, Tensor], config: RLConfig, *, tasks: int, seed: int,
    frozen: Sequence[str] = (),
) -> IterationData:
    """Rollouts under θ and under each adapted θ'ᵢ on ``tasks`` fixed test tasks."""
    if isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 1:
        raise ValueError(f"tasks must be an integer >= 1; got {tasks!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
    valid_layers = {k.split(".", 1)[0] for k in params}
    bad = [name for name in frozen if name not in valid_layers]
    if bad:
        raise ValueError(f"unknown layer name(s) {bad} to freeze; the policy's layers are "
                         f"{sorted(valid_layers)}")
    names = adapt_names_for(params, config.algorithm, frozen)
    cfg = dataclasses.replace(config, meta_batch=tasks)
    return sample_iteration(params, cfg, TEST_ITERATION, adapt_names=names, seed=seed)


@dataclass(frozen=True)
class RLEvalResult:
    """Per-task returns before and after adaptation, and their summaries."""

    before: Tensor  # (tasks,) float64
    after: Tensor  # (tasks,) float64
    frozen: tuple[str, ...]
    seed: int
    config: RLConfig
    step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tasks(self) -> int:
        return int(self.before.shape[0])

    def to_dict(self) -> dict[str, Any]:
        mb, cb = mean_ci95(self.before)
        ma, ca = mean_ci95(self.after)
        md, cd = mean_ci95(self.after - self.before)
        cfg = self.config
        return {
            "env": cfg.env, "algorithm": cfg.algorithm, "scale": cfg.scale,
            "horizon": cfg.horizon, "trajectories": cfg.trajectories, "inner_lr": cfg.inner_lr,
            "step": self.step, "frozen": list(self.frozen), "test_seed": self.seed,
            "tasks": self.tasks,
            "return_before": mb, "ci95_before": cb, "return_after": ma, "ci95_after": ca,
            "improvement": md, "ci95_improvement": cd,
            "per_task_before": self.before.tolist(), "per_task_after": self.after.tolist(),
            **self.extra,
        }


def evaluate_policy(
    params: Mapping[str, Tensor], config: RLConfig, *, tasks: int = 40, seed: int = 0,
    frozen: Sequence[str] = (), step: int = 0,
) -> RLEvalResult:
    """Average return before and after the inner step on ``tasks`` fixed test tasks.

    ``frozen`` layers (e.g. ``("fc1", "fc2")``) are held at θ in the inner loop (the freezing
    ablation); the algorithm's own rule applies to the rest (ANIL adapts the head only).
    """
    data = test_rollouts(params, config, tasks=tasks, seed=seed, frozen=frozen)
    return RLEvalResult(
        before=data.train.task_returns().double(), after=data.valid.task_returns().double(),
        frozen=tuple(frozen), seed=seed, config=config, step=step,
    )


