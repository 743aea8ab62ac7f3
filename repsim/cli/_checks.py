"""One validation layer for the options every command shares (issue 21).

:func:`check_options` runs before any command body (``friendly_errors`` calls it with the
command's keyword arguments), so an option means the same thing, and is refused with the same
words, on ``train``, ``eval``, ``compare``, ``ablate``, ``reproduce``, ``sweep`` and their RL forms.
A rule is keyed by the option's parameter name; options a command does not have are skipped.
Output paths (``--json``, ``--csv``) are checked here too, before the work, so a long
evaluation never ends in "cannot write".
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

__all__ = ["MAX_META_BATCH", "check_options", "check_output_path", "max_threads"]

# Tasks per meta-iteration: the paper uses 32 (Omniglot 5-way), 16 (20-way), 4 (miniImageNet) and
# 20-40 (RL). Far above this the episode tensors alone exceed any machine's memory, and torch
# spends minutes allocating before it fails (issue 21: --meta-batch 100000000 hung).
MAX_META_BATCH = 10_000

# name: (smallest allowed, what the value means); None values are "use the default".
_COUNTS: dict[str, tuple[int, str]] = {
    "tasks": (1, "a number of tasks"),
    "eval_tasks": (1, "a number of tasks"),
    "steps": (1, "a number of training iterations"),
    "ways": (1, "classes per task"),
    "shots": (1, "examples per class"),
    "query": (1, "query examples per class"),
    "meta_batch": (1, "tasks per meta-iteration"),
    "val_every": (1, "a number of steps"),
    "checkpoint_every": (1, "a number of steps"),
    "horizon": (1, "an episode length"),
    "workers": (1, "jobs at a time"),
    "adapt_layers": (1, "a number of layers"),
    "inner_steps": (0, "inner-loop steps (0: no adaptation)"),
    "test_inner_steps": (0, "inner-loop steps (0: no adaptation)"),
    "seed": (0, "a seed"),
}
# name: (smallest allowed, whether the smallest itself is allowed)
_REALS: dict[str, tuple[float, bool]] = {
    "max_minutes": (0.0, False),
    "inner_lr": (0.0, True),
    "meta_lr": (0.0, False),
    "cpus_per_job": (0.0, False),
    "gpus_per_job": (0.0, True),
}
_OUTPUT_FILES = ("json_path", "csv_path")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def max_threads() -> int:
    """The most ``--threads`` repsim accepts: 4 per CPU core (more only adds barrier waits)."""
    return 4 * (os.cpu_count() or 1)


def check_output_path(path: Path, flag: str) -> None:
    """Refuse an output file that cannot be written, naming the path the user gave.

    The file may not exist yet, and neither may its folders (they are created on write); the
    nearest existing ancestor must be a writable folder, and the path itself not a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a directory; give a file name, e.g. {path}/out.json")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: {parent} is a file, not a folder; choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: the folder {parent} is not writable; choose another path")


def check_options(options: dict[str, Any]) -> None:
    """Refuse an out-of-range option with one line that names it, its range and the value given.

    ``options`` maps parameter names (``inner_steps``) to values, as typer passes them; names
    without a rule are ignored, and so are ``None`` values (the command's default applies).

    Raises
    ------
    ValueError
        A count below its minimum, a ``--meta-batch`` above :data:`MAX_META_BATCH`, a real number
        that is NaN, infinite or below its minimum, ``--threads`` outside ``0..max_threads()``,
        or an output file that cannot be written.
    """
    for name, (low, meaning) in _COUNTS.items():
        value = options.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, int):
            continue
        if value < low:
            kind = "a positive integer" if low == 1 else "an integer >= 0"
            raise ValueError(f"{_flag(name)} must be {kind} ({meaning}); got {value}")
    batch = options.get("meta_batch")
    if isinstance(batch, int) and batch > MAX_META_BATCH:
        raise ValueError(
            f"--meta-batch {batch} is more tasks per meta-iteration than repsim runs (at most "
            f"{MAX_META_BATCH}; the paper uses 4 to 40): their episodes would not fit in memory"
        )
    for name, (low, inclusive) in _REALS.items():
        value = options.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            bound = f">= {low:g}" if inclusive else f"> {low:g}"
            raise ValueError(f"{_flag(name)} must be a finite number {bound}; got {value}")
    threads = options.get("threads")
    if isinstance(threads, int) and not isinstance(threads, bool):
        check_threads(threads)
    for name in _OUTPUT_FILES:
        if options.get(name) is not None:
            check_output_path(options[name], "--json" if name == "json_path" else "--csv")


def check_threads(threads: int) -> None:
    """``--threads`` in ``0..max_threads()`` (0: the libraries' defaults)."""
    top = max_threads()
    if not 0 <= threads <= top:
        raise ValueError(
            f"--threads must be between 0 (the libraries' defaults) and {top} (4 per CPU core "
            f"here); got {threads}"
        )
