"""Few-shot models with stable layer names (``conv1..conv4, head``; ``fc1, fc2, head``)."""

from __future__ import annotations

from repsim.models.conv4 import BODY_LAYERS, BatchStatNorm2d, Conv4, ConvBlock, conv4_for
from repsim.models.mlp import MLP_BODY_LAYERS, SinusoidMLP
from repsim.models.policy import POLICY_BODY_LAYERS, GaussianMLPPolicy

__all__ = [
    "BODY_LAYERS",
    "MLP_BODY_LAYERS",
    "POLICY_BODY_LAYERS",
    "BatchStatNorm2d",
    "Conv4",
    "ConvBlock",
    "GaussianMLPPolicy",
    "SinusoidMLP",
    "conv4_for",
]
