"""Where a run's tasks come from: one sampler per (dataset, split, seed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repsim.meta.config import TrainConfig

__all__ = ["TEST_SEED", "VAL_SEED_OFFSET", "task_source"]

VAL_SEED_OFFSET = 1_000_003  # validation tasks never coincide with training tasks' seeds
TEST_SEED = 0  # the fixed meta-test tasks: test split, sampler seed 0 (override with --seed)


def task_source(
    config: TrainConfig,
    *,
    split: str,
    seed: int,
    data_dir: str | Path | None = None,
    download: bool = False,
    query: int | None = None,
) -> Any:
    """The task sampler for ``config``'s dataset and ``split`` (``.batch(start, n)`` → Episode)."""
    from repsim.data import EpisodeSampler, SinusoidTasks, load_pool

    q = config.query if query is None else query
    if config.dataset == "sinusoid":
        # Disjoint task streams per split: the split name shifts the seed.
        offset = {"train": 0, "val": 1, "test": 2}[split] * 7_919
        return SinusoidTasks(shots=config.shots, query=q, seed=seed + offset)
    pool = load_pool(config.dataset, split=split, data_dir=data_dir, download=download)
    return EpisodeSampler(pool, ways=config.ways, shots=config.shots, query=q, seed=seed)
