"""From a results directory to figures (:func:`make_figures`) and a report (:func:`write_report`).

Nothing is recomputed: every figure and table is drawn from the result files other stages wrote
(``eval.json``, ``compare.json``, ``ablate.json``, …, see :mod:`repsim.analyses.tables`). Any of
them may be missing; the figure that needs it is skipped, and the reason is recorded in
``index.json`` beside the figures and shown in the report, never raised. Each figure gets a
caption file (``<stem>.caption.md``) naming the file, the rows and the manifest that made it.

Longer than the ~400-line guide: loading, the figure recipes with their captions, and the
report's sections all turn on the same ``Results`` object and the same figure list (SPECS).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from repsim._csv import read_csv
from repsim._io import atomic_write_json, atomic_write_text
from repsim.analyses.tables import (
    ALGORITHM,
    DATASET,
    FROZEN,
    HEAD,
    LAYER,
    MEASURE,
    MODEL_A,
    MODEL_B,
    SHOTS,
    STEP,
    WAYS,
    read_table,
)
from repsim.plots import figures as F
from repsim.plots import paper
from repsim.plots.style import (
    Block,
    caption_path,
    markdown_table,
    render_html,
    render_markdown,
    save_figure,
    short_names,
)

__all__ = [
    "RESULT_FILES", "Results", "Source", "load_results", "make_figures", "read_index",
    "write_report",
]

#: Result kind → file name inside a results directory.
RESULT_FILES = {"eval": "eval.json", "compare": "compare.json",
                "compare_steps": "compare_steps.json", "compare_models": "compare_models.json",
                "ablate": "ablate.json", "ablate_steps": "ablate_steps.json",
                "timing": "timing.json", "eval_seeds": "eval_seeds.json"}
INDEX = "index.json"
#: Columns that identify one drawn point / table cell, per result kind (see figures.select_unique).
POINT_KEYS = {"eval": (DATASET, WAYS, SHOTS, ALGORITHM, HEAD),
              "compare": (ALGORITHM, LAYER, MEASURE),
              "compare_steps": (ALGORITHM, LAYER, MEASURE, STEP),
              "compare_models": (MEASURE, LAYER, MODEL_A, MODEL_B),
              "ablate": (ALGORITHM, HEAD, FROZEN), "ablate_steps": (ALGORITHM, HEAD, FROZEN, STEP)}


@dataclass(frozen=True)
class Source:
    """One result file: where it is, its rows, its manifest and a digest of its bytes."""

    path: Path
    frame: pd.DataFrame
    manifest: dict[str, Any]
    sha256: str


@dataclass(frozen=True)
class Results:
    """What a results directory holds: loaded tables, training metrics, and what is missing."""

    root: Path
    tables: dict[str, Source]  # kind → source, only for files that loaded
    runs: dict[str, Source]  # run name → runs/<name>/metrics.csv
    missing: dict[str, str] = field(default_factory=dict)  # kind → why it is not there

    def select(self, kind: str) -> tuple[pd.DataFrame, list[str]]:
        """One row per point of table ``kind`` (:func:`~repsim.plots.figures.select_unique`)."""
        return F.select_unique(self.tables[kind].frame, POINT_KEYS[kind], what=kind)

    def setting(self) -> paper.Setting | None:
        """The (dataset, ways, shots) of these results, from eval.json or any manifest config."""
        if "eval" in self.tables:
            frame = self.tables["eval"].frame
            if {DATASET, WAYS, SHOTS} <= set(frame) and len(
                    frame[[DATASET, WAYS, SHOTS]].drop_duplicates()) == 1:
                row = frame.iloc[0]
                return (str(row[DATASET]).lower(), int(row[WAYS]), int(row[SHOTS]))
        for source in self.tables.values():
            for cfg in (source.manifest.get("config") or {}, source.manifest):
                if isinstance(cfg, dict) and {"dataset", "ways", "shots"} <= set(cfg):
                    return (str(cfg["dataset"]).lower(), int(cfg["ways"]), int(cfg["shots"]))
        return None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_results(results_dir: str | Path) -> Results:
    """Read every known result file in ``results_dir``; record why any is absent or unusable.

    Raises
    ------
    FileNotFoundError
        ``results_dir`` is not a directory.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"results directory {root} does not exist; pass the folder that "
                                f"holds {', '.join(RESULT_FILES.values())}")
    tables, missing = {}, {}
    for kind, name in RESULT_FILES.items():
        path = root / name
        if not path.is_file():
            missing[kind] = f"`{name}` is not in the results directory"
            continue
        try:
            frame, manifest = read_table(path)
        except ValueError as exc:
            missing[kind] = f"`{name}` could not be read: {exc}"
            continue
        if frame.empty:
            missing[kind] = f"`{name}` has no rows"
            continue
        if FROZEN in frame:  # JSON lists → tuples, so rows can be grouped and compared
            frame[FROZEN] = frame[FROZEN].map(lambda f: tuple(f) if isinstance(f, list) else ())
        tables[kind] = Source(path, frame, manifest, _digest(path))
    runs = {}
    for path in sorted(root.glob("runs/*/metrics.csv")):
        try:
            runs[path.parent.name] = Source(path, read_csv(path), {}, _digest(path))
        except (ValueError, pd.errors.ParserError) as exc:
            missing[f"runs/{path.parent.name}"] = f"`{path}` could not be read: {exc}"
    if not runs:
        missing["runs"] = "no `runs/<algorithm>/metrics.csv` in the results directory"
    return Results(root, tables, runs, missing)


# --- one drawing recipe per figure: select rows → figure function → description -------------

Drawn = tuple[Any, str, list[str], dict[str, int]]  # figure, description, notes, rows used


@dataclass(frozen=True)
class _Spec:
    stem: str
    title: str
    inputs: tuple[str, ...]  # result kinds ("runs" = training metrics)
    draw: Callable[[Results], Drawn]


def _regression(res: Results) -> bool:
    """Whether these results are a regression study (MSE, no accuracy, no NIL head)."""
    frames = [res.tables[k].frame for k in ("eval", "ablate") if k in res.tables]
    if frames:
        return all("mse" in f and "accuracy" not in f for f in frames)
    setting = res.setting()
    return setting is not None and setting[0] == "sinusoid"


_REGRESSION_TITLES = {"accuracy": "Meta-test MSE of MAML and ANIL"}


def _titled(spec: _Spec, res: Results) -> _Spec:
    """``spec`` with a title that fits the results (no accuracy or NIL for regression)."""
    if _regression(res) and spec.stem in _REGRESSION_TITLES:
        return dataclasses.replace(spec, title=_REGRESSION_TITLES[spec.stem])
    return spec


def _score(frame: pd.DataFrame) -> str:
    return ("Test accuracy (%, 95% CI over tasks)" if "accuracy" in frame else
            "Test MSE (95% CI over tasks; regression)")


def _draw_similarity(res: Results) -> Drawn:
    frame, notes = res.select("compare")
    desc = ("Similarity of each layer's representation of the same inputs through θ (before "
            "the inner loop) and θ′ (after it). Bars: mean over tasks with 95% CI; black "
            "segments: noise baseline (unrelated representations) with its 95% CI. Paper: "
            "conv1–conv4 CCA > 0.9 and CKA ≈ 1, head CCA < 0.5 (feature reuse).")
    return F.similarity_inner_loop(frame), desc, notes, {"compare": len(frame)}


def _draw_freezing(res: Results) -> Drawn:
    frame, notes = res.select("ablate")
    setting = res.setting()
    ref = paper.FREEZING.get(setting) if setting else None
    label = f"paper, MAML, {paper.setting_label(*setting)}" if ref and setting else "paper"
    desc = (f"{_score(frame)} when the first layers are frozen in the "
            "test-time inner loop. " + ("Crosses: Table 1 of the paper." if ref else
                                        "The paper has no freezing numbers for this setting."))
    return F.freezing(frame, paper=ref, paper_label=label), desc, notes, {"ablate": len(frame)}


def _draw_similarity_steps(res: Results) -> Drawn:
    frame, notes = res.select("compare_steps")
    desc = ("θ vs θ′ similarity per layer at several training checkpoints (mean, 95% CI). "
            "Paper: the body barely changes in the inner loop from early in training on.")
    return F.similarity_checkpoints(frame), desc, notes, {"compare_steps": len(frame)}


def _draw_freezing_steps(res: Results) -> Drawn:
    frame, notes = res.select("ablate_steps")
    desc = (f"{_score(frame)} with layers frozen at test time, per training checkpoint. "
            "Paper: freezing costs little at 10k, 20k and 30k iterations already.")
    return F.freezing_checkpoints(frame), desc, notes, {"ablate_steps": len(frame)}


def _draw_accuracy(res: Results) -> Drawn:
    evals = res.tables["eval"].frame
    if "eval_seeds" in res.tables and "seed" in evals and evals["seed"].nunique() > 1:
        # a sweep: every seed's rows are in eval.json; draw their mean ± std (eval_seeds), not
        # one seed's row per point (issue 21: the sweep figure drew seed 0 only)
        seeds = res.tables["eval_seeds"].frame
        metric = str(seeds["metric"].iloc[0]) if "metric" in seeds else "accuracy"
        frame = seeds.rename(columns={"mean": metric, "std": "ci95"})
        counts = sorted({int(n) for n in seeds["n_seeds"]}) if "n_seeds" in seeds else []
        desc = (f"Meta-test {'accuracy (%)' if metric == 'accuracy' else 'MSE'} of each method: "
                f"mean over training seeds ({'/'.join(map(str, counts))} per bar, from "
                "eval_seeds.json), error bars ± 1 sample std over seeds (the paper's "
                "convention; none with one seed); each seed's row with its 95% CI over test "
                "tasks is in eval.json.")
        return (F.accuracy(frame, spread="std over seeds"), desc, [],
                {"eval": len(evals), "eval_seeds": len(frame)})
    frame, notes = res.select("eval")
    desc = ("Meta-test accuracy (%) of MAML, ANIL and NIL (ANIL-trained body, no head, cosine "
            "vote) with 95% CI over test tasks; hatched: the paper (± std over 3 seeds). Stored "
            "as fractions, shown in percent." if "accuracy" in frame else
            "Meta-test MSE of MAML and ANIL with 95% CI over test tasks (regression; the paper "
            "reports no numbers for it).")
    return F.accuracy(frame), desc, notes, {"eval": len(frame)}


def _draw_timing(res: Results) -> Drawn:
    frame = res.tables["timing"].frame
    # F.timing draws a dot per repeat only where a bar has several: say "dots" only then.
    keys = [k for k in ("shape", "path", "phase", ALGORITHM) if k in frame]
    repeats = bool(keys) and bool(frame.duplicated(subset=keys).any())
    desc = ("Time per iteration (ms; " + ("bar = median, dots = repeats" if repeats else
                                         "one measurement per bar") + ") of MAML and ANIL in "
            "training and inference; above each group the ratio MAML / ANIL. Paper: ANIL is "
            "1.7× faster per training and 4.1× per inference iteration on average.")
    return F.timing(frame, paper=paper.SPEEDUP), desc, [], {"timing": len(frame)}


def _draw_between(res: Results) -> Drawn:
    frame, notes = res.select("compare_models")
    desc = ("Similarity of the same inputs' representations in two different models, per layer "
            "and model pair. Paper (body layers averaged): CCA ≈ 0.5, CKA ≈ 0.83–0.86.")
    short = short_names([*frame[MODEL_A], *frame[MODEL_B]])
    if any(k != v for k, v in short.items()):
        desc += " Models: " + "; ".join(f"{v} = `{k}`" for k, v in short.items()) + "."
    return F.similarity_between_models(frame), desc, notes, {"compare_models": len(frame)}


def _draw_curves(res: Results) -> Drawn:
    frames = {name: src.frame for name, src in res.runs.items()}
    metric = "MSE" if all("accuracy" not in f for f in frames.values()) else "accuracy (%)"
    desc = (f"Meta-training loss and train/validation {metric} (validation with 95% CI) "
            "against the training iteration, per run.")
    return F.training_curves(frames), desc, [], {f"runs/{n}": len(f) for n, f in frames.items()}


SPECS = (
    _Spec("accuracy", "Accuracy of MAML, ANIL and NIL", ("eval",), _draw_accuracy),
    _Spec("similarity_inner_loop", "Similarity before vs after the inner loop", ("compare",),
          _draw_similarity),
    _Spec("freezing", "Freezing layers at test time", ("ablate",), _draw_freezing),
    _Spec("similarity_checkpoints", "Inner-loop similarity across training checkpoints",
          ("compare_steps",), _draw_similarity_steps),
    _Spec("freezing_checkpoints", "Freezing across training checkpoints", ("ablate_steps",),
          _draw_freezing_steps),
    _Spec("timing", "ANIL vs MAML time per iteration", ("timing",), _draw_timing),
    _Spec("similarity_between_models", "Similarity between models", ("compare_models",),
          _draw_between),
    _Spec("training_curves", "Training curves", ("runs",), _draw_curves),
)


def _manifest_summary(manifest: dict[str, Any]) -> str:
    cfg = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    parts = [f"{k}={manifest[k]}" for k in ("created", "seed") if manifest.get(k) is not None]
    if manifest.get("git_sha"):
        parts.append(f"git {str(manifest['git_sha'])[:10]}")
    version = (manifest.get("versions") or {}).get("repsim")
    parts += [f"repsim {version}"] if version else []
    parts += [f"{k}={cfg[k]}" for k in ("algorithm", "dataset", "ways", "shots", "steps")
              if k in cfg]
    return ", ".join(parts) if parts else "no manifest"


def _manifest_details(manifest: dict[str, Any]) -> list[str]:
    """What a compare/ablate manifest says the reader must know: baseline, refusals, warnings."""
    lines = []
    baseline = manifest.get("baseline")
    if isinstance(baseline, dict) and baseline.get("description"):
        lines.append(f"noise baseline: {baseline['description']}")
    choice = manifest.get("measure_choice")
    for layer, plan in list(choice.items())[:8] if isinstance(choice, dict) else []:
        if isinstance(plan, dict) and plan.get("reason"):
            lines.append(f"measures at {layer}: {', '.join(plan.get('measures', []))} "
                         f"({plan['reason']})")
    for item in (manifest.get("skipped") or [])[:8]:
        if isinstance(item, dict):
            lines.append(f"not computed: {item.get('measure')} at {item.get('layer')}: "
                         f"{item.get('reason')}")
    lines += [str(w) for w in (manifest.get("warnings") or [])[:5]]
    lines += [str(n) for n in (manifest.get("notes") or [])[:5]]
    return lines


def _sources_of(res: Results, spec: _Spec) -> list[tuple[str, Source]]:
    if spec.inputs == ("runs",):
        return [(f"runs/{name}", src) for name, src in res.runs.items()]
    return [(kind, res.tables[kind]) for kind in spec.inputs]


def _caption(res: Results, spec: _Spec, desc: str, notes: list[str], rows: dict[str, int]) -> str:
    lines = [f"**{spec.title}.** {desc}",
             "", "Made by `repsim figures` from:"]
    for key, src in _sources_of(res, spec):
        rel = src.path.relative_to(res.root).as_posix()
        lines.append(f"- `{rel}`: {rows.get(key, len(src.frame))} of {len(src.frame)} rows; "
                     f"sha256 {src.sha256[:12]}; manifest: {_manifest_summary(src.manifest)}")
    details = [d for _, src in _sources_of(res, spec) for d in _manifest_details(src.manifest)]
    if details:
        lines += ["", "From the manifest:", *(f"- {d}" for d in dict.fromkeys(details))]
    if notes:
        lines += ["", "Rows selected (one per drawn point):", *(f"- {n}" for n in notes)]
    return "\n".join(lines)


def make_figures(results_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Draw every figure the results directory allows; skip (with a reason) the others.

    Parameters
    ----------
    results_dir : str or Path
        Folder with result files (``eval.json``, ``compare.json``, …, ``runs/*/metrics.csv``).
    out_dir : str or Path, optional
        Where figures go; default ``results_dir/figures``.

    Returns
    -------
    list of Path
        The files written: for each figure ``<stem>.png``, ``<stem>.pdf`` and
        ``<stem>.caption.md``; ``accuracy_table.md`` when ``eval.json`` exists; and
        ``index.json`` (figures made, figures skipped and why; see :func:`read_index`).

    Raises
    ------
    FileNotFoundError
        ``results_dir`` does not exist.
    ValueError
        ``results_dir`` holds none of the known result files.
    """
    res = load_results(results_dir)
    if not res.tables and not res.runs:
        raise ValueError(f"{res.root} holds no repsim results: expected any of "
                         f"{', '.join(RESULT_FILES.values())} or runs/<name>/metrics.csv")
    out = Path(out_dir) if out_dir is not None else res.root / "figures"
    written: list[Path] = []
    index: dict[str, Any] = {"results_dir": str(res.root), "figures": [], "skipped": []}
    for spec in (_titled(spec, res) for spec in SPECS):
        absent = [k for k in spec.inputs if k not in res.tables and k != "runs"]
        if absent or (spec.inputs == ("runs",) and not res.runs):
            reason = "; ".join(res.missing.get(k, f"{k} missing") for k in absent or ["runs"])
            index["skipped"].append({"stem": spec.stem, "title": spec.title, "reason": reason})
            continue
        try:
            fig, desc, notes, rows = spec.draw(res)
        except (ValueError, KeyError, TypeError) as exc:  # a malformed table: say so, go on
            index["skipped"].append({"stem": spec.stem, "title": spec.title,
                                     "reason": f"{type(exc).__name__}: {exc}"})
            continue
        caption = _caption(res, spec, desc, notes, rows)
        paths = save_figure(fig, out / spec.stem, caption=caption)
        written += [*paths, caption_path(out / spec.stem)]
        index["figures"].append({"stem": spec.stem, "title": spec.title,
                                 "png": paths[0].name, "pdf": paths[1].name,
                                 "caption": caption_path(out / spec.stem).name,
                                 "sources": [s.path.relative_to(res.root).as_posix()
                                             for _, s in _sources_of(res, spec)]})
    if "eval" in res.tables:
        table = paper.accuracy_table(res.tables["eval"].frame)
        text = ("Meta-test MSE (lower is better): ours, 95% CI over test tasks; the paper "
                "reports no regression numbers." if _regression(res) else
                "Meta-test accuracy: ours (95% CI over test tasks) and the paper "
                f"(± std over 3 seeds; {paper.SOURCE}).") + f"\n\n{markdown_table(table)}"
        written.append(atomic_write_text(out / "accuracy_table.md", text))
    written.append(atomic_write_json(out / INDEX, index))
    return written


def read_index(figures_dir: str | Path) -> dict[str, Any]:
    """The ``index.json`` :func:`make_figures` left in ``figures_dir`` (empty lists if none)."""
    import json

    path = Path(figures_dir) / INDEX
    if not path.is_file():
        return {"figures": [], "skipped": []}
    return json.loads(path.read_text())


# --- the report: sections of (claim, tables, figures) rendered to markdown and HTML -----------

_SECTIONS: tuple[tuple[str, str, tuple[str, ...], Callable[[Results], pd.DataFrame] | None,
                       str], ...] = (
    ("Meta-test accuracy: MAML, ANIL, NIL",
     "Paper: ANIL matches MAML and NIL (no head at test) is equal or better (Tables 2–3).",
     ("accuracy",), lambda r: paper.accuracy_table(r.select("eval")[0]), "eval"),
    ("Over seeds: mean ± std",
     "Each preset and method trained with several seeds (`repsim sweep`): the meta-test metric "
     "averaged over seeds, ± the sample std over seeds (the paper's convention); the per-seed "
     "rows are in eval.json.",
     (), lambda r: paper.seeds_table(r.tables["eval_seeds"].frame), "eval_seeds"),
    ("Similarity before vs after the inner loop",
     "Paper: conv1–conv4 CCA > 0.9 and CKA ≈ 1; the head changes a lot (CCA < 0.5). Cells: "
     "mean ± 95% CI [noise baseline].",
     ("similarity_inner_loop",), lambda r: paper.similarity_table(r.select("compare")[0]),
     "compare"),
    ("Freezing layers at test time",
     "Paper (MiniImageNet 5w1s): 46.9 with nothing frozen, 46.3 with all four conv layers "
     "frozen; 5w5s 63.1 → 61.0.",
     ("freezing",), lambda r: paper.freezing_table(r.select("ablate")[0], r.setting()),
     "ablate"),
    ("Feature reuse across training",
     "Paper: the same picture at 10k, 20k and 30k iterations: feature reuse happens early.",
     ("similarity_checkpoints", "freezing_checkpoints"), None, ""),
    ("ANIL vs MAML: time per iteration",
     "Paper: ANIL is 1.7× faster per training iteration and 4.1× per inference iteration.",
     ("timing",), lambda r: paper.timing_table(r.tables["timing"].frame), "timing"),
    ("Similarity between models",
     "Paper (different seeds / algorithms, body layers averaged): CCA ≈ 0.5, CKA ≈ 0.83–0.86.",
     ("similarity_between_models",),
     lambda r: paper.between_models_table(r.select("compare_models")[0]), "compare_models"),
    ("Training curves", "", ("training_curves",), None, ""),
)


_REGRESSION_SECTION = (
    "Meta-test MSE: MAML and ANIL",
    "Paper (classification, Tables 2–3): ANIL matches MAML. Here the task is regression: "
    "lower MSE is better, and the NIL head (a vote over class labels) does not exist.")


def _figure_entry(figures_dir: Path, index: dict[str, Any], stem: str) -> dict[str, Any] | None:
    listed = {e["stem"]: e for e in index.get("figures", [])}
    entry = dict(listed.get(stem) or {"stem": stem, "png": f"{stem}.png", "pdf": f"{stem}.pdf",
                                      "title": stem.replace("_", " ")})
    png = figures_dir / entry["png"]
    if not png.is_file():
        return None
    cap = caption_path(figures_dir / stem)
    entry.update(png_path=png, pdf_path=figures_dir / entry.get("pdf", f"{stem}.pdf"),
                 caption_text=cap.read_text() if cap.is_file() else "")
    return entry


def _blocks(res: Results, figures_dir: Path) -> list[Block]:
    index = read_index(figures_dir)
    skipped = {e["stem"]: e["reason"] for e in index.get("skipped", [])}
    setting = res.setting()
    regression = _regression(res)
    blocks: list[Block] = [
        ("h1", "Rapid learning or feature reuse? Reproduction report"),
        ("p", f"Results: `{res.root}`" + (f"; setting: {paper.setting_label(*setting)}"
                                          if setting else "") + f". Reference: {paper.SOURCE}. "
         + ("The task is regression: results are mean squared errors (lower is better) with "
            "a 95% CI over test tasks; there is no accuracy and no NIL head, and the paper "
            "reports no numbers for it." if regression else
            "Accuracies are stored as fractions and shown in percent; ours carry a 95% CI "
            "over test tasks, the paper's a std over 3 seeds.")),
    ]
    sources = [f"- `{s.path.relative_to(res.root).as_posix()}`: {len(s.frame)} rows; "
               f"manifest: {_manifest_summary(s.manifest)}"
               for s in [*res.tables.values(), *res.runs.values()]]
    blocks.append(("p", "Result files used:\n" + "\n".join(sources)))
    number = 0
    # A section whose every figure lacks its input files, with no table, is not part of these
    # results (a sweep has no compare/ablate/timing): one line lists them, not a note each.
    absent = {spec.stem for spec in SPECS
              if any(k not in res.tables for k in spec.inputs if k != "runs")
              or (spec.inputs == ("runs",) and not res.runs)}
    left_out = []
    for title, claim, stems, table, needs in _SECTIONS:
        if not stems and needs not in res.tables:  # a table-only section with no table
            continue
        if stems and set(stems) <= absent and (table is None or needs not in res.tables):
            reasons = dict.fromkeys(skipped.get(stem, "input missing") for stem in stems)
            left_out.append(f"{title} ({'; '.join(reasons)})")
            continue
        if regression and stems == ("accuracy",):
            title, claim = _REGRESSION_SECTION
        blocks.append(("h2", title))
        if claim:
            blocks.append(("p", claim))
        if table is not None and needs in res.tables:
            try:
                blocks.append(("table", table(res)))
            except (ValueError, KeyError, TypeError) as exc:
                blocks.append(("note", f"Table skipped: {type(exc).__name__}: {exc}"))
            blocks += [("note", text) for text in
                       paper.table_notes(needs, res.tables[needs].frame)]
        for stem in stems:
            entry = _figure_entry(figures_dir, index, stem)
            if entry is None:
                why = skipped.get(stem, "not found in the figures directory (run "
                                  "`repsim figures` first)")
                blocks.append(("note", f"Figure *{stem}* skipped: {why}."))
                continue
            number += 1
            blocks.append(("figure", {**entry, "number": number}))
    if left_out:
        blocks.append(("p", "Not part of these results, for want of their input files: "
                       + "; ".join(left_out) + "."))
    return blocks


def write_report(results_dir: str | Path, figures_dir: str | Path | None = None,
                 out_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and a self-contained ``report.html`` (figures embedded as base64).

    Parameters
    ----------
    results_dir : str or Path
        The results directory the figures were made from (its tables fill the report's tables).
    figures_dir : str or Path, optional
        Where :func:`make_figures` wrote; default ``results_dir/figures``.
    out_dir : str or Path, optional
        Where the report goes; default ``results_dir``. ``report.md`` links the figures by
        relative path; ``report.html`` needs no other file.

    Returns
    -------
    (Path, Path)
        ``report.md`` and ``report.html``.

    Raises
    ------
    FileNotFoundError
        ``results_dir`` does not exist.
    """
    res = load_results(results_dir)
    figures = Path(figures_dir) if figures_dir is not None else res.root / "figures"
    out = Path(out_dir) if out_dir is not None else res.root
    blocks = _blocks(res, figures)
    md = atomic_write_text(out / "report.md", render_markdown(blocks, out))
    page = atomic_write_text(out / "report.html", render_html(blocks))
    return md, page
