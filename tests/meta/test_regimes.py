"""Body-training regimes (issue 9) checked against plain PyTorch written independently.

multiclass / multitask: one repsim step = one step of nn.CrossEntropyLoss + torch.optim on the
same batch; NIL training: the loss is the textbook cosine-attention vote written with loops.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from repsim.data.classes import ClassBatches, LabelledBatch
from repsim.data.episodes import ClassPool, Episode
from repsim.meta import TrainConfig, config_from_dict, config_to_dict
from repsim.meta.checkpoint import build_model
from repsim.meta.inner import parameters_of
from repsim.meta.regimes import resolve_config, training_loss


def _pair(config: TrainConfig, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """Two float64 copies of the same initialised network."""
    torch.manual_seed(seed)
    a = build_model(config).double()
    b = build_model(config).double()
    b.load_state_dict(a.state_dict())
    return a, b


def _episode(t: int = 3, ways: int = 5, shots: int = 2, query: int = 3, seed: int = 0) -> Episode:
    g = torch.Generator().manual_seed(seed)
    sx = torch.rand(t, ways * shots, 1, 28, 28, generator=g, dtype=torch.float64)
    qx = torch.rand(t, ways * query, 1, 28, 28, generator=g, dtype=torch.float64)
    # labels permuted per task, as the sampler's random class order makes them
    perms = [torch.randperm(ways, generator=g) for _ in range(t)]
    sy = torch.stack([p.repeat_interleave(shots) for p in perms])
    qy = torch.stack([p.repeat_interleave(query) for p in perms])
    return Episode(sx, sy, qx, qy)


def _assert_same_params(a: nn.Module, b: nn.Module) -> None:
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-9, atol=1e-11, msg=name)


def test_multiclass_step_equals_plain_supervised_step():
    """One multiclass step = nn.CrossEntropyLoss + Adam on the same minibatch of every class."""
    cfg = TrainConfig(algorithm="multiclass", classes=12)
    ours, ref = _pair(cfg)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 6, 1, 28, 28, generator=g, dtype=torch.float64)
    y = torch.randint(0, 12, (2, 6), generator=g)
    opt_a = torch.optim.Adam(ours.parameters(), lr=1e-2)
    opt_b = torch.optim.Adam(ref.parameters(), lr=1e-2)
    loss, acc = training_loss(cfg, ours, parameters_of(ours), LabelledBatch(x, y), adapt_names=())
    opt_a.zero_grad()
    loss.backward()
    opt_a.step()
    out = ref(x.reshape(12, 1, 28, 28))
    ref_loss = nn.CrossEntropyLoss()(out, y.reshape(12))
    opt_b.zero_grad()
    ref_loss.backward()
    opt_b.step()
    torch.testing.assert_close(loss, ref_loss)
    assert float(acc) == pytest.approx(float((out.argmax(1) == y.reshape(12)).double().mean()))
    _assert_same_params(ours, ref)
    assert ours.head.out_features == 12


@pytest.mark.parametrize("vectorize", [True, False])
def test_multitask_step_equals_plain_supervised_steps(vectorize):
    """Shared N-way head, no inner loop: mean over tasks of CE on support ∪ query, SGD step."""
    cfg = TrainConfig(algorithm="multitask", vectorize=vectorize)
    ours, ref = _pair(cfg)
    ep = _episode()
    loss, _ = training_loss(cfg, ours, parameters_of(ours), ep, adapt_names=())
    torch.optim.SGD(ours.parameters(), lr=0.1).zero_grad()
    loss.backward()
    torch.optim.SGD(ours.parameters(), lr=0.1).step()
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    opt.zero_grad()
    losses = []
    for t in range(3):
        x = torch.cat([ep.support_x[t], ep.query_x[t]])  # one batch per task (its BN stats)
        y = torch.cat([ep.support_y[t], ep.query_y[t]])
        losses.append(nn.CrossEntropyLoss()(ref(x), y))
    ref_loss = torch.stack(losses).mean()
    ref_loss.backward()
    opt.step()
    torch.testing.assert_close(loss, ref_loss)
    _assert_same_params(ours, ref)


def _textbook_nil_loss(model: nn.Module, ep: Episode, ways: int) -> torch.Tensor:
    """−log of the cosine-attention vote for the true class, with explicit loops and sums."""
    total = torch.zeros((), dtype=torch.float64)
    for t in range(ep.support_x.shape[0]):
        fs = model.body(ep.support_x[t])
        fq = model.body(ep.query_x[t])
        task_loss = torch.zeros((), dtype=torch.float64)
        for q in range(fq.shape[0]):
            sims = [torch.dot(fq[q], fs[s]) / (fq[q].norm() * fs[s].norm())
                    for s in range(fs.shape[0])]
            weights = [torch.exp(c) for c in sims]
            z = sum(weights)
            vote = sum(w for w, s in zip(weights, range(fs.shape[0]), strict=True)
                       if int(ep.support_y[t, s]) == int(ep.query_y[t, q])) / z
            task_loss = task_loss - torch.log(vote)
        total = total + task_loss / fq.shape[0]
    return total / ep.support_x.shape[0]


@pytest.mark.parametrize("vectorize", [True, False])
def test_nil_training_loss_and_gradient_equal_textbook_vote(vectorize):
    """NIL training: loss and body gradient = hand-written vote; the head gets no gradient."""
    cfg = TrainConfig(algorithm="nil", vectorize=vectorize)
    ours, ref = _pair(cfg)
    ep = _episode(t=2, shots=2, query=2)
    loss, acc = training_loss(cfg, ours, parameters_of(ours), ep, adapt_names=())
    loss.backward()
    ref_loss = _textbook_nil_loss(ref, ep, ways=5)
    ref_loss.backward()
    torch.testing.assert_close(loss, ref_loss)
    for (name, pa), (_, pb) in zip(ours.named_parameters(), ref.named_parameters(), strict=True):
        if name.startswith("head"):
            assert pa.grad is None or not pa.grad.any(), name
        else:
            torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-8, atol=1e-12, msg=name)
    assert 0.0 <= float(acc) <= 1.0


def test_random_regime_has_no_training_loss():
    cfg = TrainConfig(algorithm="random")
    model = build_model(cfg)
    with pytest.raises(ValueError, match="never trained"):
        training_loss(cfg, model, parameters_of(model), _episode(), adapt_names=())


def _toy_pool(n_base: int = 3, per: int = 4) -> ClassPool:
    images = torch.arange(n_base * per * 8 * 8, dtype=torch.float32).reshape(n_base, per, 1, 8, 8)
    images = images / images.max()
    return ClassPool(images, (0, 1, 2, 3), "toy", "train", "h", tuple(map(str, range(n_base))))


def test_class_batches_label_each_image_with_its_rotated_class():
    """Image i of class c is pool image (c // 4, i) turned by rotations[c % 4] quarter turns."""
    pool = _toy_pool()
    src = ClassBatches(pool, per_slot=7, seed=3)
    batch = src.batch(5, 2)
    assert batch.x.shape == (2, 7, 1, 8, 8) and src.n_classes == 12
    for t in range(2):
        classes, images = src._draw(5 + t)
        for j in range(7):
            c, i = int(classes[j]), int(images[j])
            expected = torch.rot90(pool.images[c // 4, i], c % 4, dims=(-2, -1))
            assert int(batch.y[t, j]) == c
            torch.testing.assert_close(batch.x[t, j], expected)
    again = ClassBatches(pool, per_slot=7, seed=3).batch(6, 1)  # slot 6 alone: same draws
    torch.testing.assert_close(again.x[0], batch.x[1])
    assert not torch.equal(ClassBatches(pool, per_slot=7, seed=4).batch(5, 1).y[0], batch.y[0])


def test_resolve_config_fills_the_multiclass_width():
    src = ClassBatches(_toy_pool(), per_slot=2)
    cfg = resolve_config(TrainConfig(algorithm="multiclass"), src)
    assert cfg.classes == 12
    with pytest.raises(ValueError, match="training split has 12 classes"):
        resolve_config(TrainConfig(algorithm="multiclass", classes=5), src)
    assert resolve_config(TrainConfig(algorithm="nil"), src).classes is None


def test_regime_config_validation():
    with pytest.raises(ValueError, match=r"classes .* multiclass pre-training only"):
        TrainConfig(algorithm="maml", classes=10)
    with pytest.raises(ValueError, match="classification regime"):
        TrainConfig(algorithm="nil", dataset="sinusoid", ways=1)
    assert TrainConfig(algorithm="multitask").own_head
    assert not any(TrainConfig(algorithm=a).own_head for a in ("multiclass", "nil", "random"))


def test_old_checkpoint_configs_load_with_the_new_fields_at_their_defaults():
    """A config saved before issue 9's fields existed rebuilds with them unset."""
    old = config_to_dict(TrainConfig())
    for key in ("adapt_layers", "head_input", "head_init", "classes"):
        old.pop(key)
    cfg = config_from_dict(old)
    assert cfg == TrainConfig()
    torch.manual_seed(0)
    a = build_model(cfg)
    torch.manual_seed(0)
    b = build_model(dataclasses.replace(cfg, head_input="mean", head_init="xavier"))
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_random_regime_checkpoint_is_the_untrained_initialisation(tmp_path, shared_data_dir):
    """`train --algo random` saves step 0: exactly the seeded initialisation, no update."""
    from repsim.meta import evaluate_checkpoint, load_trained, train

    cfg = TrainConfig(algorithm="random", seed=7, steps=5, val_tasks=4, meta_batch=2)
    result = train(cfg, out_dir=tmp_path / "r", data_dir=shared_data_dir, progress=False)
    assert result.step == 0
    again = train(cfg, out_dir=tmp_path / "r", data_dir=shared_data_dir, progress=False)
    assert again.last_checkpoint == result.last_checkpoint
    assert len(again.metrics[again.metrics["split"] == "val"]) == 1  # not validated twice
    trained = load_trained(result.last_checkpoint)
    torch.manual_seed(7)
    fresh = build_model(cfg)
    for (name, pa), (_, pb) in zip(trained.model.named_parameters(), fresh.named_parameters(),
                                   strict=True):
        assert torch.equal(pa, pb), name
    with pytest.raises(ValueError, match="no N-way head of its own"):
        evaluate_checkpoint(trained, head="own", tasks=2, data_dir=shared_data_dir)
    nil = evaluate_checkpoint(trained, head="nil", tasks=4, data_dir=shared_data_dir)
    assert 0.0 <= nil.value <= 1.0


@pytest.mark.parametrize("algorithm", ["multiclass", "multitask", "nil"])
def test_regimes_train_resume_exactly_on_omniglot(tmp_path, shared_data_dir, algorithm):
    """Two steps straight = one step, stop, resume one more (same files, same weights)."""
    from repsim.meta import load_trained, train

    cfg = TrainConfig(algorithm=algorithm, steps=2, meta_batch=2, val_tasks=4, val_every=2,
                      checkpoint_every=1)
    full = train(cfg, out_dir=tmp_path / "a", data_dir=shared_data_dir, progress=False)
    train(dataclasses.replace(cfg, steps=1), out_dir=tmp_path / "b", data_dir=shared_data_dir,
          progress=False)
    resumed = train(cfg, out_dir=tmp_path / "b", data_dir=shared_data_dir, progress=False)
    a, b = load_trained(full.last_checkpoint), load_trained(resumed.last_checkpoint)
    for (name, pa), (_, pb) in zip(a.model.named_parameters(), b.model.named_parameters(),
                                   strict=True):
        assert torch.equal(pa, pb), name
    assert np.isfinite(full.metrics["loss"].dropna()).all()
    if algorithm == "multiclass":
        assert a.config.classes == 4400  # 1100 training characters x 4 rotations


def test_shipped_pre_issue9_checkpoint_loads_and_evaluates_unchanged(shared_data_dir):
    """checkpoints/omniglot_5w1s_maml.pt predates the new config fields: it loads with them
    unset, builds the same network (mean before a 64 -> 5 head) and still evaluates."""
    from pathlib import Path

    from repsim.meta import evaluate_checkpoint, load_trained

    path = Path(__file__).resolve().parents[2] / "checkpoints" / "omniglot_5w1s_maml.pt"
    if not path.is_file():
        pytest.skip("shipped checkpoint not in this checkout")
    trained = load_trained(path)
    cfg = trained.config
    assert (cfg.adapt_layers, cfg.head_input, cfg.head_init, cfg.classes) == (None,) * 4
    assert trained.model.head.in_features == 64
    res = evaluate_checkpoint(trained, tasks=20, data_dir=shared_data_dir)
    assert res.value > 0.9  # a trained 5-way model, far above chance (0.2)
