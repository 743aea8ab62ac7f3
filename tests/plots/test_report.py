"""make_figures / write_report: every figure from a results directory, and a report linking them."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from repsim.plots import load_results, make_figures, read_index, write_report
from repsim.plots.paper import accuracy_table, freezing_table, timing_table

ALL_STEMS = ["accuracy", "similarity_inner_loop", "freezing", "similarity_checkpoints",
             "freezing_checkpoints", "timing", "similarity_between_models", "training_curves"]


@pytest.fixture(scope="module")
def made(results_factory) -> tuple[Path, list[Path], Path, Path]:
    root = results_factory("report")
    paths = make_figures(root)
    md, page = write_report(root)
    return root, paths, md, page


def test_every_figure_is_made_as_png_pdf_and_caption(made):
    """The synthetic directory holds every input, so every figure exists, in both formats."""
    root, paths, _, _ = made
    figures = root / "figures"
    for stem in ALL_STEMS:
        png, pdf = figures / f"{stem}.png", figures / f"{stem}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000
        assert png in paths and pdf in paths
    index = read_index(figures)
    assert [e["stem"] for e in index["figures"]] == ALL_STEMS and index["skipped"] == []
    assert not list(figures.glob("*.tmp")) and not list(figures.glob(".*"))


def test_captions_name_the_file_rows_digest_and_manifest(made):
    """Each caption says which file, how many of its rows, its sha256 and manifest made it."""
    root, _, _, _ = made
    res = load_results(root)
    for entry in read_index(root / "figures")["figures"]:
        text = (root / "figures" / entry["caption"]).read_text()
        for source in entry["sources"]:
            src = next(s for s in [*res.tables.values(), *res.runs.values()]
                       if s.path == root / source)
            assert f"`{source}`" in text and src.sha256[:12] in text
            assert re.search(rf"`{re.escape(source)}`: \d+ of {len(src.frame)} rows", text)
        if entry["sources"] != ["runs/anil/metrics.csv", "runs/maml/metrics.csv"]:
            assert "git 0123456789" in text and "dataset=miniimagenet" in text
    # compare.json holds two conv_mode values for some rows: the caption says which was kept
    caption = (root / "figures" / "similarity_inner_loop.caption.md").read_text()
    assert "`conv_mode`: kept ['pool'], left out ['flatten']" in caption


def test_accuracy_table_markdown_has_ours_beside_the_paper(made):
    """The markdown table puts 46.5 ± 0.8 (ours, from 0.465 ± 0.008) beside 46.9 ± 0.2."""
    root, _, _, _ = made
    text = (root / "figures" / "accuracy_table.md").read_text()
    assert "| MiniImageNet 5w1s | MAML | 46.5 ± 0.8 | 600 | 46.9 ± 0.2 |" in text
    assert "| MiniImageNet 5w1s | NIL | 47.8 ± 0.8 | 600 | 48.0 ± 0.7 |" in text


def test_report_markdown_links_every_figure(made):
    """report.md shows each PNG by relative path and links its PDF."""
    _, _, md, _ = made
    text = md.read_text()
    for stem in ALL_STEMS:
        assert f"](figures/{stem}.png)" in text and f"[PDF](figures/{stem}.pdf)" in text
    assert text.count("![Figure ") == len(ALL_STEMS)


def test_report_html_is_self_contained_and_embeds_every_figure(made):
    """Every PNG is embedded byte for byte as a data URI; nothing is fetched from elsewhere."""
    root, _, _, page = made
    text = page.read_text()
    for stem in ALL_STEMS:
        data = base64.b64encode((root / "figures" / f"{stem}.png").read_bytes()).decode()
        assert f'src="data:image/png;base64,{data}"' in text
    sources = re.findall(r'\bsrc="([^"]*)"', text)
    assert len(sources) == len(ALL_STEMS) and all(s.startswith("data:") for s in sources)
    assert "<link" not in text and "<script" not in text
    assert "<td>46.9 ± 0.2</td>" in text  # the paper's number beside ours
    assert text.count("<table>") == 5  # accuracy, similarity, freezing, timing, between models


def test_missing_inputs_are_skipped_with_a_reason(results_factory, tmp_path):
    """Only eval.json: one figure; the others are skipped, named in index.json and the report."""
    full = results_factory("partial")
    root = tmp_path / "only_eval"
    root.mkdir()
    shutil.copy(full / "eval.json", root / "eval.json")
    paths = make_figures(root, tmp_path / "figs")
    assert {p.name for p in paths if p.suffix == ".png"} == {"accuracy.png"}
    skipped = {e["stem"]: e["reason"] for e in read_index(tmp_path / "figs")["skipped"]}
    assert set(skipped) == set(ALL_STEMS) - {"accuracy"}
    assert skipped["similarity_between_models"] == ("`compare_models.json` is not in the "
                                                    "results directory")
    md, page = write_report(root, tmp_path / "figs", tmp_path / "out")
    text = md.read_text()
    # issue 21: one line for the sections whose inputs are absent, not a "skipped" note each
    assert "Figure *timing* skipped" not in text and "## ANIL vs MAML" not in text
    assert ("ANIL vs MAML: time per iteration (`timing.json` is not in the results directory)"
            in text.split("Not part of these results, for want of their input files: ")[1])
    assert "](../figs/accuracy.png)" in text
    assert page.read_text().count("data:image/png;base64,") == 1


def test_sinusoid_results_draw_mse_without_nil_or_paper(results_factory):
    """Regression results (mse, fc layers, no second model) still give their figures."""
    root = results_factory("sinusoid", sinusoid=True)
    make_figures(root)
    index = read_index(root / "figures")
    assert {e["stem"] for e in index["skipped"]} == {"similarity_between_models"}
    table = (root / "figures" / "accuracy_table.md").read_text()
    assert "| Sinusoid 10-shot | MAML | 0.4100 ± 0.0500 | 600 |" in table
    assert "paper" not in table.splitlines()[2]  # header row of the table: no paper column
    md, _ = write_report(root)
    text = md.read_text()
    assert "Table skipped" not in text and "| MAML | fc1–2 | 0.4660 ± 0.0080 |\n" in text
    # issue 21: a regression report speaks of MSE, not of accuracy in percent or of NIL
    assert "## Meta-test MSE: MAML and ANIL" in text and "shown in percent" not in text
    assert "Accuracy of MAML, ANIL and NIL" not in text
    assert "paper (%)" not in text.split("## Freezing")[1].split("##")[0]
    caption = (root / "figures" / "freezing.caption.md").read_text()
    assert "Test MSE" in caption and "accuracy" not in caption.split("Made by")[0]


def test_malformed_file_is_reported_not_raised(results_factory, tmp_path):
    """A corrupt or wrong table costs its figure only; the reason names the file."""
    full = results_factory("corrupt")
    root = tmp_path / "res"
    root.mkdir()
    shutil.copy(full / "eval.json", root / "eval.json")
    (root / "timing.json").write_text("{not json")
    data = json.loads((full / "ablate.json").read_text())
    for record in data["records"]:
        del record["frozen"]
    (root / "ablate.json").write_text(json.dumps(data))
    paths = make_figures(root, tmp_path / "figs")
    skipped = {e["stem"]: e["reason"] for e in read_index(tmp_path / "figs")["skipped"]}
    assert skipped["timing"].startswith("`timing.json` could not be read")
    assert "ablate: the table lacks column(s) ['frozen']" in skipped["freezing"]
    assert {p.name for p in paths if p.suffix == ".png"} == {"accuracy.png"}


def test_bad_results_dir_raises_clear_errors(tmp_path):
    """A missing folder and a folder without results are user errors, said plainly."""
    with pytest.raises(FileNotFoundError, match=r"results directory .* does not exist"):
        make_figures(tmp_path / "nope")
    with pytest.raises(ValueError, match=r"holds no repsim results: expected any of eval\.json"):
        make_figures(tmp_path)


def test_paper_tables_pair_our_rows_with_the_papers(made):
    """Freezing: Table 1 only beside MAML with the adapted head; timing: ratio of medians."""
    root, _, _, _ = made
    res = load_results(root)
    frozen = freezing_table(res.tables["ablate"].frame, ("miniimagenet", 5, 1))
    maml = frozen[frozen["model"] == "MAML"]
    assert maml["paper (%)"].tolist() == ["46.9", "46.5", "46.4", "46.3", "46.3"]
    assert set(frozen[frozen["model"] != "MAML"]["paper (%)"]) == {"–"}
    timing = timing_table(res.tables["timing"].frame)
    assert set(timing["MAML / ANIL"]) == {"1.70×", "4.10×"}
    acc = accuracy_table(res.tables["eval"].frame)
    assert acc["method"].tolist() == ["MAML", "ANIL", "NIL", "MAML body, NIL head"]


def test_timing_caption_speaks_of_dots_only_when_drawn(results_factory, tmp_path):
    """Issue 21: "dots = repeats" was written where one measurement per bar drew no dots."""
    from repsim.analyses.tables import read_table, write_table

    full = results_factory("timing_dots")
    make_figures(full)
    caption = (full / "figures" / "timing.caption.md").read_text()
    assert "dots = repeats" in caption  # three repeats per bar in the fixture
    root = tmp_path / "single"
    root.mkdir()
    frame, manifest = read_table(full / "timing.json")
    write_table(frame.drop_duplicates(["shape", "phase", "algorithm", "path"]), root / "timing",
                manifest=manifest)
    make_figures(root)
    caption = (root / "figures" / "timing.caption.md").read_text()
    assert "dots" not in caption and "one measurement per bar" in caption


def test_sweep_accuracy_figure_draws_every_seed(tmp_path):
    """Issue 21: a sweep's accuracy figure drew seed 0's row of each method (one row per point
    picked from eval.json); it now draws the mean ± std over seeds from eval_seeds.json."""
    from repsim.analyses.tables import write_table
    from repsim.sweep import seed_summary

    rows = pd.DataFrame([{"preset": "sinusoid", "dataset": "sinusoid", "ways": 1, "shots": 10,
                          "algorithm": a, "head": "adapted", "step": 20, "tasks": 10, "seed": s,
                          "mse": m + 0.1 * s, "ci95": 0.05}
                         for a, m in (("maml", 0.4), ("anil", 0.6)) for s in (0, 1, 2)])
    write_table(rows, tmp_path / "eval", manifest={})
    write_table(seed_summary(rows), tmp_path / "eval_seeds", manifest={})
    make_figures(tmp_path)
    caption = (tmp_path / "figures" / "accuracy.caption.md").read_text()
    assert "mean over training seeds (3 per bar" in caption
    assert "± 1 sample std over seeds" in caption
    md, _ = write_report(tmp_path)
    text = md.read_text()
    assert text.count("skipped") == 0  # absent sections are listed once, not noted one by one
    assert "Not part of these results, for want of their input files: " in text
