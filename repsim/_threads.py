"""Thread defaults shared by the library and the command line (issue 21, item 9).

repsim's per-task work (75-image batches, 64-wide matrices) gains little from intra-op threads,
and on a shared CPU their barriers stall: ``repsim.compare(ckpt, tasks=100)`` took 125 s at
torch's default threads against 52 s with one (2-core box, issue 21). The CLI has always set one
thread (``--threads 1``); the library now does the same on its first entry (loading a checkpoint
or starting a training run), unless the user chose:

- ``REPSIM_THREADS=N`` in the environment (0: leave torch and BLAS at their defaults);
- ``OMP_NUM_THREADS`` in the environment (torch and BLAS read it themselves; repsim leaves it);
- a call of :func:`set_threads` (``repsim.set_threads``), or of ``torch.set_num_threads`` after
  ``import repsim``, before the first entry.

Both the CLI's ``--threads`` and the library default go through :func:`use_threads`.
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_THREADS", "THREADS_ENV", "default_threads", "ensure_default_threads",
           "set_threads", "use_threads"]

DEFAULT_THREADS = 1  # the CLI's --threads default, and the library's
THREADS_ENV = "REPSIM_THREADS"
_chosen = False  # set once a thread count was applied (by the CLI, the user or the default)
_at_import: int | None = None  # torch's count when repsim was imported (to see a user's change)


def _torch_threads() -> int | None:
    import sys

    torch = sys.modules.get("torch")
    return None if torch is None else torch.get_num_threads()


_at_import = _torch_threads()


def default_threads() -> int:
    """``$REPSIM_THREADS`` when set (an integer >= 0), else :data:`DEFAULT_THREADS`."""
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return DEFAULT_THREADS
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"${THREADS_ENV} must be an integer >= 0; got {text!r}") from None
    if value < 0:
        raise ValueError(f"${THREADS_ENV} must be an integer >= 0; got {value}")
    return value


def use_threads(threads: int) -> None:
    """Limit torch's intra-op threads and numpy's BLAS pool to ``threads`` (0: leave both)."""
    global _chosen
    _chosen = True
    if not threads:
        return
    import torch

    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it BLAS keeps its default
        return
    threadpool_limits(threads)


def set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads in torch and BLAS from now on (0: the libraries' defaults).

    Examples
    --------
    >>> import repsim
    >>> repsim.set_threads(2)  # doctest: +SKIP
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be an integer >= 0 (0: the libraries' defaults); "
                         f"got {threads!r}")
    use_threads(threads)


def ensure_default_threads() -> None:
    """On the library's first entry, apply the shared default unless the user chose threads."""
    global _chosen
    if _chosen:
        return
    if os.environ.get(THREADS_ENV, "").strip():
        use_threads(default_threads())
        return
    _chosen = True
    if os.environ.get("OMP_NUM_THREADS"):
        return  # the user's choice, which torch and BLAS already follow
    current = _torch_threads()
    if _at_import is not None and current is not None and current != _at_import:
        return  # torch.set_num_threads was called after import repsim
    use_threads(DEFAULT_THREADS)
