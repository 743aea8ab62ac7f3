"""The inner loop as a pure function of parameters (``torch.func``).

Parameters are dicts ``{name: Tensor}`` as returned by ``model.named_parameters()``; a parameter
belongs to the *layer* named by the first component of its name (``conv3.bn.weight`` → ``conv3``).
:func:`adapt` returns new parameters and mutates nothing, so it can run inside ``torch.func.vmap``
(one task, lifted over a meta-batch) and be differentiated by the outer loop: with
``first_order=False`` the returned parameters keep the graph of the inner gradient steps
(second-order MAML); with ``first_order=True`` the inner gradients are detached (FOMAML).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import grad

from repsim._functional import functional_call
from repsim.models.conv_gemm import standard_layout

__all__ = [
    "Params",
    "adapt",
    "detach_params",
    "forward",
    "freeze_spec",
    "layer_names",
    "layer_of",
    "loss_for",
    "parameters_of",
    "params_in_layers",
    "validate_layers",
]

Params = dict[str, Tensor]
TaskKind = Literal["classification", "regression"]


def layer_of(param_name: str) -> str:
    """The layer a parameter belongs to: ``"conv3.bn.weight"`` → ``"conv3"``."""
    return param_name.split(".", 1)[0]


def layer_names(model: nn.Module) -> tuple[str, ...]:
    """Names of the model's layers that own parameters, in registration order."""
    seen: dict[str, None] = {}
    for name, _ in model.named_parameters():
        seen.setdefault(layer_of(name), None)
    return tuple(seen)


def validate_layers(
    model: nn.Module, layers: Iterable[str], *, what: str = "layer"
) -> tuple[str, ...]:
    """Check that every name in ``layers`` is a layer of ``model``; list the valid ones if not."""
    valid = layer_names(model)
    layers = tuple(layers)
    bad = [name for name in layers if name not in valid]
    if bad:
        raise ValueError(f"unknown {what} name(s) {bad}; this model's layers are {list(valid)}")
    return layers


def params_in_layers(params: Mapping[str, Tensor], layers: Iterable[str]) -> tuple[str, ...]:
    """Names of the parameters that belong to ``layers``."""
    wanted = set(layers)
    return tuple(name for name in params if layer_of(name) in wanted)


def loss_for(task: TaskKind) -> Callable[[Tensor, Tensor], Tensor]:
    """Cross-entropy for classification, mean squared error for regression."""
    if task == "classification":
        return F.cross_entropy
    if task == "regression":
        return F.mse_loss
    raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")


def forward(
    model: nn.Module,
    params: Mapping[str, Tensor],
    x: Tensor,
    *,
    output: Literal["logits", "features", "layers"] = "logits",
) -> Tensor | dict[str, Tensor]:
    """Run ``model`` with ``params`` substituted for its own (buffers are the module's)."""
    return functional_call(model, dict(params), (x,), {"output": output})


def adapt(
    model: nn.Module,
    params: Mapping[str, Tensor],
    support_x: Tensor,
    support_y: Tensor,
    *,
    steps: int,
    lr: float,
    adapt_names: Iterable[str] | None = None,
    first_order: bool = False,
    task: TaskKind = "classification",
    trajectory: bool = False,
) -> Params | list[Params]:
    """Adapt ``params`` to one task's support set by ``steps`` steps of gradient descent.

    θ'_0 = θ;  θ'_{s+1} = θ'_s − lr · ∇_{θ'} L_support(θ'_s)  for the parameters named in
    ``adapt_names`` (all of them if None); the others stay at θ (frozen in the inner loop).

    Parameters
    ----------
    model : nn.Module
        Supplies the architecture; its own parameters are not used or changed.
    params : dict of str to Tensor
        θ. Gradients of the outer loop flow into these tensors.
    support_x : Tensor of shape (n_support, ...)
    support_y : Tensor of shape (n_support,) (int labels) or (n_support, 1) (regression targets)
    steps, lr : int, float
        Number of inner steps and their size.
    adapt_names : iterable of str, optional
        Parameter names adapted in the inner loop (e.g. the head's only, for ANIL).
    first_order : bool, default=False
        Detach the inner gradients (first-order MAML): the meta-gradient then ignores the
        Hessian term of the inner steps.
    task : {"classification", "regression"}
    trajectory : bool, default=False
        Return ``[θ'_0, θ'_1, ..., θ'_steps]`` instead of ``θ'_steps``.

    Returns
    -------
    dict of str to Tensor, or list of them
        The adapted parameters (all names of ``params``).
    """
    loss_fn = loss_for(task)
    names = tuple(params) if adapt_names is None else tuple(adapt_names)
    frozen = {k: v for k, v in params.items() if k not in names}
    fast = {k: params[k] for k in names}

    def support_loss(fast_params: Params) -> Tensor:
        # differentiated twice unless first-order: conv layouts that suit a double backward
        with standard_layout(not first_order):
            out = functional_call(model, {**frozen, **fast_params}, (support_x,))
        return loss_fn(out, support_y)

    path = [dict(params)] if trajectory else []
    for _ in range(steps):
        grads = grad(support_loss)(fast)
        if first_order:
            grads = {k: g.detach() for k, g in grads.items()}
        fast = {k: fast[k] - lr * grads[k] for k in fast}
        if trajectory:
            path.append({**frozen, **fast})
    if trajectory:
        return path
    return {**frozen, **fast}


def parameters_of(model: nn.Module) -> Params:
    """θ as a dict of the model's own parameter tensors (leaves of the outer optimisation)."""
    return dict(model.named_parameters())


def detach_params(params: Mapping[str, Tensor]) -> Params:
    """A copy of ``params`` cut from any graph (for evaluation and analyses)."""
    return {k: v.detach() for k, v in params.items()}


def freeze_spec(
    model: nn.Module,
    *,
    algorithm: str,
    frozen: Iterable[str] = (),
    adapt_layers: int | None = None,
) -> tuple[str, ...]:
    """Parameter names the inner loop adapts for ``algorithm`` with ``frozen`` layers held fixed.

    MAML / FOMAML adapt every layer, or only the top ``adapt_layers`` layers when given
    (k = 1: the head alone, as ANIL; k = all: MAML); ANIL (and the multitask regime, whose
    shared head is fine-tuned at test) adapts the ``head`` only; BOIL adapts the body and keeps
    the head fixed; multiclass, NIL-trained and random bodies have no inner loop. Layers named
    in ``frozen`` are removed from the adapted set (the paper's freezing ablation).
    """
    frozen = validate_layers(model, frozen, what="frozen layer")
    params = dict(model.named_parameters())
    names = layer_names(model)
    if algorithm in ("maml", "fomaml"):
        if adapt_layers is not None and not 1 <= adapt_layers <= len(names):
            raise ValueError(
                f"adapt_layers must be in 1..{len(names)} for this model (layers "
                f"{list(names)}), got {adapt_layers}"
            )
        top = names if adapt_layers is None else names[len(names) - adapt_layers :]
        layers = [name for name in top if name not in frozen]
    elif algorithm in ("anil", "nil", "multitask"):
        # "nil" here is the ANIL-trained model of the paper's NIL (its head adapts when asked);
        # a NIL-*trained* body is evaluated with the NIL head, which has no inner loop.
        layers = [] if "head" in frozen else ["head"]
    elif algorithm == "boil":
        layers = [name for name in names if name != "head" and name not in frozen]
    elif algorithm in ("multiclass", "random"):
        layers = []
    else:
        raise ValueError(
            f"unknown algorithm {algorithm!r}; valid: maml, fomaml, anil, boil, multiclass, "
            "multitask, nil, random"
        )
    return params_in_layers(params, layers)
