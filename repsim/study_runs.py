"""Runs of a multi-question study: train each, analyse each once, gather tidy tables, draw.

A study is a list of :class:`StudyRun` (a training config, the question group it answers and
the condition it stands for). Each run lives in ``ROOT/<name>/seed<s>/`` (a ``repsim train``
run directory) and keeps its analyses in ``analysis/`` beside its checkpoints; every step is
skipped when its file exists, so a study is resumable at any point and two processes can share
the work (``shard``). :func:`gather_tables` and :func:`draw_study` then build the study's
seed tables, summaries and figures from those files only.

These functions schedule library calls and never reach into them, so a sweep runner (local
pool, Ray) can call :func:`train_run` / :func:`analyse_run` per run instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from repsim._io import run_manifest
from repsim.analyses.ablate import ablate
from repsim.analyses.budget import adaptation_budget
from repsim.analyses.regimes import adaptation_profile, evaluate_heads, regime_name
from repsim.analyses.seeds import seed_summary
from repsim.analyses.tables import read_table, write_table
from repsim.meta import TrainConfig, train
from repsim.meta.checkpoint import checkpoint_paths
from repsim.models import BODY_LAYERS

__all__ = ["LENGTH_STEPS", "StudyRun", "analyse_run", "analyse_steps", "checkpoint_index",
           "draw_study", "final_checkpoint", "gather_tables", "run_dir", "train_run"]


@dataclass(frozen=True)
class StudyRun:
    """One training run of the study and what it is for."""

    name: str  # folder name, unique per config (without the seed)
    config: TrainConfig
    groups: tuple[str, ...]  # questions it answers: seeds, regimes, interpolation, shots, conv4
    condition: str = ""  # its label in the conv4 investigation
    tasks: int = 600  # test tasks for the accuracies
    compare_tasks: int = 100
    compare_query: int = 15  # comparison query per class (Omniglot: shots + query <= 20)
    # the plan's length when the run was trained to fewer steps (capped for compute with
    # ``--steps``; resuming without the cap trains it on); None: trained as planned
    planned_steps: int | None = None


def run_dir(root: str | Path, run: StudyRun) -> Path:
    return Path(root) / run.name / f"seed{run.config.seed}"


def final_checkpoint(root: str | Path, run: StudyRun) -> Path | None:
    """The run's last checkpoint when it reached its steps (step 0 for the random body)."""
    found = checkpoint_paths(run_dir(root, run))
    if not found:
        return None
    step, path = found[-1]
    target = 0 if run.config.algorithm == "random" else run.config.steps
    return path if step >= target else None


def train_run(run: StudyRun, root: str | Path, *, data_dir: str | Path | None = None,
              max_minutes: float | None = None, progress: bool = False,
              device: str = "cpu") -> Path | None:
    """Train (or resume) ``run`` unless finished; return its final checkpoint (None: stopped
    early by ``max_minutes``; the next call resumes)."""
    done = final_checkpoint(root, run)
    if done is not None:
        return done
    train(run.config, out_dir=run_dir(root, run), resume=True, data_dir=data_dir,
          progress=progress, device=device,
          max_seconds=None if max_minutes is None else 60 * max_minutes)
    return final_checkpoint(root, run)


def analyse_run(run: StudyRun, root: str | Path, *, data_dir: str | Path | None = None,
                device: str = "cpu") -> dict[str, Path]:
    """Heads, adaptation profile and freezing ablation of a finished run (each once)."""
    ckpt = final_checkpoint(root, run)
    if ckpt is None:
        raise ValueError(f"{run_dir(root, run)} has not finished training ({run.config.steps} "
                         "steps); train it first")
    out = run_dir(root, run) / "analysis"
    jobs: list[tuple[str, Any]] = [
        ("heads", lambda: evaluate_heads(ckpt, tasks=run.tasks, data_dir=data_dir,
                                         device=device))]
    if run.config.own_head:
        jobs.append(("profile", lambda: adaptation_profile(
            ckpt, tasks=run.tasks, compare_tasks=run.compare_tasks,
            compare_query=run.compare_query, data_dir=data_dir, device=device)))
    jobs.append(("budget", lambda: adaptation_budget(ckpt, tasks=run.tasks, data_dir=data_dir,
                                                     device=device)))
    if "interpolation" in run.groups or "length" in run.groups:
        jobs.append(("ablate", lambda: ablate(ckpt, tasks=run.tasks, data_dir=data_dir,
                                              device=device)))
    return _run_jobs(run, out, _step(ckpt), jobs)


def _run_jobs(run: StudyRun, out: Path, step: int, jobs: list[tuple[str, Any]]
              ) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for stem, job in jobs:
        path = out / f"{stem}.json"
        if not path.exists() or _analysed_step(path) not in (None, step):
            # absent, or computed from an earlier checkpoint: a run capped for compute
            # (``--steps``) and later trained further is analysed again at its new end
            frame = job()
            write_table(frame, path, manifest={**run_manifest(seed=run.config.seed),
                                               "run": run.name, "groups": list(run.groups),
                                               **frame.attrs.get("manifest", {})})
        files[stem] = path
    return files


#: Where the long tier is read along training (issue 19: 1k, 2k, 5k and the end, 10k).
LENGTH_STEPS = (1000, 2000, 5000)


def analyse_steps(run: StudyRun, root: str | Path, steps: Sequence[int] = LENGTH_STEPS, *,
                  data_dir: str | Path | None = None, device: str = "cpu"
                  ) -> dict[int, dict[str, Path]]:
    """The profile, budget and freezing ablation of a run's checkpoints at ``steps`` (those
    it has), each once, in ``analysis/step_XXXXXX/``: the paper's claim 3 ("feature reuse
    happens early") and every headline answer read along training."""
    have = dict(checkpoint_paths(run_dir(root, run)))
    done: dict[int, dict[str, Path]] = {}
    for step in sorted(set(steps)):
        ckpt = have.get(step)
        if ckpt is None or step >= run.config.steps:  # the end is analyse_run's
            continue
        jobs: list[tuple[str, Any]] = [("budget", lambda c=ckpt: adaptation_budget(
            c, tasks=run.tasks, data_dir=data_dir, device=device))]
        if run.config.own_head:
            jobs += [("profile", lambda c=ckpt: adaptation_profile(
                c, tasks=run.tasks, compare_tasks=run.compare_tasks,
                compare_query=run.compare_query, data_dir=data_dir, device=device)),
                     ("ablate", lambda c=ckpt: ablate(c, tasks=run.tasks, data_dir=data_dir,
                                                      device=device))]
        else:
            jobs.append(("heads", lambda c=ckpt: evaluate_heads(c, tasks=run.tasks,
                                                                data_dir=data_dir,
                                                                device=device)))
        out = run_dir(root, run) / "analysis" / f"step_{step:06d}"
        done[step] = _run_jobs(run, out, step, jobs)
    return done


def _step(ckpt: Path) -> int:
    return int(ckpt.stem.split("_")[-1])


def _analysed_step(path: Path) -> int | None:
    """The checkpoint step an analysis file was computed from (None: not recorded)."""
    frame = read_table(path)[0]
    steps = {int(s) for s in frame["step"].dropna()} if "step" in frame else set()
    return steps.pop() if len(steps) == 1 else None


def _read_all(root: Path, runs: Sequence[StudyRun], stem: str, group: str | None, *,
              along: bool = False) -> pd.DataFrame:
    """Every run's ``analysis/<stem>.json`` (``group`` None: every run's), with ``along`` also
    those of its checkpoints along training (``analysis/step_XXXXXX/``)."""
    frames = []
    for run in runs:
        if group is not None and group not in run.groups:
            continue
        folder = run_dir(root, run) / "analysis"
        paths = [folder / f"{stem}.json"]
        if along:
            paths += sorted(folder.glob(f"step_*/{stem}.json"))
        for path in paths:
            if path.exists():
                frames.append(read_table(path)[0].assign(run=run.name, condition=run.condition,
                                                         seed=run.config.seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _freezing_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Ablation rows → ``n_frozen`` (body layers conv1..k frozen), adapted head only. A model
    whose inner loop only adapts the head (ANIL) is flat by construction: its one row serves
    every k."""
    rows = frame[frame["head"] == "adapted"].copy()
    rows["n_frozen"] = rows["frozen"].map(len)
    # one model is one checkpoint: a run read along training has one per kept step
    model = ["run", "seed", "step"] if "step" in rows else ["run", "seed"]
    flat = rows.groupby(model)["n_frozen"].transform("nunique") == 1
    expanded = [rows[~flat]] + [rows[flat].assign(n_frozen=k) for k in range(5)]
    return pd.concat(expanded, ignore_index=True)


def gather_tables(root: str | Path, runs: Sequence[StudyRun], out_dir: str | Path
                  ) -> dict[str, Path]:
    """Per-seed tables and their seed summaries for every question group with results."""
    root, out = Path(root), Path(out_dir)
    manifest = run_manifest(seed=None, runs=[r.name for r in runs], root=str(root))
    files: dict[str, Path] = {}

    def emit(stem: str, frame: pd.DataFrame, by: list[str], value: str,
             carry: Sequence[str] = ()) -> None:
        if frame.empty:
            return
        files[stem] = write_table(frame, out / stem, manifest=manifest)
        summary = seed_summary(frame, by=by, value=value)
        groups = [part for _, part in frame.groupby(by, sort=False, dropna=False)]
        if "step" in frame:  # the training steps each summarised number comes from
            summary["steps"] = [sorted({int(s) for s in part["step"]}) for part in groups]
        for column in carry:  # a per-seed label beside the per-seed values, in seed order
            summary[f"{column}_per_seed"] = [
                [None if pd.isna(v) else v for v in part.sort_values("seed")[column]]
                for part in groups]
        files[f"{stem}_summary"] = write_table(summary, out / f"{stem}_summary",
                                               manifest=manifest)

    seeds = _read_all(root, runs, "profile", "seeds")
    if not seeds.empty:  # MAML/ANIL over seeds: own head, head-only, NIL head, gap, θ vs θ'
        seeds = seeds[(seeds["quantity"] != "similarity") | (seeds["measure"] == "cka")]
        emit("seeds", seeds, ["regime", "quantity", "layer", "measure"], "value")
    heads = _read_all(root, runs, "heads", "regimes")
    emit("regimes", heads, ["regime", "head"], "accuracy")
    profile = _read_all(root, runs, "profile", "interpolation")
    if not profile.empty:
        acc = profile[profile["quantity"] == "accuracy"]
        emit("interpolation_accuracy", acc, ["regime"], "value")
        sim = profile[profile["quantity"] == "similarity"]
        emit("interpolation_similarity", sim, ["regime", "layer", "measure"], "value")
    frz = _read_all(root, runs, "ablate", "interpolation")
    if not frz.empty:
        frz = _freezing_rows(frz)
        frz["regime"] = frz["run"].map({r.name: regime_name(r.config) for r in runs})
        emit("interpolation_freezing", frz, ["regime", "n_frozen"], "accuracy")
    # The setting, training inner loop and meta-batch ride along as keys (constant within a
    # group of rows): 20-way trains with 5 steps at lr 0.1, 5-way with 1 at 0.4; 10-15 shots
    # train 8 tasks per step, 1 shot 32. The shots reading names these differences and looks
    # among the conv4 conditions for a run that holds one of them.
    # The shots summary is keyed by the steps each run trained too (``train_steps``): a run
    # capped for compute is read with runs of its own length, never pooled with longer ones.
    setting = ["algorithm", "ways", "shots", "inner", "meta_batch"]
    meta_batch = {r.name: r.config.meta_batch for r in runs}
    for group, by in (("shots", [*setting, "train_steps", "quantity", "layer", "measure"]),
                      ("conv4", ["condition", *setting, "quantity", "layer", "measure"])):
        frame = _read_all(root, runs, "profile", group)
        if not frame.empty:
            frame = frame[(frame["quantity"] != "similarity") | (frame["measure"] == "cka")]
            frame = frame.assign(inner=[f"{int(n)} x lr {lr:g}" for n, lr in
                                        zip(frame["inner_steps_train"], frame["inner_lr"],
                                            strict=True)],
                                 meta_batch=frame["run"].map(meta_batch),
                                 train_steps=frame["step"].astype(int))
            emit(group, frame, by, "value")
    # the adaptation budget of every model: which part of the inner loop's accuracy only
    # body adaptation buys, read with the run's setting and length
    budget = _read_all(root, runs, "budget", None)
    if not budget.empty:
        emit("budget", budget.assign(train_steps=budget["step"].astype(int)),
             ["run", "regime", "ways", "shots", "train_steps", "quantity"], "value",
             carry=("detail",))
    # the long tier along training: every headline quantity at 1k, 2k, 5k and the end
    length = [r for r in runs if "length" in r.groups]
    if length:
        profile = _read_all(root, length, "profile", "length", along=True)
        if not profile.empty:
            profile = profile[(profile["quantity"] != "similarity")
                              | (profile["measure"] == "cka")]
        parts = [profile, _read_all(root, length, "budget", "length", along=True)]
        heads = _read_all(root, length, "heads", "length", along=True)
        if not heads.empty:  # bodies without an inner loop: the NIL head only
            parts.append(heads.assign(quantity="nil_accuracy", value=heads["accuracy"])
                         [heads["head"] == "nil"])
        frame = pd.concat([p for p in parts if not p.empty], ignore_index=True) if any(
            not p.empty for p in parts) else pd.DataFrame()
        if not frame.empty:
            frame = frame.drop_duplicates(["run", "seed", "step", "quantity", "layer"]
                                          if "layer" in frame else ["run", "seed", "step",
                                                                    "quantity"])
            frame = frame.assign(train_steps=frame["step"].astype(int))
            for column in ("layer", "measure"):
                frame[column] = frame[column] if column in frame else None
            emit("length", frame, ["run", "regime", "train_steps", "quantity", "layer"],
                 "value")
        frz = _read_all(root, length, "ablate", "length", along=True)
        if not frz.empty:
            frz = _freezing_rows(frz)
            frz["regime"] = frz["run"].map({r.name: regime_name(r.config) for r in runs})
            emit("length_freezing", frz.assign(train_steps=frz["step"].astype(int)),
                 ["run", "regime", "train_steps", "n_frozen"], "accuracy")
    return files


def draw_study(tables_dir: str | Path, fig_dir: str | Path) -> dict[str, Path]:
    """The study figures the tables in ``tables_dir`` allow (PNG + PDF + caption each)."""
    from repsim.plots import study as P
    from repsim.plots.style import save_figure

    tables, out = Path(tables_dir), Path(fig_dir)
    made: dict[str, Path] = {}

    def have(stem: str) -> pd.DataFrame | None:
        path = tables / f"{stem}_summary.json"
        return read_table(path)[0] if path.exists() else None

    if (t := have("regimes")) is not None:
        made["regimes"] = save_figure(P.regimes(t), out / "regimes",
                                      caption="Table 5 regimes from `regimes_summary.json`.")[0]
        write_table(P.regimes_table(t), tables / "regimes_display")
    parts = [have(s) for s in ("interpolation_accuracy", "interpolation_similarity",
                               "interpolation_freezing")]
    if all(p is not None for p in parts):
        acc, sim, frz = parts
        made["interpolation"] = save_figure(P.interpolation(acc, sim, frz), out / "interpolation",
                                            caption="Top-k MAML and BOIL between rapid learning "
                                            "and feature reuse (interpolation_*_summary.json).")[0]
    if (t := have("between_seeds")) is not None:
        from repsim.plots.seeds import between_seeds

        made["between_seeds"] = save_figure(between_seeds(t), out / "between_seeds",
                                            caption="Body-averaged similarity between "
                                            "independently trained models "
                                            "(`between_seeds_summary.json`).")[0]
    if (t := have("shots")) is not None:
        made["shots"] = save_figure(P.shots_and_ways(t), out / "medium_shot",
                                    caption="Medium-shot quantities from `shots_summary.json`.")[0]
    if (t := have("budget")) is not None:
        from repsim.plots import budget as B

        made["budget"] = save_figure(B.budget(t), out / "budget", caption=(
            "Each reader's accuracy on the same test tasks, mean ± std over seeds "
            "(`budget_summary.json`); (a) is the trained inner loop."))[0]
        if (t := have("length")) is not None:
            made["length"] = save_figure(B.length_curves(t, have("length_freezing")),
                                         out / "length", caption=(
                "The long tier along training (`length_summary.json`, "
                "`length_freezing_summary.json`): mean ± std over seeds per checkpoint."))[0]
    if (t := have("conv4")) is not None:
        t = t[t["layer"].isna() | (t["layer"] == "conv4")]
        made["conv4"] = save_figure(P.conditions(t), out / "conv4_investigation",
                                    caption="Controlled conditions from `conv4_summary.json`.")[0]
    return made


def checkpoint_index(root: str | Path, runs: Sequence[StudyRun], *, along: bool = False
                     ) -> list[dict[str, Any]]:
    """One entry per finished run's checkpoint with every number reported from it.

    Each entry: ``path``, ``run``, ``setting`` (dataset ways shots), ``algorithm``, ``regime``,
    ``seed``, ``steps``, ``groups`` and ``figures``: one record per reported number with
    ``metric`` (``accuracy`` with its ``head``, or a profile ``quantity`` with ``layer`` /
    ``measure`` / ``frozen``), ``value``, ``ci95``, ``tasks``, ``test_seed``; a run trained to
    fewer steps than its plan (capped for compute) adds ``planned_steps``. With ``along``, the
    checkpoints analysed along training (``analysis/step_XXXXXX/``, the long tier) get an entry
    each too, with ``along_training: true``. Anyone can re-evaluate a claim from the checkpoint
    and these settings.
    """
    entries = []
    for run in runs:
        ckpt = final_checkpoint(root, run)
        if ckpt is None and not along:
            continue
        cfg = run.config
        common = {"run": run.name, "setting": f"{cfg.dataset} {cfg.ways}w{cfg.shots}s",
                  "algorithm": cfg.algorithm, "regime": regime_name(cfg), "seed": cfg.seed,
                  "groups": list(run.groups)}
        analysis = run_dir(root, run) / "analysis"
        if ckpt is not None:
            entries.append({
                "path": str(ckpt), **common, "steps": _step(ckpt), "figures": _figures(analysis),
                # capped for compute: the plan's length, which the run has not reached
                **({"planned_steps": run.planned_steps} if run.planned_steps else {})})
        if along:  # a run still training has its checkpoints along training indexed too
            have = dict(checkpoint_paths(run_dir(root, run)))
            for folder in sorted(analysis.glob("step_*")):
                step = int(folder.name.removeprefix("step_"))
                if step in have and (ckpt is None or step != _step(ckpt)):
                    entries.append({"path": str(have[step]), **common, "steps": step,
                                    "along_training": True, "figures": _figures(folder)})
    return entries


def _budget_reader(quantity: str) -> dict[str, Any]:
    """The head (reader) and the layers frozen at test behind a budget quantity."""
    if quantity.startswith("head_only"):
        return {"head": "own", "frozen": list(BODY_LAYERS)}
    if quantity == "top_and_head":
        return {"head": "own", "frozen": list(BODY_LAYERS[:-1])}
    if quantity in ("nil", "prototype", "probe", "probe_adapted"):
        return {"head": quantity}
    if quantity == "inner_loop":
        return {"head": "own", "frozen": []}
    return {"head": "derived"}  # best_head_side, body_only_gain, probe_gain


def _figures(analysis: Path) -> list[dict[str, Any]]:
    """The index records of every number in one checkpoint's analysis folder."""
    from repsim.meta.tasks import TEST_SEED

    figures = []
    for stem in ("heads", "profile", "ablate", "budget"):
        if not (analysis / f"{stem}.json").exists():
            continue
        frame, manifest = read_table(analysis / f"{stem}.json")
        test_seed = manifest.get("test_seed", TEST_SEED)
        for row in frame.to_dict("records"):
            record = {"source": stem, "value": row.get("value", row.get("accuracy")),
                      "ci95": row.get("ci95"), "tasks": row.get("tasks"),
                      "test_seed": test_seed}
            if stem == "profile":
                # the profile adapts with the model's own head; "head only" quantities
                # freeze every body layer in the test-time inner loop, the rest nothing
                head_only = str(row["quantity"]).startswith("head_only")
                record.update(metric=row["quantity"], layer=row.get("layer"),
                              measure=row.get("measure"), head="own",
                              frozen=list(BODY_LAYERS) if head_only else [])
            elif stem == "budget":
                # adaptation_budget's quantities (which reader, which steps: its manifest)
                record.update(metric=row["quantity"], detail=row.get("detail"),
                              **_budget_reader(str(row["quantity"])))
            else:
                record.update(metric="accuracy", head=row.get("head"),
                              frozen=row.get("frozen"))
            figures.append(record)
    return figures


def with_seed(run: StudyRun, seed: int) -> StudyRun:
    """``run`` for training seed ``seed``."""
    return dataclasses.replace(run, config=dataclasses.replace(run.config, seed=seed))
