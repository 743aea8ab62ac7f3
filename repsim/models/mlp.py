"""The sinusoid-regression MLP of Finn et al. (2017): 1 → 40 → 40 → 1, ReLU.

Layer names ``fc1``, ``fc2`` (the body) and ``head``; a layer's activation is its post-ReLU output.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["MLP_BODY_LAYERS", "SinusoidMLP"]

MLP_BODY_LAYERS: tuple[str, ...] = ("fc1", "fc2")


class _Dense(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.linear(x))


class SinusoidMLP(nn.Module):
    """Two hidden ReLU layers of ``hidden`` units and a linear head, for 1-D regression.

    ``body(x)`` is the ``fc2`` output ``(batch, hidden)``; ``forward(x)`` is ``(batch, 1)``.
    """

    def __init__(self, hidden: int = 40) -> None:
        super().__init__()
        self.fc1 = _Dense(1, hidden)
        self.fc2 = _Dense(hidden, hidden)
        self.head = nn.Linear(hidden, 1)
        self.feature_dim = hidden

    def body(self, x: Tensor) -> Tensor:
        return self.fc2(self.fc1(x))

    def forward(
        self, x: Tensor, *, output: Literal["logits", "features", "layers"] = "logits"
    ) -> Tensor | dict[str, Tensor]:
        """Predictions ``(batch, 1)``; or the body's ``features``; or every layer's output."""
        if output == "logits":
            return self.head(self.body(x))
        if output == "features":
            return self.body(x)
        if output == "layers":
            h1 = self.fc1(x)
            h2 = self.fc2(h1)
            return {"fc1": h1, "fc2": h2, "head": self.head(h2)}
        raise ValueError(f"output must be 'logits', 'features' or 'layers', got {output!r}")
