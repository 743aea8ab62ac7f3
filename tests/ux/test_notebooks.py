"""The notebooks in notebooks/ run top to bottom (nbclient), on small task counts (issue 11)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NEEDS_DATA = {"01_shipped_checkpoint.ipynb", "02_bring_your_own_model.ipynb"}


def test_notebooks_are_committed_without_outputs() -> None:
    assert len(NOTEBOOKS) >= 3
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Omniglot decoded once for the notebooks that need it."""
    return tmp_path_factory.mktemp("notebook-cache")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       request: pytest.FixtureRequest, cache_dir: Path) -> None:
    if path.name in NEEDS_DATA:
        data = request.getfixturevalue("shared_data_dir")
        monkeypatch.setenv("REPSIM_TEST_DATA", str(data))
    monkeypatch.setenv("REPSIM_REPO", str(ROOT))
    monkeypatch.setenv("REPSIM_NOTEBOOK_TASKS", "4")
    monkeypatch.setenv("REPSIM_STUDY_DIR", str(tmp_path / "study"))
    monkeypatch.setenv("REPSIM_CACHE", str(cache_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    pythonpath = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{pythonpath}" if pythonpath else str(ROOT))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on failure
    streams = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
               if o.get("output_type") == "stream"]
    text = "\n".join(streams)
    assert "TqdmWarning" not in text and "IProgress not found" not in text
    assert "Traceback" not in text
