"""Read learn2learn-style state_dicts into repsim's networks, and write them back out.

learn2learn's ``OmniglotCNN`` / ``MiniImagenetCNN`` (and the ``ConvBase`` they wrap) name their
parameters like ``features.1.0.conv.weight``, ``features.0.normalize.bias`` or
``base.2.conv.weight`` (``base`` aliases ``features`` in some versions, so both appear), the
head ``classifier.weight``, and a ``MAML``/``DataParallel`` wrapper prefixes ``module.``.
repsim's names are ``conv{i}.conv.weight``, ``conv{i}.bn.weight`` and ``head.weight``.

The reverse, :func:`to_learn2learn_state_dict`, writes the names learn2learn 0.2.0's
``vision/models/cnn4.py`` modules hold, so ``OmniglotCNN(ways).load_state_dict(sd)`` and
``MiniImagenetCNN(ways, hidden_size=32).load_state_dict(sd)`` load it strictly:

- ``OmniglotCNN``: ``self.base`` is a ``ConvBase`` registered twice (as ``base`` and as slot 1
  of ``features``), so every block appears as ``base.{i}.…`` and ``features.1.{i}.…``;
- ``MiniImagenetCNN`` (= ``CNN4``): ``features.{i}.…``;
- each block: ``conv.{weight,bias}``, ``normalize.{weight,bias}`` and the BatchNorm buffers
  ``normalize.{running_mean,running_var,num_batches_tracked}``; the head ``classifier.*``.

repsim normalises with batch statistics only, so the exported running statistics are the
identity (0 mean, 1 variance): use the learn2learn model in ``train()`` mode (batch statistics),
as its MAML examples do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import Tensor, nn

__all__ = ["from_learn2learn_state_dict", "l2l_key_to_repsim", "to_learn2learn_state_dict"]

# block index, sub-layer, tensor name; the optional "1." is the Sequential slot of ConvBase
# inside OmniglotCNN.features (slot 0 is a reshape Lambda).
_BLOCK = re.compile(r"^(?:features|base)\.(?:1\.)?(\d)\.(conv|normalize)\.(weight|bias)$")
_HEAD = re.compile(r"^(?:classifier|linear|head)\.(weight|bias)$")
_IGNORED = re.compile(r"\.(running_mean|running_var|num_batches_tracked)$")


def l2l_key_to_repsim(key: str, own_names: frozenset[str] = frozenset()) -> str | None:
    """Map one learn2learn key to repsim's name; None for buffers repsim does not keep.

    Keys already in repsim's naming (``own_names``) pass through; others raise ``KeyError``.
    """
    key = re.sub(r"^(module\.)+", "", key)
    if _IGNORED.search(key):
        return None  # repsim normalises with batch statistics: running stats are unused
    block = _BLOCK.match(key)
    if block:
        index, sub, tensor = block.groups()
        return f"conv{int(index) + 1}.{'conv' if sub == 'conv' else 'bn'}.{tensor}"
    head = _HEAD.match(key)
    if head:
        return f"head.{head.group(1)}"
    if key in own_names:
        return key
    raise KeyError(key)


def from_learn2learn_state_dict(state: Mapping[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """Translate ``state`` (learn2learn or repsim key names) into ``model``'s state_dict.

    Duplicated ``base.*`` / ``features.*`` entries must agree; they are merged.

    Raises
    ------
    ValueError
        Listing keys that map to nothing, repsim keys left missing, and shape mismatches.
    """
    own = model.state_dict()
    own_names = frozenset(own)
    out: dict[str, Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        if not isinstance(value, Tensor):
            unknown.append(key)
            continue
        try:
            name = l2l_key_to_repsim(key, own_names)
        except KeyError:
            unknown.append(key)
            continue
        if name is None:
            continue
        if name in out and not torch.equal(out[name], value):
            raise ValueError(f"state_dict holds two different tensors for {name} (key {key})")
        out[name] = value
    missing = sorted(set(own) - set(out))
    bad_shapes = [
        f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in out.items()
        if k in own and v.shape != own[k].shape
    ]
    if unknown or missing or bad_shapes:
        raise ValueError(
            "cannot map this state_dict onto the repsim network: "
            f"unknown keys {unknown[:10]}, missing {missing[:10]}, shape mismatches "
            f"{bad_shapes[:5]} (expected learn2learn OmniglotCNN/MiniImagenetCNN or repsim names)"
        )
    return out


def to_learn2learn_state_dict(model: nn.Module, dataset: str) -> dict[str, Tensor]:
    """``model``'s (a repsim Conv4) parameters under learn2learn's key names (module doc).

    Parameters
    ----------
    model : Conv4
        Blocks ``conv1..conv4`` (``conv``, ``bn``) and ``head``.
    dataset : {"omniglot", "miniimagenet"}
        ``OmniglotCNN`` or ``MiniImagenetCNN`` naming.
    """
    if dataset == "omniglot":
        prefixes = ("base.{i}.", "features.1.{i}.")
    elif dataset == "miniimagenet":
        prefixes = ("features.{i}.",)
    else:
        raise ValueError(
            f"learn2learn export covers the conv networks (omniglot, miniimagenet); got {dataset!r}"
        )
    own = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out: dict[str, Tensor] = {}
    for i in range(4):
        block = f"conv{i + 1}"
        if f"{block}.conv.weight" not in own:
            raise ValueError(f"model has no {block}.conv.weight: not a repsim Conv4")
        channels = own[f"{block}.bn.weight"].shape[0]
        like = own[f"{block}.bn.weight"]
        tensors = {
            "conv.weight": own[f"{block}.conv.weight"],
            "conv.bias": own[f"{block}.conv.bias"],
            "normalize.weight": own[f"{block}.bn.weight"],
            "normalize.bias": own[f"{block}.bn.bias"],
            "normalize.running_mean": torch.zeros(channels, dtype=like.dtype),
            "normalize.running_var": torch.ones(channels, dtype=like.dtype),
            "normalize.num_batches_tracked": torch.tensor(0, dtype=torch.long),
        }
        for prefix in prefixes:
            for name, value in tensors.items():
                out[prefix.format(i=i) + name] = value.clone()
    out["classifier.weight"] = own["head.weight"]
    out["classifier.bias"] = own["head.bias"]
    return out
