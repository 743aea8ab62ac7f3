"""Input checks shared by every public measure (validate here, then hand over to trusting kernels).

Every message says what is allowed, what was given and what to do (STYLE.md habit 3).
Shape and value problems raise ``ValueError``; wrong types raise ``TypeError``.
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from repsim.similarity import _backend as B
from repsim.similarity.conv import CONV_MODES, conv_to_samples

CCA_FAMILY = ("cca", "svcca", "pwcca", "r2cca")

# Smallest n_samples each measure can be computed from (debiased HSIC divides by n - 3).
_MIN_SAMPLES = {"cka_debiased": 4, "minibatch_cka": 4}

Array = B.Array


class SimilarityWarning(UserWarning):
    """Data make a similarity value degenerate, approximate or partly trivial."""


def warn(message: str) -> str:
    """Emit ``message`` as a :class:`SimilarityWarning` and return it (results keep a copy).

    The warning points at the first caller outside ``repsim.similarity``.
    """
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(__package__):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, SimilarityWarning, stacklevel=level + 1)
    return message


def to_tensor(a: object, *, name: str, measure: str) -> Tensor:
    """Wrap a numpy array or tensor without copying; integers and bools become float64."""
    if isinstance(a, np.ndarray):
        if a.dtype == object or a.dtype.kind in "USV":
            raise TypeError(
                f"{measure}: {name} must hold numbers; got a numpy array of dtype {a.dtype}. "
                "Convert it with np.asarray(..., dtype=float)."
            )
        if any(stride < 0 for stride in a.strides):
            a = a.copy()  # e.g. x[:, ::-1]: torch cannot wrap negative strides
        if a.dtype.kind not in "fiub":
            t = torch.as_tensor(a)  # e.g. float128: copied
        elif a.flags.writeable:
            t = torch.from_numpy(a)
        else:
            with warnings.catch_warnings():  # read-only arrays are fine: nothing here writes
                warnings.simplefilter("ignore", UserWarning)
                t = torch.from_numpy(a)
    elif isinstance(a, Tensor):
        t = a.detach()
    else:
        raise TypeError(
            f"{measure}: {name} must be a numpy array or a torch tensor of shape "
            f"(n_samples, n_features); got {type(a).__name__}. Wrap it with np.asarray(...)."
        )
    if t.is_complex():
        raise TypeError(
            f"{measure}: {name} must be real-valued; got dtype {t.dtype}. "
            "Pass the real part or the magnitude explicitly."
        )
    if not t.is_floating_point():
        t = t.to(torch.float64)
    return t


def check_keep(keep: object, *, measure: str = "svcca") -> float | int:
    """``keep`` is an int >= 1 (directions) or a float in (0, 1] (fraction of variance)."""
    if isinstance(keep, bool) or not isinstance(keep, int | float | np.integer | np.floating):
        raise TypeError(
            f"{measure}: keep must be an int (number of SVD directions) or a float in (0, 1] "
            f"(fraction of variance); got {keep!r}."
        )
    if isinstance(keep, int | np.integer):
        if keep < 1:
            raise ValueError(
                f"{measure}: keep as an int is a number of SVD directions and must be >= 1; "
                f"got {keep}. Pass e.g. keep=20, or a variance fraction such as keep=0.99."
            )
        return int(keep)
    if not 0.0 < float(keep) <= 1.0:
        raise ValueError(
            f"{measure}: keep as a float is a fraction of variance in (0, 1]; got {keep}. "
            "Pass e.g. keep=0.99, or an int number of directions."
        )
    return float(keep)


def check_choice(value: object, choices: tuple[str, ...], *, what: str, measure: str) -> str:
    """An enumerated option must be one of ``choices``; the message lists them."""
    if value not in choices:
        raise ValueError(
            f"{measure}: {what} must be one of {', '.join(map(repr, choices))}; got {value!r}."
        )
    return str(value)


def _check_finite(t: Tensor, *, name: str, measure: str) -> None:
    # A sum is cheap and propagates NaN/Inf; count exactly only when it is not finite.
    if t.device.type == "cpu" and t.dtype in (torch.float16, torch.float32, torch.float64):
        if np.isfinite(np.add.reduce(t.numpy(), axis=None, dtype=np.float64)):
            return
    elif bool(torch.isfinite(t.sum(dtype=torch.float64))):
        return
    bad = ~torch.isfinite(t)
    n_nan = int(torch.isnan(t).sum())
    n_inf = int(bad.sum()) - n_nan
    if n_nan == 0 and n_inf == 0:
        return  # finite values whose float64 sum overflowed; nothing is wrong with the data
    raise ValueError(
        f"{measure}: {name} must be finite; it holds {n_nan} NaN and {n_inf} infinite values. "
        "Drop or impute those samples (the same rows of x and y) before comparing."
    )


# Every measure here is invariant to scaling either side, so values far from 1 are divided by a
# power of two near their largest magnitude: exact in floating point, and it keeps x^T x and
# the squared distances of RBF CKA away from overflow (~1e160) and underflow (~1e-300).
_SAFE_MAGNITUDE = (2.0**-16, 2.0**16)


def rescale(t: Tensor, *, batched: bool) -> Tensor:
    """``t`` divided by 2**round(log2(max|t|)) (per task when ``batched``) if max|t| is outside
    [2^-16, 2^16]; ``t`` itself otherwise, and where the maximum is 0, NaN or infinite."""
    if t.numel() == 0 or not t.is_floating_point():
        return t
    if not batched and t.device.type == "cpu" and not t.requires_grad and t.dtype != torch.bfloat16:
        # a single pair on the CPU: numpy's reductions cost ~1 µs where these torch ops cost
        # ~100 µs per call in all (the tiny pair's whole budget); same result as below
        a = t.numpy()
        top = max(float(a.max()), -float(a.min()))
        if not (math.isfinite(top) and (top > _SAFE_MAGNITUDE[1] or 0 < top < _SAFE_MAGNITUDE[0])):
            return t
        return t / 2.0 ** round(math.log2(top))
    flat = t.reshape(t.shape[0], -1) if batched else t.reshape(1, -1)
    lo, hi = torch.aminmax(flat, dim=1)
    top = torch.maximum(hi, -lo).double()  # (T,) or (1,)
    far = (top > _SAFE_MAGNITUDE[1]) | ((top < _SAFE_MAGNITUDE[0]) & (top > 0))
    far &= torch.isfinite(top)
    if not bool(far.any()):
        return t
    exponent = torch.where(far, torch.round(torch.log2(torch.where(far, top, 1.0))), 0.0)
    scale = torch.exp2(exponent).to(t.dtype)
    shape = (-1,) + (1,) * (t.ndim - 1) if batched else ()
    return t / (scale.reshape(shape) if batched else scale[0])


def prepare_pair(
    x: object,
    y: object,
    *,
    measure: str,
    conv_mode: Literal["spatial", "pool", "flatten"] | None = None,
    batched: bool = False,
    check_finite: bool = True,
    scale: bool = True,
) -> tuple[Tensor, Tensor]:
    """Validate a pair of activation matrices and return them as tensors (no copy).

    Parameters
    ----------
    x, y : array or Tensor of shape (n_samples, n_features) -- or (T, n_samples, n_features)
        when ``batched``; conv maps (N, C, H, W) / (T, N, C, H, W) need ``conv_mode``.
    measure : str
        Name used in messages, and to pick the rules (CCA family vs. CKA).
    conv_mode : {"spatial", "pool", "flatten"} or None
        How conv maps become samples x features (see :func:`conv_to_samples`).
    batched : bool
        Whether a leading task dimension is expected.
    check_finite : bool
        False defers the NaN/Inf check to :func:`check_finite_moments`, which reads it off the
        second moments the caller computes anyway (saves a pass over the data).
    scale : bool
        Bring very large or very small values near 1 (:func:`rescale`, exact); False where
        batches are accumulated on one scale (MinibatchCKA).

    Raises
    ------
    TypeError
        Not an array/tensor, or complex.
    ValueError
        Wrong number of dimensions, mismatched samples/tasks/devices, empty, too few samples,
        NaN or Inf.
    """
    xt = to_tensor(x, name="x", measure=measure)
    yt = to_tensor(y, name="y", measure=measure)
    lead = 1 if batched else 0
    layout = "(T, n_samples, n_features)" if batched else "(n_samples, n_features)"
    if conv_mode is not None:
        check_choice(conv_mode, CONV_MODES, what="conv_mode", measure=measure)
        for name, t in (("x", xt), ("y", yt)):
            if t.ndim != 4 + lead:
                raise ValueError(
                    f"{measure}: conv_mode={conv_mode!r} needs conv maps of shape "
                    f"{'(T, N, C, H, W)' if batched else '(N, C, H, W)'}; {name} has shape "
                    f"{tuple(t.shape)}. Drop conv_mode for {layout} input."
                )
        xt, yt = conv_to_samples(xt, conv_mode), conv_to_samples(yt, conv_mode)
    for name, t in (("x", xt), ("y", yt)):
        if t.ndim == 4 + lead:
            raise ValueError(
                f"{measure}: {name} looks like conv maps of shape {tuple(t.shape)}; pass "
                f"conv_mode='spatial' (positions as samples), 'pool' (spatial mean) or "
                f"'flatten' (C*H*W features) so the choice is explicit and recorded."
            )
        if t.ndim != 2 + lead:
            hint = (
                " For a single feature use x.reshape(-1, 1)."
                if t.ndim == 1
                else " Use similarity_batch for a leading task dimension."
                if t.ndim == 3 and not batched
                else ""
            )
            raise ValueError(
                f"{measure}: {name} must be {2 + lead}-D {layout}; got shape "
                f"{tuple(t.shape)}.{hint}"
            )
    if batched and xt.shape[0] != yt.shape[0]:
        raise ValueError(
            f"{measure}: x and y must hold the same number of tasks T; got {xt.shape[0]} and "
            f"{yt.shape[0]}. Stack the same tasks under both conditions."
        )
    n, ny = xt.shape[-2], yt.shape[-2]
    if n != ny:
        raise ValueError(
            f"{measure}: x and y must have the same n_samples (rows are paired datapoints); "
            f"got {n} and {ny}. Feed the same inputs through both networks."
        )
    if xt.device != yt.device:
        raise ValueError(
            f"{measure}: x and y must be on the same device; got {xt.device} and {yt.device}. "
            "Move one with .to(other.device)."
        )
    if xt.shape[-1] == 0 or yt.shape[-1] == 0 or (batched and xt.shape[0] == 0):
        raise ValueError(
            f"{measure}: x and y need at least one feature (and one task); got shapes "
            f"{tuple(xt.shape)} and {tuple(yt.shape)}. Check the layer capture."
        )
    min_n = _MIN_SAMPLES.get(measure, 2)
    if n < min_n:
        raise ValueError(
            f"{measure}: needs at least {min_n} samples; got n_samples={n}. "
            "Pass more datapoints (rows)."
        )
    # Debiased CKA is the measure made for n < d (few-shot query sets), so only the others warn.
    if not batched and measure != "cka_debiased" and n < min(xt.shape[-1], yt.shape[-1]):
        warn(
            f"{measure}: x and y have fewer rows (n={n}) than columns ({xt.shape[-1]}, "
            f"{yt.shape[-1]}); repsim reads rows as datapoints, (n_samples, n_features). If "
            "these are google/svcca-style (neurons, datapoints) arrays, pass x.T and y.T."
        )
    if check_finite:
        _check_finite(xt, name="x", measure=measure)
        _check_finite(yt, name="y", measure=measure)
    if scale:
        xt, yt = rescale(xt, batched=batched), rescale(yt, batched=batched)
    return xt, yt


def check_finite_moments(sxx: Array, syy: Array, x: Tensor, y: Tensor, *, measure: str) -> None:
    """NaN/Inf anywhere in a column makes its diagonal entry of X_c^T X_c non-finite."""
    total = B.diag(sxx).sum() + B.diag(syy).sum()
    if bool(B.xp(total).isfinite(total)):
        return
    _check_finite(x, name="x", measure=measure)
    _check_finite(y, name="y", measure=measure)
    raise ValueError(
        f"{measure}: x^T x overflows the computation dtype (values are finite but too large, "
        f"max |x| = {float(x.abs().max()):.3g}, max |y| = {float(y.abs().max()):.3g}). Rescale "
        "the inputs (all measures here are scale-invariant)."
    )


def cca_sample_check(n: int, dx: int, dy: int, *, measure: str, context: str = "") -> None:
    """CCA needs n_samples - 1 > n_features on each side, or the correlations are trivially 1.

    Centring uses one degree of freedom, so centred data of n samples span at most n - 1
    dimensions; a side with d >= n - 1 features spans all of them.
    """
    d = max(dx, dy)
    if d >= n - 1:
        side = "x" if dx >= dy else "y"
        raise ValueError(
            f"{measure}: n={n} <= d+1={d + 1} ({side} has {d} features{context}): CCA "
            "correlations are trivially 1, because centred data of n samples span only n-1 "
            "dimensions. CCA-based measures need n_samples >= n_features + 2. Use debiased "
            "CKA (cka(x, y, debiased=True)), more samples, or conv_to_samples(..., "
            "mode='spatial'). (Arrays laid out as google/svcca's (neurons, datapoints) must be "
            "transposed: pass x.T, y.T.)"
        )


def overlap_warning(n: int, dx: int, dy: int, *, measure: str, context: str = "") -> str | None:
    """Warn when dx + dy > n - 1: that many canonical correlations are 1 by construction."""
    extra = dx + dy - (n - 1)
    if extra <= 0:
        return None
    return warn(
        f"{measure}: dx+dy={dx + dy} > n-1={n - 1}{context}: at least {extra} canonical "
        "correlations are 1 by construction (the two spans must intersect). Use more samples, "
        "fewer features (svcca keep) or debiased CKA for a meaningful value."
    )


def all_constant_error(name: str, measure: str) -> ValueError:
    """Error for a side whose every feature is constant (zero variance)."""
    return ValueError(
        f"{measure}: every feature of {name} is constant over the samples (zero variance), so "
        "the similarity is undefined (0/0). Check the layer capture (dead ReLUs?) or pass "
        "inputs that vary."
    )
