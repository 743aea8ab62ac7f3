"""One report from a study or sweep results folder: tables, figures and ``report.md``.

``repsim figures ROOT`` calls :func:`make_report`, which recognises the folder:

- a **study root** (:func:`is_study_root`): ``ROOT/<run>/seed<s>/`` training runs with their
  ``analysis/{heads,profile,ablate}.json`` (what :mod:`repsim.study_runs` and
  ``analysis/omniglot_study.py`` write). :func:`study_report` gathers the seed tables
  (:func:`~repsim.study_runs.gather_tables`), draws the figures
  (:func:`~repsim.study_runs.draw_study`) and writes ``report.md``
  (:mod:`repsim.plots.study_report`), with the runs' status and compute;
- any other results folder, a ``repsim sweep`` output included (``eval.json``,
  ``eval_seeds.json``, ``runs/<job>/``): the figures of :func:`repsim.plots.make_figures` and,
  for a sweep (``sweep.json``), its report, as ``repsim sweep`` itself writes them.

Which runs a study has, which questions each answers and under which condition label come from
``ROOT/study.json`` when the study script wrote one (:func:`write_plan`: it also names the
planned runs that have not started), else from the folders themselves: each run's
``config.json`` and the ``groups`` its analysis manifests record; conv4 condition labels are
then derived from how each config differs from its dataset's default (:func:`condition_label`).
Nothing is recomputed: a run that has not finished or not been analysed is reported as such.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from repsim._csv import read_csv
from repsim._io import atomic_write_json, run_manifest
from repsim.analyses.regimes import regime_name
from repsim.analyses.tables import read_table, write_table
from repsim.meta.checkpoint import checkpoint_paths
from repsim.meta.config import TrainConfig, config_from_dict, config_to_dict, default_config
from repsim.study_runs import StudyRun, checkpoint_index, draw_study, gather_tables, run_dir

__all__ = ["PLAN", "condition_label", "discover_runs", "is_study_root", "make_report",
           "run_status", "study_report", "write_plan"]

PLAN = "study.json"
#: Fields that make two runs different experiments (bookkeeping such as steps, seed,
#: validation and checkpoint cadence is left out).
DESIGN_FIELDS = ("algorithm", "adapt_layers", "ways", "shots", "query", "meta_batch", "meta_lr",
                 "inner", "test_inner_steps", "head_input", "head_init")


def is_study_root(path: str | Path) -> bool:
    """True for a folder of ``<run>/seed<s>/`` training runs (or one with a ``study.json``)."""
    root = Path(path)
    return (root / PLAN).is_file() or any(root.glob("*/seed*/config.json"))


def write_plan(root: str | Path, runs: Sequence[StudyRun]) -> Path:
    """Record the study's runs (names, seeds, questions, condition labels, configs)."""
    entries = [{"name": r.name, "seed": r.config.seed, "groups": list(r.groups),
                "condition": r.condition, "config": config_to_dict(r.config)} for r in runs]
    return atomic_write_json(Path(root) / PLAN, run_manifest(seed=None, runs=entries))


def condition_label(config: TrainConfig, reference: TrainConfig) -> str:
    """``"baseline"`` when ``config`` matches ``reference`` in every design field, else the
    differences (``"head_input=flatten"``, ``"inner 5 steps lr 0.1"``)."""
    parts = []
    for name in DESIGN_FIELDS:
        value, ref = getattr(config, name), getattr(reference, name)
        if value is None or value == ref:  # None: "the default", which the reference has
            continue
        if name == "inner":
            parts.append(f"inner {value.steps} step{'s' if value.steps > 1 else ''} "
                         f"lr {value.lr:g}")
        else:
            parts.append(f"{name}={value}")
    return ", ".join(parts) or "baseline"


def _reference(configs: Sequence[TrainConfig]) -> TrainConfig | None:
    """The controlled experiment's baseline: per design field the value most of its runs share
    (one factor changes per run), ties broken toward the dataset's default config."""
    if not configs:
        return None
    first = configs[0]
    default = default_config(first.dataset, ways=first.ways, shots=first.shots)
    changes = {}
    for name in DESIGN_FIELDS:
        values = [getattr(c, name) for c in configs]
        counts = {repr(v): values.count(v) for v in values}
        best = max(counts.values())
        tied = [v for v in values if counts[repr(v)] == best]
        fallback = getattr(default, name)
        changes[name] = fallback if fallback in tied else tied[0]
    return dataclasses.replace(first, **changes)


def _recorded_groups(folder: Path) -> tuple[str, ...]:
    groups: list[str] = []
    for path in sorted((folder / "analysis").glob("*.json")):
        try:
            groups += list(read_table(path)[1].get("groups") or [])
        except (ValueError, OSError):
            continue
    return tuple(dict.fromkeys(groups))


def discover_runs(root: str | Path) -> list[StudyRun]:
    """The study's runs: those of ``study.json`` (if any) and every run folder found.

    A run folder's own ``config.json`` is the run's config (a plan written with other steps
    does not change what was trained); the plan gives its questions and condition label.
    """
    root = Path(root)
    runs: dict[tuple[str, int], StudyRun] = {}
    if (root / PLAN).is_file():
        try:
            for e in json.loads((root / PLAN).read_text())["runs"]:
                cfg = config_from_dict(e["config"])
                runs[(e["name"], cfg.seed)] = StudyRun(e["name"], cfg, tuple(e["groups"]),
                                                       e.get("condition", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{root / PLAN} is not a study plan: {exc}") from None
    found = []
    for path in sorted(root.glob("*/seed*/config.json")):
        try:
            cfg = config_from_dict(json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path} is not a repsim training config: {exc}") from None
        key = (path.parent.parent.name, cfg.seed)
        if key in runs:  # what was trained wins over the plan (e.g. its steps were changed)
            planned = runs[key].config.steps  # more than trained: capped for compute
            runs[key] = dataclasses.replace(
                runs[key], config=cfg, planned_steps=planned if planned > cfg.steps else None)
        else:
            found.append(StudyRun(key[0], cfg, _recorded_groups(path.parent)))
    # A run folder the plan does not know (added to the grid since the plan was written) is
    # labelled against the plan's baseline when there is one, else against its fellows.
    conv4 = [r for r in found if "conv4" in r.groups]
    planned = [r.config for r in runs.values() if r.condition == "baseline"]
    reference = (planned[0] if planned else
                 _reference([r.config for r in {r.name: r for r in conv4}.values()]))
    for run in found:
        if run in conv4 and reference is not None:
            run = dataclasses.replace(run, condition=condition_label(run.config, reference))
        runs[(run.name, run.config.seed)] = run
    _check_conditions(runs.values())
    # the baseline first: tables and figures list conditions in the order of the runs
    return sorted(runs.values(), key=lambda r: (r.condition != "baseline", r.name,
                                                r.config.seed))


def _check_conditions(runs: Iterable[StudyRun]) -> None:
    """One condition label, one run: two runs under one label would pool their seeds."""
    owner: dict[str, str] = {}
    for run in runs:
        if "conv4" not in run.groups or not run.condition:
            continue
        first = owner.setdefault(run.condition, run.name)
        if first != run.name:
            raise ValueError(f"study runs {first!r} and {run.name!r} share the condition label "
                             f"{run.condition!r}; their seeds would be pooled. Give each its "
                             "own label in the plan (study.json).")


def run_status(root: str | Path, run: StudyRun) -> str:
    """``analysed`` | ``trained, not analysed`` | ``training: step k of N`` | ``not started``."""
    folder = run_dir(root, run)
    done = checkpoint_paths(folder)
    target = 0 if run.config.algorithm == "random" else run.config.steps
    if not done:
        return "training: no checkpoint yet" if (folder / "config.json").is_file() else \
            "not started"
    if done[-1][0] < target:
        return f"training: step {done[-1][0]} of {target}"
    return "analysed" if (folder / "analysis" / "heads.json").is_file() else \
        "trained, not analysed"


def _wall_seconds(folder: Path) -> float | None:
    try:
        metrics = read_csv(folder / "metrics.csv")  # an empty file: named
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    return float(metrics["elapsed"].max()) if "elapsed" in metrics and len(metrics) else None


def _runs_table(root: Path, runs: Sequence[StudyRun]) -> pd.DataFrame:
    """One row per run and seed: what it is, its status and what it cost."""
    rows = []
    for run in runs:
        cfg, folder = run.config, run_dir(root, run)
        done = checkpoint_paths(folder)
        manifest = {}
        if (folder / "analysis" / "heads.json").is_file():
            manifest = read_table(folder / "analysis" / "heads.json")[1]
        seconds = _wall_seconds(folder)
        per_step = cfg.meta_batch * cfg.ways * (cfg.shots + cfg.query)
        rows.append({
            "run": run.name, "seed": cfg.seed, "groups": ",".join(run.groups),
            "condition": run.condition, "regime": regime_name(cfg),
            "setting": f"{cfg.dataset} {cfg.ways}w{cfg.shots}s", "status": run_status(root, run),
            "steps_target": cfg.steps, "steps_planned": run.planned_steps or cfg.steps,
            "steps_reached": done[-1][0] if done else 0,
            "meta_batch": cfg.meta_batch,
            "inner": f"{cfg.inner.steps} x lr {cfg.inner.lr:g}" if cfg.own_head else "–",
            "images_per_step": 0 if cfg.algorithm == "random" else per_step,
            "images_seen": (done[-1][0] if done else 0) * per_step,
            "train_hours": None if seconds is None else round(seconds / 3600, 3),
            "device": _device(folder), "test_tasks": manifest.get("tasks", run.tasks),
        })
    return pd.DataFrame.from_records(rows)


def _device(folder: Path) -> str | None:
    try:
        return json.loads((folder / "manifest.json").read_text()).get("device")
    except (OSError, ValueError):
        return None


def _between_seeds(root: Path, tables: Path) -> Path | None:
    """Summarise the between-seed comparison the study script computed (never recomputed)."""
    from repsim.analyses.seeds import body_average, pair_summary

    for src in (tables / "between_seeds.json", root / "tables" / "between_seeds.json"):
        if src.is_file():
            frame, manifest = read_table(src)
            if src.parent != tables:
                write_table(frame, tables / "between_seeds", manifest=manifest)
            return write_table(pair_summary(body_average(frame)),
                               tables / "between_seeds_summary",
                               manifest={**manifest, "source": str(src)})
    return None


def study_report(root: str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Tables, figures and ``report.md`` of a study root, from its saved analyses only.

    Parameters
    ----------
    root : str or Path
        The study root (``<run>/seed<s>/`` folders).
    out_dir : str or Path, optional
        Where everything goes (default ``root/figures``): figures (PNG + PDF + caption) and
        ``report.md`` in it, tables in ``out_dir/tables``.

    Returns
    -------
    dict of str to Path
        Every file written, by name (``report`` is ``report.md``).

    Raises
    ------
    ValueError
        ``root`` is not a study root, or its plan / a run's config cannot be read.
    """
    from repsim.plots.study_report import write_study_report

    root = Path(root)
    if not root.is_dir() or not is_study_root(root):
        raise ValueError(f"{root} is not a study root: expected <run>/seed<s>/config.json "
                         f"folders or a {PLAN}")
    out = Path(out_dir) if out_dir is not None else root / "figures"
    tables = out / "tables"
    runs = discover_runs(root)
    files = gather_tables(root, runs, tables)
    between = _between_seeds(root, tables)
    if between is not None:
        files["between_seeds_summary"] = between
    status = _runs_table(root, runs)
    files["runs"] = write_table(status, tables / "runs", manifest=run_manifest(
        seed=None, root=str(root), description="every run of the study: status and compute"))
    files.update({f"figure_{k}": v for k, v in draw_study(tables, out).items()})
    seeds_figure = _draw_seeds(tables, out)
    if seeds_figure is not None:
        files["figure_seeds"] = seeds_figure
    files["checkpoint_index"] = atomic_write_json(
        tables / "checkpoint_index.json", {"checkpoints": checkpoint_index(root, runs)})
    files["report"] = write_study_report(tables, out, root=root)
    return files


def _draw_seeds(tables: Path, out: Path) -> Path | None:
    """MAML and ANIL over seeds: one bar per regime and quantity, a dot per seed."""
    from repsim.plots.study import conditions
    from repsim.plots.style import save_figure

    path = tables / "seeds_summary.json"
    if not path.is_file():
        return None
    summary = read_table(path)[0]
    keep = summary["layer"].isna() | (summary["layer"] == "conv4")
    frame = summary[keep].rename(columns={"regime": "condition"})
    fig = conditions(frame, quantities=[q for q in ("accuracy", "head_only_accuracy",
                                                    "nil_accuracy", "head_only_gap",
                                                    "similarity") if q in set(frame["quantity"])])
    fig.suptitle("MAML and ANIL over training seeds (bars: mean ± std; dots: seeds; "
                 "similarity: conv4 linear CKA θ vs θ′)")
    for ax in fig.axes:  # relabelled outside the style context: keep the drawn font sizes
        ax.set_xlabel("how the body was trained", fontsize=ax.xaxis.label.get_fontsize())
        if ax.get_title() == "θ vs θ′ similarity":
            ax.set_title("conv4 θ vs θ′ linear CKA", fontsize=ax.title.get_fontsize())
            ax.set_ylabel("conv4 linear CKA", fontsize=ax.yaxis.label.get_fontsize())
    return save_figure(fig, out / "seeds", caption="MAML and ANIL over seeds from "
                       "`seeds_summary.json`.")[0]


def make_report(results_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Any]:
    """``repsim figures``: a study root → :func:`study_report`; any other results folder →
    its figures (:func:`repsim.plots.make_figures`), plus the report for a sweep folder.

    Returns ``{"kind": "study" | "sweep" | "results", "files": [paths], "skipped": [...]}``.
    """
    from repsim.plots import make_figures, read_index

    root = Path(results_dir)
    if root.is_dir() and is_study_root(root) and not (root / "eval.json").is_file():
        files = study_report(root, out_dir)
        return {"kind": "study", "files": list(files.values()), "skipped": []}
    paths = make_figures(root, out_dir)
    index = read_index(paths[-1].parent)
    kind = "results"
    if (root / "sweep.json").is_file():  # what `repsim sweep` writes at its end
        from repsim.plots.report import write_report

        figures = paths[-1].parent
        paths += list(write_report(root, figures, root if out_dir is None else figures))
        kind = "sweep"
    return {"kind": kind, "files": paths, "skipped": index["skipped"]}
