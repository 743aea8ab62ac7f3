"""``report.md`` of a study (issue 9): every table with its figure, steps, compute and reading.

Drawn from the tables :func:`repsim.study_report.study_report` left in ``tables/`` (seed
summaries, ``runs.json``) and the figures beside them; nothing is computed here but display
strings. A question whose table is absent is marked *not run*, with the runs planned or started
for it; a question with unfinished runs says which; the reading sentences come from
:mod:`repsim.analyses.study_readings`, so they follow the numbers (and say "not concluded" with
fewer than 2 seeds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from repsim._io import atomic_write_text
from repsim.analyses import budget_readings as BR
from repsim.analyses import study_readings as R
from repsim.analyses.multiple import collecting
from repsim.analyses.tables import read_table, write_table
from repsim.plots import budget as PB
from repsim.plots.paper import BETWEEN_MODELS, SOURCE, TABLE5
from repsim.plots.style import Block, caption_path, render_html, render_markdown

__all__ = ["display_table", "number", "write_study_report"]

_PCT = {"accuracy", "head_only_accuracy", "nil_accuracy", "head_only_gap"}


def number(value: float, scale: float) -> str:
    """A value as the report prints it: percent / points with 1 decimal, similarity with 3."""
    return f"{scale * value:.1f}" if scale == 100.0 else f"{value:.3f}"


def _scale_of(row: Any) -> float:
    quantity = row.get("quantity") if hasattr(row, "get") else None
    if quantity is None or (isinstance(quantity, float) and math.isnan(quantity)):
        return 100.0 if row.get("summarised") == "accuracy" else 1.0
    return 100.0 if quantity in _PCT else 1.0


def display_table(summary: pd.DataFrame, keys: Sequence[str],
                  extra: Callable[[Any], dict[str, Any]] | None = None, *,
                  scale: float | None = None) -> pd.DataFrame:
    """Seed summary → display rows: keys, mean ± std, n_seeds, steps, per-seed values (CIs).

    Accuracies and gaps in percent (points), similarities as they are (``scale`` forces one).
    """
    rows = []
    for row in summary.to_dict("records"):
        scale_ = scale or _scale_of(row)
        std = row["seed_std"]
        text = number(row["seed_mean"], scale_)
        if std is not None and math.isfinite(std):
            text += f" ± {number(std, scale_)}"
        cis = row.get("per_seed_ci95") or [None] * len(row["per_seed"])
        per_seed = "; ".join(
            f"s{s}: {number(v, scale_)}" + ("" if c is None or not math.isfinite(c) else
                                            f" ± {number(c, scale_)}")
            for s, v, c in zip(row["seeds"], row["per_seed"], cis, strict=True))
        cells = {k: ("" if row.get(k) is None or (isinstance(row.get(k), float)
                                                   and math.isnan(row[k])) else row[k])
                 for k in keys}
        cells.update({"mean ± std over seeds": text, "n_seeds": int(row["n_seeds"]),
                      "steps": ",".join(str(s) for s in row.get("steps") or []) or "?",
                      "per seed (± 95% CI over tasks)": per_seed})
        if extra is not None:
            cells.update(extra(row))
        rows.append(cells)
    return pd.DataFrame(rows)


def _paper_table5(row: Any) -> dict[str, Any]:
    ref = TABLE5.get(row["regime"], {}) if row["head"] == "nil" else {}
    return {"paper MiniImageNet 5w1s": ref.get(("miniimagenet", 5, 1), "–"),
            "paper MiniImageNet 5w5s": ref.get(("miniimagenet", 5, 5), "–")}


def _between_table(summary: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for row in summary.to_dict("records"):
        measure = str(row["measure"])
        ref = BETWEEN_MODELS.get(measure)  # the paper reports linear CKA and mean CCA
        std = row["pair_std"]
        rows.append({"models": row["kind"], "measure": measure,
                     "mean ± std over pairs": f"{row['pair_mean']:.3f}" + (
                         f" ± {std:.3f}" if std is not None and math.isfinite(std) else ""),
                     "pairs": int(row["n_pairs"]),
                     "per pair": "; ".join(f"{p}: {v:.3f}" for p, v in
                                           zip(row["pairs"], row["per_pair"], strict=True)),
                     "paper": "–" if ref is None else f"{ref[0]:g}" + (
                         f"-{ref[1]:g}" if ref[1] != ref[0] else "")})
    return pd.DataFrame(rows)


#: question → (title, question and the paper's claim, tables (stem, keys, extra), figures)
_SECTIONS: tuple[tuple[str, str, str, tuple[tuple[str, tuple[str, ...], Any], ...],
                       tuple[str, ...]], ...] = (
    ("seeds", "MAML and ANIL over seeds",
     "Accuracy with the model's own head (full test-time inner loop), with the head alone "
     "adapted (body frozen at test), with the NIL head, and the head-only gap (a per-task paired "
     "difference), plus θ vs θ′ linear CKA per layer. The paper: ANIL matches MAML and the "
     "body barely changes in the inner loop (feature reuse), so the head-only gap should be "
     "near 0.",
     (("seeds_summary", ("regime", "quantity", "layer"), None),), ("seeds",)),
    ("between", "Similarity between independently trained models",
     "Body layers averaged, models of different seeds only (a MAML and an ANIL run of one seed "
     "share their initialisation). The paper: CCA ≈ 0.5, CKA ≈ 0.83-0.86.", (), ("between_seeds",)),
    ("regimes", "Body-training regimes (the paper's Table 5)",
     "Every body tested with the NIL head and, where it has one, its own head. The paper's "
     "numbers are MiniImageNet (NIL head): compare the order of the regimes, not the values.",
     (("regimes_summary", ("regime", "head"), _paper_table5),), ("regimes",)),
    ("interpolation", "Between rapid learning and feature reuse (top-k, BOIL)",
     "Top-k MAML adapts only the top k layers in the inner loop (k = 1 is ANIL, k = 5 MAML); "
     "BOIL adapts the body with the head frozen. For each: accuracy, θ vs θ′ per layer, and "
     "the freezing curve (conv1..k frozen at test).",
     (("interpolation_accuracy_summary", ("regime",), None),
      ("interpolation_similarity_summary", ("regime", "layer", "measure"), None),
      ("interpolation_freezing_summary", ("regime", "n_frozen"), None)), ("interpolation",)),
    ("shots", "Medium shot (and 5 vs 20 ways)",
     "Does conv4's adaptation and the head-only gap shrink or grow with shots? (Omniglot has "
     "20 drawings per character, so shots + query ≤ 20: 15 shots is the largest.) Runs of "
     "different training lengths (`train_steps`; a run capped for compute and runs trained as "
     "long as it) are read apart, never compared with each other.",
     (("shots_summary", ("train_steps", "algorithm", "ways", "shots", "inner", "meta_batch",
                        "quantity", "layer"), None),),
     ("medium_shot",)),
    ("conv4", "Why conv4 adapts on Omniglot: controlled conditions",
     "One factor changed per run against the baseline MAML: what happens to conv4's θ vs θ′ "
     "CKA and to the head-only gap?",
     (("conv4_summary", ("condition", "quantity", "layer"), None),), ("conv4_investigation",)),
    ("budget", "What only body adaptation buys: the adaptation budget",
     "The head-only gap mixes two things: the body must change for the task, and a head that "
     "starts in the wrong place cannot catch up in the trained number of steps. On the same "
     "600 test tasks, every reader that keeps θ's body is asked how well it can do: (b) the "
     "head alone adapted for the trained steps, (c) for 10, 50 and 200 steps, (d) the NIL and "
     "prototype heads, (e) a logistic-regression probe fit on the support set's θ features; "
     "against (a) the trained inner loop, (f) the same probe on θ′'s features and (g) conv4 + "
     "head adapted alone. *Body-only gain* = (a) − the best of (b)-(e): what only adapting the "
     "body buys. *Probe gain* = (f) − (e): how much the inner loop improves the features for a "
     "reader free of any trained head. Both with their 95% CI over seeds (points).",
     (("budget_summary", (), None),), ("budget",)),
    ("length", "Training length: 1k against 10k steps, and feature reuse along training",
     "The long tier trains the headline runs 10× longer (10,000 meta-iterations; the paper "
     "trains 40-60k) and keeps the checkpoints at 1k, 2k and 5k: each quantity is read at each "
     "length on the same runs, so the change with length is paired over seeds. The paper's "
     "claim 3 (feature reuse happens early) is the similarity and freezing curves over "
     "training.",
     (("length_summary", (), None), ("length_freezing_summary", (), None)), ("length",)),
)
#: sections whose tables are one wide row per run, not the generic seed-summary display
_WIDE = {"budget_summary": lambda t: PB.budget_table(t["budget_summary"]),
         "length_summary": lambda t: PB.length_table(t["length_summary"]),
         "length_freezing_summary": lambda t: PB.freezing_table(t["length_freezing_summary"])}
_BETWEEN_STEM = "between_seeds_summary"


def _load(tables: Path, stem: str) -> pd.DataFrame | None:
    path = tables / f"{stem}.json"
    if not path.is_file():
        return None
    frame = read_table(path)[0]
    return None if frame.empty else frame


def _readings(question: str, t: dict[str, pd.DataFrame | None]) -> list[str]:
    if question == "seeds":
        return R.read_seeds(t["seeds_summary"])
    if question == "between":
        return R.read_between(t[_BETWEEN_STEM], dict(BETWEEN_MODELS))
    if question == "regimes":
        return R.read_regimes(t["regimes_summary"], {r: v[("miniimagenet", 5, 1)]
                                                     for r, v in TABLE5.items()})
    if question == "interpolation":
        return R.read_interpolation(t["interpolation_accuracy_summary"],
                                    t["interpolation_similarity_summary"],
                                    t["interpolation_freezing_summary"])
    if question == "shots":
        return [*R.read_shots(t["shots_summary"], t.get("conv4_summary")), _GAP_CAVEAT]
    if question == "budget":
        return BR.read_budget(t["budget_summary"])
    if question == "length":
        return BR.read_length(t["length_summary"])
    return [*R.read_conv4(t["conv4_summary"]), _GAP_CAVEAT]


_GAP_CAVEAT = ("The head-only gap is not by itself evidence that the body must change: the "
               "adaptation-budget section below separates what only body adaptation buys from "
               "what a head-side reader on θ's body recovers.")


def _missing(runs: pd.DataFrame | None, question: str) -> list[str]:
    if runs is None:
        return []
    group = "seeds" if question == "between" else question
    part = runs[runs["groups"].str.split(",").map(lambda g: group in g)
                & (runs["status"] != "analysed")]
    out = []
    for (run, status), rows in part.groupby(["run", "status"], sort=True):
        seeds = sorted(int(s) for s in rows["seed"])
        out.append(f"{run} seed{'s' if len(seeds) > 1 else ''} "
                   f"{', '.join(map(str, seeds))} ({status})")
    return out


def _single_seed(summary: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """The groups of a summary resting on one seed (one model pair), named by ``keys``."""
    count = "n_pairs" if "n_pairs" in summary else "n_seeds"
    rows = summary[summary[count] < 2]
    first = [k for k in keys if k in rows][:1]  # e.g. the regime: one name per run
    names = rows[first[0]].astype(str) if first else pd.Series([], dtype=str)
    return list(dict.fromkeys(names))


def _figure(out: Path, stem: str, number_: int) -> Block | None:
    png, pdf = out / f"{stem}.png", out / f"{stem}.pdf"
    if not png.is_file():
        return None
    cap = caption_path(out / stem)
    return ("figure", {"stem": stem, "title": stem.replace("_", " "), "number": number_,
                       "png_path": png, "pdf_path": pdf,
                       "caption_text": cap.read_text() if cap.is_file() else ""})


def _compute(runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    rows = []
    for name, part in runs.groupby("run", sort=True):
        first = part.iloc[0]
        done = part[part["status"] == "analysed"]
        hours = part["train_hours"].dropna()
        rows.append({"run": name, "regime": first["regime"], "setting": first["setting"],
                     "inner loop": first["inner"], "meta-batch": int(first["meta_batch"]),
                     "images/step": int(first["images_per_step"]),
                     "steps (target)": _targets(part),
                     "steps reached per seed": ", ".join(
                         f"s{s}: {k}" for s, k in zip(part["seed"], part["steps_reached"],
                                                      strict=True)),
                     "seeds analysed": ", ".join(str(s) for s in done["seed"]) or "none",
                     "train hours (all seeds)": round(float(hours.sum()), 2) if len(hours)
                     else "–",
                     "test tasks": first["test_tasks"]})
    hours = runs["train_hours"].dropna()
    devices = ", ".join(sorted({str(d) for d in runs["device"].dropna()})) or "unknown"
    analysed = int((runs["status"] == "analysed").sum())
    total = (f"{len(runs)} runs (configs × seeds; {analysed} analysed); "
             f"{float(hours.sum()):.2f} training hours of wall time in all (from each run's "
             f"metrics.csv), device: {devices}; {int(runs['images_seen'].sum()):,} training "
             "images seen in all.")
    return pd.DataFrame(rows), total


def _targets(part: pd.DataFrame) -> str:
    """The run's step target(s); a target capped below the plan's says so ("120 (capped;
    planned 1000)"): the run stopped there for compute, not by design."""
    targets = "/".join(str(k) for k in sorted(set(part["steps_target"].astype(int))))
    planned = sorted(set(part.get("steps_planned", part["steps_target"]).astype(int)))
    if planned != sorted(set(part["steps_target"].astype(int))):
        targets += f" (capped; planned {'/'.join(map(str, planned))})"
    return targets


def write_study_report(tables_dir: str | Path, out_dir: str | Path, *,
                       root: str | Path | None = None) -> Path:
    """Write ``out_dir/report.md`` (and a self-contained ``report.html``) from the study tables
    in ``tables_dir``; return the markdown's path."""
    tables, out = Path(tables_dir), Path(out_dir)
    runs = _load(tables, "runs")
    stems = {stem for _, _, _, specs, _ in _SECTIONS for stem, _, _ in specs} | {_BETWEEN_STEM}
    loaded = {stem: _load(tables, stem) for stem in stems}
    blocks: list[Block] = [
        ("h1", "Study report: seeds, body-training regimes, interpolation, medium shot, "
               "conv4, adaptation budget, training length"),
        ("p", (f"Study root: `{root}`. " if root is not None else "")
         + f"Reference: {SOURCE}. Every number is the mean ± sample std (ddof = 1) over "
         "training seeds, with `n_seeds` and the training steps it comes from; each seed's own "
         "value is listed with its 95% CI over test tasks. Accuracies and gaps are in percent "
         "(points), similarities as they are. Two numbers are *separated* when the 95% CI of "
         "their difference over seeds excludes 0 (paired over seeds within one run, Welch "
         "between runs); with fewer than 2 seeds nothing is concluded. Every such reading "
         "gives its p-value and whether it holds after Holm's correction over all readings "
         "of this report (listed at the end)."),
    ]
    if runs is not None:
        table, total = _compute(runs)
        blocks += [("h2", "Runs, steps and compute"), ("p", total), ("table", table)]
    with collecting() as holm:
        _sections(blocks, loaded, runs, out, holm)
    texts = [b[1] for b in blocks if b[0] == "p"]
    blocks = [(kind, holm.resolve(body)) if kind == "p" else (kind, body)
              for kind, body in blocks]
    if holm.pvalues:
        table = holm.table(texts)
        write_table(table, tables / "readings")
        held = int((table["verdict"] == "holds").sum())
        blocks += [("h2", "Every reading, with its p-value and the Holm correction"),
                   ("p", f"{len(table)} readings above compare numbers over training seeds "
                    f"(Welch or paired t, two-sided). Holm's step-down correction over all of "
                    f"them keeps the chance of any false 'holds' at 5%: {held} of {len(table)} "
                    "hold after it. A reading that is separated by its own 95% CI but does not "
                    "hold after correction is suggestive, not a finding. The table is also "
                    "`tables/readings.json`."),
                   ("table", table.assign(p=table["p"].map(_pfmt),
                                          p_holm=table["p_holm"].map(_pfmt)))]
    atomic_write_text(out / "report.html", render_html(blocks))  # self-contained copy
    return atomic_write_text(out / "report.md", render_markdown(blocks, out))


def _pfmt(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _sections(blocks: list[Block], loaded: dict, runs: pd.DataFrame | None, out: Path,
              holm) -> int:
    """Append every question's section (tables, notes, reading, figures) to ``blocks``."""
    figure_number = 0
    for question, title, intro, specs, figures in _SECTIONS:
        blocks.append(("h2", title))
        blocks.append(("p", intro))
        main = _BETWEEN_STEM if question == "between" else specs[0][0]
        if loaded[main] is None:
            planned = _missing(runs, question)
            why = ("the between-seed comparison has not been computed (the study script's "
                   "`--stage tables` computes it from ≥ 2 finished seed runs)"
                   if question == "between" else "no finished, analysed run answers it yet")
            blocks.append(("note", f"**Not run**: {why}." + (
                " Runs planned or under way: " + "; ".join(planned) + "." if planned else "")))
            continue
        if question == "between":
            blocks.append(("table", _between_table(loaded[main])))
        for stem, keys, extra in specs:
            if stem in _WIDE and loaded[stem] is not None:
                blocks.append(("table", _WIDE[stem](loaded)))
            elif loaded[stem] is not None:
                frame = loaded[stem]
                if stem == "interpolation_similarity_summary":
                    frame = frame[frame["measure"] == "cka"]
                pct = 100.0 if stem == "interpolation_accuracy_summary" else None
                blocks.append(("table", display_table(frame, keys, extra, scale=pct)))
        thin = _single_seed(loaded[main], specs[0][1] if specs else ("kind", "measure"))
        if thin:
            blocks.append(("note", "Fewer than 2 seeds (or model pairs) for: " + "; ".join(thin)
                           + ". These numbers are shown; the reading draws no conclusion from "
                           "their spread."))
        missing = _missing(runs, question)
        if missing:
            blocks.append(("note", "Not in these numbers yet (unfinished or not analysed): "
                           + "; ".join(missing) + ". The reading uses the finished runs only."))
        holm.section = title
        readings = _readings(question, loaded)
        if readings:
            blocks.append(("p", "**Reading.** " + " ".join(readings)))
        for stem in figures:
            figure = _figure(out, stem, figure_number + 1)
            if figure is not None:
                figure_number += 1
                blocks.append(figure)
    return figure_number
