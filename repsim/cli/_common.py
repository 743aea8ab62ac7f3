"""Shared CLI plumbing: one-line errors (traceback only with --debug), rich console, devices."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

__all__ = [
    "DEBUG_ENV",
    "console",
    "err_console",
    "friendly_errors",
    "option",
    "set_threads",
    "split_names",
]

console = Console()
err_console = Console(stderr=True)
DEBUG_ENV = "REPSIM_DEBUG"
F = TypeVar("F", bound=Callable[..., Any])

# User errors: shown as one line. Anything else is a bug and keeps its traceback.
_USER_ERRORS = (ValueError, FileNotFoundError, PermissionError, TypeError, FloatingPointError)


def friendly_errors(func: F) -> F:
    """Turn user errors into ``error: ...`` on stderr and exit code 1 (traceback with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except _USER_ERRORS as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


def split_names(text: str | None) -> tuple[str, ...]:
    """``"conv1,conv2"`` → ``("conv1", "conv2")``; empty/None → ``()``."""
    if not text:
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def option(kind: Any, text: str, *names: str) -> Any:
    """``Annotated[kind, typer.Option(*names, help=text)]``: keeps command signatures short."""
    return Annotated[kind, typer.Option(*names, help=text)]


def set_threads(threads: int) -> None:
    """Limit torch's intra-op threads and numpy's BLAS pool (threadpoolctl, when installed)."""
    import torch

    if threads < 0:
        raise ValueError(f"--threads must be >= 0 (0: the libraries' defaults); got {threads}")
    if threads:
        torch.set_num_threads(threads)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # scikit-learn brings it; without it BLAS keeps its default
            return
        threadpool_limits(threads)
