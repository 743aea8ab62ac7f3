"""Capture layer activations: forward hooks for any module, and θ vs θ' for a batch of tasks.

- :func:`record` / :func:`capture` / :func:`stream`: named layers' outputs (names or glob
  patterns) under any parameter set, hooks always removed, BatchNorm mode pinned and stated.
- :func:`adaptation_activations`: adapt θ → θ' per task as the algorithm does, then every
  layer's activations under θ and θ' on the same inputs (``vmap`` fast path for repsim models).
- :func:`model_activations`: one parameter set over T tasks' inputs (model A vs model B).
"""

from __future__ import annotations

from repsim.capture.adaptation import (
    INPUTS,
    Activations,
    adaptation_activations,
    check_finite,
    comparison_inputs,
    model_activations,
)
from repsim.capture.hooks import (
    BATCHNORM_MODES,
    Recording,
    capture,
    pin_batchnorm,
    record,
    resolve_layers,
    stream,
)

__all__ = [
    "BATCHNORM_MODES",
    "INPUTS",
    "Activations",
    "Recording",
    "adaptation_activations",
    "capture",
    "check_finite",
    "comparison_inputs",
    "model_activations",
    "pin_batchnorm",
    "record",
    "resolve_layers",
    "stream",
]
