"""Meta-learning on ``torch.func``: MAML, first-order MAML, ANIL, the NIL head; train, evaluate."""

from __future__ import annotations

from repsim.meta.algorithms import meta_loss, nil_scores, task_eval, task_meta_loss
from repsim.meta.checkpoint import TrainedModel, build_model, checkpoint_paths, load_trained
from repsim.meta.config import (
    ALGORITHMS,
    BODY_REGIMES,
    DATASETS,
    PRESETS,
    InnerLoop,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    default_config,
)
from repsim.meta.evaluate import EvalResult, evaluate_checkpoint, evaluate_tasks, mean_ci95
from repsim.meta.inner import adapt, forward, freeze_spec, layer_names
from repsim.meta.train import TrainResult, train

__all__ = [
    "ALGORITHMS",
    "BODY_REGIMES",
    "DATASETS",
    "PRESETS",
    "EvalResult",
    "InnerLoop",
    "TrainConfig",
    "TrainResult",
    "TrainedModel",
    "adapt",
    "build_model",
    "checkpoint_paths",
    "config_from_dict",
    "config_to_dict",
    "default_config",
    "evaluate_checkpoint",
    "evaluate_tasks",
    "forward",
    "freeze_spec",
    "layer_names",
    "load_trained",
    "mean_ci95",
    "meta_loss",
    "nil_scores",
    "task_eval",
    "task_meta_loss",
    "train",
]
