"""The standard 4-block convolutional few-shot learner (Finn et al. 2017; Vinyals et al. 2016).

Module names are the layer names used by every analysis in repsim: ``conv1`` … ``conv4`` (the
*body*) and ``head`` (the linear classifier). A layer's activation is the output of its block
(after ReLU and, for MiniImageNet, max-pooling), which is what the paper compares.

BatchNorm always normalises with the statistics of the current batch
(``track_running_stats=False``), in training and at test: the transductive convention of
MAML's reference code that the paper uses.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from repsim.models.batchnorm import batch_norm_relu
from repsim.models.conv_gemm import conv2d_by_gemm, gemm_applies

__all__ = ["BODY_LAYERS", "HEAD_INPUTS", "BatchStatNorm2d", "Conv4", "ConvBlock", "conv4_for"]

BODY_LAYERS: tuple[str, ...] = ("conv1", "conv2", "conv3", "conv4")
HEAD_INPUTS: tuple[str, ...] = ("mean", "flatten")


class BatchStatNorm2d(nn.Module):
    """BatchNorm over (N, H, W) with the current batch's statistics, written from primitive ops.

    Numerically the same as ``nn.BatchNorm2d(C, track_running_stats=False)`` in either mode
    (biased variance, eps inside the square root). Why not use that module: in torch 2.13 the
    double backward of the fused ``batch_norm`` kernel under ``torch.func.vmap`` is wrong (the
    second-order meta-gradient of a vmapped MAML step differs from the per-task loop by ~1%,
    while first-order and forward values agree); mean/var/rsqrt compose correctly.
    ``tests/meta/test_gradients.py`` pins this.

    Inside :class:`ConvBlock` this module holds the parameters; the block computes BatchNorm and
    ReLU together with :func:`repsim.models.batchnorm.batch_norm_relu` (same numbers, fewer
    passes) unless the module has hooks.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: Tensor) -> Tensor:
        # Centre once and fold weight and 1/std into one per-channel scale: the big (N, C, H, W)
        # tensors see 4 elementwise ops forward instead of 7, and far fewer in MAML's double
        # backward, where these ops cost as much as the convolutions (var_mean is slower still:
        # its Welford reduction over (N, H, W) is strided). Measured in benchmarks/bench_meta.py.
        xc = x - x.mean(dim=(0, 2, 3), keepdim=True)
        var = (xc * xc).mean(dim=(0, 2, 3), keepdim=True)  # (1, C, 1, 1), biased as batch_norm
        scale = self.weight[:, None, None] * torch.rsqrt(var + self.eps)
        return xc * scale + self.bias[:, None, None]


class ConvBlock(nn.Module):
    """3x3 conv → BatchNorm (batch statistics) → ReLU → downsample (stride 2 or 2x2 max-pool)."""

    def __init__(self, in_channels: int, out_channels: int, *, max_pool: bool) -> None:
        super().__init__()
        # Omniglot uses stride-2 convolutions instead of pooling (Finn et al.'s reference code).
        stride = 1 if max_pool else 2
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.bn = BatchStatNorm2d(out_channels)
        self.pool = nn.MaxPool2d(2) if max_pool else nn.Identity()
        nn.init.xavier_uniform_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        nn.init.uniform_(self.bn.weight)  # as learn2learn / Finn: gamma ~ U[0, 1]
        nn.init.zeros_(self.bn.bias)

    def forward(self, x: Tensor) -> Tensor:
        # Same numbers as pool(relu(bn(conv(x)))), computed faster (repsim.models.batchnorm,
        # repsim.models.conv_gemm); a sub-module with hooks (activation capture) is called
        # as itself so its hooks run.
        conv, bn = self.conv, self.bn
        if not _hooked(conv) and gemm_applies(conv, x):
            h = conv2d_by_gemm(x, conv.weight, conv.bias, stride=conv.stride[0],
                               padding=conv.padding[0])
        else:
            h = conv(x)
        if _hooked(bn):
            return self.pool(torch.relu(bn(h)))
        return self.pool(batch_norm_relu(h, bn.weight, bn.bias, bn.eps))


def _hooked(module: nn.Module) -> bool:
    """Whether calling ``module`` would run forward hooks (its own or global ones)."""
    from torch.nn.modules import module as module_mod

    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module_mod._global_forward_hooks
        or module_mod._global_forward_pre_hooks
    )


class Conv4(nn.Module):
    """Four conv blocks (``conv1``..``conv4``) and a linear ``head``.

    Parameters
    ----------
    in_channels : int
        1 for Omniglot, 3 for MiniImageNet.
    ways : int
        Number of output classes (N of N-way).
    hidden : int, default=64
        Filters per block (64 for Omniglot, 32 for MiniImageNet in the paper).
    variant : {"omniglot", "miniimagenet"}, default="omniglot"
        ``"omniglot"``: stride-2 convs and a spatial mean before the head (64 features).
        ``"miniimagenet"``: 2x2 max-pool and flattened features before the head (32·5·5 = 800).
    image_size : int, default=28
        Input height = width; fixes the head's input width in the flatten variant.
    head_input : {"mean", "flatten"}, optional
        What the head sees: the spatial mean of conv4's maps (``hidden`` features) or the maps
        flattened (``hidden·h·w``). Default: the variant's own (mean for Omniglot, flatten for
        MiniImageNet). Omniglot with ``"flatten"`` (64·2·2 = 256 features) is the control of the
        conv4 investigation (PAPER.md, "A finding of this project").

    Notes
    -----
    ``body(x)`` returns the penultimate features ``(batch, feature_dim)`` that the NIL head and
    the head share; ``forward(x) = head(body(x))``.
    """

    def __init__(
        self,
        in_channels: int,
        ways: int,
        *,
        hidden: int = 64,
        variant: Literal["omniglot", "miniimagenet"] = "omniglot",
        image_size: int = 28,
        head_input: Literal["mean", "flatten"] | None = None,
    ) -> None:
        super().__init__()
        if variant not in ("omniglot", "miniimagenet"):
            raise ValueError(f"Conv4 variant must be 'omniglot' or 'miniimagenet', got {variant!r}")
        if head_input is None:
            head_input = "mean" if variant == "omniglot" else "flatten"
        if head_input not in HEAD_INPUTS:
            raise ValueError(f"Conv4 head_input must be one of {HEAD_INPUTS}, got {head_input!r}")
        self.variant = variant
        self.head_input = head_input
        max_pool = variant == "miniimagenet"
        self.conv1 = ConvBlock(in_channels, hidden, max_pool=max_pool)
        self.conv2 = ConvBlock(hidden, hidden, max_pool=max_pool)
        self.conv3 = ConvBlock(hidden, hidden, max_pool=max_pool)
        self.conv4 = ConvBlock(hidden, hidden, max_pool=max_pool)
        side = image_size
        for _ in range(4):
            # max-pool floors (84 → 42 → 21 → 10 → 5); a stride-2 3x3 conv with padding 1 rounds
            # up (28 → 14 → 7 → 4 → 2)
            side = side // 2 if max_pool else (side + 1) // 2
        self.feature_dim = hidden * side * side if head_input == "flatten" else hidden
        self.head = nn.Linear(self.feature_dim, ways)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def body(self, x: Tensor) -> Tensor:
        """Penultimate features: ``(batch, C, H, W)`` → ``(batch, feature_dim)``."""
        h = self.conv4(self.conv3(self.conv2(self.conv1(x))))  # (batch, hidden, h, w)
        return self._head_features(h)

    def _head_features(self, h: Tensor) -> Tensor:
        """conv4's maps ``(batch, hidden, h, w)`` → what the head reads."""
        if self.head_input == "mean":
            return h.mean(dim=(2, 3))  # (batch, hidden): Finn et al. reduce_mean for Omniglot
        return h.flatten(1)  # (batch, hidden * h * w)

    def forward(
        self, x: Tensor, *, output: Literal["logits", "features", "layers"] = "logits"
    ) -> Tensor | dict[str, Tensor]:
        """Logits ``(batch, ways)``; or the body's ``features``; or every layer's output.

        ``output="layers"`` returns ``{"conv1": (batch, C, H, W), ..., "conv4": ..., "head":
        (batch, ways)}``: the activations the analyses compare, as a pure function of the
        parameters, so they can be taken inside ``torch.func.vmap`` where hooks cannot run.
        """
        if output == "logits":
            return self.head(self.body(x))
        if output == "features":
            return self.body(x)
        if output == "layers":
            layers: dict[str, Tensor] = {}
            h = x
            for name in BODY_LAYERS:
                h = getattr(self, name)(h)
                layers[name] = h.contiguous()  # conv1's fast path leaves channels-last maps
            layers["head"] = self.head(self._head_features(h))
            return layers
        raise ValueError(f"output must be 'logits', 'features' or 'layers', got {output!r}")


def conv4_for(
    dataset: str, ways: int, *, head_input: Literal["mean", "flatten"] | None = None
) -> Conv4:
    """The paper's network for ``dataset`` ("omniglot" or "miniimagenet") and ``ways`` classes.

    ``head_input`` overrides what the head reads (see :class:`Conv4`); None keeps the paper's.
    """
    if dataset == "omniglot":
        return Conv4(1, ways, hidden=64, variant="omniglot", image_size=28, head_input=head_input)
    if dataset == "miniimagenet":
        return Conv4(
            3, ways, hidden=32, variant="miniimagenet", image_size=84, head_input=head_input
        )
    raise ValueError(f"no conv network for dataset {dataset!r}; valid: 'omniglot', 'miniimagenet'")
