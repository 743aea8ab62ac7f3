"""BatchNorm with the current batch's statistics followed by ReLU, as one autograd function.

Why hand-written: on CPU a 5-way 1-shot meta-step spends much of its time in elementwise passes
over the first block's activations (32 tasks x 5 images x 64 x 14 x 14), and the autograd graph
of BatchNorm built from primitive ops makes ~7 passes forward and ~15 backward, several of them
over broadcast (stride-0) tensors, which are slow. This function makes 5 passes forward (mean,
centre, sum of squares, scale-and-shift, ReLU) and 6 backward (mask, two sums, two fused
multiply-adds), with the textbook gradient

    dx = w·r · (g − mean(g) − x̂ · mean(g · x̂)),   dw = Σ g · x̂,   db = Σ g,

where x̂ = (x − μ)·r, r = 1/sqrt(var + eps) (biased variance) and g is the incoming gradient
masked by the ReLU.

Second derivatives (MAML's inner step differentiates the support pass twice): when autograd
records the backward itself (``create_graph``, or a ``torch.func.grad`` transform), the backward
recomputes μ, r and x̂ from the saved input with differentiable out-of-place ops, so its own
graph is complete and exact; otherwise it reuses the values saved by the forward and works in
place. Under ``torch.func.vmap`` the function runs once on the whole batch of tasks (its own
vmap rule); statistics stay per task and per sample set. ``tests/models/test_batchnorm.py`` pins
values and first and second derivatives against the same map written from primitive ops (under vmap
and grad) and numerical derivatives; ``tests/meta/test_gradients.py`` pins the MAML and ANIL
meta-gradients against explicit unrolls and finite differences.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["batch_norm_relu"]

_DIMS = (-4, -2, -1)  # (N, H, W) of an (..., N, C, H, W) batch


def _per_channel(v: Tensor) -> Tensor:
    """(..., C) → (..., 1, C, 1, 1), broadcasting against (..., N, C, H, W)."""
    return v[..., None, :, None, None]


class _BatchNormReLU(torch.autograd.Function):
    """x: (..., N, C, H, W); weight, bias: (..., C) with the same leading dims (tasks)."""

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor, eps: float):  # type: ignore[override]
        n = x.shape[-4] * x.shape[-2] * x.shape[-1]
        xc = x - x.mean(dim=_DIMS, keepdim=True)
        rstd = torch.rsqrt((xc * xc).sum(dim=_DIMS) / n + eps)  # (..., C)
        out = torch.addcmul(_per_channel(bias), xc, _per_channel(weight * rstd)).relu_()
        return out, xc, rstd  # xc and rstd: saved for the backward (non-differentiable)

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        x, weight, _bias, eps = inputs
        out, xc, rstd = output
        ctx.eps = eps
        ctx.mark_non_differentiable(xc, rstd)
        ctx.set_materialize_grads(False)  # no zero-filled gradients for xc and rstd
        ctx.save_for_backward(x, weight, out, xc, rstd)

    @staticmethod
    def vmap(info, in_dims, x, weight, bias, eps):  # type: ignore[override]
        # One call on the whole meta-batch, the vmapped dim leading (a generated rule would
        # re-run forward and backward op by op under vmap: ~1 ms of overhead per call).
        def leading(t: Tensor, dim: int | None) -> Tensor:
            if dim is None:
                return t.expand(info.batch_size, *t.shape)
            return t.movedim(dim, 0)

        x_dim, w_dim, b_dim, _ = in_dims
        out = _BatchNormReLU.apply(
            leading(x, x_dim), leading(weight, w_dim), leading(bias, b_dim), eps
        )
        return out, (0, 0, 0)

    @staticmethod
    def backward(ctx, grad_out, _grad_xc, _grad_rstd):  # type: ignore[override]
        if grad_out is None:
            return None, None, None, None
        x, weight, out, xc, rstd = ctx.saved_tensors
        n = x.shape[-4] * x.shape[-2] * x.shape[-1]
        recorded = torch.is_grad_enabled()
        if recorded:
            # The backward is being recorded for a second derivative: rebuild the statistics
            # from x so that they carry x's graph (the saved ones do not).
            xc = x - x.mean(dim=_DIMS, keepdim=True)
            rstd = torch.rsqrt((xc * xc).sum(dim=_DIMS) / n + ctx.eps)
        # the ReLU's mask, with relu's own backward op (torch.where is ~10x slower here)
        g = torch.ops.aten.threshold_backward(grad_out, out, 0)
        g_sum = g.sum(dim=_DIMS)  # (..., C)
        g_xc = (g * xc).sum(dim=_DIMS)  # (..., C)
        grad_weight = g_xc * rstd
        a = weight * rstd  # dx = a · (g + k·xc + m), per channel
        k = -rstd * rstd * g_xc / n
        m = -g_sum / n
        if recorded:
            grad_x = (g + xc * _per_channel(k) + _per_channel(m)) * _per_channel(a)
        else:  # two fused passes, the second in place
            grad_x = torch.addcmul(_per_channel(a * m), xc, _per_channel(a * k))
            grad_x.addcmul_(g, _per_channel(a))
        return grad_x, grad_weight, g_sum, None


def batch_norm_relu(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """``relu(batch_norm(x, weight, bias, eps))`` with the batch's statistics.

    ``x`` is ``(N, C, H, W)``; mean and biased variance over ``(N, H, W)``; eps inside the square
    root, as ``nn.BatchNorm2d(C, track_running_stats=False)``. Differentiable to any order, and
    under ``torch.func`` transforms (module docstring).
    """
    return _BatchNormReLU.apply(x, weight, bias, eps)[0]
