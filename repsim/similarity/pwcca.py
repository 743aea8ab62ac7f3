"""Projection-weighted CCA (Morcos et al. 2018) with google/svcca's exact recipe.

PAPER.md: take the side with fewer neurons; its CCA directions are U^T applied to that side's
centred activations (not multiplied back by S^-1/2), plus the neuron means; orthonormalise them
over the samples (QR) -> p_i; w_i = sum_j |<p_i, a_j>| over that side's raw activations a_j;
normalise w to sum 1; PWCCA = sum_i w_i rho_i. google's 2019 ``pwcca.py`` crashes when the
first argument is the wider layer (it indexes acts1 where it means acts2); here either order
works, and for unequal widths the value does not depend on the order.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from repsim.similarity import _backend as B
from repsim.similarity._backend import Array
from repsim.similarity._linalg import Moments, compute_dtype
from repsim.similarity._results import PWCCAResult
from repsim.similarity.cca import _cca_core, _CCACore, _prepare, _rank_note

ConvMode = Literal["spatial", "pool", "flatten"]


def _pwcca_weights(s: Array, mean: Array, dirs: Array, n: int) -> tuple[Array, Array]:
    """google/svcca's projection weights from second moments alone.

    Directions D = X_c U + 1 mu^T (n x k: columns U^T applied to the centred activations, plus
    the neuron means, as in ``pwcca.py``); QR: D = P R; w_i = sum_j |<p_i, a_j>| over the raw
    activation columns a_j = X e_j. Since X_c^T 1 = 0, D^T D = U^T S U + n mu mu^T and
    D^T X = U^T S + n mu mu^T, so P^T X = R^-T D^T X with R the Cholesky factor of D^T D.
    Returns (weights (..., k), cholesky info (...,); info > 0 means D is rank-deficient).
    """
    nmm = n * mean[..., :, None] * mean[..., None, :]  # (..., d, d)  n mu mu^T
    dirs_t = dirs.swapaxes(-1, -2)
    r, info = B.cholesky_upper(dirs_t @ s @ dirs + nmm)  # D^T D = R^T R
    z = B.solve_lower(r.swapaxes(-1, -2), dirs_t @ s + nmm)  # P^T X = R^-T D^T X
    w = abs(z).sum(-1)
    # Where the Cholesky failed (info > 0) z is garbage and the caller recomputes with QR;
    # silence numpy's 0/0 warning for those rows instead of alarming the user.
    with np.errstate(invalid="ignore", divide="ignore"):
        return w / w.sum(-1)[..., None], info


def _pwcca_weights_qr(x: Tensor, dirs: Array, dtype: torch.dtype) -> Array:
    """Same weights with an explicit Householder QR of D (fallback for rank-deficient D)."""
    x = x.to(dtype)
    mu = x.mean(-2, keepdim=True)
    p, _ = torch.linalg.qr((x - mu) @ B.to_torch(dirs).to(x.device) + mu)  # (n, k)
    w = (p.mT @ x).abs().sum(-1)
    return B.like(w / w.sum(-1, keepdim=True), dirs)


def _google_singular_vectors(core: _CCACore, *, y_first: bool) -> tuple[Array, Array, Array]:
    """(U, rho, V^T) of google's matrix S_xx^-1/2 S_xy S_yy^-1/2, via numpy's LAPACK ``gesdd``.

    The PWCCA directions get the neuron means added, so the recipe is NOT invariant to the
    sign of each singular vector (flipping signs moves the MNIST tutorial value by ~0.04).
    google/svcca takes whatever sign ``np.linalg.svd`` returns for that matrix in the neuron
    basis; running the same routine on the same matrix is what reproduces its values, on any
    device (the matrices are only d x d, so the round trip to the CPU is cheap). ``y_first``
    decomposes the transpose, as google does when y is passed first.
    """
    arr = core.evecs_x @ core.mat @ core.evecs_y.swapaxes(-1, -2)  # (..., dx, dy) neuron basis
    if y_first:
        arr = arr.swapaxes(-1, -2)
    u, s, vh = np.linalg.svd(arr if isinstance(arr, np.ndarray) else arr.cpu().numpy())
    if isinstance(arr, np.ndarray):
        return u, s.clip(0.0, 1.0), vh
    dev = arr.device
    return (
        torch.from_numpy(u).to(dev),
        torch.from_numpy(s).to(dev).clamp(0.0, 1.0),
        torch.from_numpy(vh).to(dev),
    )


def _pwcca_core(core: _CCACore, m: Moments) -> tuple[Array, Array, Array, Array, str]:
    """(weights, rho, cholesky info, directions, side); side of fewer neurons (x on ties).

    ``core`` may come from ``_cca_core(..., coefficients=False)``: rho comes from this SVD.
    """
    if m.sxx.shape[-1] <= m.syy.shape[-1]:
        dirs, rho, _ = _google_singular_vectors(core, y_first=False)  # (..., dx, dx)
        w, info = _pwcca_weights(m.sxx, m.mean_x, dirs, m.n)
        return w, rho, info, dirs, "x"
    # y narrower: google's code crashes here; decompose as google does for (y, x), so the
    # value does not depend on the argument order
    dirs, rho, _ = _google_singular_vectors(core, y_first=True)  # (..., dy, dy)
    w, info = _pwcca_weights(m.syy, m.mean_y, dirs, m.n)
    return w, rho, info, dirs, "y"


def pwcca(
    x: object,
    y: object,
    *,
    epsilon: float = 0.0,
    dtype: torch.dtype | None = None,
    conv_mode: ConvMode | None = None,
) -> PWCCAResult:
    """Projection-weighted CCA: canonical correlations weighted by how much activity they hold.

    Parameters
    ----------
    x : array or Tensor of shape (n_samples, n_features_x)
    y : array or Tensor of shape (n_samples, n_features_y)
        Widths may differ; either may be the wider.
    epsilon, dtype, conv_mode
        As in :func:`cca`. google/svcca's stored reference values use epsilon=1e-10.

    Returns
    -------
    PWCCAResult
        ``value`` = sum_i w_i rho_i, ``weights`` w (sum 1), ``coefficients`` rho, ``side``
        ("x" or "y": the side whose neurons gave the weights; x on equal widths).

    Raises
    ------
    ValueError
        As :func:`cca`.

    Notes
    -----
    Equals google/svcca's ``compute_pwcca(x.T, y.T)`` wherever that code runs (to ~1e-12 on its
    tutorial activations). google's recipe adds the neuron means to sign-ambiguous singular
    vectors, so its value depends on LAPACK's sign choice; repsim runs the same routine
    (numpy's ``gesdd``) on the same d x d matrix to reproduce it. The weights use the raw
    (uncentred) activations, so unlike CCA the value is NOT invariant to invertible maps or
    translations; with equal widths it is not symmetric (x's neurons weight). Computed from
    the second moments: the QR of the directions D goes through the Cholesky factor of
    D^T D = U^T S U + n mu mu^T; if D is rank-deficient, an explicit QR of D is used instead.

    References
    ----------
    Morcos, Raghu, Bengio (2018) "Insights on representational similarity in neural networks
    with canonical correlation", NeurIPS; google/svcca ``pwcca.py``.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(2000, 6, generator=g)
    >>> y = torch.cat([x, torch.randn(2000, 4, generator=g)], 1)
    >>> round(pwcca(x, y).value, 6), pwcca(x, y).side
    (1.0, 'x')
    """
    xt, yt, m, notes, kept = _prepare(
        x, y, measure="pwcca", epsilon=epsilon, dtype=dtype, conv_mode=conv_mode
    )
    core = _cca_core(m, epsilon=epsilon, coefficients=False)
    notes = notes + _rank_note(core, "pwcca")
    w, rho, info, dirs, side = _pwcca_core(core, m)
    if int(info) != 0:  # D rank-deficient: Cholesky-QR is undefined, do the QR on the data
        data = xt[:, B.to_torch(kept[0])] if side == "x" else yt[:, B.to_torch(kept[1])]
        w = _pwcca_weights_qr(data, dirs, compute_dtype(dtype))
    return PWCCAResult(
        value=float((w * rho).sum()),
        weights=B.to_torch(w),
        coefficients=B.to_torch(rho),
        side=side,
        n_samples=m.n,
        n_features=(xt.shape[1], yt.shape[1]),
        dims=(m.sxx.shape[-1], m.syy.shape[-1]),
        epsilon=float(epsilon),
        conv_mode=conv_mode,
        warnings=tuple(notes),
    )
