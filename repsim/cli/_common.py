"""Shared CLI plumbing: one-line errors (traceback only with --debug), rich console, devices."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

__all__ = [
    "DEBUG_ENV",
    "Threads",
    "check_device",
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
# OSError covers missing/unreadable files, full disks and unreachable servers.
_USER_ERRORS = (ValueError, OSError, TypeError, FloatingPointError)


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (its type name when it has no message)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def friendly_errors(func: F) -> F:
    """Turn user errors into ``error: ...`` on stderr and exit code 1 (traceback with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            from repsim.cli._checks import check_options

            check_options(kwargs)  # one validation layer for every command's shared options
            return func(*args, **kwargs)
        except _USER_ERRORS as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            # Text, not markup: messages hold [brackets] (key lists) that rich would eat.
            message = Text.assemble(("error: ", "bold red"), one_line(exc))
            err_console.print(message, highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


def split_names(text: str | None) -> tuple[str, ...]:
    """``"conv1,conv2"`` → ``("conv1", "conv2")``; empty/None → ``()``."""
    if not text:
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def option(kind: Any, text: str, *names: str) -> Any:
    """``Annotated[kind, typer.Option(*names, help=text)]``: keeps command signatures short.

    Flags (``bool``) get no metavar, so help shows ``--resume``, not ``--resume <bool>``.
    """
    extra = {"metavar": ""} if kind is bool else {}
    return Annotated[kind, typer.Option(*names, help=text, **extra)]


# --threads, the same on every command: one thread beats torch's default on a small shared CPU.
Threads = option(
    int,
    "CPU threads for torch and numpy's BLAS (0: their defaults). 1 is fastest for these "
    "small per-task ops on a shared CPU.",
)


def check_device(device: str) -> str:
    """Refuse a device this torch cannot use, before a command loads or writes anything."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"--device {device!r} is not a device name; use cpu, cuda or cuda:N"
        ) from None
    if parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r}: repsim runs on cpu or cuda (cuda:N)")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"--device {device}: this torch build ({torch.__version__}) sees no CUDA device; "
                "use --device cpu, or install a CUDA build of torch on a machine with a GPU"
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(
                f"--device {device}: there are only {torch.cuda.device_count()} CUDA device(s)"
            )
    return device


def set_threads(threads: int) -> None:
    """Limit torch's intra-op threads and numpy's BLAS pool (see :mod:`repsim._threads`)."""
    from repsim._threads import use_threads
    from repsim.cli._checks import check_threads

    check_threads(threads)
    use_threads(threads)
