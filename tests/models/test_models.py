"""Models: batch-statistics BatchNorm, layer outputs, learn2learn state_dict interop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from repsim.meta import build_model, load_trained
from repsim.meta.config import PRESETS
from repsim.models import BatchStatNorm2d, conv4_for
from repsim.models.interop import from_learn2learn_state_dict


def test_batchstatnorm_equals_torch_batchnorm_in_both_modes():
    """Same numbers as nn.BatchNorm2d(track_running_stats=False), train and eval mode."""
    torch.manual_seed(0)
    ours, ref = BatchStatNorm2d(6), nn.BatchNorm2d(6, track_running_stats=False)
    nn.init.uniform_(ref.weight)
    nn.init.normal_(ref.bias)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(7, 6, 5, 5) * 3 + 2
    for mode in (True, False):
        ours.train(mode)
        ref.train(mode)
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)


def test_layers_output_agrees_with_logits_and_features():
    model = conv4_for("omniglot", 5)
    x = torch.rand(6, 1, 28, 28)
    layers = model(x, output="layers")
    assert list(layers) == ["conv1", "conv2", "conv3", "conv4", "head"]
    torch.testing.assert_close(layers["head"], model(x))
    torch.testing.assert_close(layers["conv4"].mean(dim=(2, 3)), model(x, output="features"))
    mini = conv4_for("miniimagenet", 5)
    assert mini(torch.rand(2, 3, 84, 84), output="features").shape == (2, 800)


def _l2l_omniglot_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename our parameters the way learn2learn's OmniglotCNN + MAML wrapper saves them,
    including the duplicated `base` alias and BatchNorm running buffers."""
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("head."):
            state[f"module.classifier.{key.split('.')[1]}"] = value.clone()
            continue
        layer, sub, tensor = key.split(".")
        block = int(layer[-1]) - 1
        sub = "conv" if sub == "conv" else "normalize"
        state[f"module.features.1.{block}.{sub}.{tensor}"] = value.clone()
        state[f"module.base.{block}.{sub}.{tensor}"] = value.clone()
        if sub == "normalize" and tensor == "weight":
            state[f"module.features.1.{block}.normalize.running_mean"] = torch.zeros_like(value)
    return state


def test_learn2learn_state_dict_maps_onto_conv4(tmp_path):
    """An l2l-named checkpoint loads into an identical network (same outputs)."""
    torch.manual_seed(1)
    source = conv4_for("omniglot", 5)
    target = conv4_for("omniglot", 5)
    target.load_state_dict(from_learn2learn_state_dict(_l2l_omniglot_state(source), target))
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(target(x), source(x))
    path = tmp_path / "l2l.pt"
    torch.save(_l2l_omniglot_state(source), path)
    trained = load_trained(path, config=PRESETS["omniglot-5w1s"])
    assert trained.source == "learn2learn"
    torch.testing.assert_close(trained.model(x), source(x))


def test_interop_errors_list_unknown_and_missing_keys(tmp_path):
    model = build_model(PRESETS["omniglot-5w1s"])
    state = _l2l_omniglot_state(model)
    state["module.extra.weight"] = torch.zeros(3)
    del state["module.classifier.bias"]
    with pytest.raises(ValueError, match=r"unknown keys \['module.extra.weight'\].*head.bias"):
        from_learn2learn_state_dict(state, model)
    state = _l2l_omniglot_state(model)
    state["module.base.0.conv.weight"] = state["module.base.0.conv.weight"] + 1
    with pytest.raises(ValueError, match="two different tensors"):
        from_learn2learn_state_dict(state, model)
    path = tmp_path / "bare.pt"
    torch.save(_l2l_omniglot_state(model), path)
    with pytest.raises(ValueError, match="--preset NAME"):
        load_trained(path)
