"""The notebook path: one call to θ/θ' activations, presets for bare state_dicts, learn2learn
export (issue 11)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.func import functional_call

import repsim
from repsim.meta import PRESETS, InnerLoop, TrainedModel, build_model, load_trained
from repsim.meta.checkpoint import export_learn2learn, save_checkpoint
from repsim.meta.tasks import task_source
from repsim.models.interop import from_learn2learn_state_dict, to_learn2learn_state_dict

SHIPPED_MAML = Path(__file__).resolve().parents[2] / "checkpoints" / "omniglot_5w1s_maml.pt"


def test_inner_loop_activations_match_an_explicit_unroll() -> None:
    """θ' from plain autograd SGD steps; the head's output under θ and θ' must agree."""
    cfg = dataclasses.replace(PRESETS["sinusoid"], inner=InnerLoop(steps=1, lr=0.02),
                              test_inner_steps=3)
    torch.manual_seed(0)
    trained = TrainedModel(model=build_model(cfg), config=cfg, step=0)
    acts = repsim.inner_loop_activations(trained, tasks=3, query=None)
    assert set(acts.before) == {"fc1", "fc2", "head"} and acts.steps == 3
    episodes = task_source(cfg, split="test", seed=0).batch(0, 3)
    for t in range(3):
        params = {k: v.detach().clone().requires_grad_() for k, v in
                  trained.model.named_parameters()}
        theta = {k: v.detach() for k, v in params.items()}
        for _ in range(3):
            pred = functional_call(trained.model, params, (episodes.support_x[t],))
            loss = nn.functional.mse_loss(pred, episodes.support_y[t])
            grads = torch.autograd.grad(loss, list(params.values()))
            params = {k: v - 0.02 * g for (k, v), g in zip(params.items(), grads, strict=True)}
        with torch.no_grad():
            after = functional_call(trained.model, params, (episodes.query_x[t],))
            before = functional_call(trained.model, theta, (episodes.query_x[t],))
        torch.testing.assert_close(acts.after["head"][t], after, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(acts.before["head"][t], before, rtol=0, atol=0)
        assert not torch.allclose(acts.after["head"][t], acts.before["head"][t])


def test_inner_loop_activations_on_the_shipped_checkpoint(shared_data_dir) -> None:
    acts = repsim.inner_loop_activations(SHIPPED_MAML, tasks=2, data_dir=shared_data_dir)
    assert acts.before["conv1"].shape == (2, 75, 64, 14, 14)
    assert acts.after["head"].shape == (2, 75, 5)
    assert "head.weight" in acts.adapted and acts.steps == 3


# ---------------------------------------------------------------- learn2learn, both ways
class _L2LBlock(nn.Module):
    """learn2learn 0.2.0 cnn4.ConvBlock's attribute names: conv, normalize (BatchNorm2d)."""

    def __init__(self, c_in: int, c_out: int, max_pool: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=1 if max_pool else 2, padding=1)
        self.normalize = nn.BatchNorm2d(c_out)
        self.max_pool = nn.MaxPool2d(2) if max_pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.max_pool(torch.relu(self.normalize(self.conv(x))))


class _Lambda(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class L2LOmniglotCNN(nn.Module):
    """The module tree of learn2learn's OmniglotCNN: ``base`` registered on its own and as
    ``features[1]`` (so its tensors appear under both names), head ``classifier``."""

    def __init__(self, ways: int = 5) -> None:
        super().__init__()
        self.base = nn.Sequential(*[_L2LBlock(1 if i == 0 else 64, 64, False) for i in range(4)])
        self.features = nn.Sequential(
            _Lambda(lambda x: x.view(-1, 1, 28, 28)), self.base,
            _Lambda(lambda x: x.mean(dim=[2, 3])), nn.Flatten())
        self.classifier = nn.Linear(64, ways)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class L2LMiniImagenetCNN(nn.Module):
    """learn2learn's CNN4 (= MiniImagenetCNN) with hidden_size=32: ``features.{i}``."""

    def __init__(self, ways: int = 5) -> None:
        super().__init__()
        self.features = nn.Sequential(*[_L2LBlock(3 if i == 0 else 32, 32, True)
                                        for i in range(4)])
        self.classifier = nn.Linear(800, ways)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


@pytest.mark.parametrize(("dataset", "l2l_cls", "shape"), [
    ("omniglot", L2LOmniglotCNN, (10, 1, 28, 28)),
    ("miniimagenet", L2LMiniImagenetCNN, (10, 3, 84, 84)),
])
def test_learn2learn_export_round_trip(tmp_path, dataset, l2l_cls, shape) -> None:
    cfg = dataclasses.replace(PRESETS[f"{dataset}-5w1s"])
    torch.manual_seed(1)
    ours = build_model(cfg)
    with torch.no_grad():  # non-trivial BatchNorm parameters
        for name, p in ours.named_parameters():
            if ".bn." in name:
                p.add_(torch.randn_like(p) * 0.1)
    exported = to_learn2learn_state_dict(ours, dataset)
    theirs = l2l_cls(5)
    theirs.load_state_dict(exported, strict=True)  # every key name and shape matches
    theirs.train()  # batch statistics, as repsim (running stats are the identity)
    x = torch.randn(shape)
    torch.testing.assert_close(theirs(x), ours(x), rtol=1e-5, atol=1e-5)
    # ... and back: the same tensors
    back = from_learn2learn_state_dict(theirs.state_dict(), build_model(cfg))
    for key, value in ours.state_dict().items():
        assert torch.equal(back[key], value), key


def test_export_learn2learn_file_loads_with_a_preset(tmp_path) -> None:
    out = export_learn2learn(SHIPPED_MAML, tmp_path / "l2l.pt")
    raw = torch.load(out, weights_only=True)
    assert "base.0.conv.weight" in raw and "features.1.3.normalize.running_var" in raw
    with pytest.raises(repsim._io.CheckpointError, match="--preset NAME"):
        load_trained(out)
    back = load_trained(out, config="omniglot-5w1s")
    original = load_trained(SHIPPED_MAML)
    assert back.source == "learn2learn"
    for key, value in original.model.state_dict().items():
        assert torch.equal(back.model.state_dict()[key], value)
    with pytest.raises(ValueError, match="unknown preset 'omniglot-9w'; valid: omniglot-5w1s"):
        load_trained(out, config="omniglot-9w")


def test_export_refuses_the_sinusoid_net(tmp_path) -> None:
    cfg = PRESETS["sinusoid"]
    model = build_model(cfg)
    path = save_checkpoint(tmp_path / "s.pt", {
        "format": "repsim-checkpoint", "version": 1,
        "config": repsim.meta.config_to_dict(cfg), "step": 0, "model": model.state_dict()})
    with pytest.raises(ValueError, match="sinusoid regressor"):
        export_learn2learn(path, tmp_path / "out.pt")


def test_python_loaders_take_config_for_a_bare_state_dict(tmp_path, shared_data_dir) -> None:
    l2l = export_learn2learn(SHIPPED_MAML, tmp_path / "l2l.pt")
    a = repsim.evaluate_checkpoint(SHIPPED_MAML, tasks=10, data_dir=shared_data_dir)
    b = repsim.evaluate_checkpoint(l2l, tasks=10, data_dir=shared_data_dir, config="omniglot-5w1s")
    assert a.per_step == b.per_step
    fa = repsim.ablate(SHIPPED_MAML, tasks=4, data_dir=shared_data_dir)
    fb = repsim.ablate(l2l, tasks=4, data_dir=shared_data_dir, config="omniglot-5w1s")
    assert fa["accuracy"].tolist() == fb["accuracy"].tolist()
    ca = repsim.compare(SHIPPED_MAML, tasks=2, data_dir=shared_data_dir, layers=["head"])
    cb = repsim.compare(l2l, tasks=2, data_dir=shared_data_dir, layers=["head"],
                        config="omniglot-5w1s")
    assert ca["mean"].tolist() == cb["mean"].tolist()
