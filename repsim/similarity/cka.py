"""Centred kernel alignment: linear, RBF, debiased, and streaming minibatch CKA.

CKA(K, L) = <K_c, L_c> / (||K_c|| ||L_c||) with K_c = H K H (Kornblith et al. 2019). For the
linear kernel this is ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F), computed in
feature space (d x d, shared with CCA) when d_x + d_y <= n and in sample space (n x n)
otherwise. Debiased CKA replaces HSIC by its unbiased estimator (Song et al. 2007), i.e.
U-centred Grams (Szekely & Rizzo 2014); Kornblith's feature-space form of it is used when
possible (it needs the squared norms of the centred rows).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from repsim.similarity import _backend as B
from repsim.similarity import _validation as V
from repsim.similarity._backend import Array
from repsim.similarity._linalg import (
    Moments,
    centred_gram,
    compute_dtype,
    float32_scale,
    moments,
)
from repsim.similarity._results import CKAResult

ConvMode = Literal["spatial", "pool", "flatten"]
KERNELS: tuple[str, ...] = ("linear", "rbf")
# An RBF Gram is n x n: beyond this many samples it needs > 2 GiB per Gram in float64.
MAX_RBF_SAMPLES = 16384


def _debias(xty: Array, dots: Array, sum_a: Array, sum_b: Array, n: int) -> Array:
    """Kornblith's ``_debiased_dot_product_similarity_helper``: n(n-3) x unbiased HSIC."""
    return xty - n / (n - 2.0) * dots + sum_a * sum_b / ((n - 1) * (n - 2))


def _linear_hsics(m: Moments, *, debiased: bool) -> tuple[Array, Array, Array]:
    """(HSIC(x, y), HSIC(x, x), HSIC(y, y)) up to one common factor, from feature moments."""
    hxy = (m.sxy * m.sxy).sum((-2, -1))  # ||X_c^T Y_c||_F^2
    hxx = (m.sxx * m.sxx).sum((-2, -1))
    hyy = (m.syy * m.syy).sum((-2, -1))
    if not debiased:
        return hxy, hxx, hyy
    if m.row_dots is None:
        raise RuntimeError("debiased CKA needs moments(..., row_norms=True)")  # internal misuse
    tx = B.diag(m.sxx).sum(-1)  # squared Frobenius norm of X_c
    ty = B.diag(m.syy).sum(-1)
    rd = m.row_dots
    return (
        _debias(hxy, rd[..., 0], tx, ty, m.n),
        _debias(hxx, rd[..., 1], tx, tx, m.n),
        _debias(hyy, rd[..., 2], ty, ty, m.n),
    )


def centre_gram(k: Tensor, *, unbiased: bool) -> Tensor:
    """H K H, or the U-centred Gram of the unbiased HSIC (diagonal zeroed), shape (..., n, n)."""
    n = k.shape[-1]
    if unbiased:
        eye = torch.eye(n, dtype=torch.bool, device=k.device)
        k = k.masked_fill(eye, 0.0)
        means = k.sum(-2) / (n - 2)  # (..., n)
        means = means - means.sum(-1, keepdim=True) / (2 * (n - 1))
        return (k - means.unsqueeze(-1) - means.unsqueeze(-2)).masked_fill(eye, 0.0)
    means = k.mean(-2)
    means = means - means.mean(-1, keepdim=True) / 2
    return k - means.unsqueeze(-1) - means.unsqueeze(-2)


def _gram_hsics(kx: Tensor, ky: Tensor, *, debiased: bool) -> tuple[Tensor, Tensor, Tensor]:
    kc, lc = centre_gram(kx, unbiased=debiased), centre_gram(ky, unbiased=debiased)
    return (kc * lc).sum((-2, -1)), (kc * kc).sum((-2, -1)), (lc * lc).sum((-2, -1))


def median_numpy(values: Tensor) -> Tensor:
    """Median over the last dim with numpy's convention (mean of the two middle values)."""
    count = values.shape[-1]
    lo = torch.kthvalue(values, (count + 1) // 2, dim=-1).values
    if count % 2:
        return lo
    return (lo + torch.kthvalue(values, count // 2 + 1, dim=-1).values) / 2


def rbf_gram(x: Tensor, *, sigma: float, dtype: torch.dtype) -> Tensor:
    """exp(-d^2 / (2 sigma^2 median(d^2))), Kornblith's ``gram_rbf`` (median over all n^2)."""
    g = centred_gram(x, dtype=dtype)  # distances do not depend on centring
    sq = torch.diagonal(g, dim1=-2, dim2=-1)
    d2 = (sq.unsqueeze(-1) + sq.unsqueeze(-2) - 2 * g).clamp_min(0)  # (..., n, n)
    med = median_numpy(d2.flatten(-2))
    if bool((med <= 0).any()):
        raise ValueError(
            "cka (rbf): the median squared distance between samples is 0 (most samples are "
            "identical), so the bandwidth sigma * median is 0. Use kernel='linear' or remove "
            "duplicated samples."
        )
    return torch.exp(-d2 / (2 * sigma**2 * med[..., None, None]))


def _ratio(hxy: Array, hxx: Array, hyy: Array, *, measure: str) -> Array:
    """hxy / sqrt(hxx hyy), refusing a non-positive self-similarity instead of returning NaN."""
    den = hxx * hyy
    if not bool(B.xp(den).isfinite(den).all()):  # inputs were scaled: this is a real overflow
        raise ValueError(
            f"{measure}: the HSIC terms overflow {den.dtype} even with the inputs scaled to "
            "max |value| = 1 (too many samples or features for this precision); use "
            "dtype=torch.float64."
        )
    if bool((den <= 0).any()):
        raise ValueError(
            f"{measure}: the (unbiased) HSIC of a side with itself is <= 0, so CKA is "
            "undefined. This happens for debiased CKA with very few samples or nearly constant "
            "features; pass more samples or use the biased estimator (debiased=False)."
        )
    return hxy / B.xp(den).sqrt(den)


_SMALL = 1 << 16  # n * (dx + dy) up to which the lean route is used


def _small_linear_cka(xt: Tensor, yt: Tensor, dt: torch.dtype, debiased: bool) -> float | None:
    """Biased linear CKA of a small CPU pair in ~10 numpy calls; None to take the full route.

    Why: for a head layer (n=75, d=5) the general route's ~40 small calls (separate moments,
    checks, per-block sums) cost 3x plain numpy. Here both sides are centred and multiplied
    once ([X Y]_c^T [X Y]_c holds S_xx, S_xy, S_yy), the same formula as ``_linear_hsics``.
    Anything unusual (non-finite, a constant side, float32, debiased, another device) returns
    None, and the general route computes it or raises its clear error.
    """
    n, dx = xt.shape[0], xt.shape[1]
    if debiased or dt != torch.float64 or xt.device.type != "cpu":
        return None
    floats = (torch.float32, torch.float64)
    if n * (dx + yt.shape[1]) > _SMALL or xt.dtype not in floats or yt.dtype not in floats:
        return None
    return _small_linear_cka_numpy(xt.numpy(), yt.numpy())


def _small_linear_cka_numpy(x: np.ndarray, y: np.ndarray) -> float | None:
    n, dx = x.shape
    with np.errstate(over="ignore", invalid="ignore"):  # overflow/NaN: checked route explains
        z = np.concatenate([x, y], axis=1, dtype=np.float64)  # (n, dx + dy)
        z -= np.add.reduce(z, axis=0) / n
        s = z.T @ z
        s *= s
        blocks = np.add.reduceat(np.add.reduceat(s, (0, dx), axis=0), (0, dx), axis=1)  # (2, 2)
    hxx, hxy, hyy = float(blocks[0, 0]), float(blocks[0, 1]), float(blocks[1, 1])
    if not (hxx > 0 and hyy > 0 and math.isfinite(hxx * hyy * hxy)):  # NaN fails too
        return None
    return hxy / math.sqrt(hxx * hyy)


def _small_numpy_pair(x: object, y: object) -> CKAResult | None:
    """Linear CKA of two small 2-D float numpy arrays, skipping the tensor round trip.

    Only inputs that every check of ``prepare_pair`` would pass are answered here (2-D, same
    n >= 2, float32/64, at least one feature, dx + dy <= n so no small-n warning, a finite
    result with both sides varying); anything else returns None and takes the checked route.
    """
    if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
        return None
    if x.ndim != 2 or y.ndim != 2 or x.dtype not in _FLOATS or y.dtype not in _FLOATS:
        return None
    n, dx, dy = x.shape[0], x.shape[1], y.shape[1]
    if y.shape[0] != n or n < 2 or dx < 1 or dy < 1 or dx + dy > n or n * (dx + dy) > _SMALL:
        return None
    value = _small_linear_cka_numpy(x, y)
    if value is None:
        return None
    return CKAResult(
        value=value,
        kernel="linear",
        debiased=False,
        sigma=None,
        n_samples=n,
        n_features=(dx, dy),
        conv_mode=None,
        warnings=(),
    )


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _check_varies(m_or_k: Array, name: str, measure: str) -> None:
    if bool((B.diag(m_or_k).sum(-1) <= 0).any()):
        raise V.all_constant_error(name, measure)


def cka(
    x: object,
    y: object,
    *,
    kernel: Literal["linear", "rbf"] = "linear",
    sigma: float = 0.5,
    debiased: bool = False,
    dtype: torch.dtype | None = None,
    conv_mode: ConvMode | None = None,
) -> CKAResult:
    """Centred kernel alignment (CKA) between two activation matrices.

    Parameters
    ----------
    x : array or Tensor of shape (n_samples, n_features_x)
    y : array or Tensor of shape (n_samples, n_features_y)
        Same datapoints, same row order; widths may differ and may exceed n_samples.
    kernel : {"linear", "rbf"}, default="linear"
    sigma : float, default=0.5
        RBF bandwidth as a fraction of the median pairwise distance (Kornblith's demo: 0.5).
    debiased : bool, default=False
        Use the unbiased HSIC estimator. Needed when n_samples is small relative to the widths
        (few-shot query sets): biased CKA of unrelated 256-d data reads ~0.88 at n=32.
    dtype : torch.dtype, default=torch.float64
    conv_mode : {"spatial", "pool", "flatten"}, optional
        Required for conv maps; see :func:`conv_to_samples`.

    Returns
    -------
    CKAResult
        ``value`` in [0, 1] (debiased: can be slightly negative for unrelated data),
        ``kernel``, ``debiased``, ``sigma``, ``n_samples``, ``n_features``, ``warnings``.

    Raises
    ------
    ValueError
        Bad shapes or values (see :func:`cca`), a side that is entirely constant, n < 4 for
        debiased CKA, n > 16384 for the RBF kernel (n x n Grams), or a non-positive unbiased
        self-HSIC.

    Notes
    -----
    Invariant to orthogonal maps and isotropic scaling of either side (and to translations);
    NOT invariant to general invertible linear maps. Symmetric in x and y. Linear CKA is
    computed in float64 from the covariance blocks X_c^T X_c, X_c^T Y_c, Y_c^T Y_c (shared with
    CCA in the batched path) when dx + dy <= n, else from n x n Grams.

    References
    ----------
    Kornblith, Norouzi, Lee, Hinton (2019) "Similarity of neural network representations
    revisited", ICML; Song et al. (2007) unbiased HSIC.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(100, 10, generator=g)
    >>> q, _ = torch.linalg.qr(torch.randn(10, 10, generator=g))
    >>> round(cka(x, 3 * x @ q).value, 6)  # rotation + isotropic scaling
    1.0
    """
    if (
        kernel == "linear"
        and not debiased
        and conv_mode is None
        and dtype in (None, torch.float64)
        and (lean := _small_numpy_pair(x, y)) is not None
    ):
        return lean
    V.check_choice(kernel, KERNELS, what="kernel", measure="cka")
    if kernel == "rbf" and not sigma > 0:
        raise ValueError(
            f"cka: sigma is the RBF bandwidth as a fraction of the median distance and must be "
            f"> 0; got {sigma}. Kornblith et al. use 0.5."
        )
    measure = "cka_debiased" if debiased else "cka"
    xt, yt = V.prepare_pair(x, y, measure=measure, conv_mode=conv_mode, check_finite=False)
    dt = compute_dtype(dtype)
    n, dx, dy = xt.shape[0], xt.shape[1], yt.shape[1]
    if kernel == "rbf" or dx + dy > n:  # Gram routes: check up front
        V._check_finite(xt, name="x", measure=measure)
        V._check_finite(yt, name="y", measure=measure)
    if dt == torch.float32:  # keep the fourth powers in HSIC inside float32's range
        xt, yt = xt / float32_scale(xt, dt), yt / float32_scale(yt, dt)
    notes = []
    if not debiased and n < max(dx, dy):
        notes.append(
            V.warn(
                f"cka: n_samples={n} < n_features={max(dx, dy)}: biased CKA is inflated for "
                "few samples (unrelated data score high); consider debiased=True."
            )
        )
    if kernel == "rbf":
        if n > MAX_RBF_SAMPLES:
            raise ValueError(
                f"cka (rbf): needs n x n Grams; n_samples={n} exceeds {MAX_RBF_SAMPLES} "
                f"({n * n * 8 / 2**30:.0f} GiB per Gram). Subsample datapoints or use "
                "kernel='linear'."
            )
        kx = rbf_gram(xt, sigma=sigma, dtype=dt)
        ky = rbf_gram(yt, sigma=sigma, dtype=dt)
        hsics = _gram_hsics(kx, ky, debiased=debiased)
    elif dx + dy <= n and (value := _small_linear_cka(xt, yt, dt, debiased)) is not None:
        hsics = None  # the lean path below answered
    elif dx + dy <= n:
        m = moments(xt, yt, dtype=dt, row_norms=debiased)
        V.check_finite_moments(m.sxx, m.syy, xt, yt, measure=measure)
        _check_varies(m.sxx, "x", measure)
        _check_varies(m.syy, "y", measure)
        hsics = _linear_hsics(m, debiased=debiased)
    else:
        kx, ky = centred_gram(xt, dtype=dt), centred_gram(yt, dtype=dt)
        _check_varies(kx, "x", measure)
        _check_varies(ky, "y", measure)
        hsics = _gram_hsics(kx, ky, debiased=debiased)
    if hsics is not None:
        value = _ratio(*hsics, measure=measure)
    return CKAResult(
        value=float(value),
        kernel=kernel,
        debiased=debiased,
        sigma=float(sigma) if kernel == "rbf" else None,
        n_samples=n,
        n_features=(dx, dy),
        conv_mode=conv_mode,
        warnings=tuple(notes),
    )


class MinibatchCKA:
    """Streaming linear CKA (Nguyen et al. 2021): unbiased HSIC averaged over minibatches.

    ``update(x_batch, y_batch)`` adds one batch of paired samples; ``value`` is
    mean_b HSIC_1(x_b, y_b) / sqrt(mean_b HSIC_1(x_b, x_b) * mean_b HSIC_1(y_b, y_b)).
    Memory holds three running sums, so it does not grow with the number of samples.

    Parameters
    ----------
    dtype : torch.dtype, default=torch.float64

    Notes
    -----
    Each batch gives an unbiased HSIC estimate, so the average converges to the same population
    value as the full-data debiased CKA; with one batch holding all the data it equals
    ``cka(x, y, debiased=True)``. Batches need >= 4 samples and fixed widths.

    References
    ----------
    Nguyen, Raghu, Kornblith (2021) "Do wide and deep networks learn the same things?", ICLR.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(400, 8, generator=g)
    >>> mb = MinibatchCKA()
    >>> for xb, yb in zip(x.split(100), (2 * x).split(100)):
    ...     _ = mb.update(xb, yb)
    >>> round(mb.value, 6), mb.n_batches
    (1.0, 4)
    """

    def __init__(self, *, dtype: torch.dtype | None = None) -> None:
        self._dtype = compute_dtype(dtype)
        self._sums: list[float] | None = None  # sums of HSIC_1(x,y), HSIC_1(x,x), HSIC_1(y,y)
        self._device: torch.device | None = None
        self._widths: tuple[int, int] | None = None
        self._scales: tuple[Tensor, Tensor] | None = None  # float32 only: see float32_scale
        self.n_batches = 0
        self.n_samples = 0

    def update(self, x_batch: object, y_batch: object) -> MinibatchCKA:
        """Add one minibatch of paired activations (n_b, dx), (n_b, dy); returns ``self``."""
        xt, yt = V.prepare_pair(x_batch, y_batch, measure="minibatch_cka", scale=False)
        n, widths = xt.shape[0], (xt.shape[1], yt.shape[1])
        if self._widths is not None and widths != self._widths:
            raise ValueError(
                f"MinibatchCKA.update: every batch must have the widths of the first, "
                f"{self._widths}; got {widths}. Use one MinibatchCKA per pair of layers."
            )
        if self._device is not None and self._device != xt.device:
            raise ValueError(
                f"MinibatchCKA.update: batches must stay on {self._device}; got "
                f"{xt.device}. Move the batch with .to(...)."
            )
        if self._dtype == torch.float32:  # one scale per side for all batches (ratios stay exact)
            if self._scales is None:
                self._scales = (float32_scale(xt, self._dtype), float32_scale(yt, self._dtype))
            xt, yt = xt / self._scales[0], yt / self._scales[1]
        if sum(widths) <= n:
            hsics = _linear_hsics(moments(xt, yt, dtype=self._dtype, row_norms=True), debiased=True)
        else:
            kx, ky = centred_gram(xt, dtype=self._dtype), centred_gram(yt, dtype=self._dtype)
            hsics = _gram_hsics(kx, ky, debiased=True)
        batch = [float(h) / (n * (n - 3)) for h in hsics]  # HSIC_1 of this batch
        old = self._sums or [0.0, 0.0, 0.0]
        self._sums = [a + b for a, b in zip(old, batch, strict=True)]
        self._device = xt.device
        self._widths = widths
        self.n_batches += 1
        self.n_samples += n
        return self

    @property
    def value(self) -> float:
        """Current minibatch CKA estimate."""
        if self._sums is None:
            raise ValueError(
                "MinibatchCKA.value: no batch has been added yet; call update(x_batch, y_batch) "
                "first."
            )
        hxy, hxx, hyy = (np.float64(v) for v in self._sums)
        return float(_ratio(hxy, hxx, hyy, measure="minibatch_cka"))
