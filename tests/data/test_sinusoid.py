"""Sinusoid tasks (Finn et al. 2017): targets recomputed independently from the task parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from repsim.data import SinusoidTasks


def test_targets_are_a_sin_x_minus_phase() -> None:
    """y = A sin(x - φ) for support and query, with (A, φ) from task_params (float64 check)."""
    tasks = SinusoidTasks(shots=5, query=7, seed=3)
    ep = tasks.batch(10, 4)
    assert ep.support_x.shape == (4, 5, 1) and ep.query_y.shape == (4, 7, 1)
    assert ep.support_x.dtype == torch.float32 and ep.is_batched and ep.n_tasks == 4
    for t in range(4):
        amp, phase = tasks.task_params(10 + t)
        task = ep.task(t)
        for x, y in ((task.support_x, task.support_y), (task.query_x, task.query_y)):
            ref = amp * np.sin(x.double().numpy() - phase)
            np.testing.assert_allclose(y.numpy(), ref, rtol=1e-6, atol=1e-6)


def test_parameters_cover_the_maml_ranges() -> None:
    """A ~ U[0.1, 5], φ ~ U[0, π], x ~ U[-5, 5]: bounds hold and the means are the midpoints."""
    tasks = SinusoidTasks(shots=10, query=10, seed=0)
    params = np.array([tasks.task_params(i) for i in range(4000)])
    amp, phase = params[:, 0], params[:, 1]
    assert 0.1 <= amp.min() and amp.max() <= 5.0 and 0.0 <= phase.min() and phase.max() <= math.pi
    assert abs(amp.mean() - 2.55) < 0.1 and abs(phase.mean() - math.pi / 2) < 0.06
    assert amp.max() - amp.min() > 4.8 and phase.max() - phase.min() > 3.0
    x = tasks.batch(0, 200).support_x
    assert -5.0 <= float(x.min()) < -4.9 and 4.9 < float(x.max()) <= 5.0


def test_tasks_are_reproducible_per_seed_and_index() -> None:
    a, b = SinusoidTasks(shots=5, query=5, seed=1), SinusoidTasks(shots=5, query=5, seed=1)
    b.batch(0, 50)
    assert torch.equal(a.sample(7).query_y, b.sample(7).query_y)
    assert torch.equal(a.batch(5, 3).task(2).support_x, b.sample(7).support_x)
    assert not torch.equal(a.sample(7).support_x, a.sample(8).support_x)
    c = SinusoidTasks(shots=5, query=5, seed=2)
    assert not torch.equal(a.sample(7).support_x, c.sample(7).support_x)
    assert not a.sample(0).is_batched


def test_custom_ranges_and_validation() -> None:
    tasks = SinusoidTasks(shots=3, query=3, amplitude=(1.0, 1.0), phase=(0.0, 0.0))
    ep = tasks.sample(0)
    torch.testing.assert_close(ep.support_y, torch.sin(ep.support_x))
    with pytest.raises(ValueError, match=r"shots must be >= 1, got 0"):
        SinusoidTasks(shots=0, query=1)
    with pytest.raises(ValueError, match=r"amplitude must be finite with low <= high"):
        SinusoidTasks(shots=1, query=1, amplitude=(5.0, 0.1))
    with pytest.raises(TypeError, match=r"phase must be \(low, high\)"):
        SinusoidTasks(shots=1, query=1, phase=3.0)  # type: ignore[arg-type]
