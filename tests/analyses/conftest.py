"""Models for the analyses tests: hand-built, untrained (seeded) or trained for a few steps."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from repsim.meta import PRESETS, InnerLoop, TrainConfig, TrainedModel, build_model, train


def sinusoid_model(*, algorithm: str = "maml", lr: float = 0.3, steps: int = 2,
                   seed: int = 0) -> TrainedModel:
    """An untrained (seeded) sinusoid MLP with the given inner loop; no data needed."""
    cfg = dataclasses.replace(PRESETS["sinusoid"], algorithm=algorithm,
                              inner=InnerLoop(steps=1, lr=lr), test_inner_steps=steps)
    torch.manual_seed(seed)
    return TrainedModel(model=build_model(cfg), config=cfg, step=0)


def omniglot_model(*, algorithm: str = "maml", lr: float = 0.4, seed: int = 0) -> TrainedModel:
    """An untrained (seeded) Omniglot 5-way 1-shot Conv4; needs the real data for its tasks."""
    cfg = TrainConfig(algorithm=algorithm, dataset="omniglot", inner=InnerLoop(steps=1, lr=lr))
    torch.manual_seed(seed)
    return TrainedModel(model=build_model(cfg), config=cfg, step=0)


class _FixedDense(nn.Module):
    """ReLU(x W + b) with W, b fixed buffers: a layer no inner loop can change."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.randn(n_in, n_out) / n_in**0.5)
        self.register_buffer("bias", torch.randn(n_out) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.weight + self.bias)


class FixedBodyMLP(nn.Module):
    """Hand-built: random fixed features ``fc1``, ``fc2`` (buffers) and a trainable ``head``.

    MAML adapts every *parameter*, which here is the head only, so its inner loop changes only
    the head; no ``output="layers"``, so the analyses take the hook path.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = _FixedDense(1, 40)
        self.fc2 = _FixedDense(40, 40)
        self.head = nn.Linear(40, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc2(self.fc1(x)))


@pytest.fixture(scope="session")
def sinusoid() -> object:
    """Factory of untrained sinusoid models (:func:`sinusoid_model`)."""
    return sinusoid_model


@pytest.fixture(scope="session")
def omniglot() -> object:
    """Factory of untrained Omniglot Conv4 models (:func:`omniglot_model`)."""
    return omniglot_model


@pytest.fixture
def fixed_body_model() -> TrainedModel:
    cfg = dataclasses.replace(PRESETS["sinusoid"], inner=InnerLoop(steps=1, lr=0.3),
                              test_inner_steps=3)
    torch.manual_seed(0)
    return TrainedModel(model=FixedBodyMLP(), config=cfg, step=0)


@pytest.fixture(scope="session")
def sinusoid_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real training run: 4 MAML steps on sinusoids, checkpoints at steps 2 and 4."""
    out = tmp_path_factory.mktemp("run")
    cfg = dataclasses.replace(PRESETS["sinusoid"], steps=4, meta_batch=4, checkpoint_every=2,
                              val_every=2, val_tasks=4, log_every=2)
    train(cfg, out_dir=out, progress=False)
    return out
