"""Your own nn.Module through capture: learn2learn's layout and standard BatchNorm (issue 11).

Two bugs this pins: torch's functional_call left a module registered under two names (as
learn2learn's OmniglotCNN registers ``base``) holding the substituted tensors; and a nested
``pin_batchnorm`` put nn.BatchNorm2d in eval mode (running statistics) instead of batch mode.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import torch
from torch import nn

from repsim._functional import functional_call
from repsim.capture import adaptation_activations, capture, pin_batchnorm
from repsim.meta import PRESETS, build_model
from repsim.meta.inner import freeze_spec
from repsim.models.interop import to_learn2learn_state_dict

_spec = importlib.util.spec_from_file_location(
    "_api_tests", Path(__file__).with_name("test_python_api.py"))
_api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_api)


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.base = nn.Linear(2, 2)
        self.features = nn.Sequential(self.base)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def test_functional_call_restores_a_module_registered_twice() -> None:
    model = Twice()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    zeros = {"base.weight": torch.zeros(2, 2), "base.bias": torch.ones(2)}
    out = functional_call(model, zeros, (torch.ones(3, 2),))
    assert torch.equal(out, torch.ones(3, 2))
    for name, value in model.named_parameters():
        assert torch.equal(value, before[name]) and isinstance(value, nn.Parameter), name
    assert model.base.weight is model.features[0].weight


def test_nested_pin_keeps_batch_statistics() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    with torch.no_grad():
        net[1].running_mean.fill_(5.0)  # eval mode would show these
    x = torch.randn(6, 1, 8, 8)
    net.train()
    expected = net[1](net[0](x)).detach()
    net.eval()
    with pin_batchnorm(net, "batch"), torch.no_grad():
        got = capture(net, x, ["1"])["1"]
    torch.testing.assert_close(got, expected)
    assert not net.training and net[1].track_running_stats


def test_learn2learn_style_module_matches_repsims_network() -> None:
    """Hook path on a learn2learn-layout module == vmap path on repsim's Conv4 (same weights)."""
    cfg = dataclasses.replace(PRESETS["omniglot-5w1s"])
    torch.manual_seed(2)
    ours = build_model(cfg)
    theirs = _api.L2LOmniglotCNN(5)
    theirs.load_state_dict(to_learn2learn_state_dict(ours, "omniglot"))
    g = torch.Generator().manual_seed(0)
    sx, qx = torch.rand(2, 5, 1, 28, 28, generator=g), torch.rand(2, 10, 1, 28, 28, generator=g)
    sy = torch.arange(5).repeat(2, 1)
    theta = {k: v.detach() for k, v in theirs.named_parameters()}
    a = adaptation_activations(theirs, theta, sx, sy, qx, adapt_names=list(theta), steps=2,
                               lr=0.4, layers=["base.0", "base.3", "classifier"])
    b = adaptation_activations(ours, dict(ours.named_parameters()), sx, sy, qx,
                               adapt_names=freeze_spec(ours, algorithm="maml"), steps=2, lr=0.4)
    assert a.path == "hooks" and b.path == "vmap"
    for mine, repsims in (("base.0", "conv1"), ("base.3", "conv4"), ("classifier", "head")):
        torch.testing.assert_close(a.before[mine], b.before[repsims], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(a.after[mine], b.after[repsims], rtol=1e-4, atol=1e-5)
    theirs.train()
    torch.testing.assert_close(theirs(qx[0]), ours(qx[0]), rtol=1e-4, atol=1e-5)  # untouched
