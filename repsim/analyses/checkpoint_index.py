"""``checkpoints/index.json``: one entry per shipped checkpoint file and the figures it backs.

An entry::

    {"path": "checkpoints/rl/nav2d_maml_s0.pt", "preset": "rl-nav2d (cpu scale)",
     "algorithm": "maml", "seed": 0, "steps": 500,
     "figures": [{"metric": "return_after", "head": "adapted", "frozen": [], "value": -20.1,
                  "ci95": 1.3, "tasks": 40, "test_seed": 0}, ...]}

Entries are merged by ``path`` (a new entry replaces the old one with the same path; others are
kept, so classification and RL checkpoints share the file), sorted by path, and the file is
written atomically.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from repsim._io import atomic_write_json

__all__ = ["ENTRY_KEYS", "FIGURE_KEYS", "merge_index", "read_index"]

ENTRY_KEYS = ("path", "preset", "algorithm", "seed", "steps", "figures")
FIGURE_KEYS = ("metric", "value", "ci95", "tasks", "test_seed")


def _check_entry(entry: Any, where: str = "checkpoint index entry") -> dict[str, Any]:
    """One entry, checked for its keys and their types; a ValueError naming what is wrong.

    Issue 21: a malformed entry raised a bare TypeError, and entries of the file lacking keys
    were kept by a merge; every entry, new or already in the file, now goes through here.
    """
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a dict with keys {list(ENTRY_KEYS)}; got a "
                         f"{type(entry).__name__}: {entry!r:.80}")
    missing = [k for k in ENTRY_KEYS if k not in entry]
    if missing:
        raise ValueError(f"{where} {entry.get('path')!r} lacks {missing}")
    name = entry["path"]
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: 'path' must be a non-empty string; got {name!r}")
    for key in ("seed", "steps"):
        if isinstance(entry[key], bool) or not isinstance(entry[key], int) or entry[key] < 0:
            raise ValueError(f"{where} {name!r}: {key!r} must be an integer >= 0; got "
                             f"{entry[key]!r}")
    if not isinstance(entry["figures"], list):
        raise ValueError(f"{where} {name!r}: 'figures' must be a list of dicts; got a "
                         f"{type(entry['figures']).__name__}")
    for fig in entry["figures"]:
        if not isinstance(fig, Mapping):
            raise ValueError(f"a figure of {name!r} must be a dict; got {fig!r:.80}")
        lacking = [k for k in FIGURE_KEYS if k not in fig]
        if lacking:
            raise ValueError(f"a figure of {name!r} lacks {lacking}")
        if "head" not in fig and "frozen" not in fig:
            raise ValueError(f"a figure of {name!r} needs 'head' or 'frozen' layers")
        for key in ("value", "ci95"):
            value = fig[key]
            if key == "ci95" and value is None:  # no interval (one task)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"a figure of {name!r}: {key!r} must be a number; got "
                                 f"{value!r}")
    return dict(entry)


def read_index(path: str | Path) -> dict[str, Any]:
    """The index at ``path`` (``{"checkpoints": []}`` when the file does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return {"checkpoints": []}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("checkpoints"), list):
        raise ValueError(f"{path} is not a checkpoint index (expected {{'checkpoints': [...]}})")
    return data


def merge_index(path: str | Path, entries: Iterable[Mapping[str, Any]]) -> Path:
    """Add or replace ``entries`` (by ``path``) in the index file at ``path``, atomically.

    The read-merge-write runs under an exclusive lock on ``<path>.lock`` (POSIX), so two
    processes shipping results at once cannot drop each other's entries.
    """
    checked = [_check_entry(entry) for entry in entries]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: no lock, still atomic
            pass
        data = read_index(path)
        kept = [_check_entry(e, f"entry {i} of {path}") for i, e in enumerate(data["checkpoints"])]
        by_path = {e["path"]: e for e in kept}
        for entry in checked:
            by_path[entry["path"]] = entry
        data["checkpoints"] = [by_path[k] for k in sorted(by_path)]
        return atomic_write_json(path, data)
