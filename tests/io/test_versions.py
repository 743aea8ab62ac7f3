"""Manifests and checkpoints record every library that shapes a result, and reading one made
under other versions warns once, in one line naming the library and both versions (issue 21)."""

from __future__ import annotations

import warnings
from importlib import metadata

import pytest
import torch

from repsim import _io
from repsim._io import (
    VersionWarning,
    check_versions,
    library_versions,
    load_checkpoint,
    run_manifest,
    save_checkpoint,
)


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_io, "_WARNED", set())


def test_manifest_records_each_shaping_library() -> None:
    versions = run_manifest(seed=0)["versions"]
    assert versions["torch"] == str(torch.__version__)
    for name in ("numpy", "mujoco", "gymnasium", "ray"):
        # the installed distribution's version, or None where it is not installed
        assert versions[name] == _installed(name), name
    assert run_manifest()["cpu"]  # the kernels torch dispatches to: results depend on them


def test_a_differing_version_warns_once_in_one_line() -> None:
    here = library_versions()
    recorded = {**here, "mujoco": "3.1.6", "numpy": "1.26.4"}
    with pytest.warns(VersionWarning) as caught:
        assert check_versions(recorded, source="x.pt") == ["numpy", "mujoco"]
    messages = [str(w.message) for w in caught]
    assert messages == [
        f"x.pt was made with numpy 1.26.4; this is numpy {here['numpy']}, so its numbers may "
        "not reproduce exactly",
        f"x.pt was made with mujoco 3.1.6; this is mujoco {here['mujoco']}, so its numbers may "
        "not reproduce exactly"]
    assert all("\n" not in m for m in messages)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same pair again: no second warning
        assert check_versions(recorded, source="y.pt") == ["numpy", "mujoco"]
        assert check_versions(here, source="z.pt") == []
        assert check_versions({"repsim": "0.0"}, source="old.json") == []  # not recorded


def test_checkpoints_carry_versions_and_warn_when_read_elsewhere(tmp_path) -> None:
    path = save_checkpoint(tmp_path / "a.pt", {"format": "repsim-checkpoint", "step": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        payload = load_checkpoint(path)  # same versions: silent
    assert payload["versions"] == library_versions()
    payload["versions"] = {**payload["versions"], "torch": "1.13.1"}
    save_checkpoint(path, payload)  # recorded versions are kept, not overwritten
    with pytest.warns(VersionWarning, match=r"a.pt was made with torch 1.13.1; this is torch"):
        load_checkpoint(path)
    bare = save_checkpoint(tmp_path / "b.pt", {"w": torch.zeros(1)})
    assert "versions" not in load_checkpoint(bare)  # a bare state_dict stays as it was


def test_result_tables_warn_when_read_under_other_versions(tmp_path) -> None:
    import pandas as pd

    from repsim.analyses.tables import read_table, write_table

    manifest = run_manifest(seed=0)
    manifest["versions"]["gymnasium"] = "0.29.1"
    path = write_table(pd.DataFrame({"value": [1.0]}), tmp_path / "t", manifest=manifest)
    with pytest.warns(VersionWarning, match="gymnasium 0.29.1"):
        frame, read = read_table(path.with_suffix(".json"))
    assert read["versions"]["gymnasium"] == "0.29.1" and frame["value"].tolist() == [1.0]
