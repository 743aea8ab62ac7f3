"""Atomic writes: the target is complete or untouched, with ordinary permissions."""

from __future__ import annotations

import os

import pytest

from repsim._io import atomic_write_bytes, atomic_write_json


def test_atomic_write_replaces_whole_file_with_umask_permissions(tmp_path):
    path = atomic_write_bytes(tmp_path / "sub" / "f.bin", b"first")
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]  # no temporary left behind


def test_failed_write_leaves_target_and_no_temporary(tmp_path):
    path = atomic_write_json(tmp_path / "r.json", {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": object()})
    assert path.read_text().strip().startswith("{") and '"a": 1' in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
