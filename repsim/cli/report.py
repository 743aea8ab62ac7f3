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
                                                "ablate.json, timing.json, runs/*/metrics.csv …",
                                                metavar="RESULTS_DIR")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Where figures go (default: "  # noqa: UP045
                                                "RESULTS_DIR/figures).")] = None,
) -> None:
    """Draw the paper's figures from saved results (nothing is recomputed)."""
    from repsim.plots import make_figures, read_index

    paths = make_figures(results_dir, out)
    index = read_index(paths[-1].parent)
    for path in paths:
        console.print(str(path), highlight=False, soft_wrap=True)
    for skipped in index["skipped"]:
        console.print(f"[yellow]skipped[/] {skipped['stem']}: {skipped['reason']}",
                      highlight=False, soft_wrap=True)
    console.print(f"{len(index['figures'])} figures, {len(index['skipped'])} skipped")


def register(app: typer.Typer) -> None:
    """Add ``figures`` to the ``repsim`` app."""
    app.command("figures")(figures_command)
