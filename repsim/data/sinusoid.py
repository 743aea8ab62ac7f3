"""Sinusoid regression tasks (Finn et al. 2017, section 5.1): embedded, no data needed.

Task ``index``: amplitude ``A ~ U[0.1, 5]``, phase ``φ ~ U[0, π]``, inputs ``x ~ U[-5, 5]``,
targets ``y = A sin(x - φ)`` (the sign convention of the official MAML code,
``amp * np.sin(inputs - phase)``; with φ uniform on [0, π] it is a different but equally
distributed family from ``sin(x + φ)``). Everything is drawn from
``np.random.default_rng([seed, index])`` in the order A, φ, then the ``shots + query`` inputs
(the first ``shots`` are the support), so a task is a pure function of ``(seed, index)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from repsim.data._common import check_int
from repsim.data.episodes import Episode

__all__ = ["SinusoidTasks"]


def _check_range(value: tuple[float, float], name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"SinusoidTasks: {name} must be (low, high), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"SinusoidTasks: {name} must be finite with low <= high, got {value!r}")
    return lo, hi


@dataclass(frozen=True)
class SinusoidTasks:
    """Seeded sinusoid regression tasks: K support and Q query points per task.

    Parameters
    ----------
    shots : int
        Support points per task (K), >= 1.
    query : int
        Query points per task, >= 1.
    seed : int, default=0
        Task ``index`` depends on ``(seed, index)`` only.
    amplitude : (float, float), default=(0.1, 5.0)
        Range of the uniform amplitude A.
    phase : (float, float), default=(0, π)
        Range of the uniform phase φ.
    x_range : (float, float), default=(-5.0, 5.0)
        Range of the uniform inputs x.

    Raises
    ------
    ValueError
        A count below 1 or a range with low > high.

    Examples
    --------
    >>> ep = SinusoidTasks(shots=10, query=10, seed=0).batch(0, 4)
    >>> tuple(ep.support_x.shape), tuple(ep.query_y.shape)
    ((4, 10, 1), (4, 10, 1))
    """

    shots: int
    query: int
    seed: int = 0
    amplitude: tuple[float, float] = (0.1, 5.0)
    phase: tuple[float, float] = (0.0, math.pi)
    x_range: tuple[float, float] = (-5.0, 5.0)

    def __post_init__(self) -> None:
        for name, minimum in (("shots", 1), ("query", 1), ("seed", 0)):
            value = check_int(getattr(self, name), name, minimum=minimum, context="SinusoidTasks")
            object.__setattr__(self, name, value)
        for name in ("amplitude", "phase", "x_range"):
            object.__setattr__(self, name, _check_range(getattr(self, name), name))

    def _draw(self, index: int) -> tuple[float, float, np.ndarray]:
        rng = np.random.default_rng([self.seed, index])
        amp = rng.uniform(*self.amplitude)
        phase = rng.uniform(*self.phase)
        x = rng.uniform(*self.x_range, size=self.shots + self.query)
        return amp, phase, x

    def task_params(self, index: int) -> tuple[float, float]:
        """(amplitude, phase) of task ``index``."""
        check_int(index, "index", minimum=0, context="SinusoidTasks.task_params")
        amp, phase, _ = self._draw(index)
        return amp, phase

    def sample(self, index: int) -> Episode:
        """Task ``index``: ``support_x``/``support_y`` (shots, 1), ``query_x``/``query_y``
        (query, 1), float32."""
        return self.batch(index, 1).task(0)

    def batch(self, start: int, n: int) -> Episode:
        """Tasks ``start .. start + n - 1``: support (n, shots, 1), query (n, query, 1), float32."""
        check_int(start, "start", minimum=0, context="SinusoidTasks.batch")
        check_int(n, "n", minimum=1, context="SinusoidTasks.batch")
        x = np.empty((n, self.shots + self.query))
        y = np.empty_like(x)
        for t in range(n):
            amp, phase, x[t] = self._draw(start + t)
            y[t] = amp * np.sin(x[t] - phase)  # y = A sin(x - φ), computed in float64
        xt = torch.from_numpy(x).to(torch.float32)[..., None]  # (n, shots + query, 1)
        yt = torch.from_numpy(y).to(torch.float32)[..., None]  # (n, shots + query, 1)
        k = self.shots
        return Episode(
            support_x=xt[:, :k].contiguous(),
            support_y=yt[:, :k].contiguous(),
            query_x=xt[:, k:].contiguous(),
            query_y=yt[:, k:].contiguous(),
        )
