"""``repsim budget``: the decomposition of a shipped checkpoint, as a table and as JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from repsim.analyses.budget import adaptation_budget
from repsim.analyses.tables import read_table
from repsim.cli.main import app

CKPT = Path(__file__).resolve().parents[2] / "checkpoints" / "study" / "maml-5w1s-short_s1.pt"


def test_budget_prints_every_reader_and_writes_the_library_rows(tmp_path, shared_data_dir):
    out = tmp_path / "b.json"
    result = CliRunner().invoke(app, ["budget", str(CKPT), "--tasks", "5", "--head-steps",
                                      "4", "--data-dir", str(shared_data_dir), "--json",
                                      str(out)])
    assert result.exit_code == 0, result.output
    for name in ("inner_loop", "head_only_4", "probe_adapted", "body_only_gain", "probe_gain"):
        assert name in result.output
    frame = read_table(out)[0]
    same = adaptation_budget(CKPT, tasks=5, head_only_steps=(4,), data_dir=shared_data_dir)
    assert frame["value"].tolist() == pytest.approx(same["value"].tolist())


@pytest.mark.parametrize(("args", "message"), [
    (["--tasks", "0"], "--tasks must be a positive integer"),
    (["--head-steps", "3,x"], "--head-steps takes comma-separated integers"),
    (["--head-steps", "0"], "head_only_steps must be >= 1"),
])
def test_budget_bad_options_get_one_line(args, message):
    result = CliRunner().invoke(app, ["budget", str(CKPT), *args])
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output
