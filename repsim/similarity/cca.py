"""CCA and mean squared CCA, and the kernel SVCCA and PWCCA reuse, from one set of moments.

Layout: X is (n_samples, n_features) -- the transpose of google/svcca's neurons x datapoints.
With S_xx = X_c^T X_c (and S_xy, S_yy) the canonical correlations are the singular values of
S_xx^-1/2 S_xy S_yy^-1/2 (Hotelling 1936). One eigen-decomposition S_xx = V diag(l) V^T per
side gives the whitening, the SVCCA directions and the PWCCA directions at once:

    M = diag(g_x) (V_x^T S_xy V_y) diag(g_y) / sqrt(m_x m_y),   g = (l / m + epsilon)^-1/2

where m is the largest variance (google/svcca rescales the covariances by it) and epsilon is
google's ridge (0 = the exact definition). rho = svd(M).

Kernels (``_cca_core`` ...) trust their input and work on stacked tasks (leading dims);
the public functions validate, drop constant features, then call them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from repsim.similarity import _backend as B
from repsim.similarity import _validation as V
from repsim.similarity._backend import Array
from repsim.similarity._linalg import Moments, compute_dtype, constant_features, moments
from repsim.similarity._results import CCAResult

ConvMode = Literal["spatial", "pool", "flatten"]


@dataclass(frozen=True)
class _CCACore:
    """What one CCA computes and SVCCA/PWCCA reuse (numpy on CPU, tensors elsewhere)."""

    rho: Array | None  # (..., k), k = min(dx, dy); descending; zeros past the smaller rank
    count: Array  # (...,) min(rank_x, rank_y): coefficients that are not rank artefacts
    rank_x: Array  # (...,)
    rank_y: Array  # (...,)
    evals_x: Array  # (..., dx) eigenvalues of S_xx, descending
    evecs_x: Array  # (..., dx, dx)
    evals_y: Array  # (..., dy)
    evecs_y: Array  # (..., dy, dy)
    cross: Array  # (..., dx, dy) V_x^T S_xy V_y
    mat: Array  # (..., dx, dy) M: whitened cross-covariance in the eigenbases (rho = svd(M))


def _whitening(evals: Array, scale: Array, epsilon: float) -> tuple[Array, Array]:
    """g_i = (l_i / scale + epsilon)^-1/2 and the rank; with epsilon = 0, g = 0 on null directions.

    Null: l_i <= l_1 * d * eps (numpy's ``matrix_rank`` tolerance), i.e. a pseudo-inverse.
    """
    xp = B.xp(evals)
    rel = evals / scale[..., None]  # (..., d) eigenvalues of the rescaled covariance
    if epsilon > 0:
        return 1 / xp.sqrt((rel + epsilon).clip(B.tiny(rel), None)), B.full_like_int(
            evals[..., 0], evals.shape[-1]
        )
    ok = evals > evals[..., :1].clip(0, None) * (evals.shape[-1] * B.eps(evals))
    return xp.where(ok, 1 / xp.sqrt(rel.clip(B.tiny(rel), None)), 0.0), ok.sum(-1)


def _cca_core(m: Moments, *, epsilon: float, coefficients: bool = True) -> _CCACore:
    """Canonical correlations of stacked moments (and what SVCCA/PWCCA reuse).

    ``coefficients=False`` skips the SVD (``rho`` is None) for a caller that takes the full
    SVD itself (PWCCA), so it is not done twice.
    """
    xp = B.xp(m.sxx)
    ex, vx = B.eigh_desc(m.sxx)  # S_xx = V_x diag(l_x) V_x^T
    ey, vy = B.eigh_desc(m.syy)
    sx = xp.amax(B.diag(m.sxx), -1)  # google's rescaling: by the largest variance
    sy = xp.amax(B.diag(m.syy), -1)
    gx, rx = _whitening(ex, sx, epsilon)
    gy, ry = _whitening(ey, sy, epsilon)
    cross = vx.swapaxes(-1, -2) @ m.sxy @ vy  # (..., dx, dy) S_xy in the eigenbases
    mat = gx[..., :, None] * cross * gy[..., None, :] / xp.sqrt(sx * sy)[..., None, None]
    rho = B.svdvals(mat).clip(0.0, 1.0) if coefficients else None  # rounding: <= 1 + 1e-16
    return _CCACore(rho, xp.minimum(rx, ry), rx, ry, ex, vx, ey, vy, cross, mat)


def masked_mean(values: Array, count: Array) -> Array:
    """Mean of the first ``count`` entries along the last dim (count >= 1)."""
    keep = B.arange(values.shape[-1], values) < count[..., None]
    return (values * keep).sum(-1) / count.clip(1, None)


# ---------------------------------------------------------------- public API


def _prepare(
    x: object,
    y: object,
    *,
    measure: str,
    epsilon: float,
    dtype: torch.dtype | None,
    conv_mode: ConvMode | None,
    sample_check: bool = True,
    center: bool = True,
    validated: bool = False,
) -> tuple[Tensor, Tensor, Moments, list[str], tuple[Array, Array]]:
    """Validate, form moments, drop constant features; returns (x, y, moments, notes, kept)."""
    if not epsilon >= 0:
        raise ValueError(
            f"{measure}: epsilon must be >= 0 (0 = exact CCA; google/svcca uses 1e-10); got "
            f"{epsilon}."
        )
    if validated:
        xt, yt = x, y
    else:
        xt, yt = V.prepare_pair(x, y, measure=measure, conv_mode=conv_mode, check_finite=False)
    dt = compute_dtype(dtype)
    n, dx, dy = xt.shape[0], xt.shape[1], yt.shape[1]
    if sample_check and max(dx, dy) >= n - 1:  # maybe saved by dropping constant features
        V._check_finite(xt, name="x", measure=measure)
        V._check_finite(yt, name="y", measure=measure)
        live = [int((t.to(dt).std(0) > 0).sum()) for t in (xt, yt)]
        V.cca_sample_check(n, *live, measure=measure, context=" that vary")
    m = moments(xt, yt, dtype=dt, center=center)
    V.check_finite_moments(m.sxx, m.syy, xt, yt, measure=measure)
    notes: list[str] = []
    kept = []
    for name, s, mean in (("x", m.sxx, m.mean_x), ("y", m.syy, m.mean_y)):
        dead = constant_features(s, mean, n, epsilon=epsilon)
        if bool(dead.all()):
            raise V.all_constant_error(name, measure)
        if bool(dead.any()):
            rule = f" or variance < epsilon={epsilon:g} x the largest" if epsilon > 0 else ""
            notes.append(
                V.warn(
                    f"{measure}: dropped {int(dead.sum())} of {len(dead)} features of {name} "
                    f"that are constant over the samples{rule} (dead units?); CCA runs on the "
                    f"remaining {int((~dead).sum())}."
                )
            )
        kept.append(~dead)
    if not all(bool(k.all()) for k in kept):
        m = m.select(None, kept[0], kept[1])
    if sample_check:
        dxl, dyl = m.sxx.shape[-1], m.syy.shape[-1]
        V.cca_sample_check(n, dxl, dyl, measure=measure)
        note = V.overlap_warning(n, dxl, dyl, measure=measure)
        notes += [note] if note else []
    return xt, yt, m, notes, (kept[0], kept[1])


def _rank_note(core: _CCACore, measure: str) -> list[str]:
    dx, dy = core.evals_x.shape[-1], core.evals_y.shape[-1]
    rx, ry = int(core.rank_x), int(core.rank_y)
    if rx == dx and ry == dy:
        return []
    return [
        V.warn(
            f"{measure}: x has rank {rx} of {dx} and y rank {ry} of {dy} features (linearly "
            f"dependent features); CCA ran in their spans and returns min(ranks)={min(rx, ry)} "
            "coefficients. Drop duplicated units or pass epsilon > 0 to regularise instead."
        )
    ]


def _cca_result(
    m: Moments,
    measure: str,
    epsilon: float,
    notes: list[str],
    conv_mode: str | None,
    n_features: tuple[int, int],
) -> CCAResult:
    core = _cca_core(m, epsilon=epsilon)
    notes = notes + _rank_note(core, measure)
    return CCAResult(
        coefficients=B.to_torch(core.rho[: int(core.count)]),
        measure=measure,
        n_samples=m.n,
        n_features=n_features,
        dims=(m.sxx.shape[-1], m.syy.shape[-1]),
        epsilon=float(epsilon),
        conv_mode=conv_mode,
        warnings=tuple(notes),
    )


def cca(
    x: object,
    y: object,
    *,
    epsilon: float = 0.0,
    dtype: torch.dtype | None = None,
    conv_mode: ConvMode | None = None,
) -> CCAResult:
    """Canonical correlation analysis: all canonical correlations and their mean.

    Parameters
    ----------
    x : array or Tensor of shape (n_samples, n_features_x)
        Activations, one row per datapoint (transpose of google/svcca's layout). Conv maps
        (N, C, H, W) are accepted with ``conv_mode``.
    y : array or Tensor of shape (n_samples, n_features_y)
        Same datapoints, same row order.
    epsilon : float, default=0.0
        0 is the exact definition. ``> 0`` applies google/svcca's regularisation: covariances
        rescaled by their largest variance, features with rescaled variance < epsilon dropped,
        epsilon * I added (they use 1e-10). Recorded in the result.
    dtype : torch.dtype, default=torch.float64
        Computation dtype.
    conv_mode : {"spatial", "pool", "flatten"}, optional
        Required for conv maps; see :func:`conv_to_samples`.

    Returns
    -------
    CCAResult
        ``coefficients`` rho_1 >= ... >= rho_k (k = min(dx, dy) after dropping constant
        features), ``mean`` / ``value`` = (1/k) sum rho_i, ``truncated_mean(0.98)``,
        ``n_samples``, ``n_features``, ``dims``, ``epsilon``, ``warnings``.

    Raises
    ------
    ValueError
        Mismatched samples, NaN/Inf, 1-D or empty input, all-constant side, or
        n_samples <= n_features + 1 (correlations trivially 1).

    Notes
    -----
    Definition: centre the columns; rho_i are the singular values of
    S_xx^-1/2 S_xy S_yy^-1/2 (= of Q_x^T Q_y from QR of the centred data). Invariant to any
    invertible linear map of either side, and to translations. Constant features are dropped
    with a warning (google/svcca drops them only when epsilon > 0); linearly dependent features
    give min(rank_x, rank_y) coefficients, with a warning. Computed in float64 from the
    covariances via symmetric eigen-decompositions: a side with condition number c loses about
    c * 1e-16 relative accuracy in its smallest coefficients. If dx + dy > n - 1, some
    coefficients are 1 by construction: a warning says how many.

    References
    ----------
    Hotelling (1936); Raghu et al. (2017) "SVCCA", NeurIPS; google/svcca ``cca_core.py``.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(500, 8, generator=g)
    >>> res = cca(x, x @ torch.randn(8, 8, generator=g))  # an invertible map of x
    >>> round(res.mean, 6)
    1.0
    """
    xt, yt, m, notes, _ = _prepare(
        x, y, measure="cca", epsilon=epsilon, dtype=dtype, conv_mode=conv_mode
    )
    return _cca_result(m, "cca", epsilon, notes, conv_mode, (xt.shape[1], yt.shape[1]))


def r2cca(
    x: object,
    y: object,
    *,
    epsilon: float = 0.0,
    centering: Literal["columns", "none"] = "columns",
    dtype: torch.dtype | None = None,
    conv_mode: ConvMode | None = None,
) -> CCAResult:
    """Mean squared canonical correlation R^2_CCA = (1/k) sum_i rho_i^2.

    Parameters, checks and invariances as :func:`cca`. Equals ||Q_x^T Q_y||_F^2 / min(dx, dy)
    with Q from QR of the centred data.

    Parameters
    ----------
    centering : {"columns", "none"}, default="columns"
        "columns" is CCA as defined everywhere else in repsim. "none" skips centring (CCA
        through the origin), which is what the ``cca`` function of Kornblith et al.'s demo
        computes: their reference value 0.54312 is uncentred (centred: 0.54540).

    Returns
    -------
    CCAResult
        ``value`` is the mean of squares; ``mean`` stays the mean of rho.

    References
    ----------
    Kornblith et al. (2019) "Similarity of neural network representations revisited", Table 1.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(300, 5, generator=g)
    >>> round(r2cca(x, -2 * x).value, 6)
    1.0
    """
    V.check_choice(centering, ("columns", "none"), what="centering", measure="r2cca")
    xt, yt, m, notes, _ = _prepare(
        x,
        y,
        measure="r2cca",
        epsilon=epsilon,
        dtype=dtype,
        conv_mode=conv_mode,
        center=centering == "columns",
    )
    return _cca_result(m, "r2cca", epsilon, notes, conv_mode, (xt.shape[1], yt.shape[1]))
