"""compare warns when CKA is computed from too few samples per task (issue 11)."""

from __future__ import annotations

import dataclasses

import torch

import repsim
from repsim.meta import PRESETS, InnerLoop, TrainedModel, build_model


def _model() -> TrainedModel:
    cfg = dataclasses.replace(PRESETS["sinusoid"], inner=InnerLoop(steps=1, lr=0.3))
    torch.manual_seed(0)
    return TrainedModel(model=build_model(cfg), config=cfg, step=0)


def test_few_samples_warn_for_cka() -> None:
    frame = repsim.compare(_model(), tasks=2, inputs="support", query=None,
                           measures=["cka", "cka_debiased"])
    warnings = frame.attrs["manifest"]["warnings"]
    assert any("head: cka, cka_debiased from only n=10 samples" in w for w in warnings), warnings


def test_enough_samples_do_not_warn() -> None:
    frame = repsim.compare(_model(), tasks=2, inputs="query", query=30, measures=["cka"])
    assert not any("dominated by noise" in w for w in frame.attrs["manifest"]["warnings"])
