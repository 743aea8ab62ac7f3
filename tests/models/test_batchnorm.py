"""The fast paths of a conv block: fused BatchNorm+ReLU and the 1-channel convolution by GEMM.

Each is checked against an independent computation: the primitive-op formula differentiated by
autograd (values, first and second derivatives, under vmap and torch.func.grad), torch's own
``nn.BatchNorm2d`` and ``F.conv2d``, and numerical gradients (gradcheck / gradgradcheck).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import grad, vmap

from repsim.models import conv4_for
from repsim.models.batchnorm import batch_norm_relu
from repsim.models.conv_gemm import conv2d_by_gemm


def batch_norm_relu_reference(x, weight, bias, eps):
    """The same map from primitive ops (autograd differentiates it), for (..., N, C, H, W)."""
    dims = (-4, -2, -1)
    xc = x - x.mean(dim=dims, keepdim=True)
    var = (xc * xc).mean(dim=dims, keepdim=True)
    scale = weight[..., None, :, None, None] * torch.rsqrt(var + eps)
    return torch.relu(xc * scale + bias[..., None, :, None, None])


def _inputs(dtype=torch.float64, tasks=3):
    torch.manual_seed(0)
    x = (torch.randn(tasks, 6, 4, 5, 5, dtype=dtype) * 2 + 1).requires_grad_()
    w = torch.rand(4, dtype=dtype, requires_grad=True)
    b = torch.randn(4, dtype=dtype, requires_grad=True)
    return x, w, b


def test_values_equal_torch_batchnorm_then_relu():
    x, w, b = _inputs()
    ref = nn.BatchNorm2d(4, track_running_stats=False).double()
    with torch.no_grad():
        ref.weight.copy_(w)
        ref.bias.copy_(b)
    for xi in x:
        torch.testing.assert_close(batch_norm_relu(xi, w, b), torch.relu(ref(xi)))


def test_first_derivatives_equal_the_primitive_formula_under_vmap():
    x, w, b = _inputs()
    grad_out = torch.randn_like(x)

    def run(fn):
        out = vmap(lambda xi: fn(xi, w, b, 1e-5))(x)
        return out, torch.autograd.grad(out, (x, w, b), grad_out)

    (out, grads), (ref_out, ref_grads) = run(batch_norm_relu), run(batch_norm_relu_reference)
    torch.testing.assert_close(out, ref_out)
    for ours, ref in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)


def test_second_derivatives_through_an_inner_grad_step_under_vmap():
    """A MAML-shaped use: grad of a loss after one inner step on w, per task under vmap."""
    x, w, b = _inputs()

    def meta(fn):
        def one(xi):
            inner = grad(lambda wi: (fn(xi, wi, b, 1e-5) ** 2).sum())(w)
            return (fn(xi, w - 0.1 * inner, b, 1e-5) * xi).sum()

        return torch.autograd.grad(vmap(one)(x).sum(), (x, w, b))

    for ours, ref in zip(meta(batch_norm_relu), meta(batch_norm_relu_reference), strict=True):
        torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-10)


def test_numerical_first_and_second_derivatives():
    x, w, b = _inputs()
    xi = x[0].detach().requires_grad_()
    fn = lambda a, c, d: batch_norm_relu(a, c, d, 1e-5)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (xi, w, b))
    assert torch.autograd.gradgradcheck(fn, (xi, w, b))


@pytest.mark.parametrize(("stride", "padding"), [(2, 1), (1, 1), (1, 0), (2, 0), (3, 2)])
def test_conv_by_gemm_equals_conv2d(stride, padding):
    torch.manual_seed(0)
    x = torch.randn(5, 1, 28, 28, dtype=torch.float64)
    w = torch.randn(8, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(8, dtype=torch.float64, requires_grad=True)
    ours = conv2d_by_gemm(x, w, b, stride=stride, padding=padding)
    ref = F.conv2d(x, w, b, stride=stride, padding=padding)
    torch.testing.assert_close(ours, ref)
    grad_out = torch.randn_like(ref)
    for g1, g2 in zip(torch.autograd.grad(ours, (w, b), grad_out),
                      torch.autograd.grad(ref, (w, b), grad_out), strict=True):
        torch.testing.assert_close(g1, g2)


def test_conv4_fast_path_equals_the_plain_modules():
    """Conv4's blocks (fast paths) give the numbers and gradients of conv → bn → relu."""
    torch.manual_seed(0)
    model = conv4_for("omniglot", 5).double()
    x = torch.rand(10, 1, 28, 28, dtype=torch.float64)

    def plain(m, h):
        for i in range(1, 5):
            block = getattr(m, f"conv{i}")
            h = torch.relu(block.bn(block.conv(h)))
        return m.head(h.mean(dim=(2, 3)))

    ours, ref = model(x), plain(model, x)
    torch.testing.assert_close(ours, ref)
    params = list(model.parameters())
    for g1, g2 in zip(torch.autograd.grad(ours.square().sum(), params),
                      torch.autograd.grad(ref.square().sum(), params), strict=True):
        torch.testing.assert_close(g1, g2)
    layers = model(x, output="layers")
    assert all(layers[f"conv{i}"].is_contiguous() for i in range(1, 5))


def test_hooked_submodules_are_called_as_themselves():
    """Capture hooks on conv1.conv / conv1.bn still fire (the fast path steps aside)."""
    model = conv4_for("omniglot", 5)
    seen = []
    model.conv1.conv.register_forward_hook(lambda m, i, o: seen.append("conv"))
    model.conv1.bn.register_forward_hook(lambda m, i, o: seen.append("bn"))
    x = torch.rand(4, 1, 28, 28)
    out = model(x)
    assert seen == ["conv", "bn"]
    torch.testing.assert_close(out, model.head(model.body(x)))
