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
from repsim._threads import ensure_default_threads
from repsim.meta.config import TrainConfig, config_from_dict
from repsim.models import SinusoidMLP, conv4_for
from repsim.models.weights import check_state_values

__all__ = [
    "FORMAT",
    "TrainedModel",
    "build_model",
    "check_resume_config",
    "checkpoint_paths",
    "export_checkpoint",
    "export_learn2learn",
    "load_trained",
    "resolve_config",
    "save_checkpoint",
]

FORMAT = "repsim-checkpoint"
_STEP_FILE = re.compile(r"step_(\d+)\.pt$")


def build_model(config: TrainConfig) -> nn.Module:
    """A freshly initialised network for ``config`` (seeded by the caller).

    The head has ``config.classes`` outputs for multiclass pre-training (one per meta-training
    class), ``config.ways`` otherwise; ``head_input`` and ``head_init`` apply when set.
    """
    if config.dataset == "sinusoid":
        return SinusoidMLP()
    model = conv4_for(config.dataset, config.classes or config.ways, head_input=config.head_input)
    if config.head_init == "zeros":
        # A zero head makes every task's initial logits equal (no class favoured before the
        # inner loop), the head-initialisation control of the conv4 investigation.
        nn.init.zeros_(model.head.weight)
        nn.init.zeros_(model.head.bias)
    return model


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


def resolve_config(config: TrainConfig | str | None) -> TrainConfig | None:
    """A :class:`TrainConfig` from itself, a preset name (``"omniglot-5w1s"``) or None."""
    from repsim.meta.config import PRESETS

    if config is None or isinstance(config, TrainConfig):
        return config
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(
                f"unknown preset {config!r}; valid: {', '.join(PRESETS)}"
            )
        return PRESETS[config]
    raise TypeError(f"config must be a TrainConfig or a preset name; got {type(config).__name__}")


def load_trained(
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    config: TrainConfig | str | None = None,
) -> TrainedModel:
    """Load a repsim checkpoint (or a learn2learn-style state_dict, given ``config``).

    ``config`` (a :class:`TrainConfig` or a preset name such as ``"omniglot-5w1s"``) tells repsim
    how a bare state_dict was trained; a repsim checkpoint carries its own and ignores it.

    Raises
    ------
    CheckpointError
        Missing, corrupt or untrusted file; a dict that is neither a repsim checkpoint nor a
        state_dict this model can take (the message lists unknown and missing keys).
    """
    ensure_default_threads()
    path = Path(path)
    config = resolve_config(config)
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
            "learn2learn-style state_dict, say how it was trained so repsim can rebuild the "
            "network: --preset NAME on the command line (e.g. --preset omniglot-5w1s), "
            "config=NAME or config=TrainConfig(...) from Python"
        )
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds no state_dict (its 'state_dict'/'model' entry is a "
                              f"{type(state).__name__})")
    try:
        check_state_values(state, path)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(str(exc)) from None
    model = build_model(config).to(device)
    try:
        model.load_state_dict(from_learn2learn_state_dict(state, model))
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    return TrainedModel(model=model, config=config, step=0, path=path, source="learn2learn")


def _load_state(model: nn.Module, state: Any, path: Path) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: checkpoint has no 'model' state_dict")
    try:
        check_state_values(state, path)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(str(exc)) from None
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
    # A copy must load as the original would: its config, shapes and finite weights are
    # checked by loading it (issue 21: NaN weights and a bad config were copied silently).
    if payload.get("kind", "classification") == "rl":
        from repsim.rl.checkpoint import load_rl

        load_rl(path)
    else:
        load_trained(path)
    payload.pop("optimizer", None)
    payload["exported_from"] = str(path)
    return save_checkpoint(out, payload)


def export_learn2learn(path: str | Path, out: str | Path) -> Path:
    """Write a repsim checkpoint's network as a learn2learn ``OmniglotCNN`` /
    ``MiniImagenetCNN`` state_dict (a plain dict of tensors, atomically).

    See :func:`repsim.models.interop.to_learn2learn_state_dict` for the names and the BatchNorm
    caveat (use the learn2learn model in ``train()`` mode).
    """
    from repsim.models.interop import to_learn2learn_state_dict

    trained = load_trained(path)
    if trained.config.dataset == "sinusoid":
        raise ValueError(
            f"{path} is a sinusoid regressor; learn2learn export covers the conv networks "
            "(omniglot, miniimagenet)"
        )
    return save_checkpoint(out, to_learn2learn_state_dict(trained.model, trained.config.dataset))


def check_resume_config(
    saved: dict[str, Any], wanted: dict[str, Any], *, step: int, steps: int, out_dir: Path
) -> None:
    """A run may be resumed with a different ``steps`` (to extend or stop it), nothing else.

    ``saved``/``wanted`` are the JSON forms of the checkpoint's and the asked config (shared by
    classification and meta-RL runs).
    """
    diff = sorted(k for k in set(saved) | set(wanted)
                  if k != "steps" and saved.get(k) != wanted.get(k))
    if diff:
        details = ", ".join(f"{k}: {saved.get(k)!r} there, {wanted.get(k)!r} asked" for k in diff)
        raise ValueError(
            f"{out_dir} holds a run with a different config ({details}); resume it with its own "
            "settings (only --steps may change), or choose another --out directory"
        )
    if step > steps:
        raise ValueError(
            f"{out_dir} is already at step {step}, past the {steps} steps asked; "
            "pass --steps of at least that, or choose another --out directory"
        )
