"""Data parallelism over ``torch.distributed``: the glue a trainer needs, and nothing more.

A trainer started by ``torchrun --nproc_per_node=N`` finds ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in its environment; :func:`from_env` joins
the process group (gloo on CPU, NCCL on CUDA) and returns a :class:`World`. Without those
variables it returns the one-process world, whose methods are no-ops, so a trainer has one
code path.

The recipe that makes N ranks give the 1-rank result: every rank computes the tasks of its
:meth:`World.shard` of a meta-batch (tasks are a pure function of their index, so no data is
sent), backpropagates ``sum of its per-task losses / meta_batch``, and :meth:`World.all_reduce_sum`
adds the gradients of all ranks: the sum over the whole meta-batch divided by its size, which is
the 1-rank mean-loss gradient. Every rank then takes the same optimizer step on the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist

__all__ = ["World", "from_env", "launched_by_torchrun"]

_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def launched_by_torchrun() -> bool:
    """True when the environment describes a process group (torchrun, or the same variables)."""
    return all(k in os.environ for k in _ENV) and int(os.environ["WORLD_SIZE"]) > 1


@dataclass
class World:
    """This process's place among the ranks: ``rank`` of ``size``, and the device it computes on.

    ``owns_group`` is True when :func:`from_env` created the process group (so :meth:`close`
    destroys it); a group created by the caller is left alone.
    """

    rank: int = 0
    size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files and logs."""
        return self.rank == 0

    @property
    def backend(self) -> str | None:
        return dist.get_backend() if self.size > 1 else None

    def shard(self, n: int) -> tuple[int, int]:
        """``(start, count)`` of this rank's part of ``n`` items: contiguous, sizes differ by ≤ 1.

        Rank r gets items ``[r·n//size, (r+1)·n//size)``; with more ranks than items some ranks
        get none (they still take part in every collective, with zeros).
        """
        lo, hi = self.rank * n // self.size, (self.rank + 1) * n // self.size
        return lo, hi - lo

    def all_reduce_sum(self, tensors: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]
                       ) -> list[torch.Tensor]:
        """Element-wise sums over ranks of ``tensors`` (None = zeros shaped as ``like``).

        One flat buffer, one collective: every rank receives the same bits.
        """
        filled = [torch.zeros_like(ref) if t is None else t.detach()
                  for t, ref in zip(tensors, like, strict=True)]
        if self.size == 1:
            return filled
        flat = torch.cat([t.reshape(-1).to(self.device) for t in filled])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        out, offset = [], 0
        for t in filled:
            piece = flat[offset: offset + t.numel()].view_as(t)
            out.append(piece.to(device=t.device, dtype=t.dtype))  # cat promoted mixed dtypes
            offset += t.numel()
        return out

    def sum_grads_(self, params: Sequence[torch.Tensor], extra: Sequence[float] = ()
                   ) -> list[float]:
        """Replace each ``param.grad`` by its sum over ranks; also sum the numbers ``extra``.

        Call after ``backward`` of the rank's share of the loss (``per-task sum / meta_batch``)
        and before ``optimizer.step``. Returns the summed ``extra`` (losses, flags, counts).
        """
        if self.size == 1:  # nothing to add: leave the gradients (None ones too) untouched
            return [float(x) for x in extra]
        scalars = torch.tensor([float(x) for x in extra], dtype=torch.float64)
        like = [*params, scalars]
        summed = self.all_reduce_sum([*(p.grad for p in params), scalars], like)
        for p, g in zip(params, summed, strict=False):
            p.grad = g
        return summed[-1].tolist()

    def broadcast_(self, tensors: Sequence[torch.Tensor]) -> None:
        """Overwrite ``tensors`` in place with rank 0's values (a guard after init or resume)."""
        if self.size == 1:
            return
        for t in tensors:
            buf = t.detach().to(self.device)
            dist.broadcast(buf, src=0)
            with torch.no_grad():
                t.copy_(buf.to(t.device))

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group if :func:`from_env` joined it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
        self.owns_group = False


def from_env(device: str | torch.device = "cpu", *, timeout_s: float = 1800.0) -> World:
    """Join the process group that torchrun's environment describes (or the 1-process world).

    ``device`` is the device asked for; with CUDA and several ranks each rank takes
    ``cuda:LOCAL_RANK`` and the backend is NCCL, otherwise gloo. A group that already exists
    (created by the caller) is used as it is.
    """
    device = torch.device(device)
    if not launched_by_torchrun() and not dist.is_initialized():
        return World(device=device)
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise ValueError(
                f"rank with LOCAL_RANK={local} has no GPU: torch sees {torch.cuda.device_count()}"
                "; start at most that many processes per node (--nproc_per_node)"
            )
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        owns = True
    return World(rank=dist.get_rank(), size=dist.get_world_size(), device=device,
                 owns_group=owns)
