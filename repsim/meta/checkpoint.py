"""repsim checkpoints: what they hold, how they are written and read back.

A checkpoint is a plain dict saved with ``torch.save`` and read with ``weights_only=True``
(nothing in it is executed):

``format``       "repsim-checkpoint"
``version``      1
``config``       TrainConfig as JSON-able dict
``step``         meta-iterations done
``model``        state_dict
``optimizer``    Adam state_dict (absent from exported checkpoints)
``rng``          torch RNG states at save time
``split_hash``   {"train": sha, "val": sha} of the data splits the run used
``metrics``      list of metric records (dicts) up to ``step``
``device``       device the run trained on
``elapsed``      seconds of training so far
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from repsim._io import CheckpointError, load_checkpoint, save_checkpoint
from repsim.meta.config import TrainConfig, config_from_dict
from repsim.models import SinusoidMLP, conv4_for

__all__ = [
    "FORMAT",
    "TrainedModel",
    "build_model",
    "checkpoint_paths",
    "export_checkpoint",
    "load_trained",
    "save_checkpoint",
]

FORMAT = "repsim-checkpoint"
_STEP_FILE = re.compile(r"step_(\d+)\.pt$")


def build_model(config: TrainConfig) -> nn.Module:
    """A freshly initialised network for ``config`` (seeded by the caller)."""
    if config.dataset == "sinusoid":
        return SinusoidMLP()
    return conv4_for(config.dataset, config.ways)


@dataclass
class TrainedModel:
    """A model loaded from a checkpoint, with what is needed to reproduce its tasks."""

    model: nn.Module
    config: TrainConfig
    step: int
    path: Path | None = None
    split_hash: dict[str, str] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    source: str = "repsim"

    @property
    def params(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.model.named_parameters()}


def checkpoint_paths(run_dir: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``checkpoints/step_*.pt`` in a run directory, by step."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    found = []
    for path in ckpt_dir.glob("step_*.pt"):
        match = _STEP_FILE.search(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def load_trained(
    path: str | Path, *, device: str | torch.device = "cpu", config: TrainConfig | None = None
) -> TrainedModel:
    """Load a repsim checkpoint (or a learn2learn-style state_dict, given ``config``).

    Raises
    ------
    CheckpointError
        Missing, corrupt or untrusted file; a dict that is neither a repsim checkpoint nor a
        state_dict this model can take (the message lists unknown and missing keys).
    """
    path = Path(path)
    payload = load_checkpoint(path, map_location=device)
    kind = payload.get("kind", "classification")
    if payload.get("format") == FORMAT and kind != "classification":
        raise CheckpointError(
            f"{path} is a meta-RL (policy) checkpoint (kind {kind!r}); this works on "
            "classification checkpoints. `repsim eval|compare|ablate` detect RL checkpoints; in "
            "Python use repsim.rl.checkpoint.load_rl"
        )
    if payload.get("format") == FORMAT:
        try:
            cfg = config_from_dict(payload["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: invalid config in checkpoint: {exc}") from exc
        model = build_model(cfg).to(device)
        _load_state(model, payload.get("model"), path)
        return TrainedModel(
            model=model,
            config=cfg,
            step=int(payload.get("step", 0)),
            path=path,
            split_hash=dict(payload.get("split_hash", {})),
            metrics=list(payload.get("metrics", [])),
        )
    # Not ours: maybe a bare (learn2learn-style) state_dict.
    from repsim.models.interop import from_learn2learn_state_dict

    state = payload.get("state_dict", payload.get("model", payload))
    if config is None:
        raise CheckpointError(
            f"{path} is not a repsim checkpoint (no format={FORMAT!r} key); if it is a "
            "learn2learn-style state_dict, pass the training config (dataset, ways, algorithm) "
            "so repsim can rebuild the network, e.g. --dataset omniglot --ways 5 --algo maml"
        )
    model = build_model(config).to(device)
    try:
        model.load_state_dict(from_learn2learn_state_dict(state, model))
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    return TrainedModel(model=model, config=config, step=0, path=path, source="learn2learn")


def _load_state(model: nn.Module, state: Any, path: Path) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: checkpoint has no 'model' state_dict")
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unknown = sorted(set(state) - set(own))
    if missing or unknown:
        raise CheckpointError(
            f"{path}: state_dict does not fit the network: missing keys {missing[:8]}, "
            f"unknown keys {unknown[:8]}"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(value.shape)}, the network needs "
                f"{tuple(own[key].shape)}"
            )
    model.load_state_dict(state)


def export_checkpoint(path: str | Path, out: str | Path) -> Path:
    """Write a smaller copy of a checkpoint for sharing: everything but the optimizer state.

    The copy loads with :func:`load_trained` (and ``torch.load(weights_only=True)``) like the
    original; it cannot resume training.
    """
    payload = load_checkpoint(path)
    if payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a repsim checkpoint; nothing to export")
    payload.pop("optimizer", None)
    payload["exported_from"] = str(path)
    return save_checkpoint(out, payload)
