"""``repsim compare`` and ``repsim ablate``: parse → one library call → render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import pandas as pd
import typer
from rich.table import Table

from repsim.cli._common import (
    Threads,
    check_device,
    console,
    friendly_errors,
    option,
    set_threads,
    split_names,
)
from repsim.cli._sources import Download, Preset, load_sources

__all__ = ["register"]

DataDir = Annotated[
    Optional[Path],  # noqa: UP045 (typer needs Optional on 3.10)
    typer.Option(
        "--data-dir",
        help="Dataset root holding omniglot/ (default: $REPSIM_DATA or the user cache dir).",
    ),
]
JsonPath = Annotated[
    Path | None,
    typer.Option("--json", help="Write {manifest, records} JSON here."),
]
CsvPath = Annotated[
    Path | None,
    typer.Option("--csv", help="Write the records as CSV here."),
]


def _write(frame: pd.DataFrame, json_path: Path | None, csv_path: Path | None) -> None:
    from repsim._io import atomic_write_bytes
    from repsim.analyses.tables import write_table

    if json_path is not None:
        written = write_table(frame, json_path, manifest=frame.attrs["manifest"], csv=False)
        console.print(f"wrote {written}")
    if csv_path is not None:
        console.print(f"wrote {atomic_write_bytes(csv_path, frame.to_csv(index=False).encode())}")


def _compare_table(frame: pd.DataFrame) -> Table:
    """One row per (step,) layer and measure: mean ± 95% CI, the baseline, n × d."""
    m = frame.attrs["manifest"]
    title = {"compare-models": "model A vs model B", "compare-run": "θ vs θ' across training"}.get(
        m["kind"], "θ (before) vs θ' (after the inner loop)"
    )
    table = Table(
        title=f"{title}: {m.get('model', '')}, {frame['tasks'].iloc[0]} tasks, "
        f"inputs={frame['inputs'].iloc[0]}",
        caption="mean ± 95% CI over tasks; baseline = its mean (CI in --json); "
        "procrustes is a distance (0 = identical); * = identical by construction",
    )
    keys = ["step", "layer"] if m["kind"] == "compare-run" else ["layer"]
    for col in (*keys, "n × d", "measure", "mean ± CI", "baseline"):
        table.add_column(
            col,
            justify="right" if col in ("mean ± CI", "baseline") else "left",
            no_wrap=col != "n × d",
        )
    for key, group in frame.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for i, r in enumerate(group.itertuples()):
            lead = [str(k) for k in key] if i == 0 else [""] * len(key)
            shape = f"{r.n_samples}×{r.n_features} {r.conv_mode}" if i == 0 else ""
            star = "*" if r.note else ""
            table.add_row(
                *lead, shape, r.measure, f"{r.mean:.3f} ± {r.ci95:.3f}{star}", f"{r.baseline:.3f}"
            )
        table.add_section()
    return table


def _render_notes(manifest: dict[str, Any]) -> None:
    for layer, choice in manifest.get("measure_choice", {}).items():
        console.print(f"[dim]{layer}: {choice['reason']}[/]", highlight=False)
    for item in manifest.get("skipped", []):
        console.print(
            f"[yellow]refused[/] {item['measure']} on {item['layer']}: {item['reason']}",
            highlight=False,
        )
    for note in manifest.get("notes", []) + manifest.get("warnings", []):
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if "batchnorm" in manifest:
        console.print(
            f"[dim]BatchNorm: {manifest['batchnorm']}; baseline: "
            f"{manifest['baseline']['description']}[/]",
            highlight=False,
        )


OptInt = Optional[int]  # noqa: UP045 (typer needs Optional on 3.10)
OptStr = Optional[str]  # noqa: UP045
InnerSteps = option(OptInt, "Inner steps (default: the checkpoint's test-time steps).")
Device = option(str, "cpu | cuda | cuda:N")
Split = option(str, "test | val | train")
# Why 1 by default: the per-task work (75-image batches, 64-wide matrices) gains little from
# intra-op threads, and on a shared CPU their barriers stall: the 100-task compare on the busy
# 2-core dev box took 29 s with 1 thread (torch and BLAS), 90 s with BLAS at its default 2 and
# 288 s with both at 2 (measured 2026-11-26; see benchmarks/README.md for the current benchmarks).


@friendly_errors
def compare_command(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="CKPT (θ vs θ'), RUN_DIR (every checkpoint), or CKPT_A CKPT_B (two models).",
            metavar="SOURCES",
        ),
    ],
    tasks: option(OptInt, "Number of fixed tasks (default 100; RL: 20).") = None,
    split: Split = "test",
    inputs: option(str, "Images compared: query | support | both.") = "query",
    query: option(int, "Query examples per class in the comparison tasks.") = 15,
    measures: option(
        OptStr, "Comma list, e.g. cca,cka_debiased (default: the meaningful ones per layer)."
    ) = None,
    conv_mode: option(str, "Conv maps as samples: spatial | pool | flatten.") = "spatial",
    layers: option(OptStr, "Layers or glob patterns, e.g. 'conv*,head'.") = None,
    inner_steps: InnerSteps = None,
    baseline: option(str, "Noise baseline: shuffle | random-network.") = "shuffle",
    state: option(str, "Two models: compare θ ('before') or θ' ('after').") = "before",
    seed: option(int, "Seed of the tasks and the baseline.") = 0,
    device: Device = "cpu",
    threads: Threads = 1,
    data_dir: DataDir = None,
    json_path: JsonPath = None,
    csv_path: CsvPath = None,
    preset: Preset = None,
    download: Download = False,
) -> None:
    """Per-layer similarity before vs after the inner loop (CCA family, CKA), with a baseline."""
    from repsim.cli.rl import compare_rl, is_rl_source, refuse_options

    check_device(device)
    if sources and is_rl_source(sources[0]):  # policies: states from the adapted rollouts
        refuse_options(dict(preset=preset, download=download, data_dir=data_dir,
                            device=device != "cpu", inner_steps=inner_steps is not None,
                            split=split != "test", inputs=inputs != "query", query=query != 15,
                            conv_mode=conv_mode != "spatial"), "an RL checkpoint")
        set_threads(threads)
        compare_rl(sources, tasks=tasks,
                   measures=split_names(measures), baseline=baseline, state=state, seed=seed,
                   json_path=json_path, csv_path=csv_path, layers=split_names(layers))
        return
    tasks = 100 if tasks is None else tasks
    from repsim.analyses import compare

    check_device(device)
    set_threads(threads)
    loaded = load_sources(
        sources, preset=preset, device=device, download=download, data_dir=data_dir
    )
    frame = compare(
        loaded,
        tasks=tasks,
        split=split,
        inputs=inputs,
        query=query,
        conv_mode=conv_mode,
        measures=split_names(measures) or None,
        layers=split_names(layers) or None,
        inner_steps=inner_steps,
        baseline=baseline,
        state=state,
        seed=seed,
        data_dir=data_dir,
        device=device,
        progress=True,
    )
    console.print(_compare_table(frame))
    _render_notes(frame.attrs["manifest"])
    _write(frame, json_path, csv_path)


@friendly_errors
def ablate_command(
    source: Annotated[
        Path,
        typer.Argument(
            help="A checkpoint, or a run directory (every checkpoint).", metavar="SOURCE"
        ),
    ],
    tasks: option(OptInt, "Number of fixed test tasks (default 600; RL: 40).") = None,
    seed: option(int, "Seed of the test tasks.") = 0,
    split: Split = "test",
    query: option(OptInt, "Query examples per class (default: training's).") = None,
    inner_steps: InnerSteps = None,
    device: Device = "cpu",
    threads: Threads = 1,
    data_dir: DataDir = None,
    json_path: JsonPath = None,
    csv_path: CsvPath = None,
    preset: Preset = None,
    download: Download = False,
) -> None:
    """Freeze layers in the inner loop at test time (Table 1), head-only and NIL head rows."""
    from repsim.cli.rl import ablate_rl, is_rl_source, refuse_options

    check_device(device)
    if is_rl_source(source):  # policies: return with fc1, fc1-fc2 frozen in the inner loop
        refuse_options(dict(preset=preset, download=download, data_dir=data_dir,
                            device=device != "cpu", inner_steps=inner_steps is not None,
                            split=split != "test", query=query), "an RL checkpoint")
        set_threads(threads)
        ablate_rl(source, tasks=tasks, seed=seed,
                  json_path=json_path, csv_path=csv_path)
        return
    tasks = 600 if tasks is None else tasks
    from repsim.analyses import ablate

    check_device(device)
    set_threads(threads)
    (loaded,) = load_sources(
        [source], preset=preset, device=device, download=download, data_dir=data_dir
    )
    frame = ablate(
        loaded,
        tasks=tasks,
        seed=seed,
        split=split,
        query=query,
        inner_steps=inner_steps,
        data_dir=data_dir,
        device=device,
        progress=True,
    )
    metric = "accuracy" if "accuracy" in frame else "mse"
    table = Table(
        title=f"test-time freezing: {frame.attrs['manifest']['model']}, {tasks} tasks",
        caption="frozen = layers held at θ in the inner loop",
    )
    for col in ("step", "frozen", "head", metric, "before adapting"):
        table.add_column(col, justify="right" if col in (metric, "step") else "left")
    scale = 100.0 if metric == "accuracy" else 1.0
    for r in frame.to_dict("records"):
        before = r.get(f"{metric}_before_adaptation")
        table.add_row(
            str(r["step"]),
            r["label"],
            r["head"],
            f"{scale * r[metric]:.2f} ± {scale * r['ci95']:.2f}",
            "—" if pd.isna(before) else f"{scale * before:.2f}",
        )
    console.print(table)
    for note in frame.attrs["manifest"].get("notes", []):
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    _write(frame, json_path, csv_path)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
    app.command("ablate")(ablate_command)
