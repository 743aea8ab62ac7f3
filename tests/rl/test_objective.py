"""The MAML-RL meta-gradient and TRPO's Fisher product against explicit unrolled autograd."""

from __future__ import annotations

import pytest
import torch

from repsim.models.policy import gaussian_log_prob, policy_mean
from repsim.rl.algorithm import IterationData, adapt_names_for, meta_gradient, meta_step
from repsim.rl.config import RLConfig
from repsim.rl.objective import adapt_task, adapted_outputs, gaussian_kl
from repsim.rl.trpo import flatten, unflatten

from ._fixtures import fixed_trajectories, small_params

LR = 0.1


def _data():
    train = fixed_trajectories(seed=1)
    # D' collected by the adapted policies: any fixed batch works for the identity tested.
    valid = fixed_trajectories(seed=2)
    return IterationData(tasks=[{}] * 3, train=train, valid=valid)


def _unrolled(params, data, *, adapt_names, first_order=False):
    """Per-task Python loop with torch.autograd.grad(create_graph=True): the textbook MAML."""
    theta = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    tr, va = data.train, data.valid
    surrogates, kls = [], []
    for i in range(tr.tasks):
        logp = gaussian_log_prob(policy_mean(theta, tr.obs[i]), theta["head.log_std"],
                                 tr.actions[i])
        inner = -(logp * tr.advantages[i] * tr.mask[i]).sum() / tr.mask[i].sum()
        keys = list(adapt_names)
        grads = torch.autograd.grad(inner, [theta[k] for k in keys],
                                    create_graph=not first_order)
        adapted = dict(theta)
        for k, g in zip(keys, grads, strict=False):
            adapted[k] = theta[k] - LR * (g.detach() if first_order else g)
        mean = policy_mean(adapted, va.obs[i])
        log_std = adapted["head.log_std"]
        logp_new = gaussian_log_prob(mean, log_std, va.actions[i])
        logp_old = logp_new.detach()
        ratio = torch.exp(logp_new - logp_old)
        n = va.mask[i].sum()
        surrogates.append((ratio * va.advantages[i] * va.mask[i]).sum() / n)
        kl = gaussian_kl(mean.detach(), log_std.detach(), mean, log_std)
        kls.append((kl * va.mask[i]).sum() / n)
    loss = -torch.stack(surrogates).mean()
    kl = torch.stack(kls).mean()
    return theta, loss, kl


@pytest.mark.parametrize("algorithm", ["maml", "anil", "fomaml"])
def test_meta_gradient_equals_unrolled_create_graph(algorithm):
    _, params = small_params()
    data = _data()
    names = adapt_names_for(params, algorithm)
    cfg = RLConfig(env="nav2d", algorithm=algorithm, inner_lr=LR, hidden=6)
    loss, grad = meta_gradient(params, data, cfg, names)
    theta, ref_loss, _ = _unrolled(params, data, adapt_names=names,
                                   first_order=algorithm == "fomaml")
    ref = torch.autograd.grad(ref_loss, list(theta.values()))
    assert float(loss) == pytest.approx(float(ref_loss.detach()), abs=1e-6)
    for (k, _g), r in zip(theta.items(), ref, strict=False):
        torch.testing.assert_close(grad[k], r, rtol=1e-4, atol=1e-6, msg=k)


def test_second_order_term_matters():
    # Guards the test above: first-order MAML's gradient differs from the second-order one.
    _, params = small_params()
    data = _data()
    names = adapt_names_for(params, "maml")
    g2 = meta_gradient(params, data, RLConfig(algorithm="maml", inner_lr=LR, hidden=6), names)[1]
    g1 = meta_gradient(params, data, RLConfig(algorithm="fomaml", inner_lr=LR, hidden=6), names)[1]
    diff = max(float((g2[k] - g1[k]).abs().max()) for k in g2)
    assert diff > 1e-4


def test_fisher_product_equals_kl_hessian_through_the_inner_step():
    _, params = small_params()
    data = _data()
    names = adapt_names_for(params, "maml")
    theta, _, kl = _unrolled(params, data, adapt_names=names)
    keys = list(theta)
    g = torch.autograd.grad(kl, [theta[k] for k in keys], create_graph=True)
    v = {k: torch.randn_like(params[k]) for k in keys}
    hv = torch.autograd.grad(sum((gi * v[k]).sum() for gi, k in zip(g, keys, strict=False)),
                             [theta[k] for k in keys])
    # repsim's Fisher product, taken from inside meta_step's closure via a probe
    from repsim.rl import algorithm as alg

    seen = {}
    real_trpo = alg.trpo_step

    def probe(params_, grad_, fvp, evaluate, loss_before, **kw):
        seen["fvp"] = fvp(flatten(v, keys))
        return real_trpo(params_, grad_, fvp, evaluate, loss_before, **kw)

    alg.trpo_step = probe
    try:
        meta_step(params, data, RLConfig(algorithm="maml", inner_lr=LR, hidden=6), names)
    finally:
        alg.trpo_step = real_trpo
    got = unflatten(seen["fvp"], params, keys)
    for k, r in zip(keys, hv, strict=False):
        torch.testing.assert_close(got[k], r, rtol=1e-4, atol=1e-6, msg=k)


def test_anil_inner_loop_leaves_the_body_unchanged():
    _, params = small_params()
    tr = fixed_trajectories()
    names = adapt_names_for(params, "anil")
    assert set(names) == {"head.linear.weight", "head.linear.bias", "head.log_std"}
    adapted = adapt_task(params, tr.obs[0], tr.actions[0], tr.advantages[0], tr.mask[0],
                         lr=LR, adapt_names=names)
    for k in params:
        if k.startswith(("fc1.", "fc2.")):
            assert torch.equal(adapted[k], params[k]), k
        else:
            assert not torch.equal(adapted[k], params[k]), k
    # and MAML moves the body
    maml = adapt_task(params, tr.obs[0], tr.actions[0], tr.advantages[0], tr.mask[0],
                      lr=LR, adapt_names=adapt_names_for(params, "maml"))
    assert not torch.equal(maml["fc1.linear.weight"], params["fc1.linear.weight"])


def test_frozen_layers_are_excluded():
    _, params = small_params()
    names = adapt_names_for(params, "maml", frozen=("fc1", "fc2"))
    assert all(n.startswith("head.") for n in names)


def test_adapted_outputs_with_zero_lr_is_the_policy():
    _, params = small_params()
    data = _data()
    from repsim.rl.algorithm import _task_fields

    mean, log_std = adapted_outputs(params, _task_fields(data.train), data.valid.obs, lr=0.0,
                                    adapt_names=adapt_names_for(params, "maml"))
    torch.testing.assert_close(mean, policy_mean(params, data.valid.obs))
    torch.testing.assert_close(log_std, params["head.log_std"].expand(3, -1))


def test_subsampled_fisher_equals_exact_on_duplicated_trajectories():
    # Every trajectory appears twice in a row: every 2nd trajectory is then the same data
    # (same masked means), so the subsampled Fisher product must equal the exact one.
    from dataclasses import replace as dc_replace

    from repsim.rl import algorithm as alg

    _, params = small_params()
    base = _data()

    def twice(t):
        return dc_replace(t, **{f: v.repeat_interleave(2, dim=1) for f, v in t.to_dict().items()})

    data = IterationData(base.tasks, twice(base.train), twice(base.valid))
    names = adapt_names_for(params, "maml")
    v = {k: torch.randn_like(p) for k, p in params.items()}
    keys = list(params)
    got = {}
    real = alg.trpo_step

    def probe(params_, grad_, fvp, evaluate, loss_before, **kw):
        got[len(got)] = fvp(flatten(v, keys))
        return real(params_, grad_, fvp, evaluate, loss_before, **kw)

    alg.trpo_step = probe
    try:
        for k in (1, 2):
            cfg = RLConfig(algorithm="maml", inner_lr=LR, hidden=6, fisher_subsample=k)
            meta_step(params, data, cfg, names)
    finally:
        alg.trpo_step = real
    torch.testing.assert_close(got[1], got[0], rtol=1e-4, atol=1e-6)
    # ... and with distinct trajectories it is only an estimate (the test can fail)
    got.clear()
    alg.trpo_step = probe
    try:
        for k in (1, 2):
            cfg = RLConfig(algorithm="maml", inner_lr=LR, hidden=6, fisher_subsample=k)
            meta_step(params, base, cfg, names)
    finally:
        alg.trpo_step = real
    assert not torch.allclose(got[1], got[0], rtol=1e-3)
