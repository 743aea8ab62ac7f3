"""``repsim figures``: every figure the saved results allow (PNG + PDF + caption)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from repsim.cli._common import console, friendly_errors

__all__ = ["register"]


@friendly_errors
def figures_command(
    results_dir: Annotated[Path, typer.Argument(help="Folder with eval.json, compare.json, "
                                                "ablate.json, timing.json, runs/*/metrics.csv …; "
                                                "or a study root / sweep folder",
                                                metavar="RESULTS_DIR")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Where figures go (default: "  # noqa: UP045
                                                "RESULTS_DIR/figures).")] = None,
) -> None:
    """Draw the paper's figures from saved results (nothing is recomputed).

    A study root (<run>/seed<s>/ folders) gets its tables, figures and report.md; a
    `repsim sweep` folder its figures and report.
    """
    from repsim.study_report import make_report
    from repsim.study_rl import is_rl_study, redraw_rl_study
    from repsim.study_seeds import is_seeds_folder, redraw_seeds

    if is_rl_study(results_dir):  # `repsim reproduce rl-*`: returns, not accuracy or MSE
        made = redraw_rl_study(results_dir, out)
    elif is_seeds_folder(results_dir):  # `repsim reproduce PRESET --seeds N`
        made = redraw_seeds(results_dir, out)
    else:
        made = make_report(results_dir, out)
    for path in made["files"]:
        console.print(str(path), highlight=False, soft_wrap=True)
    for skipped in made["skipped"]:
        console.print(f"[yellow]skipped[/] {skipped['stem']}: {skipped['reason']}",
                      highlight=False, soft_wrap=True)
    figures = [p for p in made["files"] if p.suffix == ".png"]
    console.print(f"{len(figures)} figures, {len(made['skipped'])} skipped"
                  + "".join(f"; report: {p}" for p in made["files"] if p.name == "report.md"))


def register(app: typer.Typer) -> None:
    """Add ``figures`` to the ``repsim`` app."""
    app.command("figures")(figures_command)
