"""Plumbing shared by the analyses: load a checkpoint once, sample its tasks once, progress bars."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from repsim._progress import tqdm
from repsim.meta.checkpoint import TrainedModel, checkpoint_paths, load_trained
from repsim.meta.tasks import TEST_SEED, task_source

__all__ = [
    "checkpoint_name",
    "describe",
    "load",
    "progress_bar",
    "run_checkpoints",
    "sample_tasks",
    "settings",
    "tidy_frame",
]

T = TypeVar("T")
SPLITS = ("train", "val", "test")


def load(
    checkpoint: str | Path | TrainedModel, *, device: str = "cpu", config: Any = None
) -> TrainedModel:
    """A :class:`TrainedModel` from a path (or the one given); the model on ``device``.

    ``config`` (TrainConfig or preset name) rebuilds the network of a bare state_dict.
    """
    if isinstance(checkpoint, TrainedModel):
        return checkpoint
    path = Path(checkpoint)
    if path.is_dir():
        raise ValueError(
            f"{path} is a directory; these functions take one checkpoint file (.pt). For every "
            "checkpoint of a training run use compare_run / ablate_run."
        )
    return load_trained(path, device=device, config=config)


def describe(trained: TrainedModel) -> str:
    """``"omniglot 5w1s maml"`` for messages."""
    cfg = trained.config
    return f"{cfg.dataset} {cfg.ways}w{cfg.shots}s {cfg.algorithm}"


def sample_tasks(
    trained: TrainedModel,
    *,
    tasks: int,
    split: str,
    seed: int | None,
    query: int | None,
    data_dir: str | Path | None,
) -> Any:
    """The first ``tasks`` tasks of the checkpoint's dataset ``split`` for ``seed`` (an Episode).

    Raises
    ------
    ValueError
        ``tasks < 1``, an unknown split, or a query count the dataset cannot give.
    FileNotFoundError
        The checkpoint's dataset is not on this machine (says which checkpoint needs what).
    """
    if isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 1:
        raise ValueError(f"tasks must be an integer >= 1; got {tasks!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    if query is not None and query < 1:
        raise ValueError(f"query (examples per class) must be >= 1; got {query}")
    seed = TEST_SEED if seed is None else seed
    try:
        source = task_source(trained.config, split=split, seed=seed, data_dir=data_dir,
                             query=query)
    except FileNotFoundError as exc:
        where = trained.path if trained.path is not None else "this model"
        raise FileNotFoundError(
            f"{where} ({describe(trained)}) needs the {trained.config.dataset} {split} split to "
            f"sample its tasks, and it is not available: {exc}"
        ) from exc
    return source.batch(0, tasks)


def run_checkpoints(
    run_dir: str | Path, steps: Sequence[int] | None = None
) -> list[tuple[int, Path]]:
    """``(step, path)`` of every checkpoint of a training run (or of those at ``steps``).

    Raises a ValueError saying why when there are none, or when a step asked for is missing.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    found = checkpoint_paths(run_dir)
    if not found:
        raise ValueError(
            f"{run_dir} holds no checkpoints (expected {run_dir / 'checkpoints'}/step_*.pt, as "
            "`repsim train --out DIR` writes); pass a run directory or a checkpoint file"
        )
    if steps is not None:
        have = dict(found)
        missing = sorted(set(steps) - set(have))
        if missing:
            raise ValueError(f"{run_dir} has no checkpoint at step(s) {missing}; it has "
                             f"{sorted(have)}")
        found = [(step, have[step]) for step in sorted(set(steps))]
    return found


def progress_bar(items: Iterable[T], *, total: int | None, desc: str, show: bool) -> Iterator[T]:
    """``items`` with a tqdm bar on stderr when ``show`` (long loops of the analyses)."""
    return iter(tqdm(items, total=total, desc=desc, disable=not show, leave=False))


def checkpoint_name(trained: TrainedModel) -> str | None:
    """The checkpoint's path as a string (None for a model built in memory)."""
    return str(trained.path) if trained.path else None


def settings(**options: Any) -> dict[str, Any]:
    """Options as JSON-able manifest entries (paths as strings)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()}


def tidy_frame(records: Sequence[Mapping[str, Any]], manifest: dict[str, Any],
               first: Sequence[str]) -> pd.DataFrame:
    """Records as a DataFrame, ``first`` columns leading; the manifest in ``df.attrs``."""
    frame = pd.DataFrame.from_records(list(records))
    lead = [c for c in first if c in frame]
    frame = frame[lead + [c for c in frame.columns if c not in lead]]
    frame.attrs["manifest"] = manifest
    return frame
