"""One call from a checkpoint to every layer's activations before (θ) and after (θ') the inner loop.

:func:`inner_loop_activations` does what ``repsim compare`` does up to the similarity step:
load the checkpoint, draw its fixed, seeded test tasks, adapt θ → θ' on each task's support set
as the checkpoint's algorithm does, and run the same inputs under θ and θ'. What you do with
the activations is yours (any measure, any plot).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from repsim.analyses._common import load, sample_tasks
from repsim.capture.adaptation import Activations, adaptation_activations
from repsim.meta.checkpoint import TrainedModel
from repsim.meta.inner import freeze_spec
from repsim.meta.tasks import TEST_SEED

__all__ = ["inner_loop_activations"]


def inner_loop_activations(
    checkpoint: str | Path | TrainedModel,
    *,
    tasks: int = 10,
    split: str = "test",
    inputs: str = "query",
    query: int | None = 15,
    layers: Sequence[str] | None = None,
    inner_steps: int | None = None,
    seed: int | None = None,
    data_dir: str | Path | None = None,
    download: bool = False,
    device: str = "cpu",
    config: Any = None,
) -> Activations:
    """Per-layer activations of ``tasks`` test tasks under θ and θ' (after the inner loop).

    Parameters
    ----------
    checkpoint : path or TrainedModel
        A repsim checkpoint, or a learn2learn state_dict with ``config``.
    tasks : int, default=10
        Fixed, seeded tasks of ``split`` (the tasks ``repsim compare`` uses for the same seed).
    split : {"test", "val", "train"}, default="test"
    inputs : {"query", "support", "both"}, default="query"
        The inputs run under θ and θ' (the inner loop always adapts on the support set).
    query : int or None, default=15
        Query examples per class (None: the checkpoint's training query count).
    layers : sequence of str, optional
        Names or glob patterns (``"conv*"``); default every layer (``conv1..conv4, head``).
    inner_steps : int, optional
        Default: the checkpoint's test-time steps.
    seed : int, optional
        Seed of the tasks (default ``TEST_SEED`` = 0).
    data_dir : str or Path, optional
        Holds ``omniglot/`` (default ``$REPSIM_DATA`` or the user cache dir).
    download : bool, default=False
        Fetch Omniglot (official zips, md5-checked) when it is missing.
    device : str, default="cpu"
    config : TrainConfig or str, optional
        How a bare (learn2learn) state_dict was trained, e.g. ``"omniglot-5w1s"``.

    Returns
    -------
    Activations
        ``before[layer]`` / ``after[layer]``: ``(tasks, n, ...)`` tensors, e.g. ``conv1`` →
        ``(tasks, 75, 64, 14, 14)`` for Omniglot 5-way with 15 query images per class;
        ``adapted`` names the parameters the inner loop changed, ``steps`` / ``lr`` its settings.

    Examples
    --------
    >>> ckpt = "checkpoints/omniglot_5w1s_maml.pt"
    >>> acts = inner_loop_activations(ckpt, tasks=5)  # doctest: +SKIP
    >>> repsim.cka(acts.before["head"][0], acts.after["head"][0]).value  # doctest: +SKIP
    """
    trained = load(checkpoint, device=device, config=config)
    if download and trained.config.dataset == "omniglot":
        from repsim.data import download_omniglot

        download_omniglot(data_dir)
    cfg = trained.config
    episodes = sample_tasks(
        trained, tasks=tasks, split=split, seed=TEST_SEED if seed is None else seed,
        query=query, data_dir=data_dir,
    ).to(device)
    steps = cfg.test_inner_steps if inner_steps is None else inner_steps
    if steps < 0:
        raise ValueError(f"inner_steps must be >= 0; got {steps}")
    return adaptation_activations(
        trained.model, trained.params, episodes.support_x, episodes.support_y, episodes.query_x,
        adapt_names=freeze_spec(trained.model, algorithm=cfg.algorithm), steps=steps,
        lr=cfg.inner.lr, task=cfg.task, inputs=inputs, layers=layers,
    )
