"""Regimes between rapid learning and feature reuse (issue 9): top-k inner loops and BOIL.

Meta-gradients are checked against an explicit create_graph unroll written here (no torch.func);
k = 1 against ANIL and k = all against MAML; what the inner loop may touch against θ itself.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from repsim.meta import TrainConfig
from repsim.meta.algorithms import meta_loss
from repsim.meta.checkpoint import build_model
from repsim.meta.inner import adapt, freeze_spec, layer_of, parameters_of
from repsim.models import conv4_for

LAYERS = ("conv1", "conv2", "conv3", "conv4", "head")


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = conv4_for("omniglot", 5).double()
    return model, parameters_of(model)


def _tasks(t: int = 2, ways: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    sx = torch.rand(t, ways, 1, 28, 28, generator=g, dtype=torch.float64)
    qx = torch.rand(t, ways, 1, 28, 28, generator=g, dtype=torch.float64)
    y = torch.arange(ways).repeat(t, 1)
    return sx, y, qx, y.clone()


def _unrolled(model, params, sx, sy, qx, qy, *, layers, steps=2, lr=0.4):
    """Textbook second-order meta-loss adapting the parameters of ``layers`` only."""
    adapt_keys = [k for k in params if layer_of(k) in layers]
    total = 0.0
    for t in range(sx.shape[0]):
        fast = dict(params)
        for _ in range(steps):
            loss = F.cross_entropy(functional_call(model, fast, (sx[t],)), sy[t])
            grads = torch.autograd.grad(loss, [fast[k] for k in adapt_keys], create_graph=True)
            fast = {**fast, **{k: fast[k] - lr * g for k, g in zip(adapt_keys, grads,
                                                                    strict=True)}}
        total = total + F.cross_entropy(functional_call(model, fast, (qx[t],)), qy[t])
    return total / sx.shape[0]


def _grads(loss, params):
    return torch.autograd.grad(loss, list(params.values()))


def _meta_grads(model, params, names, batch):
    loss, _ = meta_loss(model, params, *batch, steps=2, lr=0.4, adapt_names=names)
    return _grads(loss, params)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_top_k_adapts_exactly_the_top_k_layers(net, k):
    model, _ = net
    names = freeze_spec(model, algorithm="maml", adapt_layers=k)
    assert sorted({layer_of(n) for n in names}) == sorted(LAYERS[5 - k:])


@pytest.mark.parametrize("k", [2, 3])
def test_top_k_meta_gradient_matches_explicit_unroll(net, k):
    model, params = net
    batch = _tasks()
    ours = _meta_grads(model, params, freeze_spec(model, algorithm="maml", adapt_layers=k), batch)
    ref = _grads(_unrolled(model, params, *batch, layers=LAYERS[5 - k:]), params)
    for name, a, b in zip(params, ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10, msg=name)


def test_top_1_equals_anil_and_top_5_equals_maml(net):
    """k = 1 is ANIL's meta-gradient; k = all is MAML's (every parameter, second order)."""
    model, params = net
    batch = _tasks()
    top1 = _meta_grads(model, params, freeze_spec(model, algorithm="maml", adapt_layers=1), batch)
    anil = _meta_grads(model, params, freeze_spec(model, algorithm="anil"), batch)
    anil_ref = _grads(_unrolled(model, params, *batch, layers=("head",)), params)
    top5 = _meta_grads(model, params, freeze_spec(model, algorithm="maml", adapt_layers=5), batch)
    maml = _meta_grads(model, params, freeze_spec(model, algorithm="maml"), batch)
    for name, a, b, c, d, e in zip(params, top1, anil, anil_ref, top5, maml, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=f"k=1 vs ANIL: {name}")
        torch.testing.assert_close(a, c, rtol=1e-7, atol=1e-10, msg=f"k=1 vs unroll: {name}")
        torch.testing.assert_close(d, e, rtol=1e-9, atol=1e-12, msg=f"k=5 vs MAML: {name}")
    # and the body's meta-gradient is not zero: ANIL is second order through the head's step
    assert any(g.abs().max() > 0 for n, g in zip(params, top1, strict=True) if "conv" in n)


def test_top_k_inner_loop_leaves_lower_layers_unchanged(net):
    model, params = net
    sx, sy, _, _ = _tasks(t=1)
    names = freeze_spec(model, algorithm="maml", adapt_layers=2)
    after = adapt(model, params, sx[0], sy[0], steps=3, lr=0.4, adapt_names=names)
    for key, value in params.items():
        changed = not torch.equal(after[key], value)
        assert changed == (layer_of(key) in ("conv4", "head")), key


def test_boil_inner_loop_leaves_the_head_unchanged_and_adapts_the_body(net):
    model, params = net
    sx, sy, _, _ = _tasks(t=1)
    names = freeze_spec(model, algorithm="boil")
    after = adapt(model, params, sx[0], sy[0], steps=2, lr=0.4, adapt_names=names)
    for key, value in params.items():
        if layer_of(key) == "head":
            assert torch.equal(after[key], value), key
        elif key.endswith("conv.weight"):
            assert not torch.equal(after[key], value), key


def test_boil_meta_gradient_matches_explicit_unroll(net):
    model, params = net
    batch = _tasks()
    ours = _meta_grads(model, params, freeze_spec(model, algorithm="boil"), batch)
    ref = _grads(_unrolled(model, params, *batch, layers=LAYERS[:4]), params)
    for name, a, b in zip(params, ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10, msg=name)


def test_adapt_layers_validation(net):
    model, _ = net
    with pytest.raises(ValueError, match="applies to maml/fomaml"):
        TrainConfig(algorithm="anil", adapt_layers=2)
    with pytest.raises(ValueError, match="adapt_layers must be >= 1"):
        TrainConfig(adapt_layers=0)
    with pytest.raises(ValueError, match=r"adapt_layers must be in 1\.\.5"):
        freeze_spec(model, algorithm="maml", adapt_layers=6)


def test_flatten_head_input_reads_every_position():
    """Omniglot conv4 maps are 64 x 2 x 2: flatten gives a 256-wide head; mean gives 64."""
    torch.manual_seed(0)
    flat = build_model(TrainConfig(head_input="flatten"))
    torch.manual_seed(0)
    mean = build_model(TrainConfig())
    assert (flat.feature_dim, flat.head.in_features, mean.head.in_features) == (256, 256, 64)
    x = torch.rand(3, 1, 28, 28)
    maps = flat(x, output="layers")
    assert maps["conv4"].shape == (3, 64, 2, 2)
    torch.testing.assert_close(flat.body(x), maps["conv4"].reshape(3, 256))
    torch.testing.assert_close(flat(x), maps["head"])
    torch.testing.assert_close(mean.body(x), maps["conv4"].mean(dim=(2, 3)))  # same body init


def test_zero_head_init_keeps_the_body_initialisation():
    torch.manual_seed(3)
    zero = build_model(TrainConfig(head_init="zeros"))
    torch.manual_seed(3)
    xavier = build_model(TrainConfig())
    assert not zero.head.weight.any() and not zero.head.bias.any()
    for (name, a), (_, b) in zip(zero.named_parameters(), xavier.named_parameters(), strict=True):
        if not name.startswith("head"):
            assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="head_init must be one of xavier, zeros"):
        TrainConfig(head_init="ones")


def test_boil_and_top_k_train_and_record_their_config(tmp_path, shared_data_dir):
    """Config fields reach the checkpoint; evaluation adapts the way training did."""
    from repsim.meta import evaluate_checkpoint, load_trained, train

    for name, cfg in {
        "boil": TrainConfig(algorithm="boil", steps=1, meta_batch=2, val_tasks=4),
        "top2": TrainConfig(adapt_layers=2, steps=1, meta_batch=2, val_tasks=4,
                            head_input="flatten", head_init="zeros"),
    }.items():
        result = train(cfg, out_dir=tmp_path / name, data_dir=shared_data_dir, progress=False)
        trained = load_trained(result.last_checkpoint)
        assert trained.config == cfg
        res = evaluate_checkpoint(trained, head="own", tasks=4, data_dir=shared_data_dir)
        assert len(res.per_step) == cfg.test_inner_steps + 1
