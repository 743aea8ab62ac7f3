"""Frozen configuration dataclasses for meta-training, and the paper's named presets.

A config is stored as JSON in every checkpoint and manifest (``config_to_dict``) and rebuilt from
it (``config_from_dict``); variants are made with ``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ALGORITHMS",
    "BODY_REGIMES",
    "DATASETS",
    "HEAD_INITS",
    "META_ALGORITHMS",
    "PRESETS",
    "InnerLoop",
    "TrainConfig",
    "config_from_dict",
    "config_to_dict",
    "default_config",
]

Algorithm = Literal[
    "maml", "fomaml", "anil", "boil", "multiclass", "multitask", "nil", "random"
]
Dataset = Literal["omniglot", "miniimagenet", "sinusoid"]
#: Learners with an inner loop (MAML family, ANIL, BOIL): trained episodically through adaptation.
META_ALGORITHMS: tuple[str, ...] = ("maml", "fomaml", "anil", "boil")
#: The other body-training regimes of the paper's Table 5 (PAPER.md; :mod:`repsim.meta.regimes`).
BODY_REGIMES: tuple[str, ...] = ("multiclass", "multitask", "nil", "random")
ALGORITHMS: tuple[str, ...] = META_ALGORITHMS + BODY_REGIMES
HEAD_INITS: tuple[str, ...] = ("xavier", "zeros")
DATASETS: tuple[str, ...] = ("omniglot", "miniimagenet", "sinusoid")


@dataclass(frozen=True)
class InnerLoop:
    """The inner loop: ``steps`` SGD steps of size ``lr`` on the support set."""

    steps: int = 1
    lr: float = 0.4

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"inner-loop steps must be >= 0, got {self.steps}")
        if not self.lr >= 0:
            raise ValueError(f"inner-loop lr must be >= 0, got {self.lr}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a meta-training run (and so goes into each checkpoint).

    ``inner`` is the training inner loop; ``test_inner_steps`` the number of steps used when
    evaluating (the paper adapts longer at test: 3 vs 1 on Omniglot 5-way, 10 vs 5 on
    MiniImageNet).
    """

    algorithm: Algorithm = "maml"
    dataset: Dataset = "omniglot"
    ways: int = 5
    shots: int = 1
    query: int = 1  # query examples per class during training (= shots on Omniglot, paper)
    inner: InnerLoop = field(default_factory=InnerLoop)
    test_inner_steps: int = 3
    meta_batch: int = 32
    meta_lr: float = 1e-3
    steps: int = 60_000
    seed: int = 0
    val_every: int = 500
    val_tasks: int = 100
    checkpoint_every: int = 1_000
    log_every: int = 10
    vectorize: bool = True  # vmap over the tasks of a meta-batch (False: a per-task Python loop)
    # Study options (issue 9). None everywhere means "as before", so checkpoints written before
    # these fields existed load, resume and evaluate unchanged.
    adapt_layers: int | None = None  # maml/fomaml: inner loop adapts only the top-k layers
    head_input: Literal["mean", "flatten"] | None = None  # None: the dataset's (Omniglot: mean)
    head_init: Literal["xavier", "zeros"] | None = None  # None: xavier (Finn et al.)
    classes: int | None = None  # multiclass: head width = every meta-training class (set by train)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"unknown algorithm {self.algorithm!r}; valid: {', '.join(ALGORITHMS)}"
            )
        if self.adapt_layers is not None:
            if self.algorithm not in ("maml", "fomaml"):
                raise ValueError(
                    f"adapt_layers (top-k inner loop) applies to maml/fomaml, not "
                    f"{self.algorithm!r}; k=1 is ANIL, k=all is MAML"
                )
            if self.adapt_layers < 1:
                raise ValueError(f"adapt_layers must be >= 1, got {self.adapt_layers}")
        if self.head_input not in (None, "mean", "flatten"):
            raise ValueError(f"head_input must be 'mean' or 'flatten', got {self.head_input!r}")
        if self.head_init not in (None, *HEAD_INITS):
            raise ValueError(
                f"head_init must be one of {', '.join(HEAD_INITS)}, got {self.head_init!r}"
            )
        if self.classes is not None and (self.algorithm != "multiclass" or self.classes < 1):
            raise ValueError(
                f"classes (head width) is for multiclass pre-training only and must be >= 1; "
                f"got classes={self.classes} with algorithm {self.algorithm!r}"
            )
        if self.algorithm in BODY_REGIMES and self.dataset == "sinusoid":
            raise ValueError(
                f"the {self.algorithm!r} regime is a classification regime (NIL head); "
                "sinusoid regression has no classes"
            )
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; valid: {', '.join(DATASETS)}")
        for name in (
            "ways",
            "shots",
            "query",
            "meta_batch",
            "steps",
            "val_every",
            "checkpoint_every",
            "log_every",
            "val_tasks",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.test_inner_steps < 0:
            raise ValueError(f"test_inner_steps must be >= 0, got {self.test_inner_steps}")
        if self.dataset == "sinusoid" and self.ways != 1:
            raise ValueError("sinusoid regression has no classes: use ways=1")

    @property
    def first_order(self) -> bool:
        return self.algorithm == "fomaml"

    @property
    def own_head(self) -> bool:
        """Whether the trained model has an N-way head of its own to test with (with its
        test-time inner loop); multiclass, NIL training and random bodies are tested with the
        NIL head only."""
        return self.algorithm in META_ALGORITHMS or self.algorithm == "multitask"

    @property
    def task(self) -> Literal["classification", "regression"]:
        return "regression" if self.dataset == "sinusoid" else "classification"


def _omniglot(ways: int, shots: int) -> TrainConfig:
    # Finn et al.: 5-way lr 0.4, 1 step (3 at test), meta-batch 32; 20-way lr 0.1, 5 steps, 16.
    if ways >= 20:
        inner, test_steps, meta_batch = InnerLoop(steps=5, lr=0.1), 5, 16
    else:
        inner, test_steps, meta_batch = InnerLoop(steps=1, lr=0.4), 3, 32
    return TrainConfig(
        dataset="omniglot",
        ways=ways,
        shots=shots,
        query=shots,
        inner=inner,
        test_inner_steps=test_steps,
        meta_batch=meta_batch,
        steps=60_000,
    )


def _miniimagenet(shots: int) -> TrainConfig:
    return TrainConfig(
        dataset="miniimagenet",
        ways=5,
        shots=shots,
        query=15,
        inner=InnerLoop(steps=5, lr=0.01),
        test_inner_steps=10,
        meta_batch=4 if shots == 1 else 2,
        steps=60_000,
    )


PRESETS: dict[str, TrainConfig] = {
    "omniglot-5w1s": _omniglot(5, 1),
    "omniglot-5w5s": _omniglot(5, 5),
    "omniglot-20w1s": _omniglot(20, 1),
    "omniglot-20w5s": _omniglot(20, 5),
    "miniimagenet-5w1s": _miniimagenet(1),
    "miniimagenet-5w5s": _miniimagenet(5),
    # Finn et al. sinusoid: K=10, lr 0.01, 1 step, meta-batch 25 (10 steps at test in the demo).
    "sinusoid": TrainConfig(
        dataset="sinusoid",
        ways=1,
        shots=10,
        query=10,
        inner=InnerLoop(steps=1, lr=0.01),
        test_inner_steps=10,
        meta_batch=25,
        steps=10_000,
        val_every=500,
        val_tasks=100,
    ),
}


def default_config(
    dataset: str, *, ways: int | None = None, shots: int | None = None
) -> TrainConfig:
    """The paper's settings for ``dataset`` with the given ways/shots (nearest preset)."""
    if dataset == "sinusoid":
        base = PRESETS["sinusoid"]
        return base if shots is None else dataclasses.replace(base, shots=shots, query=shots)
    if dataset == "omniglot":
        return _omniglot(ways or 5, shots or 1)
    if dataset == "miniimagenet":
        if ways not in (None, 5):
            return dataclasses.replace(_miniimagenet(shots or 1), ways=ways)
        return _miniimagenet(shots or 1)
    raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain-JSON form of a config (nested dataclasses become dicts)."""
    return dataclasses.asdict(config)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Inverse of :func:`config_to_dict`; unknown keys are an error that lists them."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown TrainConfig keys {unknown}; valid: {sorted(known)}")
    data = dict(data)
    if isinstance(data.get("inner"), dict):
        data["inner"] = InnerLoop(**data["inner"])
    return TrainConfig(**data)
