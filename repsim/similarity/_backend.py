"""A tiny array shim so that one kernel source runs on numpy (CPU) and torch (any device).

Why: the O(n d^2) part of every measure is one pass over the data (``_linalg.moments``);
what follows works on d x d matrices, where per-call overhead dominates for small d. A torch
op costs ~5-10 us on the CPU, a numpy op ~1 us, and the kernels need ~50 of them: on a
head layer (d=5, n=75) that alone made a torch-only CCA slower than google's numpy code. So
on the CPU the moments stay numpy arrays and the kernels' glue runs in numpy; on CUDA they
are tensors. Kernels use only operations both libraries spell the same way (``@``,
``.sum(axis)``, ``.cumsum(axis)``, ``.swapaxes``, ``.clip``, comparisons) plus the helpers
below. Factorisations of stacked matrices go through torch on both (zero-copy for numpy),
which batches them faster than numpy's per-matrix loop.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import torch
from torch import Tensor

Array = np.ndarray | Tensor


def xp(a: Array) -> ModuleType:
    """The namespace (``numpy`` or ``torch``) of ``a``: sqrt, minimum, where, diagonal, amax."""
    return torch if isinstance(a, Tensor) else np


def diag(a: Array) -> Array:
    """Diagonal of the last two dims, shape (..., d)."""
    return xp(a).diagonal(a, 0, -2, -1)


def eps(a: Array) -> float:
    """Machine epsilon of ``a``'s dtype."""
    return torch.finfo(a.dtype).eps if isinstance(a, Tensor) else float(np.finfo(a.dtype).eps)


def tiny(a: Array) -> float:
    """Smallest normal number of ``a``'s dtype."""
    return torch.finfo(a.dtype).tiny if isinstance(a, Tensor) else float(np.finfo(a.dtype).tiny)


def arange(n: int, like: Array) -> Array:
    """0..n-1 on ``like``'s device."""
    return torch.arange(n, device=like.device) if isinstance(like, Tensor) else np.arange(n)


def full_like_int(a: Array, value: int) -> Array:
    """An integer array of ``a``'s shape filled with ``value``."""
    if isinstance(a, Tensor):
        return torch.full(a.shape, value, dtype=torch.long, device=a.device)
    return np.full(np.shape(a), value, dtype=np.int64)


def to_torch(a: Array) -> Tensor:
    """A tensor sharing memory with ``a`` where possible (numpy views are made contiguous)."""
    if isinstance(a, Tensor):
        return a
    a = np.asarray(a)
    if any(s < 0 for s in a.strides):
        a = np.ascontiguousarray(a)
    return torch.from_numpy(a)


def like(t: Tensor, ref: Array) -> Array:
    """``t`` back in ``ref``'s library."""
    return t if isinstance(ref, Tensor) else t.numpy()


def eigh_desc(s: Array) -> tuple[Array, Array]:
    """Symmetric eigen-decomposition with eigenvalues in descending order."""
    if isinstance(s, np.ndarray) and s.ndim == 2:
        w, v = np.linalg.eigh(s)
        return w[::-1], v[:, ::-1]
    w, v = torch.linalg.eigh(to_torch(s))
    return like(w.flip(-1), s), like(v.flip(-1), s)


def svdvals(m: Array) -> Array:
    """Singular values, descending, of the last two dims."""
    if isinstance(m, np.ndarray) and m.ndim == 2:
        return np.linalg.svd(m, compute_uv=False)
    return like(torch.linalg.svdvals(to_torch(m)), m)


def cholesky_upper(g: Array) -> tuple[Array, Array]:
    """Upper Cholesky factor R (g = R^T R) and info (..., ) > 0 where g is not positive definite.

    A single numpy matrix goes through numpy's LAPACK: with 2 threads on the busy dev machine
    torch's Cholesky of a 5 x 5 matrix took ~16 ms (its threaded LAPACK stalls), numpy's 40 us,
    which made PWCCA of a 75 x 5 pair 10x slower than at 1 thread.
    """
    if isinstance(g, np.ndarray) and g.ndim == 2:
        try:
            return np.linalg.cholesky(g).T, np.asarray(0)
        except np.linalg.LinAlgError:
            pass  # not positive definite: torch reports the info the caller expects
    r, info = torch.linalg.cholesky_ex(to_torch(g), upper=True)
    return like(r, g), like(info, g)


def solve_lower(lower: Array, b: Array) -> Array:
    """Solve lower-triangular systems ``lower @ z = b``."""
    z = torch.linalg.solve_triangular(to_torch(lower), to_torch(b), upper=False)
    return like(z, b)


def nonzero_list(mask: Array) -> list[int]:
    """Indices where a 1-D boolean mask is true, as Python ints."""
    if isinstance(mask, Tensor):
        return torch.nonzero(mask).flatten().tolist()
    return np.flatnonzero(mask).tolist()


def copy(a: Array) -> Array:
    """A copy that can be written to."""
    return a.clone() if isinstance(a, Tensor) else np.array(a)
