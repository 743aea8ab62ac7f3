"""TRPO: conjugate gradient against a direct solve; the step keeps KL ≤ δ and improves."""

from __future__ import annotations

import numpy as np
import torch

from repsim.rl.algorithm import IterationData, adapt_names_for, meta_step
from repsim.rl.config import RLConfig
from repsim.rl.trpo import conjugate_gradient

from ._fixtures import fixed_trajectories, small_params
from .test_objective import _unrolled


def test_conjugate_gradient_solves_spd_system():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=g, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, iters=6)  # exact in n iterations
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a.numpy(), b.numpy()), rtol=1e-8)


def test_conjugate_gradient_product_equals_a_direct_product():
    """The accumulated ``A x`` TRPO uses for ``xᵀ A x`` equals the explicit product, also when
    CG stops early (3 of 12 iterations: x is then far from the solution)."""
    g = torch.Generator().manual_seed(1)
    m = torch.randn(12, 12, generator=g, dtype=torch.float64)
    a = m @ m.T + 0.1 * torch.eye(12, dtype=torch.float64)
    b = torch.randn(12, generator=g, dtype=torch.float64)
    calls = []
    for iters in (3, 12):
        x, ax = conjugate_gradient(lambda v: calls.append(1) or a @ v, b, iters=iters,
                                   with_product=True)
        np.testing.assert_allclose(ax.numpy(), (a @ x).numpy(), rtol=1e-9, atol=1e-9)
    assert len(calls) == 3 + 12  # no product beyond CG's own


def test_trpo_step_respects_kl_bound_and_improves_the_surrogate():
    _, params = small_params()
    data = IterationData([{}] * 3, fixed_trajectories(seed=1), fixed_trajectories(seed=2))
    for algorithm in ("maml", "anil"):
        cfg = RLConfig(algorithm=algorithm, inner_lr=0.1, hidden=6, max_kl=0.01)
        names = adapt_names_for(params, algorithm)
        new, info = meta_step(params, data, cfg, names)
        assert info.backtracks >= 0
        # Independently: the unrolled computation at the new θ, against the old adapted policy.
        _, loss_old, _ = _unrolled(params, data, adapt_names=names)
        _theta_new, _, _ = _unrolled(new, data, adapt_names=names)
        loss_new, kl_new = _loss_and_kl_from_old(params, new, data, names)
        assert kl_new <= cfg.max_kl + 1e-7
        assert kl_new > 0.1 * cfg.max_kl  # the step is not trivially tiny
        assert loss_new < float(loss_old.detach())
        assert abs(loss_new - info.loss_after) < 1e-5 and abs(kl_new - info.kl) < 1e-6
        assert any(not torch.equal(new[k], params[k]) for k in params)


def _loss_and_kl_from_old(old, new, data, names):
    from repsim.models.policy import gaussian_log_prob, policy_mean
    from repsim.rl.objective import adapt_task, gaussian_kl

    tr, va = data.train, data.valid
    losses, kls = [], []
    with torch.no_grad():
        for i in range(tr.tasks):
            args = (tr.obs[i], tr.actions[i], tr.advantages[i], tr.mask[i])
            a_old = adapt_task(old, *args, lr=0.1, adapt_names=names)
            a_new = adapt_task(new, *args, lr=0.1, adapt_names=names)
            m_old, m_new = policy_mean(a_old, va.obs[i]), policy_mean(a_new, va.obs[i])
            ls_old, ls_new = a_old["head.log_std"], a_new["head.log_std"]
            ratio = torch.exp(gaussian_log_prob(m_new, ls_new, va.actions[i])
                              - gaussian_log_prob(m_old, ls_old, va.actions[i]))
            n = va.mask[i].sum()
            losses.append(-(ratio * va.advantages[i] * va.mask[i]).sum() / n)
            kls.append((gaussian_kl(m_old, ls_old, m_new, ls_new) * va.mask[i]).sum() / n)
    return float(torch.stack(losses).mean()), float(torch.stack(kls).mean())
