"""Many pairs at once: every measure for T stacked tasks, with the shared work done once.

For one layer, x holds the activations of T tasks' query sets under theta and y under theta'
(or model A vs B). Per chunk of tasks the centring and the covariance blocks are computed once
(:func:`repsim.similarity._linalg.moments`); CCA, SVCCA, PWCCA, r2CCA, linear/debiased CKA and
Procrustes all read them; one batched eigh per side serves the CCA whitening, the SVCCA
directions and the PWCCA directions. The kernels are the ones the single-pair functions use,
applied to stacked (T, d, d) matrices with batched ``torch.linalg``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Literal, NamedTuple

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
    constant_features,
    float32_scale,
    moments,
)
from repsim.similarity.cca import _cca_core, masked_mean
from repsim.similarity.cka import MAX_RBF_SAMPLES, _gram_hsics, _linear_hsics, _ratio, rbf_gram
from repsim.similarity.procrustes import _nuclear_from_grams, _nuclear_from_moments
from repsim.similarity.pwcca import _pwcca_core, _pwcca_weights_qr
from repsim.similarity.svcca import _svcca_core

MEASURES: tuple[str, ...] = (
    "cca",
    "svcca",
    "pwcca",
    "r2cca",
    "cka",
    "cka_debiased",
    "cka_rbf",
    "procrustes",
)
CCA_FAMILY: tuple[str, ...] = V.CCA_FAMILY
_LINEAR = ("cka", "cka_debiased", "procrustes")  # read the moments (or linear Grams)


class MeasureAdvice(NamedTuple):
    """Which measures mean something for a data shape, and why."""

    measures: tuple[str, ...]
    reason: str


def meaningful_measures(n_samples: int, n_features: int | tuple[int, int]) -> MeasureAdvice:
    """Which of :data:`MEASURES` are meaningful for ``n_samples`` rows of ``n_features``.

    Parameters
    ----------
    n_samples : int
    n_features : int or (int, int)
        Width of both sides, or (dx, dy).

    Returns
    -------
    MeasureAdvice
        ``(measures, reason)``; unpacks as a tuple.

    Examples
    --------
    >>> meaningful_measures(75, 800).measures
    ('cka_debiased', 'cka', 'cka_rbf', 'procrustes')
    """
    dx, dy = (n_features, n_features) if isinstance(n_features, int) else n_features
    d = max(dx, dy)
    if d < n_samples - 1:
        extra = dx + dy - (n_samples - 1)
        note = (
            f"; note dx+dy={dx + dy} > n-1, so {extra} canonical correlations are 1 by construction"
            if extra > 0
            else ""
        )
        return MeasureAdvice(MEASURES, f"n={n_samples} > d+1={d + 1}: all measures apply{note}")
    return MeasureAdvice(
        ("cka_debiased", "cka", "cka_rbf", "procrustes"),
        f"n={n_samples} <= d+1={d + 1}: CCA correlations are trivially 1 (centred data span "
        "n-1 dimensions); use debiased CKA (biased CKA is inflated at n < d), Procrustes, more "
        "samples, or conv_to_samples(..., mode='spatial').",
    )


class SimilarityBatch(dict):
    """``dict`` measure name -> Tensor (T,), plus how it was computed (attributes)."""

    def __init__(
        self,
        values: dict[str, Tensor],
        *,
        n_samples: int,
        n_features: tuple[int, int],
        conv_mode: str | None,
        keep: float | int | None,
        epsilon: float,
        sigma: float,
        warnings: tuple[str, ...],
    ) -> None:
        super().__init__(values)
        self.n_samples = n_samples
        self.n_features = n_features  # (dx, dy) after conv_mode
        self.conv_mode = conv_mode
        self.keep = keep  # svcca's keep, None when svcca was not asked for
        self.epsilon = epsilon
        self.sigma = sigma
        self.warnings = warnings


def _check_measures(measures: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(measures))
    if not chosen:
        raise ValueError(
            f"similarity_batch: measures must name at least one of {', '.join(MEASURES)}; got "
            "an empty selection."
        )
    for name in chosen:
        V.check_choice(name, MEASURES, what="each measure", measure="similarity_batch")
    return chosen


def _cca_family(
    m: Moments,
    measures: tuple[str, ...],
    *,
    keep: float | int,
    epsilon: float,
    data: tuple[Tensor, Tensor],
) -> dict[str, Array]:
    """CCA-family values for stacked (or single) moments, all from one ``_cca_core``."""
    out: dict[str, Array] = {}
    pw = None
    core = _cca_core(m, epsilon=epsilon, coefficients="pwcca" not in measures)
    if "pwcca" in measures:  # its full SVD also gives the coefficients
        pw = _pwcca_core(core, m)
        core = replace(core, rho=pw[1])
    if "cca" in measures:
        out["cca"] = masked_mean(core.rho, core.count)
    if "r2cca" in measures:
        out["r2cca"] = masked_mean(core.rho**2, core.count)
    if "svcca" in measures:
        rho, count, _, _ = _svcca_core(core, keep=keep, epsilon=epsilon)
        out["svcca"] = masked_mean(rho, count)
    if "pwcca" in measures:
        w, rho, info, dirs, side = pw
        raw = data[0] if side == "x" else data[1]
        dtype = torch.float64 if w.dtype in (np.float64, torch.float64) else torch.float32
        if info.ndim == 0 and int(info) > 0:  # rank-deficient directions: QR on the data
            w = _pwcca_weights_qr(raw, dirs, dtype)
        elif info.ndim > 0 and bool((info > 0).any()):
            w = B.copy(w)
            for task in B.nonzero_list(info > 0):
                w[task] = _pwcca_weights_qr(raw[task], dirs[task], dtype)
        out["pwcca"] = (w * rho).sum(-1)
    return out


def _chunk_values(
    x: Tensor,
    y: Tensor,
    measures: tuple[str, ...],
    *,
    keep: float | int,
    sigma: float,
    epsilon: float,
    dtype: torch.dtype,
) -> tuple[dict[str, Array], int]:
    """All requested measures for a chunk of tasks x (Tc, n, dx), y (Tc, n, dy).

    Returns the values and how many tasks had constant features (redone per task).
    """
    n, dx, dy = x.shape[-2], x.shape[-1], y.shape[-1]
    if dtype == torch.float32:  # every measure is scale-invariant; keeps HSIC's x^4 in range
        x, y = x / float32_scale(x, dtype), y / float32_scale(y, dtype)
    cca_family = [m for m in measures if m in CCA_FAMILY]
    feature_route = bool(cca_family) or dx + dy <= n  # d x d moments, else n x n Grams
    out: dict[str, Array] = {}
    m = grams = None
    if cca_family or any(name in _LINEAR for name in measures):
        if feature_route:
            m = moments(x, y, dtype=dtype, row_norms="cka_debiased" in measures)
            V.check_finite_moments(m.sxx, m.syy, x, y, measure="similarity_batch")
            selfs = (m.sxx, m.syy)
        else:
            grams = selfs = (centred_gram(x, dtype=dtype), centred_gram(y, dtype=dtype))
        for name, s in zip(("x", "y"), selfs, strict=True):
            if bool((B.diag(s).sum(-1) <= 0).any()):  # zero total variance in some task
                raise V.all_constant_error(f"{name} in some task", "similarity_batch")
    for name in ("cka", "cka_debiased"):
        if name in measures:
            debiased = name == "cka_debiased"
            if feature_route:
                hsics = _linear_hsics(m, debiased=debiased)
            else:
                hsics = _gram_hsics(*grams, debiased=debiased)
            out[name] = _ratio(*hsics, measure=name)
    if "procrustes" in measures:
        nuc = _nuclear_from_moments(m) if feature_route else _nuclear_from_grams(*grams)
        out["procrustes"] = (2 - 2 * nuc.clip(0.0, 1.0)).clip(0, None)
    if "cka_rbf" in measures:
        kx, ky = rbf_gram(x, sigma=sigma, dtype=dtype), rbf_gram(y, sigma=sigma, dtype=dtype)
        out["cka_rbf"] = _ratio(*_gram_hsics(kx, ky, debiased=False), measure="cka_rbf")
    redone = 0
    if cca_family:
        values, redone = _cca_family_grouped(
            m, tuple(cca_family), keep=keep, epsilon=epsilon, data=(x, y)
        )
        out.update(values)
    return out, redone


def _cca_family_grouped(
    m: Moments,
    measures: tuple[str, ...],
    *,
    keep: float | int,
    epsilon: float,
    data: tuple[Tensor, Tensor],
) -> tuple[dict[str, Array], int]:
    """CCA-family values with constant (dead) features dropped per task, still batched.

    The single-pair functions drop a task's constant features before CCA. Here the tasks of a
    chunk are grouped by their pattern of dead features (in a trained network the same few
    units are dead in most tasks), and each group runs as one stacked computation on its
    restricted moments: the same kernels on the same sub-matrices as the single-pair path, so
    the same values, without a per-task Python loop. Returns the values and how many tasks had
    dead features.
    """
    dead_x = constant_features(m.sxx, m.mean_x, m.n, epsilon=epsilon)  # (Tc, dx)
    dead_y = constant_features(m.syy, m.mean_y, m.n, epsilon=epsilon)  # (Tc, dy)
    dead = np.concatenate([_host(dead_x), _host(dead_y)], axis=-1)  # (Tc, dx + dy)
    if not dead.any():
        return _cca_family(m, measures, keep=keep, epsilon=epsilon, data=data), 0
    dx = dead_x.shape[-1]
    patterns, group = np.unique(dead, axis=0, return_inverse=True)
    group = group.reshape(-1)
    out: dict[str, Array] = {}
    for g, pattern in enumerate(patterns):
        tasks = np.flatnonzero(group == g)
        kx, ky = np.flatnonzero(~pattern[:dx]), np.flatnonzero(~pattern[dx:])
        sub = _select(m, tasks, kx, ky)
        dev = data[0].device
        t_t, kx_t, ky_t = (torch.from_numpy(i).to(dev) for i in (tasks, kx, ky))
        raw = (
            data[0].index_select(0, t_t).index_select(-1, kx_t),
            data[1].index_select(0, t_t).index_select(-1, ky_t),
        )
        vals = _cca_family(sub, measures, keep=keep, epsilon=epsilon, data=raw)
        for name, v in vals.items():
            if name not in out:
                out[name] = _empty_like(v, dead.shape[0])
            out[name][_index(tasks, v)] = v
    return out, int(dead.any(-1).sum())


def _host(a: Array) -> np.ndarray:
    return a.cpu().numpy() if isinstance(a, Tensor) else np.asarray(a)


def _index(i: np.ndarray, like: Array) -> Array:
    return torch.from_numpy(i).to(like.device) if isinstance(like, Tensor) else i


def _empty_like(v: Array, tasks: int) -> Array:
    if isinstance(v, Tensor):
        return torch.empty(tasks, dtype=v.dtype, device=v.device)
    return np.empty(tasks, dtype=v.dtype)


def _select(m: Moments, tasks: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> Moments:
    """Moments of the tasks ``tasks`` restricted to features ``kx``/``ky`` (index arrays)."""
    t, ix, iy = (_index(i, m.sxx) for i in (tasks, kx, ky))
    sxx, syy, sxy = m.sxx[t], m.syy[t], m.sxy[t]
    return Moments(
        sxx=sxx[:, ix][:, :, ix],
        sxy=sxy[:, ix][:, :, iy],
        syy=syy[:, iy][:, :, iy],
        mean_x=m.mean_x[t][:, ix],
        mean_y=m.mean_y[t][:, iy],
        n=m.n,
        row_dots=None if m.row_dots is None else m.row_dots[t],
    )


def similarity_batch(
    x: object,
    y: object,
    *,
    measures: Iterable[str] = ("cca", "svcca", "pwcca", "cka"),
    keep: float | int = 0.99,
    sigma: float = 0.5,
    epsilon: float = 0.0,
    dtype: torch.dtype | None = None,
    conv_mode: Literal["spatial", "pool", "flatten"] | None = None,
    chunk_bytes: int = 2**28,
) -> SimilarityBatch:
    """Similarity of T pairs at once (e.g. 600 tasks of one layer under theta and theta').

    Parameters
    ----------
    x : array or Tensor of shape (T, n_samples, n_features_x)
        Conv maps (T, N, C, H, W) are accepted with ``conv_mode``.
    y : array or Tensor of shape (T, n_samples, n_features_y)
    measures : iterable of str, default=("cca", "svcca", "pwcca", "cka")
        Any of :data:`MEASURES`: "cca", "svcca", "pwcca", "r2cca", "cka" (linear),
        "cka_debiased", "cka_rbf", "procrustes" (a distance).
    keep : int or float, default=0.99
        SVCCA directions (int) or variance fraction (float).
    sigma : float, default=0.5
        RBF bandwidth as a fraction of the median distance.
    epsilon : float, default=0.0
        google/svcca's CCA regularisation (0 = exact).
    dtype : torch.dtype, default=torch.float64
    conv_mode : {"spatial", "pool", "flatten"}, optional
    chunk_bytes : int, default=2**28
        Tasks are processed in chunks whose working set stays near this many bytes.

    Returns
    -------
    SimilarityBatch
        A dict measure -> Tensor of shape (T,) on the input's device, with attributes
        ``n_samples``, ``n_features``, ``conv_mode``, ``keep``, ``epsilon``, ``sigma``,
        ``warnings``. Each entry equals the single-pair function on that task.

    Raises
    ------
    ValueError
        Unknown measure (the valid ones are listed), bad shapes or values, CCA-family measures
        with n_samples <= n_features + 1 (see :func:`meaningful_measures`), a task whose side
        is entirely constant.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(600, 75, 32, generator=g)
    >>> out = similarity_batch(x, x + 0.1 * torch.randn(600, 75, 32, generator=g))
    >>> sorted(out), tuple(out["cca"].shape)
    (['cca', 'cka', 'pwcca', 'svcca'], (600,))
    """
    chosen = _check_measures(measures)
    keep = V.check_keep(keep) if "svcca" in chosen else keep
    if "cka_rbf" in chosen and not sigma > 0:
        raise ValueError(f"similarity_batch: sigma must be > 0 (e.g. 0.5); got {sigma}.")
    if not epsilon >= 0:
        raise ValueError(f"similarity_batch: epsilon must be >= 0 (0 = exact); got {epsilon}.")
    label = "cka_debiased" if "cka_debiased" in chosen else "similarity_batch"
    xt, yt = V.prepare_pair(
        x, y, measure=label, conv_mode=conv_mode, batched=True, check_finite=False
    )
    dt = compute_dtype(dtype)
    tasks, n, dx, dy = xt.shape[0], xt.shape[1], xt.shape[2], yt.shape[2]
    cca_named = [m for m in chosen if m in CCA_FAMILY]
    if "cka_rbf" in chosen or not (cca_named or dx + dy <= n):  # no moments to check on
        V._check_finite(xt, name="x", measure=label)
        V._check_finite(yt, name="y", measure=label)
    notes: list[str] = []
    if cca_named:
        V.cca_sample_check(n, dx, dy, measure=f"similarity_batch ({', '.join(cca_named)})")
        note = V.overlap_warning(n, dx, dy, measure="similarity_batch")
        notes += [note] if note else []
    if isinstance(keep, int) and "svcca" in chosen and keep > min(dx, dy):
        raise ValueError(
            f"similarity_batch: svcca keep={keep} directions but the widths are ({dx}, {dy}); "
            f"pass keep <= {min(dx, dy)} or a variance fraction such as 0.99."
        )
    if "cka_rbf" in chosen and n > MAX_RBF_SAMPLES:
        raise ValueError(
            f"similarity_batch: cka_rbf needs n x n Grams; n_samples={n} exceeds "
            f"{MAX_RBF_SAMPLES}. Subsample datapoints or drop 'cka_rbf'."
        )
    per_task = 8 * (3 * n * (dx + dy) + 6 * (dx + dy) ** 2 + (4 * n * n if n < dx + dy else 0))
    per_task += 8 * 6 * n * n if "cka_rbf" in chosen else 0
    step = max(1, chunk_bytes // per_task)
    parts = [
        _chunk_values(
            xt[i : i + step],
            yt[i : i + step],
            chosen,
            keep=keep,
            sigma=sigma,
            epsilon=epsilon,
            dtype=dt,
        )
        for i in range(0, tasks, step)
    ]
    values = {
        name: torch.cat([B.to_torch(p[0][name]) for p in parts]).to(xt.device) for name in chosen
    }
    redone = sum(p[1] for p in parts)
    if redone:
        notes.append(
            V.warn(
                f"similarity_batch: {redone} of {tasks} tasks had constant features (dead "
                "units); for the CCA-family measures they were dropped per task, as cca() does "
                "(tasks with the same dead units are computed together)."
            )
        )
    return SimilarityBatch(
        values,
        n_samples=n,
        n_features=(dx, dy),
        conv_mode=conv_mode,
        keep=keep if "svcca" in chosen else None,
        epsilon=float(epsilon),
        sigma=float(sigma),
        warnings=tuple(notes),
    )
