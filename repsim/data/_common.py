"""Shared plumbing for the loaders: where data and caches live, argument checks, split hashes.

Private to :mod:`repsim.data`; the loaders call these so every dataset resolves directories,
words its errors and hashes its splits the same way.
"""

from __future__ import annotations

import hashlib
import numbers
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

DATA_ENV = "REPSIM_DATA"
CACHE_ENV = "REPSIM_CACHE"
SPLITS = ("train", "val", "test")


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/repsim`` if that variable is set, else ``~/.cache/repsim``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "repsim"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The data root and how it was chosen (for error messages).

    Order: the ``data_dir`` argument, else ``$REPSIM_DATA``, else :func:`user_cache_dir`.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser(), "the data_dir argument"
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser(), f"${DATA_ENV}"
    return user_cache_dir(), f"the default (no data_dir argument, ${DATA_ENV} unset)"


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    """Where processed tensors are cached: argument, else ``$REPSIM_CACHE``, else
    ``<user cache dir>/processed``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return user_cache_dir() / "processed"


def check_split(split: str, *, dataset: str) -> str:
    if split not in SPLITS:
        raise ValueError(
            f"{dataset}: unknown split {split!r}; valid splits are {', '.join(map(repr, SPLITS))}"
        )
    return split


def check_int(value: Any, name: str, *, minimum: int, context: str) -> int:
    """``value`` as an int >= ``minimum``; TypeError for non-integers (bools included)."""
    # numbers.Integral covers numpy integers; bool is an int subclass but never a count.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{context}: {name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{context}: {name} must be >= {minimum}, got {value}")
    return value


def split_hash(dataset: str, class_names: Iterable[str], rotations: Iterable[int]) -> str:
    """sha256 hex identifying a split: dataset name, rotations and the *sorted* class identifiers.

    The order in which classes are stored does not change the hash; adding, removing or renaming
    one class, or changing the rotations, does.
    """
    rot = ",".join(str(int(r)) for r in rotations)
    text = f"repsim-split-v1\ndataset={dataset}\nrotations={rot}\n" + "\n".join(sorted(class_names))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_cache(path: Path, *, key: str, kind: str) -> dict[str, Any] | None:
    """A cached payload written by :func:`write_cache`, or None when absent, stale or corrupt.

    A corrupt or foreign file is reported with a warning and then ignored (it gets rebuilt),
    never trusted: it is loaded with ``weights_only=True``.
    """
    from repsim._io import CheckpointError, load_checkpoint

    if not path.is_file():
        return None
    try:
        payload = load_checkpoint(path)
    except CheckpointError as exc:
        warnings.warn(f"ignoring unreadable cache file, rebuilding it: {exc}", stacklevel=3)
        return None
    if payload.get("kind") != kind or payload.get("key") != key:
        warnings.warn(
            f"ignoring cache file {path}: it does not hold {kind} data for key {key[:16]}…; "
            "rebuilding it",
            stacklevel=3,
        )
        return None
    return payload


def write_cache(path: Path, payload: Mapping[str, Any]) -> bool:
    """Write ``payload`` atomically; warn (do not fail) when the cache dir is not writable."""
    from repsim._io import save_checkpoint

    try:
        save_checkpoint(path, payload)
    except OSError as exc:
        warnings.warn(
            f"could not write the cache file {path} ({exc}); the data was loaded but will be "
            f"decoded again next time. Pass a writable cache_dir or set ${CACHE_ENV}.",
            stacklevel=3,
        )
        return False
    return True
