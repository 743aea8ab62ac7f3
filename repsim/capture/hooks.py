"""Record named layers' outputs with forward hooks that are always removed.

Eager code only (STYLE.md habit 6): hooks cannot run inside ``torch.func.vmap``; repsim's own
models expose every layer as a pure function (``model(x, output="layers")``) for that, and
:mod:`repsim.capture.adaptation` uses it. The hooks here are the route for any ``nn.Module``
(learn2learn-style networks, torchvision models, ...).

BatchNorm is *pinned* while recording, and the choice is stated in the result:

- ``batchnorm="batch"`` (default, the paper's transductive convention): every BatchNorm layer
  normalises with the statistics of the batch being recorded. ``nn.BatchNorm*`` layers are put in
  training mode with tracking switched off for that, so their running statistics are neither used
  nor updated: recording never changes the model.
- ``batchnorm="running"``: ``nn.BatchNorm*`` layers use their running statistics (eval mode).
  Refused for layers that keep none (repsim's ``BatchStatNorm2d``, ``track_running_stats=False``).

Every other module (dropout, ...) is put in eval mode; all modes are restored on exit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Literal

import torch
from torch import Tensor, nn

from repsim._functional import functional_call
from repsim.models.conv4 import BatchStatNorm2d

__all__ = [
    "BATCHNORM_MODES",
    "Recording",
    "capture",
    "pin_batchnorm",
    "record",
    "resolve_layers",
    "stream",
]

BatchNormMode = Literal["batch", "running"]
BATCHNORM_MODES: tuple[str, ...] = ("batch", "running")


def _module_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name]


def _valid_list(names: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def resolve_layers(model: nn.Module, layers: str | Iterable[str]) -> tuple[str, ...]:
    """Module names matched by ``layers`` (names or glob patterns), in the model's order.

    A pattern is matched segment by segment on the dotted module name, so ``"conv*"`` matches
    ``conv1`` … ``conv4`` but not ``conv1.bn``, and ``"conv*.bn"`` matches their BatchNorms.

    Parameters
    ----------
    model : nn.Module
    layers : str or iterable of str
        Module names (``"conv3"``, ``"features.2.conv"``) or patterns (``"conv*"``, ``"*"``).

    Returns
    -------
    tuple of str
        Every matched module name once, in ``model.named_modules()`` order.

    Raises
    ------
    ValueError
        A name or pattern matches no module (the message lists the valid names), or no layer
        was given.

    Examples
    --------
    >>> from repsim.models import conv4_for
    >>> resolve_layers(conv4_for("omniglot", 5), ["conv*", "head"])
    ('conv1', 'conv2', 'conv3', 'conv4', 'head')
    """
    patterns = [layers] if isinstance(layers, str) else list(layers)
    if not patterns:
        raise ValueError("no layers given; pass names such as ['conv1', 'head'] or a pattern "
                         "such as 'conv*'")
    names = _module_names(model)
    matched: set[str] = set()
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"record: layer names must be strings; got {pattern!r}")
        parts = pattern.split(".")
        hits = {n for n in names if len(n.split(".")) == len(parts)
                and all(fnmatchcase(a, b) for a, b in zip(n.split("."), parts, strict=True))}
        if not hits:
            top = [n for n in names if "." not in n]
            raise ValueError(
                f"no layer of this {type(model).__name__} is named {pattern!r}; its "
                f"layers are {_valid_list(top)} (all modules: {_valid_list(names)}). Pass one "
                "of these names or a glob pattern such as 'conv*'."
            )
        matched |= hits
    return tuple(n for n in names if n in matched)


class Recording(Mapping[str, Tensor]):
    """Outputs recorded per layer; a read-only mapping ``layer -> Tensor``.

    A layer called several times (one forward per minibatch) has its outputs concatenated along
    dim 0, i.e. the minibatches are stacked as samples.

    Attributes
    ----------
    layers : tuple of str
        The recorded module names, in model order.
    batchnorm : str
        How BatchNorm normalised while recording (a sentence, for manifests).
    calls : dict of str to int
        How many times each layer ran.
    """

    def __init__(self, layers: tuple[str, ...], batchnorm: str, *, keep: bool) -> None:
        self.layers = layers
        self.batchnorm = batchnorm
        self.calls: dict[str, int] = {name: 0 for name in layers}
        self._outputs: dict[str, list[Tensor]] = {name: [] for name in layers}
        self._keep = keep

    def _add(self, name: str, output: Tensor) -> None:
        self.calls[name] += 1
        if self._keep:
            self._outputs[name].append(output)

    def __getitem__(self, name: str) -> Tensor:
        if name not in self._outputs:
            raise KeyError(f"{name!r} was not recorded; recorded layers: {list(self.layers)}")
        parts = self._outputs[name]
        if not parts:
            raise ValueError(
                f"record: layer {name!r} did not run in the recorded forward pass(es) (or was "
                "streamed to on_output); check that the model uses it"
            )
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)


def _norm_layers(model: nn.Module) -> tuple[list[tuple[str, nn.Module]], list[str]]:
    """(BatchNorm modules with running statistics, names of batch-statistics-only norms)."""
    tracked, batch_only = [], []
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            # Buffers decide, not the flag: inside an outer pin_batchnorm the flag is already
            # off, and an eval-mode BatchNorm with buffers would use its running statistics.
            if module.running_mean is not None:
                tracked.append((name, module))
            else:
                batch_only.append(name)
        elif isinstance(module, BatchStatNorm2d):
            batch_only.append(name)
    return tracked, batch_only


@contextlib.contextmanager
def pin_batchnorm(model: nn.Module, batchnorm: BatchNormMode) -> Iterator[str]:
    """Eval mode everywhere, BatchNorm as ``batchnorm`` says; yields a statement of the mode.

    Forward passes inside the block (recorded or not, e.g. an inner loop) never update running
    statistics; every module's train/eval flag is restored on exit.
    """
    if batchnorm not in BATCHNORM_MODES:
        raise ValueError(f"record: batchnorm must be one of {BATCHNORM_MODES}; got {batchnorm!r}")
    tracked, batch_only = _norm_layers(model)
    if batchnorm == "running" and batch_only:
        raise ValueError(
            f"record: batchnorm='running' needs running statistics, but {batch_only} normalise "
            "with batch statistics only (repsim's networks always do, as in the paper); use "
            "batchnorm='batch'"
        )
    modes = {m: m.training for m in model.modules()}
    tracking = {m: m.track_running_stats for _, m in tracked}
    try:
        model.eval()
        n_norm = len(tracked) + len(batch_only)
        if batchnorm == "running":
            yield f"running statistics ({n_norm} BatchNorm layers in eval mode)"
        else:
            for _, module in tracked:
                # training + no tracking: F.batch_norm gets no running buffers, so it uses the
                # batch's statistics and updates nothing (no in-place write that would also
                # break torch.func.grad in an inner loop run inside this block)
                module.train()
                module.track_running_stats = False
            yield f"batch statistics of each recorded batch ({n_norm} BatchNorm layers)"
    finally:
        for module, training in modes.items():
            module.training = training
        for module, track in tracking.items():
            module.track_running_stats = track


@contextlib.contextmanager
def record(
    model: nn.Module,
    layers: str | Iterable[str],
    *,
    batchnorm: BatchNormMode = "batch",
    detach: bool = True,
    on_output: Callable[[str, Tensor], None] | None = None,
) -> Iterator[Recording]:
    """Record the outputs of ``layers`` during the forward passes run inside the block.

    Parameters
    ----------
    model : nn.Module
        Any module; ``layers`` name its sub-modules.
    layers : str or iterable of str
        Module names or glob patterns (see :func:`resolve_layers`).
    batchnorm : {"batch", "running"}, default="batch"
        How BatchNorm normalises while recording (module docstring); stated in
        ``Recording.batchnorm``.
    detach : bool, default=True
        Store outputs cut from the autograd graph.
    on_output : callable ``(layer, output) -> None``, optional
        Hand each output to this function instead of storing it: memory stays at one batch's
        activations (stream minibatches into an accumulating estimator such as minibatch CKA).

    Yields
    ------
    Recording
        Filled as the forward passes run.

    Raises
    ------
    ValueError
        Unknown layer (valid names listed), a layer whose output is not a tensor, or
        ``batchnorm="running"`` on a network without running statistics.

    Notes
    -----
    Hooks are removed and every module's train/eval flag and BatchNorm running statistics are
    restored on exit, whether the block finishes or raises.

    Examples
    --------
    >>> from repsim.models import conv4_for
    >>> net = conv4_for("omniglot", 5)
    >>> with record(net, ["conv*", "head"]) as rec:
    ...     _ = net(torch.rand(10, 1, 28, 28))
    >>> rec["conv4"].shape, rec.batchnorm
    (torch.Size([10, 64, 2, 2]), 'batch statistics of each recorded batch (4 BatchNorm layers)')
    """
    names = resolve_layers(model, layers)
    modules = dict(model.named_modules())
    handles: list[torch.utils.hooks.RemovableHandle] = []
    with pin_batchnorm(model, batchnorm) as statement:
        rec = Recording(names, statement, keep=on_output is None)

        def make_hook(name: str) -> Callable[..., None]:
            def hook(_module: nn.Module, _inputs: object, output: object) -> None:
                if not isinstance(output, Tensor):
                    raise ValueError(
                        f"record: layer {name!r} returns a {type(output).__name__}, not a "
                        "tensor; record one of its sub-modules that returns a tensor"
                    )
                out = output.detach() if detach else output
                rec._add(name, out)
                if on_output is not None:
                    on_output(name, out)

            return hook

        try:
            for name in names:
                handles.append(modules[name].register_forward_hook(make_hook(name)))
            yield rec
        finally:
            for handle in handles:
                handle.remove()


def capture(
    model: nn.Module,
    x: Tensor,
    layers: str | Iterable[str],
    *,
    params: Mapping[str, Tensor] | None = None,
    batchnorm: BatchNormMode = "batch",
) -> dict[str, Tensor]:
    """Activations of ``layers`` for the batch ``x`` under ``params`` (θ, θ', ...).

    Parameters
    ----------
    model : nn.Module
    x : Tensor of shape (batch, ...)
        One batch of inputs (BatchNorm statistics, when used, are this batch's).
    layers : str or iterable of str
        Module names or glob patterns.
    params : dict of str to Tensor, optional
        Parameters substituted for the model's own (``torch.func.functional_call``); missing
        names keep the module's values. Default: the model's own parameters.
    batchnorm : {"batch", "running"}, default="batch"

    Returns
    -------
    dict of str to Tensor
        ``layer -> output`` (detached), e.g. ``conv1 -> (batch, C, H, W)``.

    Raises
    ------
    ValueError
        As :func:`record`.

    Examples
    --------
    >>> from repsim.models import conv4_for
    >>> net = conv4_for("omniglot", 5)
    >>> capture(net, torch.rand(4, 1, 28, 28), "head")["head"].shape
    torch.Size([4, 5])
    """
    with record(model, layers, batchnorm=batchnorm) as rec, torch.no_grad():
        if params is None:
            model(x)
        else:
            functional_call(model, dict(params), (x,), strict=False)
    return dict(rec)


def stream(
    model: nn.Module,
    batches: Iterable[Tensor],
    layers: str | Iterable[str],
    *,
    params: Mapping[str, Tensor] | None = None,
    batchnorm: BatchNormMode = "batch",
) -> Iterator[dict[str, Tensor]]:
    """Activations of ``layers`` one minibatch at a time: memory stays at one batch.

    Yields ``{layer: (batch, ...)}`` per input batch, for estimators that accumulate over
    minibatches (minibatch CKA, Nguyen et al. 2021). With ``batchnorm="batch"`` each minibatch
    is normalised with its own statistics, so activations depend on how inputs are batched.

    Examples
    --------
    Two networks' ``fc2`` over 4000 inputs, never holding more than 500 rows:

    >>> from repsim.models import SinusoidMLP
    >>> from repsim.similarity import MinibatchCKA
    >>> a, b = SinusoidMLP(), SinusoidMLP()
    >>> batches = list(torch.linspace(-5, 5, 4000)[:, None].split(500))
    >>> mb = MinibatchCKA()
    >>> for xa, xb in zip(stream(a, batches, "fc2"), stream(b, batches, "fc2")):
    ...     _ = mb.update(xa["fc2"], xb["fc2"])
    >>> mb.n_batches, 0.0 <= mb.value <= 1.0
    (8, True)
    """
    for x in batches:
        yield capture(model, x, layers, params=params, batchnorm=batchnorm)
