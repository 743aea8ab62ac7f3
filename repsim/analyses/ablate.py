"""Freezing at test time (Raghu et al. 2020, Table 1): does the inner loop need the body?

For a trained model, hold the first k body layers fixed in the inner loop *at test time only*
and measure meta-test accuracy (mean ± 95% CI over the fixed test tasks). Feature reuse: the
accuracy barely moves even with the whole body frozen. Two more rows complete the picture: the
head alone adapted, and the NIL head (no head, no inner loop: cosine-similarity vote of the
support labels on the body's features).

Rows, in order (``frozen`` lists the layers the inner loop leaves at θ):

========================  =====================  ==========
label                     frozen                 head
========================  =====================  ==========
none                      []                     adapted
conv1                     [conv1]                adapted
conv1,conv2               [conv1, conv2]         adapted
...                       ...                    adapted
conv1,...,conv4           every body layer       adapted
 (head only)
NIL head                  every body layer       nil
========================  =====================  ==========

"Head only" *is* the all-body-frozen row (for MAML the two are the same computation), so it is
one row, labelled as both. For ANIL, whose inner loop adapts only the head anyway, every freezing
row equals "none" by construction, so only "none (head only: ANIL)" and the NIL row are
computed; the manifest says so. Regression (sinusoid) checkpoints report ``mse`` instead of
``accuracy`` and have no NIL row (NIL is a classifier).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from repsim._io import run_manifest
from repsim._progress import tqdm
from repsim.analyses import tables as C
from repsim.analyses._common import (
    checkpoint_name,
    describe,
    load,
    run_checkpoints,
    sample_tasks,
    settings,
    tidy_frame,
)
from repsim.meta.checkpoint import TrainedModel
from repsim.meta.config import config_to_dict
from repsim.meta.evaluate import evaluate_tasks
from repsim.meta.inner import layer_names
from repsim.meta.tasks import TEST_SEED

__all__ = ["AblationRow", "ablate", "ablate_run", "ablation_rows"]

Checkpoint = str | Path | TrainedModel
HEAD_ONLY_ALGORITHMS = ("anil", "multitask")
NIL_ONLY_ALGORITHMS = ("multiclass", "nil", "random")  # no head of their own: NIL row only


@dataclass(frozen=True)
class AblationRow:
    """One test-time setting: its label, the layers frozen in the inner loop, the head."""

    label: str
    frozen: tuple[str, ...]
    head: str  # "adapted" | "nil"


def ablation_rows(layers: tuple[str, ...], *, algorithm: str, task: str) -> list[AblationRow]:
    """The Table 1 rows for a network with ``layers`` (the last one is the head).

    Examples
    --------
    >>> [r.label for r in ablation_rows(("conv1", "conv2", "head"), algorithm="maml",
    ...                                  task="classification")]
    ['none', 'conv1', 'conv1,conv2 (head only)', 'NIL head']
    """
    body = tuple(name for name in layers if name != "head")
    rows: list[AblationRow] = []
    if algorithm in NIL_ONLY_ALGORITHMS:
        pass
    elif algorithm in HEAD_ONLY_ALGORITHMS:
        rows.append(AblationRow(f"none (head only: {algorithm.upper()})", (), "adapted"))
    else:
        rows.append(AblationRow("none", (), "adapted"))
        for k in range(1, len(body) + 1):
            span = ",".join(body[:k])
            label = f"{span} (head only)" if k == len(body) else span
            rows.append(AblationRow(label, body[:k], "adapted"))
    if task == "classification":
        rows.append(AblationRow("NIL head", body, "nil"))
    return rows


def _rows_for(
    trained: TrainedModel, episodes: Any, *, inner_steps: int | None,
    tick: Callable[[int], None],
) -> list[dict[str, Any]]:
    """Evaluate every ablation row of one loaded checkpoint on the same tasks."""
    cfg = trained.config
    steps = cfg.test_inner_steps if inner_steps is None else inner_steps
    if steps < 0:
        raise ValueError(f"inner_steps must be >= 0; got {steps}")
    metric = C.ACCURACY if cfg.task == "classification" else "mse"
    records = []
    for row in ablation_rows(layer_names(trained.model), algorithm=cfg.algorithm, task=cfg.task):
        seen = [0]

        def progress(done: int, _total: int, seen: list[int] = seen) -> None:
            tick(done - seen[0])
            seen[0] = done

        result = evaluate_tasks(
            trained.model, trained.params, episodes, algorithm=cfg.algorithm, steps=steps,
            lr=cfg.inner.lr, task=cfg.task, head=row.head, frozen=row.frozen, ways=cfg.ways,
            progress=progress, adapt_layers=cfg.adapt_layers)
        records.append({
            "label": row.label, C.FROZEN: list(row.frozen), C.HEAD: row.head,
            metric: result.value, C.CI95: result.ci95, C.TASKS: result.tasks,
            C.ALGORITHM: cfg.algorithm, C.STEP: trained.step,
            C.CHECKPOINT: checkpoint_name(trained),
            "inner_steps": 0 if row.head == "nil" else steps,
            f"{metric}_before_adaptation": result.per_step[0] if row.head == "adapted" else None,
        })
    return records


def _frame(records: list[dict[str, Any]], manifest: dict[str, Any]) -> pd.DataFrame:
    return tidy_frame(records, manifest, ("label", *C.ABLATE_COLUMNS))


def _manifest(trained: TrainedModel, **options: Any) -> dict[str, Any]:
    notes = []
    if trained.config.algorithm in HEAD_ONLY_ALGORITHMS:
        notes.append(f"{trained.config.algorithm.upper()} adapts only the head in the inner "
                     "loop, so freezing body layers changes nothing by construction: only the "
                     "'none' and NIL rows are computed")
    return {**run_manifest(config=config_to_dict(trained.config), seed=options.get("seed")),
            "kind": "ablate", "model": describe(trained), "notes": notes,
            "frozen_means": "layers held at θ in the inner loop at test time only",
            **settings(**options)}


def ablate(
    checkpoint: Checkpoint,
    *,
    tasks: int = 600,
    seed: int | None = None,
    split: str = "test",
    query: int | None = None,
    inner_steps: int | None = None,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = False,
    config: Any = None,
) -> pd.DataFrame:
    """Test-time freezing ablation of one checkpoint (the paper's Table 1) on fixed tasks.

    Parameters
    ----------
    checkpoint : path or TrainedModel
        A checkpoint file; a run directory is handed to :func:`ablate_run`.
    tasks : int, default=600
        Fixed, seeded test tasks (the same for every row).
    seed : int, optional
        Seed of the tasks (default ``TEST_SEED`` = 0, the tasks ``repsim eval`` uses).
    split : {"test", "val", "train"}, default="test"
    query : int, optional
        Query examples per class (default: the checkpoint's training value, as ``repsim eval``).
    inner_steps : int, optional
        Default: the checkpoint's test-time steps.
    data_dir : str or Path, optional
    device : str, default="cpu"
    progress : bool, default=False
    config : TrainConfig or str, optional
        How a bare (learn2learn) state_dict was trained, e.g. ``"omniglot-5w1s"``.

    Returns
    -------
    pandas.DataFrame
        One row per setting (module docstring): ``label, frozen, head, accuracy, ci95, tasks,
        algorithm, step, checkpoint, inner_steps, accuracy_before_adaptation`` (``mse`` for
        regression); ``df.attrs["manifest"]``.

    Raises
    ------
    ValueError
        ``tasks < 1``, unknown split, NaN metrics.
    FileNotFoundError
        The checkpoint or its dataset is missing.

    Examples
    --------
    >>> ablate("runs/maml/checkpoints/step_030000.pt")[["label", "accuracy"]]  # doctest: +SKIP
    """
    if not isinstance(checkpoint, TrainedModel) and Path(checkpoint).is_dir():
        return ablate_run(checkpoint, tasks=tasks, seed=seed, split=split, query=query,
                          inner_steps=inner_steps, data_dir=data_dir, device=device,
                          progress=progress)
    trained = load(checkpoint, device=device, config=config)
    seed = TEST_SEED if seed is None else seed
    episodes = sample_tasks(trained, tasks=tasks, split=split, seed=seed, query=query,
                            data_dir=data_dir).to(device)
    n_rows = len(ablation_rows(layer_names(trained.model), algorithm=trained.config.algorithm,
                               task=trained.config.task))
    with tqdm(total=n_rows * tasks, desc="ablate", disable=not progress, leave=False) as bar:
        records = _rows_for(trained, episodes, inner_steps=inner_steps, tick=bar.update)
    return _frame(records, _manifest(trained, tasks=tasks, seed=seed, split=split, query=query,
                                     checkpoint=str(trained.path), step=trained.step))


def ablate_run(
    run_dir: str | Path,
    *,
    tasks: int = 600,
    seed: int | None = None,
    split: str = "test",
    query: int | None = None,
    inner_steps: int | None = None,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = False,
    steps: Sequence[int] | None = None,
) -> pd.DataFrame:
    """:func:`ablate` for every checkpoint of a training run (or those at ``steps``), on the
    same tasks (``step`` column)."""
    found = run_checkpoints(run_dir, steps)
    first = load(found[0][1], device=device)
    seed = TEST_SEED if seed is None else seed
    episodes = sample_tasks(first, tasks=tasks, split=split, seed=seed, query=query,
                            data_dir=data_dir).to(device)
    records: list[dict[str, Any]] = []
    with tqdm(total=len(found), desc="checkpoints", disable=not progress, leave=False) as bar:
        for _, path in found:
            trained = first if path == found[0][1] else load(path, device=device)
            if (trained.config.dataset, trained.config.ways) != (first.config.dataset,
                                                                 first.config.ways):
                raise ValueError(f"{path} is a {describe(trained)} checkpoint but the run's "
                                 f"first is {describe(first)}; a run's checkpoints must share "
                                 "tasks")
            records += _rows_for(trained, episodes, inner_steps=inner_steps,
                                 tick=lambda _n: None)
            bar.update(1)
    manifest = _manifest(first, tasks=tasks, seed=seed, split=split, query=query,
                         run_dir=str(run_dir), checkpoints=[str(p) for _, p in found])
    manifest["kind"] = "ablate-run"
    return _frame(records, manifest)
