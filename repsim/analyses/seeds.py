"""Statistics over training seeds, and similarity between independently trained models.

The paper reports every number as mean ± std over 3 seeds (PAPER.md); within one seed repsim
reports a 95% CI over test tasks. :func:`seed_summary` keeps both: one row per group with the
mean and std over seeds and, as lists, every seed's value and its CI over tasks, so no per-seed
number is lost. :func:`between_seeds` measures how alike separately trained bodies are (MAML
seed vs seed, ANIL vs ANIL, MAML vs ANIL), the paper's "CCA ≈ 0.5, CKA ≈ 0.83-0.86 between
models, body layers averaged" (:func:`body_average`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repsim.analyses import tables as C
from repsim.analyses.compare import compare_models

__all__ = [
    "SUMMARY_COLUMNS",
    "between_seeds",
    "body_average",
    "format_mean_std",
    "pair_summary",
    "seed_pairs",
    "seed_summary",
]

SEED_MEAN, SEED_STD, N_SEEDS = "seed_mean", "seed_std", "n_seeds"
SEEDS, PER_SEED, PER_SEED_CI95 = "seeds", "per_seed", "per_seed_ci95"
SUMMARY_COLUMNS = (SEED_MEAN, SEED_STD, N_SEEDS, SEEDS, PER_SEED, PER_SEED_CI95)


def seed_summary(
    frame: pd.DataFrame,
    *,
    by: Sequence[str],
    value: str,
    ci: str | None = C.CI95,
    seed: str = C.SEED,
    ddof: int = 1,
) -> pd.DataFrame:
    """Mean ± std over seeds of ``value`` for each ``by`` group, keeping every seed's row.

    Parameters
    ----------
    frame : DataFrame
        One row per (group, seed): e.g. eval rows of several runs with a ``seed`` column.
    by : sequence of str
        Columns naming a group (e.g. ``algorithm, head``).
    value : str
        The column summarised (e.g. ``accuracy``, or ``mean`` of a compare table).
    ci : str or None, default="ci95"
        Column holding each seed's 95% CI over tasks, carried along as a list.
    seed : str, default="seed"
    ddof : int, default=1
        Delta degrees of freedom of the std (1: the sample std; NaN with one seed).

    Returns
    -------
    DataFrame
        ``by`` columns, ``summarised`` (= ``value``), ``seed_mean``, ``seed_std``,
        ``n_seeds``, ``seeds`` (sorted),
        ``per_seed`` (values in seed order), ``per_seed_ci95`` (CIs in seed order, or None).

    Raises
    ------
    ValueError
        A column is missing, or a group has two rows for one seed (select one first).

    Examples
    --------
    >>> f = pd.DataFrame({"algorithm": ["maml"] * 3, "seed": [0, 1, 2],
    ...                   "accuracy": [0.9, 0.92, 0.94], "ci95": [0.01, 0.01, 0.02]})
    >>> row = seed_summary(f, by=["algorithm"], value="accuracy").iloc[0]
    >>> round(row.seed_mean, 4), round(row.seed_std, 4), row.n_seeds
    (0.92, 0.02, 3)
    """
    need = [*by, value, seed] + ([ci] if ci else [])
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(f"seed_summary: the table lacks column(s) {missing}; it has "
                         f"{sorted(map(str, frame.columns))}")
    keys = [*by, seed]
    dup = frame.duplicated(keys, keep=False)
    if dup.any():
        raise ValueError(f"seed_summary: {int(dup.sum())} rows share {keys}; each group needs "
                         "one row per seed (select a step / condition first)")
    rows = []
    for group, part in frame.groupby(list(by), sort=False, dropna=False):
        part = part.sort_values(seed)
        values = part[value].astype(float).to_numpy()
        n = len(values)
        std = float(np.std(values, ddof=ddof)) if n > ddof else math.nan
        rows.append({
            **dict(zip(by, group if isinstance(group, tuple) else (group,), strict=True)),
            "summarised": value, SEED_MEAN: float(values.mean()), SEED_STD: std, N_SEEDS: n,
            SEEDS: [int(s) for s in part[seed]], PER_SEED: values.tolist(),
            PER_SEED_CI95: part[ci].astype(float).tolist() if ci else None,
        })
    return pd.DataFrame.from_records(rows)


def format_mean_std(mean: float, std: float, *, scale: float = 100.0, digits: int = 1) -> str:
    """``0.9731, 0.0042`` → ``"97.3 ± 0.4"`` (the paper's style); one seed → ``"97.3"``."""
    if std is None or not math.isfinite(std):
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def seed_pairs(
    checkpoints: Mapping[tuple[str, int], Any],
) -> list[tuple[str, tuple[str, int], tuple[str, int]]]:
    """Pairs of independently trained models: ``(kind, (alg, seed), (alg, seed))``.

    Every pair of models with different seeds: same algorithm (``"maml vs maml"``) or two
    (``"maml vs anil"``). Models of the same seed are left out even across algorithms: a MAML
    and an ANIL run of one seed start from the same initialisation, so they are not
    independently trained and would overstate the similarity.

    Examples
    --------
    >>> [p[0] for p in seed_pairs({("maml", 0): 1, ("maml", 1): 1, ("anil", 0): 1})]
    ['maml vs maml', 'maml vs anil']
    """
    keys = list(checkpoints)
    out = []
    for a, b in itertools.combinations(keys, 2):
        if a[1] == b[1]:
            continue
        if a[0] != b[0] and _order(a[0]) > _order(b[0]):
            a, b = b, a
        out.append((f"{a[0]} vs {b[0]}", a, b))
    return sorted(out, key=lambda p: (_order(p[1][0]), _order(p[2][0]), p[1][1], p[2][1]))


def _order(algorithm: str) -> tuple[int, str]:
    known = ("maml", "fomaml", "anil", "boil")
    return (known.index(algorithm) if algorithm in known else len(known), algorithm)


def between_seeds(
    checkpoints: Mapping[tuple[str, int], str | Path],
    *,
    tasks: int = 100,
    measures: Sequence[str] | None = None,
    query: int | None = 15,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Per-layer similarity of every pair of :func:`seed_pairs` (θ_A vs θ_B on the same inputs).

    Parameters
    ----------
    checkpoints : mapping of (algorithm, seed) to checkpoint path
    tasks, measures, query, data_dir, device, progress, **options
        As in :func:`repsim.analyses.compare.compare_models` (``state="before"``: the trained
        initialisations, before any inner loop).

    Returns
    -------
    DataFrame
        The ``compare`` columns plus ``kind`` (``"maml vs anil"``), ``algorithm_a``,
        ``seed_a``, ``algorithm_b``, ``seed_b``; manifest in ``df.attrs``.

    Raises
    ------
    ValueError
        Fewer than two checkpoints.
    """
    pairs = seed_pairs(checkpoints)
    if not pairs:
        raise ValueError("between_seeds needs at least two checkpoints (two seeds or two "
                         f"algorithms); got {list(checkpoints)}")
    frames, parts = [], []
    for kind, a, b in pairs:
        frame = compare_models(checkpoints[a], checkpoints[b], tasks=tasks, measures=measures,
                               query=query, data_dir=data_dir, device=device, progress=progress,
                               **options)
        parts.append({"kind": kind, "a": list(a), "b": list(b),
                      "measure_choice": frame.attrs["manifest"].get("measure_choice")})
        frames.append(frame.assign(kind=kind, algorithm_a=a[0], seed_a=a[1], algorithm_b=b[0],
                                   seed_b=b[1]))
    out = pd.concat(frames, ignore_index=True)
    out.attrs["manifest"] = {"kind": "between-seeds", "pairs": parts, "tasks": tasks,
                             "query": query, "state": "before (θ_A vs θ_B)",
                             "paper": "CCA ≈ 0.5, CKA ≈ 0.83-0.86, body layers averaged"}
    return out


def body_average(frame: pd.DataFrame, *, layers: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean over the body layers of each pair and measure (the paper's "body layers averaged").

    ``layers`` default: every layer but ``head`` (conv1-conv4; fc1, fc2 for the sinusoid MLP).
    Returns one row per (kind, algorithm_a, seed_a, algorithm_b, seed_b, measure) with
    ``mean`` (the average over the layers present) and ``layers`` (how many were averaged).
    """
    keys = ["kind", "algorithm_a", "seed_a", "algorithm_b", "seed_b", C.MEASURE]
    missing = [c for c in [*keys, C.LAYER, C.MEAN] if c not in frame.columns]
    if missing:
        raise ValueError(f"body_average: the table lacks column(s) {missing}; pass the output "
                         "of between_seeds")
    body = frame[frame[C.LAYER] != "head"] if layers is None else frame[
        frame[C.LAYER].isin(list(layers))]
    grouped = body.groupby(keys, sort=False)[C.MEAN]
    return grouped.agg(["mean", "count"]).rename(columns={"count": "layers"}).reset_index()


def pair_summary(averaged: pd.DataFrame, *, ddof: int = 1) -> pd.DataFrame:
    """Mean ± std over model pairs of each kind and measure, from :func:`body_average` rows.

    Returns one row per (kind, measure): ``pair_mean``, ``pair_std``, ``n_pairs``, ``pairs``
    (``"maml s0 / anil s1"``), ``per_pair`` (values, in the order of ``pairs``).
    """
    rows = []
    for (kind, measure), part in averaged.groupby(["kind", C.MEASURE], sort=False):
        values = part["mean"].astype(float).to_numpy()
        rows.append({
            "kind": kind, C.MEASURE: measure, "pair_mean": float(values.mean()),
            "pair_std": float(np.std(values, ddof=ddof)) if len(values) > ddof else math.nan,
            "n_pairs": len(values),
            "pairs": [f"{a} s{sa} / {b} s{sb}" for a, sa, b, sb in zip(
                part["algorithm_a"], part["seed_a"], part["algorithm_b"], part["seed_b"],
                strict=True)],
            "per_pair": values.tolist(),
        })
    return pd.DataFrame.from_records(rows)
