"""The study runner (issue 9): train, analyse, gather, draw; a rerun only does what is missing."""

from __future__ import annotations

import dataclasses

import pytest

from repsim.analyses.checkpoint_index import merge_index
from repsim.analyses.tables import read_table
from repsim.meta import TrainConfig
from repsim.study_runs import (
    StudyRun,
    analyse_run,
    checkpoint_index,
    draw_study,
    final_checkpoint,
    gather_tables,
    run_dir,
    train_run,
    with_seed,
)

BASE = TrainConfig(steps=2, meta_batch=2, val_tasks=4, val_every=2, checkpoint_every=2)


def _runs() -> list[StudyRun]:
    small = {"tasks": 6, "compare_tasks": 2}
    base = [
        StudyRun("maml", BASE, ("regimes", "interpolation", "conv4", "shots"), "baseline",
                 **small),
        StudyRun("anil", dataclasses.replace(BASE, algorithm="anil"),
                 ("regimes", "interpolation", "shots"), **small),
        StudyRun("random", dataclasses.replace(BASE, algorithm="random"), ("regimes",), **small),
        StudyRun("top2", dataclasses.replace(BASE, adapt_layers=2), ("interpolation",), **small),
        StudyRun("flat", dataclasses.replace(BASE, head_input="flatten"), ("conv4",),
                 "flatten before head", **small),
    ]
    return [with_seed(r, s) for s in (0, 1) for r in base]


@pytest.mark.slow
def test_study_runs_end_to_end_and_resume(tmp_path, shared_data_dir):
    root, runs = tmp_path / "root", _runs()
    # "interrupted": only the first half trained and analysed
    for run in runs[:5]:
        assert train_run(run, root, data_dir=shared_data_dir) is not None
        analyse_run(run, root, data_dir=shared_data_dir)
    stamps = {r.name: final_checkpoint(root, r).stat().st_mtime_ns for r in runs[:5]}
    analysis = {r.name: (run_dir(root, r) / "analysis" / "heads.json").stat().st_mtime_ns
                for r in runs[:5]}
    for run in runs:  # the rerun finishes the missing runs only
        train_run(run, root, data_dir=shared_data_dir)
        analyse_run(run, root, data_dir=shared_data_dir)
    for run in runs[:5]:
        assert final_checkpoint(root, run).stat().st_mtime_ns == stamps[run.name]
        assert (run_dir(root, run) / "analysis" / "heads.json").stat().st_mtime_ns == \
            analysis[run.name]
    assert final_checkpoint(root, runs[2]).name == "step_000000.pt"  # random: never trained

    files = gather_tables(root, runs, tmp_path / "tables")
    regimes, _ = read_table(files["regimes"])
    summary, _ = read_table(files["regimes_summary"])
    row = summary[(summary["regime"] == "MAML") & (summary["head"] == "nil")].iloc[0]
    per_seed = regimes[(regimes["regime"] == "MAML") & (regimes["head"] == "nil")
                       & (regimes["run"] == "maml")].sort_values("seed")["accuracy"].tolist()
    assert row.per_seed == pytest.approx(per_seed)
    assert row.seed_mean == pytest.approx(sum(per_seed) / 2)
    assert set(summary[summary["regime"] == "random"]["head"]) == {"nil"}  # no own head
    freezing, _ = read_table(files["interpolation_freezing_summary"])
    assert sorted(freezing[freezing["regime"] == "ANIL"]["n_frozen"]) == [0, 1, 2, 3, 4]
    conv4, _ = read_table(files["conv4_summary"])
    assert set(conv4["condition"]) == {"baseline", "flatten before head"}
    index = checkpoint_index(root, runs)
    assert len(index) == len(runs)
    maml0 = next(e for e in index if e["run"] == "maml" and e["seed"] == 0)
    assert maml0["steps"] == 2 and maml0["regime"] == "MAML"
    nil_row = next(f for f in maml0["figures"] if f["source"] == "heads" and f["head"] == "nil")
    assert nil_row["value"] == pytest.approx(per_seed[0]) and nil_row["test_seed"] == 0
    gap = next(f for f in maml0["figures"] if f["metric"] == "head_only_gap")
    assert gap["head"] == "own" and gap["frozen"] == ["conv1", "conv2", "conv3", "conv4"]
    # every entry is valid for checkpoints/index.json (each figure names its head/frozen layers)
    merge_index(tmp_path / "index.json", [{**e, "preset": "omniglot-5w1s"} for e in index])
    figures = draw_study(tmp_path / "tables", tmp_path / "figures")
    assert set(figures) == {"regimes", "interpolation", "shots", "conv4"}
    for png in figures.values():
        assert png.is_file() and png.with_suffix(".pdf").is_file()


def test_analyse_refuses_an_unfinished_run(tmp_path):
    run = StudyRun("maml", BASE, ("regimes",))
    with pytest.raises(ValueError, match="has not finished training"):
        analyse_run(run, tmp_path)


def test_the_long_tier_is_read_along_training_and_indexed_per_checkpoint(tmp_path,
                                                                        shared_data_dir):
    from repsim.study_runs import analyse_steps

    root, tables = tmp_path / "root", tmp_path / "tables"
    cfg = dataclasses.replace(BASE, checkpoint_every=1)  # checkpoints at steps 1 and 2
    small = {"tasks": 4, "compare_tasks": 2}
    runs = [with_seed(r, s) for s in (0, 1) for r in (
        StudyRun("maml-long", cfg, ("length",), "baseline", **small),
        StudyRun("nil-long", dataclasses.replace(cfg, algorithm="nil"), ("length",), **small))]
    for run in runs:
        train_run(run, root, data_dir=shared_data_dir)
        analyse_run(run, root, data_dir=shared_data_dir)
        done = analyse_steps(run, root, steps=(1, 2, 7), data_dir=shared_data_dir)
        assert sorted(done) == [1]  # 2 is the end (analyse_run's), 7 was never saved
        stems = {p.stem for p in done[1].values()}
        assert stems == ({"budget", "profile", "ablate"} if run.name == "maml-long"
                         else {"budget", "heads"})
    files = gather_tables(root, runs, tables)
    length = read_table(files["length_summary"])[0]
    # every headline quantity at both lengths, over both seeds
    for steps in (1, 2):
        row = length[(length["run"] == "maml-long") & (length["train_steps"] == steps)
                     & (length["quantity"] == "body_only_gain")]
        assert len(row) == 1 and int(row["n_seeds"].iloc[0]) == 2
        assert len(length[(length["run"] == "nil-long") & (length["train_steps"] == steps)
                          & (length["quantity"] == "nil_accuracy")]) == 1
    freezing = read_table(files["length_freezing_summary"])[0]
    assert set(freezing["train_steps"]) == {1, 2} and set(freezing["n_frozen"]) == set(range(5))
    budget = read_table(files["budget_summary"])[0]
    assert budget["detail_per_seed"].map(len).max() == 2  # the best reader of each seed
    entries = checkpoint_index(root, runs, along=True)
    along = [e for e in entries if e.get("along_training")]
    assert len(entries) == 8 and len(along) == 4 and {e["steps"] for e in along} == {1}
    assert {f["source"] for f in along[0]["figures"]} >= {"budget"}
    assert len(checkpoint_index(root, runs)) == 4  # without along: the ends only
    # the figures and the report's two new sections, from these tables alone
    from repsim.plots.study_report import write_study_report

    made = draw_study(tables, tmp_path / "figs")
    assert {"budget", "length"} <= set(made) and (tmp_path / "figs" / "length.pdf").is_file()
    report = write_study_report(tables, tmp_path / "figs").read_text()
    assert "## What only body adaptation buys" in report and "## Training length" in report
    assert "| maml-long | own-head accuracy |" in report  # the 1k-vs-end table, one row each
