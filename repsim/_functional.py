"""``torch.func.functional_call`` that leaves modules registered under two names intact.

learn2learn's ``OmniglotCNN`` registers its conv stack twice (``self.base`` and
``self.features[1]``). For such a module, torch 2.13's ``functional_call`` does not put the
original parameters back afterwards: each aliased tensor is swapped in twice, so the second
"original" it saves is already the substitute, and the model keeps the substitute. Every later
plain forward then silently uses θ' (or a tensor from inside a grad transform). This wrapper
remembers the aliased modules' own parameters and buffers and restores them itself.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["aliased_modules", "functional_call"]

_ALIASED: weakref.WeakKeyDictionary[nn.Module, tuple[nn.Module, ...]] = (
    weakref.WeakKeyDictionary()
)


def aliased_modules(model: nn.Module) -> tuple[nn.Module, ...]:
    """Sub-modules reachable under more than one name (cached per model)."""
    try:
        return _ALIASED[model]
    except KeyError:
        pass
    names: dict[int, str] = {}
    found: dict[int, nn.Module] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if id(module) in names and names[id(module)] != name:
            found[id(module)] = module
        names.setdefault(id(module), name)
    _ALIASED[model] = tuple(found.values())
    return _ALIASED[model]


def functional_call(
    model: nn.Module,
    params: Mapping[str, Tensor],
    args: Any,
    kwargs: dict[str, Any] | None = None,
    *,
    strict: bool = False,
) -> Any:
    """``torch.func.functional_call(model, params, args, kwargs, strict=strict)``, restoring
    aliased modules' tensors afterwards (module docstring)."""
    aliased = aliased_modules(model)
    if not aliased:
        return torch.func.functional_call(model, dict(params), args, kwargs, strict=strict)
    saved = [(m, dict(m._parameters), dict(m._buffers), set(vars(m))) for m in aliased]
    try:
        return torch.func.functional_call(model, dict(params), args, kwargs, strict=strict)
    finally:
        for module, parameters, buffers, attributes in saved:
            for stray in set(vars(module)) - attributes:
                delattr(module, stray)
            module._parameters.update(parameters)
            module._buffers.update(buffers)
