"""Leaf I/O helpers: atomic writes, safe checkpoint loading, run manifests.

Everything that writes a file in repsim goes through :func:`atomic_write_bytes` (or one of its
wrappers) so an interrupted run never leaves a half-written checkpoint, table or figure: the data
goes to a temporary file in the same directory, is fsync'ed, and then replaces the target with
``os.replace`` (atomic on POSIX and Windows).
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "CheckpointError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_versions",
    "library_versions",
    "load_checkpoint",
    "remove_stale_temps",
    "run_manifest",
    "save_checkpoint",
]


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, untrusted or not a repsim checkpoint."""


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    # The writer's pid is in the name so a later write can tell a live writer from a dead one.
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        # Never leave the temporary file behind, whatever went wrong (KeyboardInterrupt too).
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


STALE_AGE_S = 24 * 3600  # temporaries without a pid (older repsim) are stale after a day


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Delete temporaries of ``path`` left by a writer that was killed mid-write.

    A temporary ``.NAME.PID.XXXX.tmp`` is stale when process PID no longer runs; one without a
    pid (``.NAME.XXXX.tmp``) when it is older than a day. Returns the files removed.
    """
    import time

    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?:(\d+)\.)?[^.]+\.tmp$")
    removed = []
    try:
        candidates = list(path.parent.glob(f".{path.name}.*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        match = pattern.match(tmp.name)
        if match is None:
            continue
        try:
            if match.group(1) is not None:
                pid = int(match.group(1))
                stale = pid != os.getpid() and not _alive(pid)
            else:
                stale = time.time() - tmp.stat().st_mtime > STALE_AGE_S
            if stale:
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # gone already, or not ours to delete: leave it
            continue
    return removed


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    # numpy scalars / arrays and paths show up in records; turn them into plain JSON.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    text = json.dumps(obj, indent=2, default=_json_default, allow_nan=True)
    return atomic_write_text(path, text + "\n")


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    """Save a checkpoint dict with ``torch.save``, atomically.

    The payload must only hold tensors, numbers, strings, lists and dicts so that
    :func:`load_checkpoint` can read it back with ``torch.load(weights_only=True)``. A repsim
    checkpoint (one with a ``format`` key) gets ``versions``: :func:`library_versions` at save
    time, unless it has them already (an export keeps the original's).
    """
    import torch

    payload = dict(payload)
    if "format" in payload:  # a repsim checkpoint (not a bare state_dict or a data cache)
        payload.setdefault("versions", library_versions())
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | Any = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint safely with ``torch.load(weights_only=True)``.

    Raises
    ------
    CheckpointError
        If the file does not exist, is truncated/corrupt, or holds pickled objects that are not
        plain tensors and containers (an untrusted or foreign checkpoint): nothing in it runs.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): the file is not a checkpoint")
    try:
        with warnings.catch_warnings():  # e.g. torch's note on foreign pickle protocols
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise CheckpointError(_load_failure(path, exc)) from exc
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"{path} holds a {type(obj).__name__}, not a checkpoint dict; expected a dict with a "
            "'model' state_dict (repsim) or a bare state_dict (learn2learn-style)"
        )
    if "format" in obj:  # a repsim checkpoint records the versions it was made with
        check_versions(obj.get("versions"), source=str(path))
    return obj


# torch words it "Unsupported global: GLOBAL os.system ..." or "unsupported GLOBAL posix.system".
_BLOCKED = re.compile(r"GLOBAL ([\w.]+)", re.IGNORECASE)
_TORCH_HINT = re.compile(r"weights_only|Weights only load failed", re.IGNORECASE)


def _load_failure(path: Path, exc: BaseException) -> str:
    """repsim's one-line reason a checkpoint did not load (never torch's weights_only hint)."""
    text = str(exc)
    blocked = _BLOCKED.search(text)
    if blocked:
        return (
            f"refused to load {path}: it holds a pickled Python object ({blocked.group(1)}), "
            "not only tensors and plain containers. repsim never loads code from a checkpoint, "
            "so it cannot read this file; save a state_dict (tensors only) instead"
        )
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not _TORCH_HINT.search(ln)]
    detail = f": {lines[0]}" if lines else ""
    return (
        f"cannot load checkpoint {path} ({type(exc).__name__}{detail}); the file is truncated, "
        "corrupt or not a torch checkpoint"
    )


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


#: Libraries whose version can change a result (issue 21): recorded in every manifest and
#: checkpoint (None where not installed), compared when a result is read back.
SHAPING_LIBRARIES = ("torch", "numpy", "mujoco", "gymnasium", "ray")


def _installed_version(name: str) -> str | None:
    from importlib import metadata

    try:  # the distribution's metadata: no import of ray or mujoco just to read a version
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    """Versions of :data:`SHAPING_LIBRARIES` here (None: not installed)."""
    import numpy
    import torch

    # str(): torch.__version__ is a TorchVersion, which weights_only loading refuses
    found = {"torch": str(torch.__version__), "numpy": str(numpy.__version__)}
    return {name: found.get(name) or _installed_version(name) for name in SHAPING_LIBRARIES}


def _cpu() -> str | None:
    """The CPU kernels torch dispatches to (e.g. ``AVX2``): float results depend on them."""
    import torch

    try:
        return f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()}"
    except (AttributeError, RuntimeError):  # pragma: no cover - older torch
        return platform.machine() or None


_WARNED: set[tuple[str, str, str]] = set()  # (library, recorded, here): each warned once


class VersionWarning(UserWarning):
    """A result or checkpoint was made under other versions of a library that shapes it."""


def check_versions(recorded: Mapping[str, Any] | None, *, source: str) -> list[str]:
    """Warn (once per library and version pair) where ``recorded`` versions differ from ours.

    ``recorded`` is a manifest's or checkpoint's ``versions``; a library it does not record (an
    older file) is not compared. Returns the libraries that differ.
    """
    if not isinstance(recorded, Mapping):
        return []
    here = library_versions()
    differ = []
    for name in SHAPING_LIBRARIES:
        if name not in recorded or recorded[name] == here[name]:
            continue
        differ.append(name)
        then, now = str(recorded[name]), str(here[name])
        if (name, then, now) not in _WARNED:
            _WARNED.add((name, then, now))
            warnings.warn(f"{source} was made with {name} {then}; this is {name} {now}, so "
                          "its numbers may not reproduce exactly", VersionWarning, stacklevel=2)
    return differ


def run_manifest(
    *, config: Mapping[str, Any] | None = None, seed: int | None = None, **extra: Any
) -> dict[str, Any]:
    """A manifest for a result: config, seed, library versions, git sha, host and time.

    ``versions`` holds repsim, python, every library of :data:`SHAPING_LIBRARIES` (None where
    not installed) and scipy/pandas/sklearn when loaded; ``cpu`` the kernels torch uses.
    """
    import torch

    from repsim import __version__

    versions: dict[str, Any] = {
        "repsim": __version__,
        "python": sys.version.split()[0],
        **library_versions(),
    }
    for name in ("scipy", "pandas", "sklearn"):
        mod = sys.modules.get(name)
        if mod is not None:
            versions[name] = getattr(mod, "__version__", "?")
    manifest: dict[str, Any] = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "config": dict(config) if config is not None else None,
        "versions": versions,
        "git_sha": _git_sha(),
        "platform": platform.platform(),
        "cpu": _cpu(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    manifest.update(extra)
    return manifest
