"""The whole-study pipeline: every stage's file, the report, and resuming a finished study."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console
from typer.testing import CliRunner

from repsim.analyses.tables import read_table
from repsim.cli.main import app
from repsim.study import STUDY_PRESETS, run_study

TINY = dataclasses.replace(
    STUDY_PRESETS["sinusoid"],
    train=dataclasses.replace(STUDY_PRESETS["sinusoid"].train, steps=20, checkpoint_every=10,
                              val_every=10, val_tasks=10, meta_batch=5),
    eval_tasks=20, compare_tasks=10, compare_query=60, ablate_tasks=20, steps_tasks=8,
)
STAGE_FILES = ("timing", "eval", "compare", "compare_steps", "compare_models", "ablate",
               "ablate_steps")


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def test_study_writes_every_stage_and_a_report_that_shows_every_figure(tmp_path):
    files = run_study(TINY, out_dir=tmp_path, console=_quiet(), progress=False)
    for stem in STAGE_FILES:
        frame, manifest = read_table(tmp_path / f"{stem}.json")
        assert len(frame) > 0 and manifest, stem
    steps, _ = read_table(tmp_path / "compare_steps.json")
    assert sorted(steps["step"].unique()) == [10, 20]
    html = files["report_html"].read_text()
    md = files["report_md"].read_text()
    pngs = sorted((tmp_path / "figures").glob("*.png"))
    assert len(pngs) >= 6
    for png in pngs:
        assert f"figures/{png.name}" in md  # the markdown report links every figure
        assert (png.with_suffix(".pdf")).is_file()
    assert html.count("data:image/png;base64,") >= len(pngs)  # and the HTML embeds them


def test_rerun_skips_finished_stages(tmp_path):
    run_study(TINY, out_dir=tmp_path, console=_quiet(), progress=False)
    before = {stem: (tmp_path / f"{stem}.json").stat().st_mtime_ns for stem in STAGE_FILES}
    ckpt = tmp_path / "runs" / "maml" / "checkpoints" / "step_000020.pt"
    ckpt_time = ckpt.stat().st_mtime_ns
    (tmp_path / "ablate.json").unlink()  # as if interrupted during the ablation stage
    out = _quiet()
    run_study(TINY, out_dir=tmp_path, console=out, progress=False)
    log = out.file.getvalue()
    assert "7 of 8 stages already done" in log  # 2 trainings + 6 analyses; timing is not a stage
    assert ckpt.stat().st_mtime_ns == ckpt_time  # no retraining
    for stem in STAGE_FILES:
        if stem != "ablate":
            assert (tmp_path / f"{stem}.json").stat().st_mtime_ns == before[stem], stem
    assert (tmp_path / "ablate.json").is_file()


def test_reproduce_cli_rejects_unknown_preset(tmp_path):
    result = CliRunner().invoke(app, ["reproduce", "cifar-5w1s", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "unknown study preset 'cifar-5w1s'" in result.output
    assert "omniglot-5w1s" in result.output
