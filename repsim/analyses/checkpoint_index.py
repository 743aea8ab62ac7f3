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


def _check_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in ENTRY_KEYS if k not in entry]
    if missing:
        raise ValueError(f"checkpoint index entry {entry.get('path')!r} lacks {missing}")
    for fig in entry["figures"]:
        lacking = [k for k in FIGURE_KEYS if k not in fig]
        if lacking:
            raise ValueError(f"a figure of {entry['path']!r} lacks {lacking}")
        if "head" not in fig and "frozen" not in fig:
            raise ValueError(f"a figure of {entry['path']!r} needs 'head' or 'frozen' layers")
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
        by_path = {e["path"]: e for e in data["checkpoints"]}
        for entry in checked:
            by_path[entry["path"]] = entry
        data["checkpoints"] = [by_path[k] for k in sorted(by_path)]
        return atomic_write_json(path, data)
