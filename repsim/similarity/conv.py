"""Conv feature maps -> samples x features, in the three modes of PAPER.md.

Pure tensor math. The mode is always explicit, and every measure records it in its result.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

ConvMode = Literal["spatial", "pool", "flatten"]
CONV_MODES: tuple[str, ...] = ("spatial", "pool", "flatten")


def conv_to_samples(maps: np.ndarray | Tensor, mode: ConvMode) -> Tensor:
    """Turn conv maps into an activation matrix of samples x features.

    Parameters
    ----------
    maps : array or Tensor of shape (N, C, H, W), or (T, N, C, H, W) with a leading task dim
        Activations of one conv layer over N images (per task).
    mode : {"spatial", "pool", "flatten"}
        - ``"spatial"``: every image x position is a sample, channels are features:
          (N*H*W, C). google/svcca's conv tutorial; compare layers with equal H, W only.
        - ``"pool"``: spatial average pooling: (N, C).
        - ``"flatten"``: every unit is a feature: (N, C*H*W). With few-shot query sets
          n << d, so CCA is degenerate and only debiased CKA is meaningful.

    Returns
    -------
    Tensor of shape (n, d), or (T, n, d) with a task dim; same device and dtype as ``maps``.

    Raises
    ------
    ValueError
        ``maps`` is not 4-D/5-D, or ``mode`` is not one of the three modes.

    Notes
    -----
    Samples of the spatial mode are not independent (neighbouring positions of one image are
    correlated); CCA/CKA values are still well defined, but permutation baselines should shuffle
    whole images (reshape back to (N, H*W, C)) if independence matters.

    Examples
    --------
    >>> maps = torch.randn(75, 32, 5, 5)
    >>> conv_to_samples(maps, "spatial").shape
    torch.Size([1875, 32])
    >>> conv_to_samples(maps, "pool").shape
    torch.Size([75, 32])
    >>> conv_to_samples(maps, "flatten").shape
    torch.Size([75, 800])
    """
    t = torch.from_numpy(maps) if isinstance(maps, np.ndarray) else maps
    if not isinstance(t, Tensor):
        raise TypeError(
            f"conv_to_samples: maps must be a numpy array or tensor of shape (N, C, H, W); "
            f"got {type(maps).__name__}."
        )
    if not t.is_floating_point():
        t = t.to(torch.float64)
    if mode not in CONV_MODES:
        raise ValueError(
            f"conv_to_samples: mode must be one of {', '.join(map(repr, CONV_MODES))}; "
            f"got {mode!r}."
        )
    if t.ndim not in (4, 5):
        raise ValueError(
            f"conv_to_samples: maps must be (N, C, H, W) or (T, N, C, H, W); got shape "
            f"{tuple(t.shape)}. Fully connected activations need no conversion."
        )
    *lead, n, c, h, w = t.shape
    if mode == "spatial":
        return t.movedim(-3, -1).reshape(*lead, n * h * w, c)  # (..., N*H*W, C)
    if mode == "pool":
        return t.mean(dim=(-2, -1))  # (..., N, C)
    return t.reshape(*lead, n, c * h * w)  # (..., N, C*H*W)
