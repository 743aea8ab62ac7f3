"""Few-shot data: episodes, the seeded N-way K-shot sampler, Omniglot, MiniImageNet, sinusoids.

>>> from repsim.data import load_pool, EpisodeSampler
>>> pool = load_pool("omniglot", split="train", download=True)  # doctest: +SKIP
>>> tasks = EpisodeSampler(pool, ways=5, shots=1, query=1, seed=0)  # doctest: +SKIP
>>> batch = tasks.batch(0, 32)  # 32 tasks, support_x (32, 5, 1, 28, 28)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Literal

from repsim.data.episodes import ClassPool, Episode, EpisodeSampler
from repsim.data.miniimagenet import load_miniimagenet
from repsim.data.omniglot import download_omniglot, load_omniglot
from repsim.data.sinusoid import SinusoidTasks

__all__ = [
    "DATASETS",
    "ClassPool",
    "Episode",
    "EpisodeSampler",
    "SinusoidTasks",
    "download_omniglot",
    "load_miniimagenet",
    "load_omniglot",
    "load_pool",
]

DATASETS = ("omniglot", "miniimagenet")


def load_pool(
    dataset: Literal["omniglot", "miniimagenet"],
    *,
    split: Literal["train", "val", "test"],
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ClassPool:
    """One split of a classification dataset as a :class:`ClassPool`, by name.

    Parameters
    ----------
    dataset : {"omniglot", "miniimagenet"}
        Which dataset (the sinusoid tasks need no pool: use :class:`SinusoidTasks`).
    split : {"train", "val", "test"}
        Which split.
    data_dir : str or Path, optional
        Directory holding ``omniglot/`` / ``miniimagenet/``; default ``$REPSIM_DATA``, else the
        user cache dir.
    download : bool, default=False
        Omniglot: fetch the official zips when missing. MiniImageNet is never downloaded: with
        the data absent the error says how to get it.
    cache_dir : str or Path, optional
        Where decoded tensors are cached; default ``$REPSIM_CACHE``, else the user cache dir.

    Returns
    -------
    ClassPool
        See :func:`load_omniglot` and :func:`load_miniimagenet`.

    Raises
    ------
    ValueError
        Unknown dataset (the message lists the valid ones) or split, or invalid data.
    FileNotFoundError
        Data absent (the message says where it looked and how to get it).
    """
    if dataset == "omniglot":
        return load_omniglot(data_dir, split=split, download=download, cache_dir=cache_dir)
    if dataset == "miniimagenet":
        return load_miniimagenet(data_dir, split=split, cache_dir=cache_dir)
    hint = ""
    if dataset == "sinusoid":
        hint = " (sinusoid tasks need no pool: use repsim.data.SinusoidTasks)"
    raise ValueError(
        f"unknown dataset {dataset!r}; valid datasets are {', '.join(map(repr, DATASETS))}{hint}"
    )
