"""The tidy tables every analysis writes and every figure reads: column names and file layout.

A result file is JSON ``{"manifest": {...}, "records": [...]}`` (one record per row) with the same
rows beside it as CSV. The figures (``repsim.plots``) only ever read these files; they compute
nothing. Column names are the constants below, so a typo is an ImportError, not a silent NaN.

Result kinds and their columns (each record may carry more):

- ``compare``  (θ vs θ' per layer, one checkpoint; also across a run's checkpoints, ``step``
  varying; and between two models with ``model_a`` / ``model_b``):
  ``layer, measure, mean, ci95, baseline, baseline_ci95, n_samples, n_features, conv_mode,
  inputs, tasks, algorithm, step, checkpoint``
- ``ablate``   (freezing at test time): ``frozen`` (list of layer names), ``head``
  ("adapted" | "nil"), ``accuracy`` (fraction), ``ci95``, ``tasks``, ``algorithm``, ``step``,
  ``checkpoint``
- ``eval``     (meta-test accuracy): ``algorithm``, ``head``, ``dataset``, ``ways``, ``shots``,
  ``accuracy`` (or ``mse``), ``ci95``, ``tasks``, ``step``
- ``timing``   (per-iteration cost): ``shape``, ``phase`` ("train" | "inference"),
  ``algorithm``, ``path``, ``seconds``, ``device``
- ``seed summary`` (:func:`repsim.analyses.seeds.seed_summary`): the group columns, then
  ``summarised``, ``seed_mean``, ``seed_std``, ``n_seeds``, ``seeds``, ``per_seed``,
  ``per_seed_ci95`` (lists in seed order)
- ``heads`` / ``profile`` (:mod:`repsim.analyses.regimes`): ``regime``, ``algorithm``,
  ``adapt_layers``, ``seed`` …; heads: ``head`` ("nil" | "own"), ``accuracy``, ``ci95``; profile:
  ``quantity``, ``layer``, ``measure``, ``value``, ``ci95``
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from repsim._io import atomic_write_bytes, atomic_write_json, check_versions

__all__ = [
    "ABLATE_COLUMNS",
    "COMPARE_COLUMNS",
    "EVAL_COLUMNS",
    "TIMING_COLUMNS",
    "read_table",
    "write_table",
]

LAYER, MEASURE, MEAN, CI95 = "layer", "measure", "mean", "ci95"
BASELINE, BASELINE_CI95 = "baseline", "baseline_ci95"
N_SAMPLES, N_FEATURES, CONV_MODE, INPUTS = "n_samples", "n_features", "conv_mode", "inputs"
TASKS, ALGORITHM, STEP, CHECKPOINT, SEED = "tasks", "algorithm", "step", "checkpoint", "seed"
MODEL_A, MODEL_B = "model_a", "model_b"
FROZEN, HEAD, ACCURACY = "frozen", "head", "accuracy"
DATASET, WAYS, SHOTS = "dataset", "ways", "shots"
SHAPE, PHASE, PATH, SECONDS, DEVICE = "shape", "phase", "path", "seconds", "device"

COMPARE_COLUMNS = (
    LAYER,
    MEASURE,
    MEAN,
    CI95,
    BASELINE,
    BASELINE_CI95,
    N_SAMPLES,
    N_FEATURES,
    CONV_MODE,
    INPUTS,
    TASKS,
    ALGORITHM,
    STEP,
    CHECKPOINT,
)
ABLATE_COLUMNS = (FROZEN, HEAD, ACCURACY, CI95, TASKS, ALGORITHM, STEP, CHECKPOINT)
EVAL_COLUMNS = (ALGORITHM, HEAD, DATASET, WAYS, SHOTS, ACCURACY, CI95, TASKS, STEP)
TIMING_COLUMNS = (SHAPE, PHASE, ALGORITHM, PATH, SECONDS, DEVICE)


def write_table(
    records: pd.DataFrame | Sequence[Mapping[str, Any]],
    stem: str | Path,
    *,
    manifest: Mapping[str, Any] | None = None,
    csv: bool = True,
) -> Path:
    """Write ``records`` to ``stem.json`` (``{"manifest", "records"}``) and ``stem.csv``.

    Both files are written atomically. Returns the JSON path.
    """
    frame = (
        records if isinstance(records, pd.DataFrame) else pd.DataFrame.from_records(list(records))
    )
    stem = Path(stem)
    if stem.suffix in (".json", ".csv"):
        stem = stem.with_suffix("")
    rows = json.loads(frame.to_json(orient="records", double_precision=15))
    json_path = atomic_write_json(
        stem.with_suffix(".json"), {"manifest": dict(manifest or {}), "records": rows}
    )
    if csv:
        atomic_write_bytes(stem.with_suffix(".csv"), frame.to_csv(index=False).encode())
    return json_path


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a result JSON written by :func:`write_table` → ``(records DataFrame, manifest)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no result file at {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or "records" not in data:
        raise ValueError(
            f"{path} is not a repsim result file (expected keys 'manifest', 'records')"
        )
    manifest = dict(data.get("manifest") or {})
    check_versions(manifest.get("versions"), source=str(path))  # warns once where they differ
    return pd.DataFrame.from_records(data["records"]), manifest
