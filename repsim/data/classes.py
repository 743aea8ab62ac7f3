"""Plain supervised batches over every class of a pool: the multiclass pre-training regime.

Multiclass pre-training (the paper's Table 5) trains the body as an ordinary classifier with one
softmax over all meta-training classes (Omniglot: each rotation of a character is its own class),
without episodes. :class:`ClassBatches` serves its data with the interface the training loop
already uses for tasks: ``batch(start, n)`` returns the examples of "slots" ``start … start+n−1``,
each slot ``per_slot`` images drawn from its own ``np.random.default_rng([seed, slot])``. With
``per_slot = ways · (shots + query)`` one training step sees exactly as many images as a
meta-iteration of the episodic learners (the matched budget), and training resumes exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from repsim.data._common import check_int
from repsim.data.episodes import ClassPool

__all__ = ["ClassBatches", "LabelledBatch"]

_INV_255 = float(np.float32(1.0) / np.float32(255.0))  # as EpisodeSampler: bit-equal CPU/GPU


@dataclass(frozen=True, eq=False)
class LabelledBatch:
    """Images and their class ids over the whole pool.

    Attributes
    ----------
    x : Tensor of shape (n, per_slot, C, H, W)
        float32 in [0, 1].
    y : Tensor of shape (n, per_slot)
        int64 class ids in ``[0, pool.n_classes)``.
    """

    x: Tensor
    y: Tensor

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> LabelledBatch:
        """The same batch on ``device``."""
        return LabelledBatch(
            self.x.to(device, non_blocking=non_blocking),
            self.y.to(device, non_blocking=non_blocking),
        )


class ClassBatches:
    """Seeded uniform draws of (class, image) pairs from a :class:`ClassPool`.

    Parameters
    ----------
    pool : ClassPool
    per_slot : int
        Images per slot (one slot per task of a meta-batch, for a matched budget).
    seed : int, default=0

    Notes
    -----
    Each image is drawn uniformly from the whole pool (a class uniformly, then one of its
    images), with replacement across draws: every class has the same number of images, so this
    is uniform over images, the usual i.i.d. minibatch.
    """

    def __init__(self, pool: ClassPool, *, per_slot: int, seed: int = 0) -> None:
        ctx = f"ClassBatches({pool.name} {pool.split})"
        self.per_slot = check_int(per_slot, "per_slot", minimum=1, context=ctx)
        self.seed = check_int(seed, "seed", minimum=0, context=ctx)
        self.pool = pool

    @property
    def n_classes(self) -> int:
        """Width of the softmax: every (base class, rotation) of the pool."""
        return self.pool.n_classes

    def __repr__(self) -> str:
        return (f"ClassBatches({self.pool.name}/{self.pool.split}, per_slot={self.per_slot}, "
                f"seed={self.seed})")

    def _draw(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, slot])
        classes = (rng.random(self.per_slot) * self.pool.n_classes).astype(np.int64)
        images = (rng.random(self.per_slot) * self.pool.n_per_class).astype(np.int64)
        return classes, images

    def batch(self, start: int, n: int) -> LabelledBatch:
        """Slots ``start … start + n − 1``: x ``(n, per_slot, C, H, W)``, y ``(n, per_slot)``."""
        check_int(start, "start", minimum=0, context=repr(self))
        check_int(n, "n", minimum=1, context=repr(self))
        draws = [self._draw(start + t) for t in range(n)]
        classes = np.stack([c for c, _ in draws]).reshape(-1)  # (n * per_slot,)
        images = np.stack([i for _, i in draws]).reshape(-1)
        n_rot = len(self.pool.rotations)
        base = torch.from_numpy(classes // n_rot)
        index = torch.from_numpy(images)
        x = self.pool.images[base, index]  # (n * per_slot, C, H, W), the pool's dtype
        turns = torch.tensor(self.pool.rotations)[torch.from_numpy(classes % n_rot)]
        for k in self.pool.rotations:
            chosen = (turns == k).nonzero().flatten()
            if k and chosen.numel():
                x[chosen] = torch.rot90(x[chosen], k, dims=(-2, -1))
        if x.dtype == torch.uint8:
            x = x.to(torch.float32).mul_(_INV_255)
        c, h, w = self.pool.image_shape
        return LabelledBatch(
            x=x.view(n, self.per_slot, c, h, w),
            y=torch.from_numpy(classes).view(n, self.per_slot),
        )
