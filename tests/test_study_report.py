"""``repsim figures`` on a study root and on a sweep folder: tables, figures, report.md.

The study root holds real tiny runs (Omniglot, 2 training steps, 6 test tasks: ~40 s on a
busy core); the report's numbers are checked against mean ± std computed here from the runs'
own analysis files, questions without runs must read "Not run", unfinished runs are named.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from repsim.analyses.tables import read_table
from repsim.cli.main import app
from repsim.meta import TrainConfig
from repsim.study_report import (
    discover_runs,
    is_study_root,
    run_status,
    study_report,
    write_plan,
)
from repsim.study_runs import (
    StudyRun,
    analyse_run,
    checkpoint_index,
    final_checkpoint,
    run_dir,
    train_run,
    with_seed,
)

BASE = TrainConfig(steps=2, meta_batch=2, val_tasks=4, val_every=2, checkpoint_every=2)
SMALL = {"tasks": 6, "compare_tasks": 2}


def _plan() -> list[StudyRun]:
    base = [
        StudyRun("maml", BASE, ("seeds", "regimes", "interpolation", "conv4"), "baseline",
                 **SMALL),
        StudyRun("anil", dataclasses.replace(BASE, algorithm="anil"),
                 ("seeds", "regimes", "interpolation"), **SMALL),
        StudyRun("random", dataclasses.replace(BASE, algorithm="random"), ("regimes",),
                 **SMALL),
        StudyRun("flat", dataclasses.replace(BASE, head_input="flatten"), ("conv4",),
                 "flatten before head", **SMALL),
    ]
    return [with_seed(r, s) for s in (0, 1) for r in base]


#: planned for the medium-shot question, never started
NOT_STARTED = StudyRun("maml-5w5s", dataclasses.replace(BASE, shots=5, query=5), ("shots",))


@pytest.fixture(scope="module")
def study_root(tmp_path_factory, shared_data_dir):
    root = tmp_path_factory.mktemp("study") / "root"
    for run in _plan():
        train_run(run, root, data_dir=shared_data_dir)
        analyse_run(run, root, data_dir=shared_data_dir)
    write_plan(root, [*_plan(), NOT_STARTED])
    return root


def _report_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ")]


def _mean_std(values, scale: float, digits: int) -> str:
    mean, std = np.mean(values), np.std(values, ddof=1)
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}")[1].split("\n## ")[0]


def test_figures_on_a_study_root_writes_tables_figures_and_report(study_root, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["figures", str(study_root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "report:" in result.output
    tables = out / "tables"
    for stem in ("seeds", "regimes", "interpolation_accuracy", "interpolation_similarity",
                 "interpolation_freezing", "conv4"):
        assert (tables / f"{stem}_summary.json").is_file() and (tables / f"{stem}.csv").is_file()
    assert not (tables / "shots_summary.json").exists()
    for stem in ("seeds", "regimes", "interpolation", "conv4_investigation"):
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").is_file()
    assert not (out / "medium_shot.png").exists()
    report = (out / "report.md").read_text()
    assert (out / "report.html").stat().st_size > 0
    rows = _report_rows(report)

    # every MAML/ANIL seed number in the report = mean ± std over the runs' own profile.json
    for name, regime in (("maml", "MAML"), ("anil", "ANIL")):
        profiles = [read_table(study_root / name / f"seed{s}" / "analysis" / "profile.json")[0]
                    for s in (0, 1)]
        for quantity in ("accuracy", "head_only_accuracy", "nil_accuracy", "head_only_gap"):
            values = [float(p[p["quantity"] == quantity]["value"].iloc[0]) for p in profiles]
            row = next(r for r in rows if r[:3] == [regime, quantity, ""])
            assert row[3] == _mean_std(values, 100.0, 1), (regime, quantity)
            assert row[4] == "2" and row[5] == "2"  # n_seeds, steps
            assert row[6].startswith(f"s0: {100 * values[0]:.1f} ± ")
        conv4 = [float(p[(p["layer"] == "conv4") & (p["measure"] == "cka")]["value"].iloc[0])
                 for p in profiles]
        row = next(r for r in rows if r[:3] == [regime, "similarity", "conv4"])
        assert row[3] == _mean_std(conv4, 1.0, 3)
    # Table 5 rows, with the paper's NIL-head numbers beside ours
    heads = [read_table(study_root / "random" / f"seed{s}" / "analysis" / "heads.json")[0]
             for s in (0, 1)]
    row = next(r for r in rows if r[:2] == ["random", "nil"])
    assert row[2] == _mean_std([float(h["accuracy"].iloc[0]) for h in heads], 100.0, 1)
    assert row[4] == "0" and row[6:] == ["32.9", "43.2"]  # random: never trained; paper
    # the summary tables hold the same numbers
    summary = read_table(tables / "seeds_summary.json")[0]
    gap = summary[(summary["regime"] == "MAML") & (summary["quantity"] == "head_only_gap")]
    assert f"{100 * gap['seed_mean'].iloc[0]:.1f} ± {100 * gap['seed_std'].iloc[0]:.1f}" in \
        _section(report, "MAML and ANIL over seeds")

    # questions without runs are marked, with what was planned for them
    shots = _section(report, "Medium shot (and 5 vs 20 ways)")
    assert "**Not run**" in shots and "maml-5w5s seed 0 (not started)" in shots
    assert "**Not run**" in _section(report, "Similarity between independently trained models")
    # the plan's condition labels, and a reading derived from the conv4 numbers
    conv4 = _section(report, "Why conv4 adapts on Omniglot: controlled conditions")
    assert "| flatten before head | head_only_gap |" in conv4
    assert "**Reading.** flatten before head: conv4 θ vs θ′ CKA" in conv4
    assert "![Figure" in conv4 and "conv4_investigation.pdf" in conv4
    # every reading carries its p and the Holm verdict over the whole report, listed at the end
    from repsim.analyses.multiple import holm

    readings = read_table(tables / "readings.json")[0]
    assert len(readings) > 0 and "⟦" not in report
    assert readings["p_holm"].tolist() == pytest.approx(holm(readings["p"]).tolist())
    assert report.count("Holm-adjusted over the report's") == len(readings)
    assert f"| {len(readings)} |" in _section(report, "Every reading, with its p-value and the "
                                                       "Holm correction")
    compute = _section(report, "Runs, steps and compute")
    assert "| maml | MAML | omniglot 5w1s |" in compute and "s0: 2, s1: 2" in compute


def test_a_partial_study_without_plan_reads_its_folders(study_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(study_root, root)
    (root / "study.json").unlink()
    shutil.rmtree(root / "flat" / "seed1" / "analysis")  # trained, not analysed yet
    runs = {(r.name, r.config.seed): r for r in discover_runs(root)}
    assert ("maml-5w5s", 0) not in runs  # not started and no plan: unknown
    assert runs[("flat", 0)].condition == "head_input=flatten"
    assert runs[("maml", 1)].condition == "baseline"
    assert runs[("flat", 1)].groups == ()  # nothing analysed records its questions
    files = study_report(root, tmp_path / "out")
    report = files["report"].read_text()
    conv4 = _section(report, "Why conv4 adapts on Omniglot: controlled conditions")
    assert "| head_input=flatten | head_only_gap |  |" in conv4
    row = next(r for r in _report_rows(conv4) if r[:2] == ["head_input=flatten", "accuracy"])
    assert row[4] == "1"  # one seed analysed
    assert "fewer than 2 seeds" in conv4 and "not a conclusion" in conv4
    assert "Fewer than 2 seeds (or model pairs) for: head_input=flatten." in conv4
    assert "Fewer than 2 seeds" not in _section(report, "MAML and ANIL over seeds")
    status = read_table(files["runs"])[0]
    assert status.set_index(["run", "seed"]).loc[("flat", 1), "status"] == \
        "trained, not analysed"


def test_a_run_added_since_the_plan_is_labelled_against_the_plans_baseline(study_root,
                                                                             tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(study_root, root)
    write_plan(root, [r for r in _plan() if r.name != "flat"])  # "flat" unknown to the plan
    runs = {(r.name, r.config.seed): r for r in discover_runs(root)}
    assert runs[("flat", 0)].condition == "head_input=flatten"  # not a second "baseline"
    assert runs[("maml", 0)].condition == "baseline"
    clash = [dataclasses.replace(r, condition="baseline") if r.name == "flat" else r
             for r in _plan()]
    write_plan(root, clash)
    with pytest.raises(ValueError, match="share the condition label 'baseline'"):
        discover_runs(root)


def test_the_trained_config_wins_over_a_plan_with_other_steps(study_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(study_root, root)
    longer = [dataclasses.replace(r, config=dataclasses.replace(r.config, steps=4))
              for r in _plan()]
    write_plan(root, [*longer, NOT_STARTED])
    runs = {(r.name, r.config.seed): r for r in discover_runs(root)}
    assert runs[("maml", 1)].config.steps == 2 and runs[("maml", 1)].condition == "baseline"
    assert runs[("maml", 1)].planned_steps == 4  # trained to fewer steps than planned: said
    assert runs[("maml-5w5s", 0)].config.steps == 2  # not started: the plan's config
    assert run_status(root, runs[("flat", 0)]) == "analysed"
    assert run_status(root, runs[("maml-5w5s", 0)]) == "not started"
    study_report(root, tmp_path / "report")
    compute = _section((tmp_path / "report" / "report.md").read_text(), "Runs, steps and compute")
    row = "| maml | MAML | omniglot 5w1s | 1 x lr 0.4 | 2 | 20 | 2 (capped; planned 4) |"
    assert row in compute
    entry = next(e for e in checkpoint_index(root, [runs[("maml", 1)]]))
    assert entry["steps"] == 2 and entry["planned_steps"] == 4


def test_between_seed_table_is_reported_next_to_the_paper(study_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(study_root, root)
    frame = []
    for kind, a, b, value in (("maml vs maml", ("maml", 0), ("maml", 1), 0.9),
                              ("maml vs maml", ("maml", 0), ("maml", 1), 0.7)):
        for layer in ("conv1", "conv2", "head"):
            frame.append({"kind": kind, "algorithm_a": a[0], "seed_a": a[1],
                          "algorithm_b": b[0], "seed_b": b[1], "measure": "cka",
                          "layer": layer, "mean": value if layer != "head" else 0.0})
    (root / "tables").mkdir()
    (root / "tables" / "between_seeds.json").write_text(json.dumps(
        {"manifest": {}, "records": frame[:3]}))
    report = study_report(root, tmp_path / "out")["report"].read_text()
    section = _section(report, "Similarity between independently trained models")
    assert "| maml vs maml | cka | 0.900 | 1 |" in section and "| 0.83-0.86 |" in section
    # the head is left out of the body average: 0.9, above the paper's 0.83-0.86
    assert "one pair (above the paper's value): not concluded" in section
    assert (tmp_path / "out" / "between_seeds.png").is_file()


def test_is_study_root_and_errors(tmp_path):
    assert not is_study_root(tmp_path)
    with pytest.raises(ValueError, match="is not a study root"):
        study_report(tmp_path)
    folder = tmp_path / "r" / "seed0"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"algorithm": "maml", "bogus": 1}')
    assert is_study_root(tmp_path)
    result = CliRunner().invoke(app, ["figures", str(tmp_path)])
    assert result.exit_code != 0 and "not a repsim training config" in result.output
    assert "Traceback" not in result.output


def test_figures_on_a_sweep_folder_writes_its_report(tmp_path):
    from repsim.sweep import run_sweep

    out = tmp_path / "sweep"
    run_sweep(out, presets=["sinusoid"], algorithms=["anil"], seeds=[0, 1], steps=5,
              eval_tasks=5, overrides={"val_tasks": 3}, workers=1, figures=False,
              say=lambda _t: None)
    assert not (out / "report.md").exists()
    result = CliRunner().invoke(app, ["figures", str(out)])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "## Over seeds: mean ± std" in report
    seeds = read_table(out / "eval_seeds.json")[0].iloc[0]
    assert seeds["n_seeds"] == 2 and math.isfinite(seeds["std"])
    assert (out / "figures" / "accuracy.png").is_file()
    assert (out / "report.html").is_file()


def test_a_run_capped_for_compute_and_trained_further_is_analysed_again(study_root, tmp_path,
                                                                         shared_data_dir):
    root = tmp_path / "copy"
    shutil.copytree(study_root, root)
    capped = next(r for r in _plan() if r.name == "maml" and r.config.seed == 0)
    heads = run_dir(root, capped) / "analysis" / "heads.json"
    assert set(read_table(heads)[0]["step"]) == {2}
    untouched = (run_dir(root, capped) / "analysis" / "profile.json").stat().st_mtime_ns
    analyse_run(capped, root, data_dir=shared_data_dir)  # same checkpoint: nothing redone
    assert (run_dir(root, capped) / "analysis" / "profile.json").stat().st_mtime_ns == untouched
    # the cap lifted: training resumes from step 2, and every analysis moves to step 4
    longer = dataclasses.replace(capped, config=dataclasses.replace(capped.config, steps=4))
    assert final_checkpoint(root, longer) is None
    assert train_run(longer, root, data_dir=shared_data_dir).name == "step_000004.pt"
    analyse_run(longer, root, data_dir=shared_data_dir)
    for stem in ("heads", "profile"):
        frame = read_table(run_dir(root, capped) / "analysis" / f"{stem}.json")[0]
        assert set(frame["step"]) == {4}
    entry = next(e for e in checkpoint_index(root, [longer]))
    assert entry["steps"] == 4
