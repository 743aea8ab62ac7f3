"""The demo's stage estimates carry the measured correction factors (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

import repsim.study as study


class _Stop(Exception):
    pass


def _estimate_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preset: object) -> str:
    """Run the study up to its first stage (evaluate; the rest already 'done'), return the
    'estimated time for the rest' line."""
    rows = pd.DataFrame([{"algorithm": a, "phase": p, "seconds": 1.0}
                         for a in ("maml", "anil") for p in ("train", "inference")])
    monkeypatch.setattr(study, "time_per_iteration", lambda *a, **k: rows)

    def stop(*args: object, **kwargs: object) -> None:
        raise _Stop

    monkeypatch.setattr(study, "load_trained", stop)
    out = tmp_path / "study"
    steps = preset.train.steps
    for a in ("maml", "anil"):
        ckpt = out / "runs" / a / "checkpoints" / f"step_{steps:06d}.pt"
        ckpt.parent.mkdir(parents=True)
        ckpt.write_bytes(b"")
    for stem in ("compare", "compare_steps", "compare_models", "ablate", "ablate_steps"):
        (out / f"{stem}.json").write_text("{}")
    console = Console(record=True, width=200)
    with pytest.raises(_Stop):
        study.run_study(preset, out_dir=out, console=console, progress=False)
    return next(line for line in console.export_text().splitlines() if "estimated" in line)


def test_measured_scale_is_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """evaluate = 4 × 600 tasks × (1 s / 25 tasks) = 96 s modelled; × 0.5 measured = 48 s."""
    preset = study.STUDY_PRESETS["sinusoid"]
    assert preset.estimate_scale["eval"] == 0.5
    assert "estimated time for the rest on cpu: 48 s" in _estimate_line(
        tmp_path, monkeypatch, preset)


def test_unmeasured_presets_keep_the_model(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    preset = dataclasses.replace(study.STUDY_PRESETS["sinusoid"], estimate_scale={})
    assert "estimated time for the rest on cpu: 1.6 min" in _estimate_line(
        tmp_path, monkeypatch, preset)
