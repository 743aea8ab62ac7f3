"""The ``repsim`` command line: a thin layer over functions a notebook can call.

Each command parses its options, makes one library call and renders the result. Commands live
in sibling modules by stage (``meta``: train/eval; ``analyses``: compare/ablate; ``report``:
figures/reproduce/demo) and register themselves on ``app``.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Annotated

import typer
from rich.text import Text

try:  # recent typer vendors click as typer._click, with Abort in typer.exceptions
    from typer import _click as click
    from typer.exceptions import Abort
except ImportError:  # pragma: no cover - older typer uses click itself
    import click
    from click.exceptions import Abort
from typer.core import TyperCommand, TyperGroup
from typer.models import DefaultPlaceholder

from repsim import __version__
from repsim.cli._common import DEBUG_ENV, err_console


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _plain_help_option(option):
    # typer shows every option's type; the --help flag takes no value: no "<bool>".
    if option is not None and option.metavar is None:
        option.metavar = ""
    return option


class _Group(TyperGroup):
    def get_help_option(self, ctx):
        return _plain_help_option(super().get_help_option(ctx))

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        """Usage errors (bad flags, bad values) as one ``error:`` line, like repsim's own."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `repsim` alone: the help text
                from typer import rich_utils

                rich_utils.rich_format_error(exc)
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            err_console.print(
                Text.assemble(("error: ", "bold red"), _one_line(exc.format_message()) + hint),
                highlight=False, soft_wrap=True,
            )
            sys.exit(exc.exit_code)
        except Abort:
            err_console.print("aborted", highlight=False)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


class _Command(TyperCommand):
    """Usage lines read ``repsim eval [OPTIONS] CHECKPOINT``, not ``{CHECKPOINT}``."""

    def get_help_option(self, ctx):
        return _plain_help_option(super().get_help_option(ctx))

    def collect_usage_pieces(self, ctx):
        return [re.sub(r"^\{(.*)\}", r"\1", p) for p in super().collect_usage_pieces(ctx)]


app = typer.Typer(
    cls=_Group,
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
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks.", metavar="")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print version.", metavar=""
        ),
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

from repsim.cli import export as _export  # noqa: E402

_export.register(app)

from repsim.cli import verify as _verify  # noqa: E402

_verify.register(app)

from repsim.cli import budget as _budget  # noqa: E402

_budget.register(app)

for _info in app.registered_commands:  # every command gets the plain help and usage above
    if _info.cls in (None, TyperCommand) or isinstance(_info.cls, DefaultPlaceholder):
        _info.cls = _Command
