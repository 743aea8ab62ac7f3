"""A convolution with one input channel as a single matrix product (im2col), on CPU.

oneDNN's kernels for a 1-channel input are poor: on Omniglot's first layer (1 → 64 channels,
3x3, stride 2, 28x28 images) its forward costs as much as the 64 → 64 second layer, and its
weight gradient several times more, though the layer does 1/64 of the arithmetic. Unfolding the
padded images into 3x3 patches (a strided view, then one copy of 9 floats per output position)
and multiplying by the (64, 9) weight matrix gives the same numbers in one matrix product each
way. The output comes out in channels-last layout ((N, H, W, C) memory), which the next
convolutions then keep (oneDNN's channels-last kernels are the faster ones here).

Everything is ordinary differentiable torch ops, so ``torch.func`` transforms and second
derivatives work unchanged. Measured in ``benchmarks/bench_meta.py``; pinned against
``F.conv2d`` in ``tests/models/test_batchnorm.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["conv2d_by_gemm", "gemm_applies", "standard_layout"]

_STANDARD_LAYOUT: ContextVar[bool] = ContextVar("repsim_standard_layout", default=False)


@contextmanager
def standard_layout(enabled: bool = True) -> Iterator[None]:
    """Within this block, :func:`conv2d_by_gemm` returns contiguous (N, C, H, W) maps.

    For passes that autograd will differentiate twice (MAML's inner step): oneDNN's
    channels-last convolutions are faster first-order but slower in a double backward
    (measured in ``benchmarks/bench_meta.py``), so the inner loop keeps the standard layout.
    """
    token = _STANDARD_LAYOUT.set(enabled)
    try:
        yield
    finally:
        _STANDARD_LAYOUT.reset(token)


def gemm_applies(conv: nn.Conv2d, x: Tensor) -> bool:
    """Whether :func:`conv2d_by_gemm` computes ``conv(x)``: one input channel, CPU, a plain
    (ungrouped, undilated, zero- and evenly padded, square) convolution with a bias."""
    return (
        conv.in_channels == 1
        and x.device.type == "cpu"
        and conv.groups == 1
        and conv.dilation == (1, 1)
        and conv.padding_mode == "zeros"
        and isinstance(conv.padding, tuple)
        and conv.padding[0] == conv.padding[1]
        and conv.stride[0] == conv.stride[1]
        and conv.kernel_size[0] == conv.kernel_size[1]
        and conv.bias is not None
    )


def conv2d_by_gemm(x: Tensor, weight: Tensor, bias: Tensor, *, stride: int, padding: int) -> Tensor:
    """``F.conv2d(x, weight, bias, stride, padding)`` for ``x`` of shape (N, C, H, W), as im2col
    and one matrix product; the result is (N, O, Ho, Wo) with channels-last strides (contiguous
    inside :func:`standard_layout`)."""
    n = x.shape[0]
    out_channels, channels, k, _ = weight.shape
    patches = F.pad(x, (padding,) * 4).unfold(2, k, stride).unfold(3, k, stride)
    ho, wo = patches.shape[2], patches.shape[3]  # patches: (N, C, Ho, Wo, k, k), a view
    rows = patches.permute(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, channels * k * k)
    out = torch.addmm(bias, rows, weight.reshape(out_channels, -1).t())  # (N·Ho·Wo, O)
    out = out.view(n, ho, wo, out_channels).permute(0, 3, 1, 2)
    return out.contiguous() if _STANDARD_LAYOUT.get() else out
