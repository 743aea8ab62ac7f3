"""The CUDA path gives the CPU's numbers (run on a GPU machine: pytest -m gpu)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from repsim.meta import PRESETS, evaluate_checkpoint, load_trained, train
from repsim.meta.algorithms import meta_loss
from repsim.meta.inner import freeze_spec, parameters_of
from repsim.models import conv4_for

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]


@pytest.mark.parametrize("algorithm", ["maml", "anil"])
def test_meta_gradient_cuda_equals_cpu(algorithm):
    torch.manual_seed(0)
    cpu = conv4_for("omniglot", 5).double()
    gpu = conv4_for("omniglot", 5).double().cuda()
    gpu.load_state_dict(cpu.state_dict())
    g = torch.Generator().manual_seed(0)
    data = [
        torch.rand(4, 5, 1, 28, 28, generator=g, dtype=torch.float64),
        torch.arange(5).repeat(4, 1),
        torch.rand(4, 5, 1, 28, 28, generator=g, dtype=torch.float64),
        torch.arange(5).repeat(4, 1),
    ]
    grads = []
    for model, device in ((cpu, "cpu"), (gpu, "cuda")):
        params = parameters_of(model)
        loss, _ = meta_loss(
            model,
            params,
            *(t.to(device) for t in data),
            steps=2,
            lr=0.4,
            adapt_names=freeze_spec(model, algorithm=algorithm),
        )
        grads.append([gr.cpu() for gr in torch.autograd.grad(loss, list(params.values()))])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


def test_train_and_evaluate_on_cuda(tmp_path):
    cfg = dataclasses.replace(
        PRESETS["sinusoid"], steps=20, val_every=10, val_tasks=10, checkpoint_every=10
    )
    result = train(cfg, out_dir=tmp_path, device="cuda", progress=False)
    assert load_trained(result.last_checkpoint).model.head.weight.device.type == "cpu"
    on_gpu = evaluate_checkpoint(result.last_checkpoint, tasks=50, device="cuda")
    on_cpu = evaluate_checkpoint(result.last_checkpoint, tasks=50, device="cpu")
    assert on_gpu.value == pytest.approx(on_cpu.value, rel=1e-4)
