"""repsim.capture.adaptation: θ' per task as the algorithm adapts, activations under θ and θ'."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from repsim.capture import adaptation_activations, comparison_inputs, model_activations
from repsim.meta.inner import adapt, forward, freeze_spec
from repsim.models import conv4_for


@pytest.fixture(scope="module")
def net() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = conv4_for("omniglot", 5)
    return model, {k: v.detach() for k, v in model.named_parameters()}


@pytest.fixture(scope="module")
def tasks() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    sx = torch.rand(3, 5, 1, 28, 28, generator=g)
    sy = torch.arange(5).repeat(3, 1)
    qx = torch.rand(3, 10, 1, 28, 28, generator=g)
    return sx, sy, qx


class Wrapped(nn.Module):
    """The same network without ``output="layers"``: forces the hook path."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        for name in ("conv1", "conv2", "conv3", "conv4", "head"):
            setattr(self, name, getattr(inner, name))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv4(self.conv3(self.conv2(self.conv1(x))))
        return self.head(h.mean(dim=(2, 3)))


def test_after_is_an_explicit_per_task_adaptation(net, tasks):
    """θ'_t from the vmapped path = adapt() called on task t alone, then a plain forward."""
    model, params = net
    sx, sy, qx = tasks
    names = freeze_spec(model, algorithm="maml")
    acts = adaptation_activations(model, params, sx, sy, qx, adapt_names=names, steps=2, lr=0.4)
    assert acts.path == "vmap" and acts.layers == ("conv1", "conv2", "conv3", "conv4", "head")
    for t in range(3):
        theta_t = adapt(model, params, sx[t], sy[t], steps=2, lr=0.4, adapt_names=names)
        ref_after = forward(model, theta_t, qx[t], output="layers")
        ref_before = forward(model, params, qx[t], output="layers")
        for layer in acts.layers:
            torch.testing.assert_close(acts.after[layer][t], ref_after[layer].detach(),
                                       rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(acts.before[layer][t], ref_before[layer].detach())


def test_hook_path_equals_fast_path(net, tasks):
    model, params = net
    sx, sy, qx = tasks
    names = freeze_spec(model, algorithm="maml")
    fast = adaptation_activations(model, params, sx, sy, qx, adapt_names=names, steps=1, lr=0.4)
    hooks = adaptation_activations(Wrapped(model), params, sx, sy, qx, adapt_names=names, steps=1,
                                   lr=0.4)
    assert hooks.path == "hooks"
    for layer in fast.layers:
        torch.testing.assert_close(hooks.after[layer], fast.after[layer], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(hooks.before[layer], fast.before[layer], rtol=1e-4, atol=1e-5)


def test_anil_body_is_bitwise_identical(net, tasks):
    """ANIL adapts only the head: body activations under θ' are θ's exactly; the head moves."""
    model, params = net
    sx, sy, qx = tasks
    acts = adaptation_activations(model, params, sx, sy, qx,
                                  adapt_names=freeze_spec(model, algorithm="anil"), steps=3,
                                  lr=0.4)
    for layer in ("conv1", "conv2", "conv3", "conv4"):
        assert torch.equal(acts.before[layer], acts.after[layer]), layer
    assert not torch.allclose(acts.before["head"], acts.after["head"])


def test_zero_lr_changes_nothing(net, tasks):
    model, params = net
    sx, sy, qx = tasks
    acts = adaptation_activations(model, params, sx, sy, qx,
                                  adapt_names=freeze_spec(model, algorithm="maml"), steps=3, lr=0.0)
    for layer in acts.layers:
        torch.testing.assert_close(acts.before[layer], acts.after[layer], rtol=0, atol=1e-6)


def test_inputs_choice(net, tasks):
    """'both' stacks support then query; 'support' compares on the adaptation images."""
    _, _, qx = tasks
    sx = tasks[0]
    assert torch.equal(comparison_inputs(sx, qx, "both"), torch.cat([sx, qx], 1))
    assert comparison_inputs(sx, qx, "support") is sx
    with pytest.raises(ValueError, match="inputs must be one of"):
        comparison_inputs(sx, qx, "train")


def test_glob_layers_and_unknown_layer(net, tasks):
    model, params = net
    sx, sy, qx = tasks
    acts = adaptation_activations(model, params, sx, sy, qx, adapt_names=(), steps=0, lr=0.4,
                                  layers=["conv[34]"])
    assert acts.layers == ("conv3", "conv4")
    with pytest.raises(ValueError, match=r"named 'fc1'; its layers are conv1"):
        adaptation_activations(model, params, sx, sy, qx, adapt_names=(), steps=0, lr=0.4,
                               layers=["fc1"])


def test_nan_activations_name_the_layer_and_task(net, tasks):
    model, params = net
    sx, sy, qx = (t.clone() for t in tasks)
    qx[2, 0, 0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match=r"layer 'conv1' has NaN/Inf activations under θ "
                                         r"\(before the inner loop\) for task 12"):
        adaptation_activations(model, params, sx, sy, qx, adapt_names=(), steps=0, lr=0.4,
                               task_offset=10)


def test_model_activations_per_task(net, tasks):
    """One parameter set over T tasks: task t is forward(x[t]) with its own batch statistics."""
    model, params = net
    qx = tasks[2]
    acts = model_activations(model, params, qx, layers=["conv2", "head"])
    for t in range(qx.shape[0]):
        ref = forward(model, params, qx[t], output="layers")
        torch.testing.assert_close(acts["conv2"][t], ref["conv2"].detach())
    hooks = model_activations(Wrapped(model), params, qx, layers=["conv2", "head"])
    torch.testing.assert_close(hooks["head"], acts["head"], rtol=1e-5, atol=1e-6)


def test_hook_path_leaves_a_running_stats_model_unchanged():
    """An nn.BatchNorm2d net in train mode: the inner loop and captures run with batch
    statistics and restore its running statistics and mode (the state_dict is untouched)."""

    class BNNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.BatchNorm2d(4), nn.ReLU())
            self.head = nn.Linear(4, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.conv1(x).mean(dim=(2, 3)))

    torch.manual_seed(0)
    model = BNNet().train()
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    params = {k: v.detach() for k, v in model.named_parameters()}
    g = torch.Generator().manual_seed(0)
    sx, qx = torch.rand(2, 5, 1, 9, 9, generator=g), torch.rand(2, 6, 1, 9, 9, generator=g)
    acts = adaptation_activations(model, params, sx, torch.arange(5).repeat(2, 1), qx,
                                  adapt_names=tuple(params), steps=2, lr=0.5)
    assert acts.path == "hooks" and model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert not torch.allclose(acts.before["head"], acts.after["head"])
