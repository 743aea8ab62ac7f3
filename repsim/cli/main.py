"""The ``repsim`` command line: a thin layer over functions a notebook can call.

Each command parses its options, makes one library call and renders the result. Commands live
in sibling modules by stage (``meta``: train/eval; ``analyses``: compare/ablate; ``report``:
figures/reproduce/demo) and register themselves on ``app``.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from repsim import __version__
from repsim.cli._common import DEBUG_ENV

app = typer.Typer(
    name="repsim",
    help="Rapid learning or feature reuse? Train MAML/ANIL/NIL and measure what the inner loop "
    "changes (SVCCA, PWCCA, CKA).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"repsim {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """repsim: representational similarity for meta-learning."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


from repsim.cli import meta as _meta  # noqa: E402  (commands register on `app`)

_meta.register(app)

from repsim.cli import report as _report  # noqa: E402

_report.register(app)

from repsim.cli import analyses as _analyses  # noqa: E402

_analyses.register(app)

from repsim.cli import study as _study  # noqa: E402

_study.register(app)

from repsim.cli import sweep as _sweep  # noqa: E402

_sweep.register(app)
