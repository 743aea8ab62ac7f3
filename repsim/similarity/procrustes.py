"""Orthogonal Procrustes distance between two activation matrices."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from repsim.similarity import _backend as B
from repsim.similarity import _validation as V
from repsim.similarity._backend import Array
from repsim.similarity._linalg import Moments, centred_gram, compute_dtype, moments
from repsim.similarity._results import ProcrustesResult

ConvMode = Literal["spatial", "pool", "flatten"]


def _nuclear_from_moments(m: Moments) -> Array:
    """||X^T Y||_* of the centred, unit-Frobenius data: sum svd(S_xy) / sqrt(tr S_xx tr S_yy)."""
    tx, ty = B.diag(m.sxx).sum(-1), B.diag(m.syy).sum(-1)
    return B.svdvals(m.sxy).sum(-1) / B.xp(tx).sqrt(tx * ty)


def _nuclear_from_grams(kx: Tensor, ky: Tensor) -> Tensor:
    """Same from n x n Grams.

    With K_x = E_x L_x E_x^T, X_c = E_x L_x^1/2 W_x^T, so the singular values of X_c^T Y_c are
    those of L_x^1/2 E_x^T E_y L_y^1/2 (n x n).
    """
    lx, ex = torch.linalg.eigh(kx)
    ly, ey = torch.linalg.eigh(ky)
    mat = lx.clamp_min(0).sqrt().unsqueeze(-1) * (ex.mT @ ey) * ly.clamp_min(0).sqrt().unsqueeze(-2)
    tx = torch.diagonal(kx, dim1=-2, dim2=-1).sum(-1)
    ty = torch.diagonal(ky, dim1=-2, dim2=-1).sum(-1)
    return torch.linalg.svdvals(mat).sum(-1) / (tx * ty).sqrt()


def procrustes(
    x: object,
    y: object,
    *,
    dtype: torch.dtype | None = None,
    conv_mode: ConvMode | None = None,
) -> ProcrustesResult:
    """Orthogonal Procrustes distance: how far apart two representations are up to rotation.

    Parameters
    ----------
    x : array or Tensor of shape (n_samples, n_features_x)
    y : array or Tensor of shape (n_samples, n_features_y)
        Widths may differ (the smaller side is implicitly zero-padded) and may exceed n.
    dtype : torch.dtype, default=torch.float64
    conv_mode : {"spatial", "pool", "flatten"}, optional
        Required for conv maps; see :func:`conv_to_samples`.

    Returns
    -------
    ProcrustesResult
        ``value`` (= ``distance``) d = 2 - 2 ||X^T Y||_* in [0, 2] (0: identical up to an
        orthogonal map and scale), ``nuclear_norm`` ||X^T Y||_* in [0, 1].

    Raises
    ------
    ValueError
        Bad shapes or values (see :func:`cca`), or an entirely constant side.

    Notes
    -----
    Normalisation (Ding, Denain, Steinhardt 2021): centre the columns, scale each side to unit
    Frobenius norm, then d = min_Q ||X - Y Q||_F^2 over orthogonal Q = 2 - 2 ||X^T Y||_*.
    A distance, not a similarity: smaller means more alike. Invariant to orthogonal maps,
    isotropic scaling and translations of either side; symmetric. Computed in float64 from
    X_c^T Y_c (dx x dy) when dx + dy <= n, else from n x n Grams.

    References
    ----------
    Schoenemann (1966); Ding, Denain, Steinhardt (2021) "Grounding representation similarity
    with statistical testing", NeurIPS; Williams et al. (2021) "Generalized shape metrics".

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(200, 6, generator=g)
    >>> q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g))
    >>> round(procrustes(x, 5 * x @ q).value, 6)
    0.0
    """
    xt, yt = V.prepare_pair(x, y, measure="procrustes", conv_mode=conv_mode, check_finite=False)
    dt = compute_dtype(dtype)
    n, dx, dy = xt.shape[0], xt.shape[1], yt.shape[1]
    if dx + dy <= n:
        m = moments(xt, yt, dtype=dt)
        V.check_finite_moments(m.sxx, m.syy, xt, yt, measure="procrustes")
        mats = (m.sxx, m.syy)
    else:
        V._check_finite(xt, name="x", measure="procrustes")
        V._check_finite(yt, name="y", measure="procrustes")
        mats = (centred_gram(xt, dtype=dt), centred_gram(yt, dtype=dt))
    for name, s in zip(("x", "y"), mats, strict=True):
        if float(B.diag(s).sum()) <= 0:
            raise V.all_constant_error(name, "procrustes")
    nuc = _nuclear_from_moments(m) if dx + dy <= n else _nuclear_from_grams(*mats)
    nuc = nuc.clip(0.0, 1.0)
    return ProcrustesResult(
        value=max(0.0, 2 - 2 * float(nuc)),
        nuclear_norm=float(nuc),
        n_samples=n,
        n_features=(dx, dy),
        conv_mode=conv_mode,
    )
