"""NIL head and evaluation paths against textbook computations."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from repsim.meta.algorithms import nil_scores
from repsim.meta.evaluate import evaluate_tasks
from repsim.meta.inner import adapt, freeze_spec, parameters_of
from repsim.models import conv4_for


class _Eps:
    def __init__(self, t=6, ways=5, shots=2, query=3, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.support_x = torch.rand(t, ways * shots, 1, 28, 28, generator=g)
        self.query_x = torch.rand(t, ways * query, 1, 28, 28, generator=g)
        self.support_y = torch.arange(ways).repeat_interleave(shots).repeat(t, 1)
        self.query_y = torch.arange(ways).repeat_interleave(query).repeat(t, 1)


def test_nil_scores_match_a_textbook_matching_network_vote():
    torch.manual_seed(0)
    model = conv4_for("omniglot", 5)
    params = parameters_of(model)
    eps = _Eps(t=1)
    sx, sy, qx = eps.support_x[0], eps.support_y[0], eps.query_x[0]
    scores = nil_scores(model, params, sx, sy, qx, ways=5)
    fs, fq = model.body(sx), model.body(qx)
    expected = torch.zeros(len(qx), 5)
    for q in range(len(qx)):
        sims = torch.stack([F.cosine_similarity(fq[q], fs[s], dim=0) for s in range(len(sx))])
        weights = torch.softmax(sims, dim=0)
        for s in range(len(sx)):
            expected[q, sy[s]] += weights[s]
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-6)


def test_evaluate_tasks_matches_a_per_task_loop():
    """vmapped evaluation (chunks of 4) = adapting each task alone and scoring its query set."""
    torch.manual_seed(0)
    model = conv4_for("omniglot", 5)
    params = {k: v.detach() for k, v in parameters_of(model).items()}
    eps = _Eps()
    result = evaluate_tasks(model, params, eps, algorithm="maml", steps=2, lr=0.4, chunk=4)
    assert result.per_task.shape == (6, 3)
    names = freeze_spec(model, algorithm="maml")
    for t in range(6):
        path = adapt(
            model,
            params,
            eps.support_x[t],
            eps.support_y[t],
            steps=2,
            lr=0.4,
            adapt_names=names,
            trajectory=True,
        )
        for s, p in enumerate(path):
            logits = torch.func.functional_call(model, p, (eps.query_x[t],))
            acc = (logits.argmax(-1) == eps.query_y[t]).float().mean()
            assert abs(float(acc) - float(result.per_task[t, s])) < 1e-6


def test_frozen_layers_stay_fixed_in_the_inner_loop():
    torch.manual_seed(0)
    model = conv4_for("omniglot", 5)
    params = parameters_of(model)
    eps = _Eps(t=1)
    names = freeze_spec(model, algorithm="maml", frozen=["conv1", "conv2"])
    new = adapt(
        model, params, eps.support_x[0], eps.support_y[0], steps=1, lr=0.4, adapt_names=names
    )
    for key in params:
        same = torch.equal(new[key], params[key])
        assert same == key.startswith(("conv1.", "conv2.")), key
    anil = freeze_spec(model, algorithm="anil")
    assert anil == ("head.weight", "head.bias")


def test_anil_head_only_fast_path_equals_full_model_adaptation():
    """The ANIL shortcut (body once, head-only steps) = adapting the head through the full net."""
    from repsim.meta.algorithms import task_eval, task_meta_loss

    torch.manual_seed(0)
    model = conv4_for("omniglot", 5).double()
    params = parameters_of(model)
    eps = _Eps(t=1)
    sx, sy, qx, qy = (
        eps.support_x[0].double(),
        eps.support_y[0],
        eps.query_x[0].double(),
        eps.query_y[0],
    )
    names = freeze_spec(model, algorithm="anil")
    loss, _ = task_meta_loss(
        model,
        params,
        sx,
        sy,
        qx,
        qy,
        steps=3,
        lr=0.4,
        adapt_names=names,
        first_order=False,
        task="classification",
    )
    full = adapt(model, params, sx, sy, steps=3, lr=0.4, adapt_names=names)
    ref = F.cross_entropy(torch.func.functional_call(model, full, (qx,)), qy)
    torch.testing.assert_close(loss, ref)
    for g_fast, g_ref in zip(
        torch.autograd.grad(loss, list(params.values())),
        torch.autograd.grad(ref, list(params.values())),
        strict=True,
    ):
        torch.testing.assert_close(g_fast, g_ref)
    accs = task_eval(
        model,
        params,
        sx,
        sy,
        qx,
        qy,
        steps=3,
        lr=0.4,
        adapt_names=names,
        task="classification",
        head="adapted",
        ways=5,
    )
    path = adapt(model, params, sx, sy, steps=3, lr=0.4, adapt_names=names, trajectory=True)
    for s, p in enumerate(path):
        logits = torch.func.functional_call(model, p, (qx,))
        assert float(accs[s]) == float((logits.argmax(-1) == qy).double().mean())
