"""The whole study in one call: train MAML and ANIL, evaluate MAML/ANIL/NIL, compare, ablate,
time, draw, report. ``repsim reproduce PRESET`` and ``repsim demo`` are thin wrappers.

Each stage writes its result file atomically and is skipped when that file already exists, and
training resumes from its last checkpoint, so an interrupted study picks up where it stopped.
The timing stage runs first: its seconds-per-iteration give the time estimate of the others.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from repsim._io import atomic_write_json, run_manifest
from repsim.analyses.ablate import ablate, ablate_run
from repsim.analyses.compare import compare_adaptation, compare_models, compare_run
from repsim.analyses.tables import read_table, write_table
from repsim.meta import (
    PRESETS,
    TrainConfig,
    config_to_dict,
    evaluate_checkpoint,
    load_trained,
    train,
)
from repsim.meta.checkpoint import checkpoint_paths
from repsim.meta.timing import time_per_iteration

__all__ = ["STUDY_PRESETS", "StudyPreset", "run_study"]

ALGORITHMS = ("maml", "anil")


@dataclass(frozen=True)
class StudyPreset:
    """What ``repsim reproduce NAME`` runs: a training config and the analysis sizes."""

    name: str
    train: TrainConfig  # the algorithm field is replaced by maml / anil
    eval_tasks: int = 600
    compare_tasks: int = 100
    compare_query: int = 15  # comparison inputs per class (per task for sinusoid)
    ablate_tasks: int = 600
    steps_tasks: int = 100  # tasks for the across-checkpoints analyses
    analysis_steps: tuple[int, ...] | None = None  # checkpoints analysed across training (all)
    description: str = ""
    # Measured stage time / model estimate per stage kind ("train" or the result file's stem;
    # 1.0 where not measured). The model scales the timing stage's seconds per iteration, which
    # misses the similarity work of the compare stages and training's validation/checkpoints.
    estimate_scale: Mapping[str, float] = field(default_factory=dict)


def _preset(name: str, **train_changes: Any) -> TrainConfig:
    return dataclasses.replace(PRESETS[name], **train_changes)


STUDY_PRESETS: dict[str, StudyPreset] = {
    "sinusoid": StudyPreset(
        "sinusoid",
        _preset("sinusoid", steps=1500, checkpoint_every=300, val_every=300, val_tasks=100),
        # 100 points per task: more samples than the 40 hidden units, so CCA is defined.
        compare_query=100,
        ablate_tasks=600,
        description="embedded sinusoid regression (offline; 2 CPU cores: ~1 min idle, 7-8 min "
        "shared)",
        # Two demo runs on the shared 2-core dev box (load average ~12), actual / modelled:
        # train 2.6-4.6, evaluate 0.4-0.6, compare 17-20, compare across checkpoints 9.5-18,
        # MAML vs ANIL 16-17, freezing 0.2-0.3, freezing across checkpoints 0.1-0.3.
        estimate_scale={"train": 3.0, "eval": 0.5, "compare": 18.0, "compare_steps": 13.0,
                        "compare_models": 16.0, "ablate": 0.25, "ablate_steps": 0.2},
    ),
    "omniglot-5w1s": StudyPreset(
        "omniglot-5w1s",
        _preset("omniglot-5w1s", steps=8_000, checkpoint_every=500, val_every=500),
        analysis_steps=(500, 1_000, 2_000, 4_000, 6_000, 8_000),
        description="real Omniglot 5-way 1-shot (CPU-feasible: about 1-2 hours on 2 cores)",
    ),
    "omniglot-20w1s": StudyPreset(
        "omniglot-20w1s",
        _preset("omniglot-20w1s", checkpoint_every=5_000, val_every=2_000),
        compare_query=5,
        description="Omniglot 20-way 1-shot, paper scale (GPU)",
    ),
    "miniimagenet-5w1s": StudyPreset(
        "miniimagenet-5w1s",
        _preset("miniimagenet-5w1s", checkpoint_every=5_000, val_every=2_000),
        description="MiniImageNet 5-way 1-shot, paper scale (GPU; data must be provided)",
    ),
    "miniimagenet-5w5s": StudyPreset(
        "miniimagenet-5w5s",
        _preset("miniimagenet-5w5s", checkpoint_every=5_000, val_every=2_000),
        description="MiniImageNet 5-way 5-shot, paper scale (GPU; data must be provided)",
    ),
}


def _get_preset(name: str) -> StudyPreset:
    if name not in STUDY_PRESETS:
        raise ValueError(f"unknown study preset {name!r}; valid: {', '.join(STUDY_PRESETS)}")
    return STUDY_PRESETS[name]


def _fmt(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def run_study(
    preset: str | StudyPreset,
    *,
    out_dir: str | Path,
    device: str = "cpu",
    data_dir: str | Path | None = None,
    download: bool = False,
    steps: int | None = None,
    console: Console | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Run (or resume) the whole study of ``preset`` into ``out_dir``; return its files.

    Layout of ``out_dir``: ``runs/{maml,anil}/`` (training runs), ``timing.json``,
    ``eval.json``, ``compare.json``, ``compare_steps.json``, ``compare_models.json``,
    ``ablate.json``, ``ablate_steps.json`` (each with a ``.csv``), ``figures/``, ``report.md``,
    ``report.html``, ``study.json`` (the preset and manifest). ``steps`` overrides the number
    of training iterations (e.g. for a quick look).
    """
    spec = preset if isinstance(preset, StudyPreset) else _get_preset(preset)
    if steps is not None:
        # Only the length changes (so an existing run resumes); the checkpoints analysed across
        # training are those of the preset that the shorter run still has, plus its last.
        every = spec.train.checkpoint_every
        kept = (
            tuple(
                sorted(
                    {s for s in spec.analysis_steps or () if s <= steps and s % every == 0}
                    | {steps}
                )
            )
            if spec.analysis_steps
            else None
        )
        spec = dataclasses.replace(
            spec, train=dataclasses.replace(spec.train, steps=steps), analysis_steps=kept
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = console or Console()
    cfg = {a: dataclasses.replace(spec.train, algorithm=a) for a in ALGORITHMS}
    runs = {a: out / "runs" / a for a in ALGORITHMS}
    classification = spec.train.task == "classification"
    common = {"data_dir": data_dir, "device": device}
    atomic_write_json(
        out / "study.json",
        run_manifest(
            config={
                "preset": spec.name,
                "train": config_to_dict(spec.train),
                **{k: v for k, v in dataclasses.asdict(spec).items() if k not in ("train",)},
            },
            seed=spec.train.seed,
            device=device,
        ),
    )
    say.print(f"[bold]repsim study[/] {spec.name}: {spec.description} → {out}")

    def final(a: str) -> Path:
        return runs[a] / "checkpoints" / f"step_{cfg[a].steps:06d}.pt"

    stages: list[tuple[str, Path, Callable[[], Any], float]] = []

    def stage(name: str, target: Path, fn: Callable[[], Any], estimate: float = 0.0) -> None:
        kind = "train" if name.startswith("train") else target.stem
        stages.append((name, target, fn, estimate * spec.estimate_scale.get(kind, 1.0)))

    # 1. timing (also calibrates the estimates below)
    timing_file = out / "timing.json"
    if not timing_file.exists():
        say.print("[cyan]stage timing[/]: seconds per meta-iteration (MAML vs ANIL)")
        rows = time_per_iteration(spec.train, algorithms=ALGORITHMS, device=device, repeats=3)
        write_table(rows, timing_file, manifest=run_manifest(seed=0, device=device))
    timing, _ = read_table(timing_file)
    sec = {(r.algorithm, r.phase): float(r.seconds) for r in timing.itertuples()}
    per_task_eval = max(sec.values()) / spec.train.meta_batch

    for a in ALGORITHMS:
        stage(
            f"train {a}",
            final(a),
            lambda a=a: train(
                cfg[a], out_dir=runs[a], resume=True, download=download, progress=progress, **common
            ),
            cfg[a].steps * sec[(a, "train")],
        )

    def evaluate_all() -> None:
        rows = []
        heads = ("adapted", "nil") if classification else ("adapted",)
        for a in ALGORITHMS:
            trained = load_trained(final(a), device=device)  # once per model, not per head
            for head in heads:
                res = evaluate_checkpoint(trained, head=head, tasks=spec.eval_tasks, **common)
                rows.append(res.to_dict())
        write_table(rows, out / "eval", manifest=run_manifest(seed=0, device=device))

    stage("evaluate", out / "eval.json", evaluate_all, 4 * spec.eval_tasks * per_task_eval)
    cmp_opts = {"query": spec.compare_query, **common}

    def per_algorithm(stem: str, analysis: Callable[[str], pd.DataFrame]) -> Callable[[], None]:
        """A stage that runs ``analysis`` for MAML and ANIL and writes one table of both,
        keeping each analysis' own manifest (measure choices, tasks, baseline) in the file."""

        def run() -> None:
            frames = [analysis(a) for a in ALGORITHMS]
            manifest = run_manifest(
                seed=0,
                device=device,
                preset=spec.name,
                parts=[f.attrs.get("manifest", {}) for f in frames],
            )
            write_table(pd.concat(frames, ignore_index=True), out / stem, manifest=manifest)

        return run

    compare_final = per_algorithm(
        "compare",
        lambda a: compare_adaptation(
            final(a), tasks=spec.compare_tasks, progress=progress, **cmp_opts
        ),
    )
    compare_steps = per_algorithm(
        "compare_steps",
        lambda a: compare_run(
            runs[a],
            tasks=spec.steps_tasks,
            steps=spec.analysis_steps,
            progress=progress,
            **cmp_opts,
        ),
    )
    ablate_final = per_algorithm(
        "ablate", lambda a: ablate(final(a), tasks=spec.ablate_tasks, progress=progress, **common)
    )
    ablate_steps = per_algorithm(
        "ablate_steps",
        lambda a: ablate_run(
            runs[a], tasks=spec.steps_tasks, steps=spec.analysis_steps, progress=progress, **common
        ),
    )

    def compare_between() -> None:
        frame = compare_models(
            final("maml"), final("anil"), tasks=spec.compare_tasks, progress=progress, **cmp_opts
        )
        manifest = run_manifest(
            seed=0, device=device, preset=spec.name, parts=[frame.attrs.get("manifest", {})]
        )
        write_table(frame, out / "compare_models", manifest=manifest)

    n_ckpt = len(spec.analysis_steps or ()) or max(
        1, cfg["maml"].steps // cfg["maml"].checkpoint_every
    )
    stage(
        "compare θ vs θ'",
        out / "compare.json",
        compare_final,
        2 * spec.compare_tasks * per_task_eval * 3,
    )
    stage(
        "compare across checkpoints",
        out / "compare_steps.json",
        compare_steps,
        2 * n_ckpt * spec.steps_tasks * per_task_eval * 3,
    )
    stage(
        "compare MAML vs ANIL",
        out / "compare_models.json",
        compare_between,
        spec.compare_tasks * per_task_eval * 3,
    )
    stage(
        "freezing ablation",
        out / "ablate.json",
        ablate_final,
        2 * 7 * spec.ablate_tasks * per_task_eval,
    )
    stage(
        "freezing across checkpoints",
        out / "ablate_steps.json",
        ablate_steps,
        2 * 7 * n_ckpt * spec.steps_tasks * per_task_eval,
    )

    todo = [s for s in stages if not s[1].exists()]
    say.print(
        f"{len(stages) - len(todo)} of {len(stages)} stages already done; estimated "
        f"time for the rest on {device}: {_fmt(sum(s[3] for s in todo))}"
    )
    for i, (name, target, fn, estimate) in enumerate(stages, 1):
        if target.exists():
            say.print(f"[dim]stage {i}/{len(stages)} {name}: done ({target.name})[/]")
            continue
        say.print(f"[cyan]stage {i}/{len(stages)} {name}[/] (estimated {_fmt(estimate)})")
        t0 = time.perf_counter()
        fn()
        say.print(f"  finished in {_fmt(time.perf_counter() - t0)}")

    from repsim.plots.report import make_figures, write_report

    say.print("[cyan]figures and report[/]")
    figures = make_figures(out, out / "figures")
    report_md, report_html = write_report(out, out / "figures", out)
    say.print(f"[bold green]done[/]: {report_html} ({len(figures)} figure files)")
    files = {p.stem: p for p in out.glob("*.json")}
    files.update({"report_md": report_md, "report_html": report_html})
    for a in ALGORITHMS:
        files[f"checkpoint_{a}"] = final(a)
    return files


def study_checkpoints(out_dir: str | Path) -> dict[str, list[tuple[int, Path]]]:
    """The checkpoints of each training run of a study directory."""
    return {a: checkpoint_paths(Path(out_dir) / "runs" / a) for a in ALGORITHMS}
