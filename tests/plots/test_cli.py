"""``repsim figures``: thin CLI over make_figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from repsim.cli.main import app

runner = CliRunner()


@pytest.fixture
def small_results(results_factory, tmp_path) -> Path:
    """eval.json and ablate.json only: two figures, quick to draw; the rest is skipped."""
    full = results_factory("cli")
    root = tmp_path / "results"
    root.mkdir()
    for name in ("eval.json", "ablate.json"):
        shutil.copy(full / name, root / name)
    return root


def test_figures_command_writes_and_lists_the_figures(small_results, tmp_path):
    """Exit 0, every PNG path printed, skipped figures named with their reason."""
    out_dir = tmp_path / "figs"
    result = runner.invoke(app, ["figures", str(small_results), "--out", str(out_dir)])
    assert result.exit_code == 0, result.output
    out = result.output.replace("\n", "")
    for stem in ("accuracy", "freezing"):
        assert str(out_dir / f"{stem}.png") in out and (out_dir / f"{stem}.pdf").is_file()
    assert "skipped timing: `timing.json` is not in the results directory" in out
    assert "2 figures, 6 skipped" in out


def test_figures_command_defaults_to_results_dir_figures(small_results):
    """Without --out the figures go to RESULTS_DIR/figures."""
    root = small_results
    result = runner.invoke(app, ["figures", str(root)])
    assert result.exit_code == 0, result.output
    assert (root / "figures" / "index.json").is_file()


def test_figures_command_bad_dir_is_one_line_error(tmp_path):
    """A missing results folder: exit 1, one line, no traceback."""
    result = runner.invoke(app, ["figures", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert "error: results directory" in result.output and "Traceback" not in result.output
