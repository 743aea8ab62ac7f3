"""RL checkpoints: the classification format with ``kind: "rl"``, and loading them back.

An RL checkpoint is a plain dict (``torch.load(weights_only=True)``):

``format``   "repsim-checkpoint" (shared with classification)
``kind``     "rl" (classification checkpoints have no ``kind``, or ``"classification"``)
``version``  1
``config``   RLConfig as a dict
``step``     meta-iterations done
``model``    the policy's state_dict (``fc1.linear.*``, ``fc2.linear.*``, ``head.linear.*``,
             ``head.log_std``)
``obs_dim``, ``act_dim``  the policy's sizes
``metrics``  per-iteration records up to ``step``
``elapsed``  seconds of training so far

All randomness of a run is a function of ``(seed, iteration)``, so no RNG state is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from repsim._io import CheckpointError, load_checkpoint
from repsim._threads import ensure_default_threads
from repsim.models.policy import GaussianMLPPolicy
from repsim.models.weights import check_state_values
from repsim.rl.config import RLConfig, rl_config_from_dict

__all__ = ["KIND", "RLTrained", "checkpoint_kind", "load_rl", "require_classification"]

FORMAT = "repsim-checkpoint"
KIND = "rl"


def checkpoint_kind(payload: dict[str, Any]) -> str:
    """``"rl"`` or ``"classification"`` (repsim checkpoints without a kind predate RL)."""
    return str(payload.get("kind", "classification"))


def require_classification(payload: dict[str, Any], path: str | Path) -> None:
    """Raise a clear error if a classification command was handed an RL checkpoint."""
    if checkpoint_kind(payload) == KIND:
        raise CheckpointError(
            f"{path} is a meta-RL (policy) checkpoint; this command works on classification "
            "checkpoints. RL checkpoints go to `repsim eval|compare|ablate CKPT` (which detect "
            "them) or to the repsim.rl functions"
        )


@dataclass
class RLTrained:
    """A policy loaded from an RL checkpoint."""

    policy: GaussianMLPPolicy
    config: RLConfig
    step: int
    path: Path | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def params(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.policy.named_parameters()}


def build_policy(config: RLConfig, obs_dim: int, act_dim: int) -> GaussianMLPPolicy:
    return GaussianMLPPolicy(obs_dim, act_dim, hidden=config.hidden)


def load_rl(path: str | Path) -> RLTrained:
    """Load an RL checkpoint; a classification checkpoint or foreign file is a clear error."""
    ensure_default_threads()
    path = Path(path)
    payload = load_checkpoint(path)
    if payload.get("format") != FORMAT or checkpoint_kind(payload) != KIND:
        what = ("a classification checkpoint" if payload.get("format") == FORMAT
                else "not a repsim checkpoint")
        raise CheckpointError(
            f"{path} is {what}; RL commands need a meta-RL checkpoint (kind 'rl', written by "
            "`repsim train --dataset nav2d|cheetah-vel|cheetah-dir`)"
        )
    try:
        config = rl_config_from_dict(dict(payload["config"]))
        policy = build_policy(config, int(payload["obs_dim"]), int(payload["act_dim"]))
        state = payload["model"]
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: invalid RL checkpoint: {exc}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: checkpoint has no 'model' state_dict (it holds a "
                              f"{type(state).__name__})")
    try:
        check_state_values(state, path)  # tensors only, and finite
    except (TypeError, ValueError) as exc:
        raise CheckpointError(str(exc)) from None
    try:
        policy.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: invalid RL checkpoint: {exc}") from exc
    return RLTrained(
        policy=policy, config=config, step=int(payload.get("step", 0)), path=path,
        metrics=list(payload.get("metrics", [])),
    )
