"""Discounted returns by hand; the linear feature baseline against a closed-form ridge fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repsim.rl.baseline import RIDGE, add_advantages, fit_linear_baseline
from repsim.rl.rollout import discounted_returns

from ._fixtures import fixed_trajectories


def test_discounted_returns_by_hand():
    rewards = torch.tensor([[1.0, 2.0, 3.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # terminated after the third step
    got = discounted_returns(rewards, mask, 0.5)
    assert got.tolist() == [[1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0, 0.0]]


def _numpy_ridge(obs, returns, mask):
    """Features built with numpy from the definition, solved as an augmented least squares."""
    k, t, _d = obs.shape
    rows, ys = [], []
    for j in range(k):
        for s in range(t):
            if mask[j, s] == 0:
                continue
            a = s / 100.0
            o = obs[j, s]
            rows.append(np.concatenate([o, o**2, [a, a**2, a**3, 1.0]]))
            ys.append(returns[j, s])
    x, y = np.array(rows), np.array(ys)
    f = x.shape[1]
    x_aug = np.vstack([x, np.sqrt(RIDGE) * np.eye(f)])
    y_aug = np.concatenate([y, np.zeros(f)])
    w = np.linalg.lstsq(x_aug, y_aug, rcond=None)[0]
    feats = np.concatenate(
        [obs, obs**2, np.broadcast_to((np.arange(t) / 100.0)[None, :, None] ** np.arange(1, 4),
                                      (k, t, 3)), np.ones((k, t, 1))], axis=-1)
    return feats @ w * mask


def test_linear_baseline_equals_closed_form_ridge_per_task():
    traj = fixed_trajectories(tasks=3, k=5, horizon=30, obs_dim=2)
    values = fit_linear_baseline(traj.obs, traj.returns, traj.mask)
    for i in range(3):
        ref = _numpy_ridge(traj.obs[i].double().numpy(), traj.returns[i].double().numpy(),
                           traj.mask[i].double().numpy())
        np.testing.assert_allclose(values[i].numpy(), ref, rtol=1e-4, atol=1e-4)


def test_baseline_is_fitted_per_task():
    traj = fixed_trajectories(tasks=2, k=5, horizon=30, obs_dim=2)
    both = fit_linear_baseline(traj.obs, traj.returns, traj.mask)
    alone = fit_linear_baseline(traj.obs[1:], traj.returns[1:], traj.mask[1:])
    torch.testing.assert_close(both[1:], alone)


def test_normalized_advantages_have_zero_mean_unit_std_per_task():
    traj = fixed_trajectories(tasks=3, k=4, horizon=12)
    adv = add_advantages(traj).advantages
    for i in range(3):
        a = adv[i][traj.mask[i] > 0]
        assert float(a.mean()) == pytest.approx(0.0, abs=1e-5)
        assert float(a.std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
        assert torch.all(adv[i][traj.mask[i] == 0] == 0)


def test_non_finite_returns_are_refused():
    traj = fixed_trajectories()
    bad = traj.returns.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="not finite"):
        fit_linear_baseline(traj.obs, bad, traj.mask)
