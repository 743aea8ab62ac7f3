"""``repsim export``: a checkpoint for sharing, or as a learn2learn state_dict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from repsim.cli._common import console, friendly_errors, option

__all__ = ["register"]

FORMATS = ("repsim", "learn2learn")


@friendly_errors
def export_command(
    checkpoint: Annotated[
        Path, typer.Argument(help="A repsim checkpoint (.pt).", metavar="CHECKPOINT")
    ],
    out: Annotated[Path, typer.Argument(help="Where the exported file goes.", metavar="OUT")],
    to: option(
        str,
        "repsim: the checkpoint without optimizer state | learn2learn: an OmniglotCNN / "
        "MiniImagenetCNN(hidden_size=32) state_dict (use it in train() mode).",
        "--to",
    ) = "repsim",
) -> None:
    """Export a checkpoint: a smaller repsim copy, or a learn2learn state_dict."""
    from repsim.meta.checkpoint import export_checkpoint, export_learn2learn

    if to not in FORMATS:
        raise ValueError(f"--to must be one of {', '.join(FORMATS)}; got {to!r}")
    if out.resolve() == checkpoint.resolve():
        raise ValueError(f"OUT is the checkpoint itself ({out}); choose another path")
    written = (export_learn2learn if to == "learn2learn" else export_checkpoint)(checkpoint, out)
    console.print(f"wrote {written}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
