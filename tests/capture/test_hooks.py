"""repsim.capture.hooks: recorded outputs, glob patterns, hooks always removed, BatchNorm pinned."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from repsim.capture import capture, record, resolve_layers, stream
from repsim.models import SinusoidMLP, conv4_for


@pytest.fixture(scope="module")
def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return conv4_for("omniglot", 5)


class L2LStyle(nn.Module):
    """learn2learn-like naming: ``features.<i>.conv`` / ``features.<i>.normalize``, classifier."""

    def __init__(self) -> None:
        super().__init__()
        blocks = []
        for i in range(2):
            block = nn.Module()
            block.conv = nn.Conv2d(1 if i == 0 else 4, 4, 3, padding=1)
            block.normalize = nn.BatchNorm2d(4)  # tracks running statistics
            blocks.append(block)
        self.features = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(0.5)
        self.classifier = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.features:
            x = torch.relu(block.normalize(block.conv(x)))
        return self.classifier(self.dropout(x.mean(dim=(2, 3))))


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_patterns_match_segment_by_segment(conv_net):
    """'conv*' is the four blocks (not their sub-modules); 'conv*.bn' their BatchNorms."""
    assert resolve_layers(conv_net, "conv*") == ("conv1", "conv2", "conv3", "conv4")
    assert resolve_layers(conv_net, ["head", "conv*.bn"]) == (
        "conv1.bn", "conv2.bn", "conv3.bn", "conv4.bn", "head")
    assert resolve_layers(L2LStyle(), "features.*.conv") == ("features.0.conv", "features.1.conv")


def test_unknown_layer_lists_the_valid_names(conv_net):
    with pytest.raises(ValueError, match=r"named 'conv9'; its layers are conv1, conv2, conv3, "
                                         r"conv4, head"):
        resolve_layers(conv_net, ["conv1", "conv9"])
    with pytest.raises(ValueError, match="no layers given"):
        resolve_layers(conv_net, [])


def test_recorded_outputs_equal_the_pure_layer_outputs(conv_net):
    """Hooks give what forward(output='layers') computes without hooks (independent path)."""
    x = torch.rand(6, 1, 28, 28)
    with record(conv_net, "*") as rec:  # every top-level layer
        logits = conv_net(x)
    expected = conv_net(x, output="layers")
    assert rec.layers == tuple(expected)
    for name, value in expected.items():
        torch.testing.assert_close(rec[name], value, rtol=0, atol=0)
    torch.testing.assert_close(rec["head"], logits)


def test_capture_uses_the_given_parameters(conv_net):
    """Under θ'' = θ with the head zeroed, the head records exactly its bias."""
    params = {k: v.detach().clone() for k, v in conv_net.named_parameters()}
    params["head.weight"] = torch.zeros_like(params["head.weight"])
    out = capture(conv_net, torch.rand(4, 1, 28, 28), "head", params=params)
    torch.testing.assert_close(out["head"], params["head.bias"].expand(4, -1))


def test_hooks_removed_after_an_error_in_the_block(conv_net):
    before = _hook_count(conv_net)
    conv_net.train()
    with pytest.raises(RuntimeError, match="boom"), record(conv_net, "conv*"):
        assert _hook_count(conv_net) == before + 4
        raise RuntimeError("boom")
    assert _hook_count(conv_net) == before
    assert conv_net.training  # mode restored too


def test_hooks_removed_after_an_error_in_a_hook():
    """A layer returning a non-tensor raises from inside the forward; hooks still go."""

    class TupleOut(nn.Module):
        def forward(self, x):
            return x, x

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pair = TupleOut()
            self.head = nn.Linear(2, 1)

        def forward(self, x):
            return self.head(self.pair(x)[0])

    net = Net()
    with pytest.raises(ValueError, match="'pair' returns a tuple, not a tensor"), \
            record(net, ["pair", "head"]):
        net(torch.rand(3, 2))
    assert _hook_count(net) == 0


def test_batch_mode_uses_batch_statistics_and_leaves_running_stats_alone():
    """'batch': BatchNorm output = F.batch_norm(training=True); running stats unchanged."""
    torch.manual_seed(0)
    net = L2LStyle()
    bn = net.features[0].normalize
    bn.running_mean.fill_(3.0)
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.rand(8, 1, 6, 6)
    out = capture(net, x, ["features.0.conv", "features.0.normalize"], batchnorm="batch")
    conv = out["features.0.conv"]
    expected = F.batch_norm(conv, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
    torch.testing.assert_close(out["features.0.normalize"], expected.detach())
    for key, value in net.state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_running_mode_uses_running_statistics():
    torch.manual_seed(0)
    net = L2LStyle()
    bn = net.features[0].normalize
    bn.running_mean.uniform_(0, 1)
    bn.running_var.uniform_(1, 2)
    x = torch.rand(8, 1, 6, 6)
    out = capture(net, x, ["features.0.conv", "features.0.normalize"], batchnorm="running")
    expected = F.batch_norm(out["features.0.conv"], bn.running_mean, bn.running_var, bn.weight,
                            bn.bias, training=False, eps=bn.eps)
    torch.testing.assert_close(out["features.0.normalize"], expected.detach())


def test_dropout_is_off_while_recording():
    """Two recordings of the same batch agree: every non-BatchNorm module is in eval mode."""
    net = L2LStyle().train()
    x = torch.rand(8, 1, 6, 6)
    a = capture(net, x, "classifier")["classifier"]
    b = capture(net, x, "classifier")["classifier"]
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert net.training and net.dropout.training


def test_running_mode_refused_without_running_statistics(conv_net):
    with pytest.raises(ValueError, match="batchnorm='running' needs running statistics"):
        capture(conv_net, torch.rand(2, 1, 28, 28), "conv1", batchnorm="running")
    with pytest.raises(ValueError, match="batchnorm must be one of"):
        capture(conv_net, torch.rand(2, 1, 28, 28), "conv1", batchnorm="eval")


def test_batchnorm_mode_is_stated(conv_net):
    with record(conv_net, "conv1") as rec:
        conv_net(torch.rand(2, 1, 28, 28))
    assert rec.batchnorm.startswith("batch statistics")


def test_on_output_streams_instead_of_storing():
    """Minibatches go to the callback one at a time; nothing is kept."""
    net = SinusoidMLP()
    seen: list[tuple[str, tuple[int, ...]]] = []
    with record(net, "fc*", on_output=lambda n, t: seen.append((n, tuple(t.shape)))) as rec:
        for xb in torch.rand(30, 1).split(10):
            net(xb)
    assert seen == [("fc1", (10, 40)), ("fc2", (10, 40))] * 3
    assert rec.calls == {"fc1": 3, "fc2": 3}
    with pytest.raises(ValueError, match="did not run"):
        rec["fc1"]


def test_stream_matches_one_capture_per_batch():
    net = SinusoidMLP()
    batches = list(torch.rand(20, 1).split(5))
    for xb, got in zip(batches, stream(net, batches, "fc2"), strict=True):
        torch.testing.assert_close(got["fc2"], net(xb, output="layers")["fc2"])


def test_several_calls_are_stacked_as_samples():
    net = SinusoidMLP()
    x = torch.rand(12, 1)
    with record(net, "fc1") as rec:
        net(x[:5])
        net(x[5:])
    torch.testing.assert_close(rec["fc1"], net(x, output="layers")["fc1"])
