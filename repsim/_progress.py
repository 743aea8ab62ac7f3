"""Progress bars that suit where the output goes.

- a terminal: tqdm's usual bar, redrawn in place;
- a log file or pipe (stderr not a TTY): plain lines, one every ``LOG_INTERVAL`` seconds and
  one at the end, instead of hundreds of ``\\r`` redraws per line;
- a Jupyter kernel: tqdm's widget when ipywidgets is installed, else the console bar (which
  Jupyter renders in place). ``tqdm.auto`` is never imported: in a kernel without ipywidgets it
  prints a ``TqdmWarning`` at import, i.e. on ``import repsim``.

Use :func:`tqdm` exactly like ``tqdm.tqdm``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from typing import Any, TextIO

from tqdm import std

__all__ = ["LOG_INTERVAL", "tqdm"]

LOG_INTERVAL = 30.0  # seconds between progress lines in a log file
_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _LineWriter:
    """A file wrapper that turns tqdm's in-place redraws into whole lines."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = ""

    def write(self, text: str) -> int:
        for line in _ESCAPES.sub("", text).replace("\r", "\n").split("\n"):
            line = line.rstrip()
            if line and line != self.last:  # the final redraw often repeats the last line
                self.stream.write(line + "\n")
                self.last = line
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


class _LogTqdm(std.tqdm):
    """A bar whose redraws (``update`` and ``set_postfix`` alike) come at most every
    ``LOG_INTERVAL`` seconds; the first and, at ``close``, the last always show."""

    _last_line = float("-inf")

    def refresh(self, nolock: bool = False, lock_args: Any = None) -> None:
        now = self._time()
        if now - self._last_line < LOG_INTERVAL:
            return
        self._last_line = now
        super().refresh(nolock=nolock, lock_args=lock_args)


def _in_jupyter() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    try:
        return "IPKernelApp" in shell.get_ipython().config  # type: ignore[union-attr]
    except AttributeError:
        return False


def tqdm(iterable: Any = None, *args: Any, **kwargs: Any) -> std.tqdm:
    """``tqdm.tqdm(iterable, ...)`` for a terminal, a log file or a notebook (module doc).

    ``disable=None`` (tqdm's "hide when not a terminal") shows plain lines here instead.
    """
    if kwargs.get("disable") is None:
        kwargs["disable"] = False
    if kwargs["disable"]:
        return std.tqdm(iterable, *args, **kwargs)
    if _in_jupyter():
        if importlib.util.find_spec("ipywidgets") is not None:
            from tqdm import notebook

            kwargs.pop("dynamic_ncols", None)
            return notebook.tqdm(iterable, *args, **kwargs)
        return std.tqdm(iterable, *args, **kwargs)
    stream = kwargs.get("file") or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        return std.tqdm(iterable, *args, **kwargs)
    kwargs.pop("dynamic_ncols", None)
    kwargs.update(
        file=_LineWriter(stream),
        mininterval=max(float(kwargs.get("mininterval", 0.1)), LOG_INTERVAL),
        miniters=1,
        leave=True,  # the last line is the final count and time
        ncols=100,
    )
    return _LogTqdm(iterable, *args, **kwargs)
