"""Shared numerics: centring, second moments (covariance blocks), Grams, eigen-decompositions.

Every measure starts from :func:`moments` (feature space, d x d) or :func:`centred_gram`
(sample space, n x n), so no measure re-implements centring or covariance, and the batched
path computes them once per pair and reuses them for every measure.

Why the CPU path goes through numpy: forming X_c^T X_c is the O(n d^2) bulk of every measure.
numpy dispatches ``a.T @ a`` to BLAS ``syrk`` (half the flops of a general product); torch has
no symmetric rank-k product. Tall inputs are also accumulated in row blocks, so the centred
copy of a (132300, 32) layer never exists in full (it stays in cache) and float32 input is
promoted block by block. Measured on the 2-core dev machine: 0.034 s vs 0.051 s for
``np.cov`` at (n, d) = (132300, 32+32). Other devices use torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from repsim.similarity import _backend as B
from repsim.similarity._backend import Array

_NUMPY_DTYPES = {torch.float64: np.float64, torch.float32: np.float32}
_NUMPY_INPUTS = (torch.float16, torch.float32, torch.float64)


@dataclass(frozen=True)
class Moments:
    """Centred second moments of a pair X (n, dx), Y (n, dy); leading task dims allowed.

    numpy arrays for CPU inputs, tensors on the input's device otherwise (see ``_backend``).
    """

    sxx: Array  # (..., dx, dx)  X_c^T X_c  (not divided by n - 1)
    sxy: Array  # (..., dx, dy)  X_c^T Y_c
    syy: Array  # (..., dy, dy)  Y_c^T Y_c
    mean_x: Array  # (..., dx)   column means of X
    mean_y: Array  # (..., dy)
    n: int  # n_samples
    # (..., 3): [r_x . r_y, r_x . r_x, r_y . r_y], r = squared norms of the centred rows;
    # only the debiased (unbiased-HSIC) CKA needs them.
    row_dots: Array | None = None

    def select(self, task: int | None, keep_x: Array, keep_y: Array) -> Moments:
        """Moments of one task (``None``: unbatched) restricted to kept features (bool masks)."""
        at = (lambda t: t) if task is None else (lambda t: t[task])
        rd = None if self.row_dots is None else at(self.row_dots)
        return Moments(
            sxx=at(self.sxx)[keep_x][:, keep_x],
            sxy=at(self.sxy)[keep_x][:, keep_y],
            syy=at(self.syy)[keep_y][:, keep_y],
            mean_x=at(self.mean_x)[keep_x],
            mean_y=at(self.mean_y)[keep_y],
            n=self.n,
            row_dots=rd,
        )


def compute_dtype(dtype: torch.dtype | None) -> torch.dtype:
    """The dtype measures compute in: float64 unless the caller asks otherwise."""
    if dtype is None:
        return torch.float64
    if dtype not in (torch.float64, torch.float32):
        raise ValueError(
            f"dtype must be torch.float64 (default) or torch.float32; got {dtype}. Lower "
            "precision loses the small canonical correlations."
        )
    return dtype


def moments(
    x: Tensor, y: Tensor, *, dtype: torch.dtype, row_norms: bool = False, center: bool = True
) -> Moments:
    """Centre the columns of X and Y and form X_c^T X_c, X_c^T Y_c, Y_c^T Y_c in ``dtype``.

    Parameters
    ----------
    x : Tensor of shape (..., n_samples, dx)
    y : Tensor of shape (..., n_samples, dy)
    dtype : torch.dtype
        Computation dtype (inputs are promoted on the fly).
    row_norms : bool, default=False
        Also accumulate the row-norm dot products the debiased CKA needs.
    center : bool, default=True
        False: raw cross products (CCA through the origin; Kornblith's demo R^2_CCA). The
        reported means are then 0.

    Returns
    -------
    Moments
        numpy arrays for CPU inputs (float32/64), else tensors on the inputs' device.
    """
    cpu = x.device.type == "cpu" and dtype in _NUMPY_DTYPES
    if cpu and x.dtype in _NUMPY_INPUTS and y.dtype in _NUMPY_INPUTS:
        # NaN/Inf/overflow surface as non-finite moments, which callers check and explain
        with np.errstate(invalid="ignore", over="ignore"):
            return _moments_numpy(x.numpy(), y.numpy(), _NUMPY_DTYPES[dtype], row_norms, center)
    return _moments_torch(x, y, dtype, row_norms, center)


def _moments_torch(
    x: Tensor, y: Tensor, dtype: torch.dtype, row_norms: bool, center: bool
) -> Moments:
    x, y = x.to(dtype), y.to(dtype)
    mx, my = x.mean(-2), y.mean(-2)  # (..., dx), (..., dy)
    if not center:
        mx, my = torch.zeros_like(mx), torch.zeros_like(my)
    xc, yc = x - mx.unsqueeze(-2), y - my.unsqueeze(-2)  # (..., n, d)
    rd = None
    if row_norms:
        rx, ry = (xc * xc).sum(-1), (yc * yc).sum(-1)  # (..., n)
        rd = torch.stack([(rx * ry).sum(-1), (rx * rx).sum(-1), (ry * ry).sum(-1)], -1)
    return Moments(xc.mT @ xc, xc.mT @ yc, yc.mT @ yc, mx, my, x.shape[-2], rd)


def _moments_numpy(
    a: np.ndarray, b: np.ndarray, dt: type, row_norms: bool, center: bool
) -> Moments:
    n, dx, dy = a.shape[-2], a.shape[-1], b.shape[-1]
    mx = np.add.reduce(a, axis=-2, dtype=dt) / n  # (..., dx) column means
    my = np.add.reduce(b, axis=-2, dtype=dt) / n  # (..., dy)
    if not center:
        mx, my = np.zeros_like(mx), np.zeros_like(my)
    rows = max(256, 2**18 // (dx + dy))  # a block of both sides is ~2 MiB in float64
    if a.ndim == 2 and dx + dy <= 256 and n >= 4 * rows:
        sxx, syy, sxy = np.zeros((dx, dx), dt), np.zeros((dy, dy), dt), np.zeros((dx, dy), dt)
        rd = np.zeros(3, dt)
        for start in range(0, n, rows):
            xb = np.subtract(a[start : start + rows], mx, dtype=dt)  # (rows, dx), centred
            yb = np.subtract(b[start : start + rows], my, dtype=dt)  # (rows, dy)
            sxx += xb.T @ xb  # syrk
            syy += yb.T @ yb
            sxy += xb.T @ yb
            if row_norms:
                rx, ry = np.einsum("ij,ij->i", xb, xb), np.einsum("ij,ij->i", yb, yb)
                rd += (rx @ ry, rx @ rx, ry @ ry)
    else:
        xc = np.subtract(a, mx[..., None, :], dtype=dt)  # (..., n, dx)
        yc = np.subtract(b, my[..., None, :], dtype=dt)  # (..., n, dy)
        xt, yt = xc.swapaxes(-1, -2), yc.swapaxes(-1, -2)
        sxx, syy, sxy = xt @ xc, yt @ yc, xt @ yc
        rd = None
        if row_norms:
            rx = np.einsum("...ij,...ij->...i", xc, xc)  # (..., n)
            ry = np.einsum("...ij,...ij->...i", yc, yc)
            rd = np.stack([(rx * ry).sum(-1), (rx * rx).sum(-1), (ry * ry).sum(-1)], -1)
    return Moments(sxx, sxy, syy, np.asarray(mx), np.asarray(my), n, rd if row_norms else None)


def centred_gram(x: Tensor, *, dtype: torch.dtype) -> Tensor:
    """Sample-space Gram K = X_c X_c^T of centred rows, shape (..., n, n)."""
    x = x.to(dtype)
    xc = x - x.mean(-2, keepdim=True)
    return xc @ xc.mT


def constant_features(s: Array, mean: Array, n: int, *, epsilon: float = 0.0) -> Array:
    """Boolean mask (..., d) of features to drop before CCA.

    A feature is constant when its standard deviation is below rounding level of its own
    magnitude (std <= 64 eps rms); with ``epsilon > 0`` google/svcca's ``remove_small`` rule also
    drops features whose variance is below ``epsilon`` times the largest variance.
    """
    var = B.diag(s)  # (..., d), = (n - 1) * variance
    rms2 = var / n + mean * mean  # mean square of the raw feature
    dead = var / n <= (64 * B.eps(s)) ** 2 * rms2
    if epsilon > 0:
        dead = dead | (var < epsilon * B.xp(var).amax(var, -1)[..., None])
    return dead


def float32_scale(x: Tensor, dtype: torch.dtype) -> Tensor:
    """The largest |value| of each pair side (per leading task index), to divide by in float32.

    Why: CKA's HSIC terms are fourth powers of the activations (sums of squared covariance or
    Gram entries). For ReLU maps around 1e3 they pass float32's 3.4e38 and the ratio silently
    became inf/inf or x/inf = 0.0. Every measure here is invariant to scaling either side, so
    each side is brought to max |value| = 1 before any product is formed; float64 is left
    untouched (its results stay bit-for-bit what they were). Returns ones for float64.
    Shape (..., 1, 1), no gradient.
    """
    if dtype != torch.float32:
        return torch.ones((1,) * x.dim(), dtype=x.dtype, device=x.device)
    peak = x.detach().abs().amax(dim=(-2, -1), keepdim=True)
    return torch.where(peak > 0, peak, torch.ones_like(peak))  # NaN/inf stay: checks see them
