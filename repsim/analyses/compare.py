"""How much does the inner loop change each layer? θ vs θ', model A vs B, across a run.

The paper's first piece of evidence (Raghu et al. 2020, Fig. 2 / Table 3 / Fig. 4): feed the same
inputs through the network before (θ) and after (θ') the inner loop and measure per layer how
similar the representations are (CCA family, CKA). Feature reuse: conv1-conv4 stay ≈ 1, the head
changes. Every function here returns a tidy DataFrame whose columns are the constants of
:mod:`repsim.analyses.tables` (``COMPARE_COLUMNS`` plus ``note``), one row per layer and measure,
with the manifest (what was compared, which measures and why, the baseline) in ``df.attrs``.

Conventions, stated in every manifest:

- θ' comes from the checkpoint's own algorithm at its test-time inner steps: MAML adapts every
  layer, ANIL only the head (so ANIL's body is identical under θ and θ' by construction; the
  output says so: a property of ANIL, not a finding).
- The inner loop adapts on each task's support set; ``inputs="query"`` compares on held-out
  query images, ``query`` per class (default 15, the standard evaluation query size: 75 images
  for 5-way, so the CCA family has enough samples where spatial positions are samples).
- BatchNorm normalises with the statistics of each task's comparison inputs, under θ and θ'.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch

from repsim._io import run_manifest
from repsim.analyses import tables as C
from repsim.analyses._common import (
    checkpoint_name,
    describe,
    load,
    progress_bar,
    run_checkpoints,
    sample_tasks,
    settings,
    tidy_frame,
)
from repsim.analyses._layers import LayerSimilarity
from repsim.capture import (
    INPUTS,
    adaptation_activations,
    check_finite,
    comparison_inputs,
    model_activations,
    resolve_layers,
)
from repsim.capture.adaptation import BATCHNORM_STATEMENT
from repsim.meta.checkpoint import TrainedModel, build_model
from repsim.meta.config import config_to_dict
from repsim.meta.inner import freeze_spec, layer_names, layer_of
from repsim.meta.tasks import TEST_SEED

__all__ = ["compare", "compare_adaptation", "compare_models", "compare_run"]

Checkpoint = str | Path | TrainedModel
ConvMode = Literal["spatial", "pool", "flatten"]
Inputs = Literal["query", "support", "both"]
Baseline = Literal["shuffle", "random-network"]
ANIL_NOTE = ("ANIL adapts only the head in the inner loop, so every body layer is identical "
             "under θ and θ' by construction (similarity 1): a property of ANIL, not a finding")


RANDOM_NET_SEED_OFFSET = 104_729  # so the random net is never a seed-0 run's own initialisation


def _random_params(trained: TrainedModel, seed: int) -> dict[str, torch.Tensor]:
    """θ of a freshly initialised network of the checkpoint's architecture (seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + RANDOM_NET_SEED_OFFSET)
        net = build_model(trained.config)
    device = next(iter(trained.params.values())).device
    return {k: v.detach().to(device) for k, v in net.named_parameters()}


def _check_inputs(inputs: str, chunk: int) -> None:
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {INPUTS}; got {inputs!r}")
    if chunk < 1:
        raise ValueError(f"chunk (tasks per batch) must be >= 1; got {chunk}")


def _common_fields(trained: TrainedModel, *, inputs: str, tasks: int) -> dict[str, Any]:
    return {C.INPUTS: inputs, C.TASKS: tasks, C.ALGORITHM: trained.config.algorithm,
            C.STEP: trained.step, C.CHECKPOINT: checkpoint_name(trained)}


def _adaptation_rows(
    trained: TrainedModel, episodes: Any, *, inputs: str, measures: Sequence[str] | None,
    conv_mode: str, layers: Sequence[str] | None, inner_steps: int | None, baseline: str,
    seed: int, chunk: int, progress: bool,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Records and manifest of θ vs θ' for an already loaded checkpoint and sampled tasks."""
    cfg, model = trained.config, trained.model
    steps = cfg.test_inner_steps if inner_steps is None else inner_steps
    if steps < 0:
        raise ValueError(f"inner_steps must be >= 0; got {steps}")
    adapt_names = freeze_spec(model, algorithm=cfg.algorithm, adapt_layers=cfg.adapt_layers)
    if layers is not None:
        resolve_layers(model, layers)  # fail before any work, listing the valid names
    acc = LayerSimilarity(measures=measures, conv_mode=conv_mode, baseline=baseline, seed=seed)
    random = _random_params(trained, seed) if baseline == "random-network" else None
    n_tasks = episodes.support_x.shape[0]
    starts = range(0, n_tasks, chunk)
    path = "vmap"
    for start in progress_bar(starts, total=len(starts), desc="compare", show=progress):
        sl = slice(start, start + chunk)
        acts = adaptation_activations(
            model, trained.params, episodes.support_x[sl], episodes.support_y[sl],
            episodes.query_x[sl], adapt_names=adapt_names, steps=steps, lr=cfg.inner.lr,
            task=cfg.task, inputs=inputs, layers=layers, task_offset=start)
        path = acts.path
        rand = None
        if random is not None:
            rand = model_activations(model, random, _inputs_of(episodes, sl, inputs),
                                     layers=acts.layers)
        acc.add(acts.before, acts.after, first_task=start, random_acts=rand)
    message = acc.refused_everything()
    if message:
        raise ValueError(message)
    notes = [ANIL_NOTE] if cfg.algorithm == "anil" else []
    manifest = {
        "kind": "compare-adaptation", "conditions": ["θ (before the inner loop)",
                                                     "θ' (after the inner loop)"],
        "checkpoint": checkpoint_name(trained), "step": trained.step,
        "model": describe(trained), "inner_steps": steps, "inner_lr": cfg.inner.lr,
        "adapted_layers": sorted({layer_of(n) for n in adapt_names}), "batchnorm":
        BATCHNORM_STATEMENT, "capture_path": path, "notes": notes, **acc.manifest(),
    }
    return acc.records(_common_fields(trained, inputs=inputs, tasks=n_tasks)), manifest


def _frame(rows: list[dict[str, Any]], manifest: dict[str, Any]) -> pd.DataFrame:
    return tidy_frame(rows, manifest, (*C.COMPARE_COLUMNS, C.MODEL_A, C.MODEL_B, "note"))


def compare_adaptation(
    checkpoint: Checkpoint,
    *,
    tasks: int = 100,
    split: str = "test",
    inputs: Inputs = "query",
    query: int | None = 15,
    measures: Sequence[str] | None = None,
    conv_mode: ConvMode = "spatial",
    layers: Sequence[str] | None = None,
    inner_steps: int | None = None,
    baseline: Baseline = "shuffle",
    seed: int | None = None,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    chunk: int = 25,
    progress: bool = False,
) -> pd.DataFrame:
    """Similarity of every layer before (θ) vs after (θ') the inner loop, over ``tasks`` tasks.

    Parameters
    ----------
    checkpoint : path or TrainedModel
    tasks : int, default=100
        Fixed, seeded tasks of ``split``.
    split : {"test", "val", "train"}, default="test"
    inputs : {"query", "support", "both"}, default="query"
        The images compared (the inner loop always adapts on the support set).
    query : int or None, default=15
        Query examples per class of the comparison tasks (None: the checkpoint's training
        query count). 5-way x 15 = 75 images per task.
    measures : sequence of str, optional
        Default: the meaningful ones per layer (see :mod:`repsim.analyses._layers`); given
        measures a layer cannot support are refused for that layer with the reason
        (``manifest["skipped"]``).
    conv_mode : {"spatial", "pool", "flatten"}, default="spatial"
        Conv maps (N, C, H, W) as samples x features: every image x position a sample (N·H·W x
        C), spatial mean (N x C), or flattened (N x C·H·W).
    layers : sequence of str, optional
        Layer names or glob patterns; default every layer (``conv1..conv4, head``).
    inner_steps : int, optional
        Default: the checkpoint's test-time steps.
    baseline : {"shuffle", "random-network"}, default="shuffle"
        Noise level beside each value: the measure on row-shuffled θ' activations, or against
        a freshly initialised network.
    seed : int, optional
        Seed of the tasks and of the baseline (default ``TEST_SEED`` = 0).
    data_dir : str or Path, optional
    device : str, default="cpu"
    chunk : int, default=25
        Tasks whose activations are held in memory at once.
    progress : bool, default=False
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per (layer, measure): ``layer, measure, mean, ci95, baseline, baseline_ci95,
        n_samples, n_features, conv_mode, inputs, tasks, algorithm, step, checkpoint, note``;
        ``df.attrs["manifest"]`` holds the settings and the reasons behind the measure choice.

    Raises
    ------
    ValueError
        Unknown layer (valid names listed), measure, ``inputs``, ``conv_mode`` or ``baseline``;
        no requested measure computable for any layer; NaN activations (layer and task named).
    FileNotFoundError
        The checkpoint's dataset is not available.

    Examples
    --------
    >>> df = compare_adaptation("runs/maml/checkpoints/step_030000.pt")  # doctest: +SKIP
    >>> df.pivot(index="layer", columns="measure", values="mean")  # doctest: +SKIP
    """
    trained = load(checkpoint, device=device)
    _check_inputs(inputs, chunk)
    seed = TEST_SEED if seed is None else seed
    episodes = sample_tasks(trained, tasks=tasks, split=split, seed=seed, query=query,
                            data_dir=data_dir).to(device)
    rows, manifest = _adaptation_rows(
        trained, episodes, inputs=inputs, measures=measures, conv_mode=conv_mode, layers=layers,
        inner_steps=inner_steps, baseline=baseline, seed=seed, chunk=chunk, progress=progress)
    manifest.update(settings(split=split, query=query, conv_mode=conv_mode, tasks=tasks))
    return _frame(rows, {**run_manifest(config=config_to_dict(trained.config), seed=seed),
                         **manifest})


def compare_run(
    run_dir: str | Path,
    *,
    tasks: int = 100,
    split: str = "test",
    inputs: Inputs = "query",
    query: int | None = 15,
    measures: Sequence[str] | None = None,
    conv_mode: ConvMode = "spatial",
    layers: Sequence[str] | None = None,
    inner_steps: int | None = None,
    baseline: Baseline = "shuffle",
    seed: int | None = None,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    chunk: int = 25,
    progress: bool = False,
    steps: Sequence[int] | None = None,
) -> pd.DataFrame:
    """:func:`compare_adaptation` for every checkpoint of a training run (``step`` column),
    or for the checkpoints at ``steps``.

    The same tasks (sampled once, from the first checkpoint's config) serve every checkpoint,
    so differences between steps are differences of the models: the paper's "feature reuse
    happens early". Options as in :func:`compare_adaptation`;
    ``df.attrs["manifest"]["checkpoints"]`` lists the files and each one's measure choice.

    Raises
    ------
    ValueError
        No checkpoints in ``run_dir``, checkpoints of different datasets/ways, or an option as
        in :func:`compare_adaptation`.
    FileNotFoundError
        ``run_dir`` or the dataset is missing.
    """
    found = run_checkpoints(run_dir, steps)
    first = load(found[0][1], device=device)
    _check_inputs(inputs, chunk)
    seed = TEST_SEED if seed is None else seed
    episodes = sample_tasks(first, tasks=tasks, split=split, seed=seed, query=query,
                            data_dir=data_dir).to(device)
    rows, per_checkpoint, manifest = [], [], {}
    for step, path in progress_bar(found, total=len(found), desc="checkpoints", show=progress):
        trained = first if path == found[0][1] else load(path, device=device)
        if (trained.config.dataset, trained.config.ways) != (first.config.dataset,
                                                             first.config.ways):
            raise ValueError(f"{path} is a {describe(trained)} checkpoint but the run's first "
                             f"is {describe(first)}; a run's checkpoints must share tasks")
        r, manifest = _adaptation_rows(
            trained, episodes, inputs=inputs, measures=measures, conv_mode=conv_mode,
            layers=layers, inner_steps=inner_steps, baseline=baseline, seed=seed, chunk=chunk,
            progress=False)
        rows += r
        per_checkpoint.append({"step": step, "checkpoint": str(path),
                               "measure_choice": manifest["measure_choice"]})
    manifest.update(kind="compare-run", run_dir=str(run_dir), checkpoints=per_checkpoint,
                    checkpoint=None, step=None, **settings(split=split, query=query,
                                                            conv_mode=conv_mode, tasks=tasks))
    return _frame(rows, {**run_manifest(config=config_to_dict(first.config), seed=seed),
                         **manifest})


def compare_models(
    model_a: Checkpoint,
    model_b: Checkpoint,
    *,
    state: Literal["before", "after"] = "before",
    tasks: int = 100,
    split: str = "test",
    inputs: Inputs = "query",
    query: int | None = 15,
    measures: Sequence[str] | None = None,
    conv_mode: ConvMode = "spatial",
    layers: Sequence[str] | None = None,
    inner_steps: int | None = None,
    baseline: Baseline = "shuffle",
    seed: int | None = None,
    data_dir: str | Path | None = None,
    device: str = "cpu",
    chunk: int = 25,
    progress: bool = False,
) -> pd.DataFrame:
    """Similarity of two models' layers on the same tasks' inputs (the paper's Table 3).

    ``state="before"`` compares θ_A with θ_B (no inner loop); ``"after"`` compares θ'_A with
    θ'_B, each adapted on the task's support set by its own algorithm and its test-time steps
    (or ``inner_steps``).
    Tasks come from model A's config; both models must share dataset and ways. Other options and
    the returned frame are as in :func:`compare_adaptation`, with ``model_a`` / ``model_b``
    columns (``algorithm`` is ``"A vs B"``, ``step`` model A's).

    Raises
    ------
    ValueError
        Models of different datasets or ways, different layer names, or an option as in
        :func:`compare_adaptation`.
    """
    a, b = load(model_a, device=device), load(model_b, device=device)
    _check_inputs(inputs, chunk)
    if state not in ("before", "after"):
        raise ValueError(f"state must be 'before' (θ) or 'after' (θ'); got {state!r}")
    ca, cb = a.config, b.config
    if (ca.dataset, ca.ways) != (cb.dataset, cb.ways):
        raise ValueError(f"cannot compare a {describe(a)} model with a {describe(b)} model: "
                         "they need the same dataset and ways to share inputs")
    if layer_names(a.model) != layer_names(b.model):
        raise ValueError(f"the models' layers differ: {list(layer_names(a.model))} vs "
                         f"{list(layer_names(b.model))}")
    if layers is not None:
        resolve_layers(a.model, layers)
    seed = TEST_SEED if seed is None else seed
    ep = sample_tasks(a, tasks=tasks, split=split, seed=seed, query=query,
                      data_dir=data_dir).to(device)
    acc = LayerSimilarity(measures=measures, conv_mode=conv_mode, baseline=baseline, seed=seed)
    random = _random_params(a, seed) if baseline == "random-network" else None
    starts = range(0, tasks, chunk)
    for start in progress_bar(starts, total=len(starts), desc="compare", show=progress):
        sl = slice(start, start + chunk)
        pair = [_state_acts(t, ep, sl, state=state, inputs=inputs, layers=layers, start=start,
                            inner_steps=inner_steps) for t in (a, b)]
        rand = None
        if random is not None:
            x = _inputs_of(ep, sl, inputs)
            rand = model_activations(a.model, random, x, layers=list(pair[0]))
        acc.add(pair[0], pair[1], first_task=start, random_acts=rand)
    message = acc.refused_everything()
    if message:
        raise ValueError(message)
    common = {**_common_fields(a, inputs=inputs, tasks=tasks),
              C.ALGORITHM: f"{ca.algorithm} vs {cb.algorithm}",
              C.MODEL_A: checkpoint_name(a), C.MODEL_B: checkpoint_name(b)}
    manifest = {**run_manifest(config=config_to_dict(ca), seed=seed), "kind": "compare-models",
                "model": f"{describe(a)} vs {describe(b)}",
                "conditions": [f"A: {describe(a)} ({a.path})", f"B: {describe(b)} ({b.path})"],
                "state": state, "batchnorm": BATCHNORM_STATEMENT, "notes": [], **acc.manifest(),
                **settings(split=split, query=query, conv_mode=conv_mode, tasks=tasks,
                            inputs=inputs)}
    return _frame(acc.records(common), manifest)


def _inputs_of(ep: Any, sl: slice, inputs: str) -> torch.Tensor:
    return comparison_inputs(ep.support_x[sl], ep.query_x[sl], inputs)  # (T, n, ...)


def _state_acts(trained: TrainedModel, ep: Any, sl: slice, *, state: str, inputs: str,
                layers: Sequence[str] | None, start: int, inner_steps: int | None,
                ) -> dict[str, torch.Tensor]:
    """One model's activations on a chunk of tasks, under θ or after its own inner loop."""
    cfg = trained.config
    if state == "before":
        acts = model_activations(trained.model, trained.params, _inputs_of(ep, sl, inputs),
                                 layers=layers)
        check_finite(acts, where=f"θ of {trained.path}", task_offset=start)
        return acts
    return adaptation_activations(
        trained.model, trained.params, ep.support_x[sl], ep.support_y[sl], ep.query_x[sl],
        adapt_names=freeze_spec(trained.model, algorithm=cfg.algorithm,
                                adapt_layers=cfg.adapt_layers),
        steps=cfg.test_inner_steps if inner_steps is None else inner_steps, lr=cfg.inner.lr,
        task=cfg.task, inputs=inputs, layers=layers, task_offset=start).after


def compare(sources: Sequence[Checkpoint] | Checkpoint, **options: Any) -> pd.DataFrame:
    """One entry point for the three comparisons, by what ``sources`` is.

    - one checkpoint file → :func:`compare_adaptation` (θ vs θ');
    - one run directory → :func:`compare_run` (every checkpoint, ``step`` column);
    - two checkpoint files → :func:`compare_models` (A vs B; ``state`` applies).

    ``options`` go to the chosen function (``state`` other than "before" needs two models);
    ``config`` (TrainConfig or preset name) rebuilds the network of bare (learn2learn)
    state_dicts.
    """
    if isinstance(sources, (str, Path, TrainedModel)):
        sources = [sources]
    sources = list(sources)
    config = options.pop("config", None)
    if config is not None:
        device = options.get("device", "cpu")
        sources = [s if isinstance(s, TrainedModel) or Path(s).is_dir()
                   else load(s, device=device, config=config) for s in sources]
    if len(sources) == 2:
        return compare_models(sources[0], sources[1], **options)
    if len(sources) != 1:
        raise ValueError(f"compare takes one checkpoint, one run directory, or two checkpoints; "
                         f"got {len(sources)} paths")
    if options.pop("state", "before") != "before":
        raise ValueError("state='after' applies to a comparison of two models only")
    source = sources[0]
    if not isinstance(source, TrainedModel) and Path(source).is_dir():
        return compare_run(source, **options)
    return compare_adaptation(source, **options)
