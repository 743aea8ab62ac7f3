"""The meta-RL run configuration and its named presets (PAPER.md, "Meta-RL").

``RLConfig`` is stored as JSON in every RL checkpoint and manifest; variants are made with
``dataclasses.replace``. Presets come at two scales: ``paper`` (the reference implementations'
settings) and ``cpu`` (what a small CPU finishes in reasonable time; identical to ``paper`` for
2D navigation, smaller for HalfCheetah). The scale is recorded with every result.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RL_ALGORITHMS",
    "RL_ENVS",
    "RL_PRESETS",
    "RLConfig",
    "rl_config",
    "rl_config_from_dict",
    "rl_config_to_dict",
]

RL_ALGORITHMS: tuple[str, ...] = ("maml", "fomaml", "anil")
RL_ENVS: tuple[str, ...] = ("nav2d", "cheetah-vel", "cheetah-dir")
MAX_HORIZON = 1000  # HalfCheetah's own episode limit; nothing here needs longer
# 2D navigation: goals lie up to 0.5 away per coordinate and a step moves at most 0.1, so a
# horizon under 5 makes some goals unreachable.
_MIN_REACHING_HORIZON = {"nav2d": 5}


@dataclass(frozen=True)
class RLConfig:
    """Everything that defines a meta-RL run (and so goes into each checkpoint)."""

    env: str = "nav2d"
    algorithm: str = "maml"
    scale: str = "paper"
    horizon: int = 100
    meta_batch: int = 20  # tasks per meta-iteration
    trajectories: int = 20  # per task, for the inner step and for the outer (TRPO) step
    inner_lr: float = 0.1
    gamma: float = 0.99
    normalize_advantages: bool = True
    max_kl: float = 1e-2
    cg_iters: int = 10
    cg_damping: float = 1e-5
    ls_ratio: float = 0.8
    ls_steps: int = 15
    # Fisher-vector products from every k-th trajectory of each task (1: all, exact). The
    # gradient and the line search's KL check always use every trajectory.
    fisher_subsample: int = 1
    hidden: int = 100
    steps: int = 500  # meta-iterations
    seed: int = 0
    checkpoint_every: int = 10
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.env not in RL_ENVS:
            raise ValueError(f"unknown RL environment {self.env!r}; valid: {', '.join(RL_ENVS)}")
        if self.algorithm not in RL_ALGORITHMS:
            raise ValueError(
                f"unknown RL algorithm {self.algorithm!r}; valid: {', '.join(RL_ALGORITHMS)}"
            )
        if self.scale not in ("cpu", "paper", "custom"):
            raise ValueError(f"unknown scale {self.scale!r}; valid: cpu, paper")
        for name in ("meta_batch", "trajectories", "hidden", "steps", "checkpoint_every",
                     "log_every", "cg_iters", "ls_steps", "fisher_subsample"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "steps" else 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        low = _MIN_REACHING_HORIZON.get(self.env, 1)
        if not isinstance(self.horizon, int) or not low <= self.horizon <= MAX_HORIZON:
            why = (f" (goals lie up to 0.5 away and a step moves at most 0.1: below {low} "
                   "steps some goals are unreachable)" if low > 1 else "")
            raise ValueError(
                f"horizon {self.horizon!r} is out of range for {self.env}: it must be an "
                f"integer in [{low}, {MAX_HORIZON}]{why}"
            )
        for name in ("inner_lr", "gamma", "max_kl", "cg_damping", "ls_ratio"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0 < self.gamma <= 1 or not 0 < self.ls_ratio < 1 or self.max_kl <= 0:
            raise ValueError("need 0 < gamma <= 1, 0 < ls_ratio < 1 and max_kl > 0")

    @property
    def first_order(self) -> bool:
        return self.algorithm == "fomaml"


_PAPER = {
    "nav2d": dict(horizon=100, meta_batch=20, trajectories=20, steps=500),
    "cheetah-vel": dict(horizon=200, meta_batch=40, trajectories=20, steps=500),
    "cheetah-dir": dict(horizon=200, meta_batch=40, trajectories=20, steps=500),
}
# `cpu` scale: TRPO's Fisher-vector products from every 5th trajectory (OpenAI baselines' TRPO
# default), the exact products being ~5x the cost of the rest of an iteration; HalfCheetah
# also with shorter episodes, fewer tasks and trajectories and fewer iterations. 2D navigation
# otherwise runs at the paper's settings (horizon 100, meta-batch 20, 20 trajectories).
_CPU = {
    "nav2d": dict(_PAPER["nav2d"], fisher_subsample=5),
    "cheetah-vel": dict(horizon=100, meta_batch=20, trajectories=10, steps=150,
                        fisher_subsample=5),
    "cheetah-dir": dict(horizon=100, meta_batch=20, trajectories=10, steps=150,
                        fisher_subsample=5),
}
RL_PRESETS: dict[str, dict[str, dict[str, int]]] = {"paper": _PAPER, "cpu": _CPU}


def rl_config(env: str, *, scale: str = "paper", **changes: Any) -> RLConfig:
    """The preset for ``env`` at ``scale``, with ``changes`` (``None`` values ignored) applied."""
    if env not in RL_ENVS:
        raise ValueError(f"unknown RL environment {env!r}; valid: {', '.join(RL_ENVS)}")
    if scale not in RL_PRESETS:
        raise ValueError(f"unknown scale {scale!r}; valid: {', '.join(RL_PRESETS)}")
    base = RLConfig(env=env, scale=scale, **RL_PRESETS[scale][env])
    return dataclasses.replace(base, **{k: v for k, v in changes.items() if v is not None})


def rl_config_to_dict(config: RLConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def rl_config_from_dict(data: dict[str, Any]) -> RLConfig:
    known = {f.name for f in dataclasses.fields(RLConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown RL config keys {unknown}")
    return RLConfig(**data)
