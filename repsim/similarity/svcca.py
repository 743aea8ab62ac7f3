"""SVCCA (Raghu et al. 2017): keep the top SVD directions of each side, then CCA.

The SVD directions of X_c are the eigenvectors of S_xx = X_c^T X_c that :func:`_cca_core`
computes anyway, so SVCCA costs one more small SVD; the reduced data X_c V_k have covariance
diag(l_1..l_k), and their cross-covariance is the top-left block of V_x^T S_xy V_y.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from repsim.similarity import _backend as B
from repsim.similarity import _validation as V
from repsim.similarity._backend import Array
from repsim.similarity._linalg import compute_dtype
from repsim.similarity._results import CCAResult
from repsim.similarity.cca import _cca_core, _CCACore, _prepare, _whitening

ConvMode = Literal["spatial", "pool", "flatten"]


def _keep_count(evals: Array, rank: Array, keep: float | int) -> Array:
    """SVCCA's k per task: ``keep`` directions, or the fewest holding ``keep`` of the variance."""
    xp = B.xp(evals)
    if isinstance(keep, int):
        return xp.minimum(B.full_like_int(rank, keep), rank)
    lam = evals.clip(0, None)  # (..., d) ~ squared singular values of X_c
    frac = lam.cumsum(-1) / lam.sum(-1)[..., None]
    return xp.minimum((frac < keep).sum(-1) + 1, rank)


def _svcca_core(core: _CCACore, *, keep: float | int, epsilon: float) -> tuple[Array, ...]:
    """SVCCA coefficients from the shared eigen-decompositions: (rho, count, k_x, k_y).

    The reduced data X_c V_k have covariance diag(l_1..l_k); google/svcca rescales it by l_1,
    drops directions below epsilon and adds epsilon -- the same rule as :func:`_whitening`.
    """
    xp = B.xp(core.evals_x)
    gs, ks = [], []
    for evals, rank in ((core.evals_x, core.rank_x), (core.evals_y, core.rank_y)):
        k = _keep_count(evals, rank, keep)  # (...,)
        g, _ = _whitening(evals, evals[..., 0], epsilon)
        live = B.arange(evals.shape[-1], evals) < k[..., None]
        if epsilon > 0:
            live = live & (evals / evals[..., :1] >= epsilon)
        gs.append(xp.where(live, g, 0.0))
        ks.append(live.sum(-1))
    scale = xp.sqrt(core.evals_x[..., 0] * core.evals_y[..., 0])[..., None, None]
    mat = gs[0][..., :, None] * core.cross * gs[1][..., None, :] / scale
    rho = B.svdvals(mat).clip(0.0, 1.0)
    return rho, xp.minimum(ks[0], ks[1]), ks[0], ks[1]


def _pc_scores(t: Tensor, dtype: torch.dtype) -> Tensor:
    """Principal-component scores U S of the centred data, null components removed (n x r)."""
    t = t.to(dtype)
    u, s, _ = torch.linalg.svd(t - t.mean(0), full_matrices=False)
    r = int((s > s[0] * max(t.shape) * torch.finfo(dtype).eps).sum())
    return u[:, :r] * s[:r]


def svcca(
    x: object,
    y: object,
    *,
    keep: float | int = 0.99,
    epsilon: float = 0.0,
    dtype: torch.dtype | None = None,
    conv_mode: ConvMode | None = None,
) -> CCAResult:
    """SVCCA: keep the top SVD directions of each side, then mean CCA of the reduced data.

    Parameters
    ----------
    x : array or Tensor of shape (n_samples, n_features_x)
    y : array or Tensor of shape (n_samples, n_features_y)
    keep : int or float, default=0.99
        An int keeps that many directions per side; a float in (0, 1] keeps the fewest
        directions whose squared singular values reach that fraction of the total.
    epsilon, dtype, conv_mode
        As in :func:`cca` (epsilon acts on the CCA step, as in google's tutorial).

    Returns
    -------
    CCAResult
        ``dims`` = (k_x, k_y) kept; ``coefficients`` min(k_x, k_y) values; ``keep`` recorded.

    Raises
    ------
    ValueError
        As :func:`cca`; ``keep`` out of range or larger than a side's width; n_samples <= k + 1
        after the SVD step.

    Notes
    -----
    Centre, SVD X_c = U S V^T, reduce to X_c V_k, then CCA. Computed from the eigenvectors of
    X_c^T X_c that :func:`cca` also uses (for d >= n - 1, from the thin SVD of the data, so
    wide layers such as flattened conv maps work as long as k < n - 1). Invariant to
    orthogonal maps and isotropic scaling of either side (not to general invertible maps:
    they change which directions hold the variance).

    References
    ----------
    Raghu et al. (2017) "SVCCA", NeurIPS; google/svcca tutorial 001.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(1000, 16, generator=g)
    >>> svcca(x, x, keep=4).dims
    (4, 4)
    """
    keep = V.check_keep(keep)
    xt, yt = V.prepare_pair(x, y, measure="svcca", conv_mode=conv_mode, check_finite=False)
    n, dx, dy = xt.shape[0], xt.shape[1], yt.shape[1]
    if isinstance(keep, int) and keep > min(dx, dy):
        raise ValueError(
            f"svcca: keep={keep} directions but x has {dx} and y {dy} features; keep must be "
            f"<= {min(dx, dy)}. Pass a smaller int or a variance fraction such as keep=0.99."
        )
    dt = compute_dtype(dtype)
    if max(dx, dy) >= n - 1:  # wide: PCA in sample space, the SVD step only needs the scores
        V._check_finite(xt, name="x", measure="svcca")
        V._check_finite(yt, name="y", measure="svcca")
        xt, yt = (_pc_scores(t, dt) if t.shape[1] >= n - 1 else t for t in (xt, yt))
    _, _, m, notes, _ = _prepare(
        xt,
        yt,
        measure="svcca",
        epsilon=epsilon,
        dtype=dt,
        conv_mode=None,
        sample_check=False,
        validated=True,
    )
    core = _cca_core(m, epsilon=epsilon)
    rho, count, kx, ky = _svcca_core(core, keep=keep, epsilon=epsilon)
    kx, ky = int(kx), int(ky)
    context = f" after the SVD step (keep={keep})"
    V.cca_sample_check(n, kx, ky, measure="svcca", context=context)
    note = V.overlap_warning(n, kx, ky, measure="svcca", context=context)
    return CCAResult(
        coefficients=B.to_torch(rho[: int(count)]),
        measure="svcca",
        n_samples=n,
        n_features=(dx, dy),
        dims=(kx, ky),
        epsilon=float(epsilon),
        keep=keep,
        conv_mode=conv_mode,
        warnings=tuple(notes + ([note] if note else [])),
    )
