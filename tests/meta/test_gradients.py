"""Meta-gradients checked against independent computations (explicit unroll, finite differences)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from repsim.meta.algorithms import meta_loss
from repsim.meta.inner import freeze_spec, parameters_of
from repsim.models import conv4_for


def _tasks(t: int = 3, ways: int = 5, side: int = 28, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    sx = torch.rand(t, ways, 1, side, side, generator=g, dtype=torch.float64)
    qx = torch.rand(t, ways, 1, side, side, generator=g, dtype=torch.float64)
    y = torch.arange(ways).repeat(t, 1)
    return sx, y, qx, y.clone()


def _unrolled_meta_loss(model, params, sx, sy, qx, qy, *, steps, lr, adapt, first_order=False):
    """Textbook MAML: per task, explicit autograd.grad(create_graph=True) steps, no torch.func."""
    total = 0.0
    for t in range(sx.shape[0]):
        fast = dict(params)
        for _ in range(steps):
            loss = F.cross_entropy(functional_call(model, fast, (sx[t],)), sy[t])
            grads = torch.autograd.grad(
                loss, [fast[k] for k in adapt], create_graph=not first_order
            )
            if first_order:
                grads = [g.detach() for g in grads]
            fast = {**fast, **{k: fast[k] - lr * g for k, g in zip(adapt, grads, strict=True)}}
        total = total + F.cross_entropy(functional_call(model, fast, (qx[t],)), qy[t])
    return total / sx.shape[0]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = conv4_for("omniglot", 5).double()
    return model, parameters_of(model)


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "anil"])
@pytest.mark.parametrize("vectorize", [True, False])
def test_meta_gradient_matches_explicit_unroll(net, algorithm, vectorize):
    """vmap and loop paths = an explicit create_graph unroll, for every parameter (2 steps)."""
    model, params = net
    sx, sy, qx, qy = _tasks()
    adapt = freeze_spec(model, algorithm=algorithm)
    first_order = algorithm == "fomaml"
    ours, _ = meta_loss(
        model,
        params,
        sx,
        sy,
        qx,
        qy,
        steps=2,
        lr=0.4,
        adapt_names=adapt,
        first_order=first_order,
        vectorize=vectorize,
    )
    ref = _unrolled_meta_loss(
        model, params, sx, sy, qx, qy, steps=2, lr=0.4, adapt=adapt, first_order=first_order
    )
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    g_ours = torch.autograd.grad(ours, list(params.values()))
    g_ref = torch.autograd.grad(ref, list(params.values()))
    for name, a, b in zip(params, g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10, msg=f"{algorithm}: {name}")


def test_vmap_batchnorm_second_order_regression(net):
    """Pins the torch.func bug worked around by BatchStatNorm2d: vmap == loop at second order."""
    model, params = net
    sx, sy, qx, qy = _tasks(seed=3)
    adapt = freeze_spec(model, algorithm="maml")
    grads = []
    for vectorize in (True, False):
        loss, _ = meta_loss(
            model, params, sx, sy, qx, qy, steps=1, lr=0.4, adapt_names=adapt, vectorize=vectorize
        )
        grads.append(torch.autograd.grad(loss, params["conv1.conv.weight"])[0])
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)


class _SmoothNet(nn.Module):
    """tanh MLP: the MAML meta-loss is smooth, so finite differences are meaningful
    (with ReLU, the inner gradient jumps where an activation pattern flips)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x, *, output="logits"):
        h = torch.tanh(self.fc1(x))
        return h if output == "features" else self.head(h)


@pytest.mark.parametrize("algorithm", ["maml", "anil"])
def test_meta_gradient_finite_differences(algorithm):
    """Directional derivative of the second-order meta-loss = central finite difference."""
    torch.manual_seed(1)
    model = _SmoothNet().double()
    params = parameters_of(model)
    g = torch.Generator().manual_seed(2)
    sx = torch.randn(4, 6, 6, generator=g, dtype=torch.float64)
    qx = torch.randn(4, 6, 6, generator=g, dtype=torch.float64)
    y = torch.arange(3).repeat(4, 2)
    adapt = freeze_spec(model, algorithm=algorithm)

    def loss_at(p):
        return meta_loss(model, p, sx, y, qx, y, steps=3, lr=0.5, adapt_names=adapt)[0]

    loss = loss_at(params)
    grads = torch.autograd.grad(loss, list(params.values()))
    eps = 1e-6
    for (name, value), grad in zip(params.items(), grads, strict=True):
        direction = torch.randn(value.shape, generator=g, dtype=torch.float64)
        plus = {**params, name: value.detach() + eps * direction}
        minus = {**params, name: value.detach() - eps * direction}
        fd = (loss_at(plus) - loss_at(minus)) / (2 * eps)
        torch.testing.assert_close((grad * direction).sum(), fd.detach(), rtol=1e-6, atol=1e-9)


def test_first_order_drops_second_order_term(net):
    """FOMAML's gradient differs from MAML's, and equals the query gradient at θ' (no Hessian)."""
    model, params = net
    sx, sy, qx, qy = _tasks(t=1)
    adapt = freeze_spec(model, algorithm="maml")
    grads = {}
    for fo in (False, True):
        loss, _ = meta_loss(
            model, params, sx, sy, qx, qy, steps=1, lr=0.4, adapt_names=adapt, first_order=fo
        )
        grads[fo] = torch.autograd.grad(loss, list(params.values()))
    # First-order: d L_q(θ')/dθ' evaluated at θ' (independent computation).
    detached = {k: v.detach() for k, v in params.items()}
    for k in detached:
        detached[k].requires_grad_(True)
    inner = F.cross_entropy(functional_call(model, detached, (sx[0],)), sy[0])
    step = torch.autograd.grad(inner, list(detached.values()))
    adapted = {
        k: (v - 0.4 * s).detach().requires_grad_(True)
        for (k, v), s in zip(detached.items(), step, strict=True)
    }
    outer = F.cross_entropy(functional_call(model, adapted, (qx[0],)), qy[0])
    expected = torch.autograd.grad(outer, list(adapted.values()))
    for a, b in zip(grads[True], expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-11)
    diff = max(float((a - b).abs().max()) for a, b in zip(grads[True], grads[False], strict=True))
    assert diff > 1e-4, "first- and second-order gradients coincide: the Hessian term is missing"


def test_anil_body_gradient_flows_through_head_adaptation(net):
    """ANIL's body gradient includes the term through the head's inner step: it differs from
    the gradient with the head adapted on detached support features."""
    model, params = net
    sx, sy, qx, qy = _tasks(t=2, seed=5)
    adapt = freeze_spec(model, algorithm="anil")
    assert all(n.startswith("head.") for n in adapt)
    loss, _ = meta_loss(model, params, sx, sy, qx, qy, steps=1, lr=0.4, adapt_names=adapt)
    full = torch.autograd.grad(loss, params["conv2.conv.weight"])[0]

    # Reference without the through-adaptation term: head adapted on detached support features.
    total = 0.0
    for t in range(2):
        fs = functional_call(model, params, (sx[t],), {"output": "features"}).detach()
        w, b = params["head.weight"], params["head.bias"]
        inner = F.cross_entropy(fs @ w.T + b, sy[t])
        gw, gb = torch.autograd.grad(inner, [w, b], create_graph=True)
        fq = functional_call(model, params, (qx[t],), {"output": "features"})
        total = total + F.cross_entropy(fq @ (w - 0.4 * gw).T + (b - 0.4 * gb), qy[t])
    partial = torch.autograd.grad(total / 2, params["conv2.conv.weight"])[0]
    assert float((full - partial).abs().max()) > 1e-6 * float(full.abs().max()) + 1e-9
