"""``repsim budget``: the adaptation-budget decomposition of one checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.table import Table

from repsim.cli._common import Threads, check_device, console, friendly_errors, option, set_threads
from repsim.cli._sources import Preset, load_sources
from repsim.cli.analyses import CsvPath, DataDir, JsonPath, _write

__all__ = ["register"]

OptInt = Optional[int]  # noqa: UP045 (typer needs Optional on 3.10)


@friendly_errors
def budget_command(
    source: Annotated[Path, typer.Argument(help="A classification checkpoint.",
                                           metavar="CHECKPOINT")],
    tasks: option(int, "Number of fixed test tasks.") = 600,
    seed: option(int, "Seed of the test tasks.") = 0,
    query: option(OptInt, "Query examples per class (default: training's).") = None,
    head_steps: option(str, "Longer head-only inner loops, comma-separated.",
                       "--head-steps") = "10,50,200",
    probe_c: option(float, "Inverse regularisation of the logistic probe.",
                    "--probe-c") = 1.0,
    device: option(str, "cpu | cuda | cuda:N.") = "cpu",
    threads: Threads = 1,
    data_dir: DataDir = None,
    json_path: JsonPath = None,
    csv_path: CsvPath = None,
    preset: Preset = None,
) -> None:
    """What only body adaptation buys: every head-side reader on θ's body vs the inner loop."""
    from repsim.analyses.budget import adaptation_budget

    try:
        steps = tuple(int(k) for k in head_steps.split(","))
    except ValueError:
        raise ValueError(f"--head-steps takes comma-separated integers, got {head_steps!r}"
                         ) from None
    check_device(device)
    set_threads(threads)
    (loaded,) = load_sources([source], preset=preset, device=device, download=False,
                             data_dir=data_dir)
    frame = adaptation_budget(loaded, tasks=tasks, seed=seed, query=query,
                              head_only_steps=steps, probe_c=probe_c, data_dir=data_dir,
                              device=device)
    table = Table(title=f"adaptation budget: {source}, {tasks} tasks (step "
                        f"{int(frame['step'].iloc[0])})",
                  caption="accuracy (%) ± 95% CI over tasks; gains are paired per task "
                          "(points); best head-side = best of head-only, NIL, prototype, probe")
    for col in ("quantity", "value", "detail"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for r in frame.to_dict("records"):
        table.add_row(r["quantity"], f"{100 * r['value']:.2f} ± {100 * r['ci95']:.2f}",
                      "" if pd.isna(r["detail"]) else str(r["detail"]))
    console.print(table)
    _write(frame, json_path, csv_path)


def register(app: typer.Typer) -> None:
    app.command("budget")(budget_command)
