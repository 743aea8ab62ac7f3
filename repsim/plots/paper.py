"""The paper's reference numbers (``shared/PAPER.md``), as data for "ours next to the paper".

Raghu, Raghu, Bengio, Vinyals, "Rapid Learning or Feature Reuse? Towards Understanding the
Effectiveness of MAML", ICLR 2020. Accuracies are percentages, reported there as mean ± std over
3 seeds (600 test tasks each); ours are fractions with a 95% CI over tasks, so the two "±" do
not mean the same thing and the report says so. Nothing here is computed: the values are copied.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pandas as pd

__all__ = [
    "ACCURACY",
    "BETWEEN_MODELS",
    "FREEZING",
    "NIL_HEAD_BODIES",
    "SIMILARITY_EXPECTATION",
    "SOURCE",
    "SPEEDUP",
    "TABLE5",
    "Setting",
    "accuracy_table",
    "between_models_table",
    "freezing_table",
    "method_name",
    "method_rank",
    "paper_accuracy",
    "setting_label",
    "similarity_table",
    "timing_table",
]

SOURCE = "Raghu et al., ICLR 2020 (arXiv 1909.09157), as transcribed in shared/PAPER.md"

#: (dataset, ways, shots): how the paper names a benchmark.
Setting = tuple[str, int, int]

#: Table 2 / 3 of the paper: method -> setting -> (mean %, std % over 3 seeds).
ACCURACY: MappingProxyType[str, dict[Setting, tuple[float, float]]] = MappingProxyType({
    "MAML": {("omniglot", 20, 1): (93.7, 0.7), ("omniglot", 20, 5): (96.4, 0.1),
             ("miniimagenet", 5, 1): (46.9, 0.2), ("miniimagenet", 5, 5): (63.1, 0.4)},
    "ANIL": {("omniglot", 20, 1): (96.2, 0.5), ("omniglot", 20, 5): (98.0, 0.3),
             ("miniimagenet", 5, 1): (46.7, 0.4), ("miniimagenet", 5, 5): (61.5, 0.5)},
    "NIL": {("omniglot", 20, 1): (96.7, 0.3), ("omniglot", 20, 5): (98.0, 0.04),
            ("miniimagenet", 5, 1): (48.0, 0.7), ("miniimagenet", 5, 5): (62.2, 0.5)},
})

#: Body-training regimes tested with the NIL head (MiniImageNet). The ANIL body with the NIL
#: head is NIL itself (48.0 / 62.2), so only the MAML body needs its own entry.
NIL_HEAD_BODIES: MappingProxyType[str, dict[Setting, float]] = MappingProxyType({
    "MAML body, NIL head": {("miniimagenet", 5, 1): 48.4, ("miniimagenet", 5, 5): 61.5},
})

#: Table 5: every body tested with the NIL head (MiniImageNet 5w1s / 5w5s, %), keyed by the
#: ``regime`` names of :func:`repsim.analyses.regimes.regime_name`.
TABLE5: MappingProxyType[str, dict[Setting, float]] = MappingProxyType({
    regime: {("miniimagenet", 5, 1): one, ("miniimagenet", 5, 5): five}
    for regime, (one, five) in {
        "MAML": (48.4, 61.5), "ANIL": (48.0, 62.2), "multiclass": (39.7, 54.4),
        "multitask": (26.5, 34.2), "random": (32.9, 43.2), "NIL training": (38.3, 43.0),
    }.items()
})

#: Table 1: MAML-trained model, first k conv layers frozen at test time -> accuracy %.
#: Keys are the frozen layers as a sorted tuple; 5w5s only reports "none" and "all four".
FREEZING: MappingProxyType[Setting, dict[tuple[str, ...], float]] = MappingProxyType({
    ("miniimagenet", 5, 1): {(): 46.9, ("conv1",): 46.5, ("conv1", "conv2"): 46.4,
                             ("conv1", "conv2", "conv3"): 46.3,
                             ("conv1", "conv2", "conv3", "conv4"): 46.3},
    ("miniimagenet", 5, 5): {(): 63.1, ("conv1", "conv2", "conv3", "conv4"): 61.0},
})

#: ANIL's speed-up over MAML per iteration (MAML seconds / ANIL seconds), averaged in the paper.
SPEEDUP: MappingProxyType[str, float] = MappingProxyType({"train": 1.7, "inference": 4.1})

#: Between models (different seeds / algorithms), body layers averaged: (low, high).
BETWEEN_MODELS: MappingProxyType[str, tuple[float, float]] = MappingProxyType({
    "cca": (0.5, 0.5), "cka": (0.83, 0.86),
})

#: What the paper reports for θ vs θ' per layer (qualitative, Figures 1-2).
SIMILARITY_EXPECTATION: MappingProxyType[str, str] = MappingProxyType({
    "body_cca": "> 0.9 (slight dip at conv3/conv4)",
    "body_cka": "≈ 1",
    "head_cca": "< 0.5",
})

_DATASET_NAMES = {"omniglot": "Omniglot", "miniimagenet": "MiniImageNet", "sinusoid": "Sinusoid"}


def setting_label(dataset: str, ways: int, shots: int) -> str:
    """``("miniimagenet", 5, 1)`` → ``"MiniImageNet 5w1s"`` (sinusoid: ``"Sinusoid 10-shot"``)."""
    name = _DATASET_NAMES.get(str(dataset).lower(), str(dataset))
    if str(dataset).lower() == "sinusoid":
        return f"{name} {int(shots)}-shot"
    return f"{name} {int(ways)}w{int(shots)}s"


def method_name(algorithm: str, head: str) -> str:
    """The paper's name for a trained body + test-time head.

    ``(maml, adapted)`` → MAML, ``(anil, adapted)`` → ANIL, ``(anil, nil)`` → NIL (trained with
    ANIL, tested without a head), ``(maml, nil)`` → "MAML body, NIL head".
    """
    algorithm, head = str(algorithm).lower(), str(head).lower()
    if head == "nil":
        return "NIL" if algorithm == "anil" else f"{algorithm.upper()} body, NIL head"
    return algorithm.upper()


def method_rank(name: str) -> tuple[int, str]:
    """Sort key: MAML, FOMAML, ANIL, NIL, then the rest by name."""
    return ({"MAML": 0, "FOMAML": 1, "ANIL": 2, "NIL": 3}.get(name, 4), name)


def paper_accuracy(method: str, setting: Setting) -> tuple[float, float] | None:
    """The paper's (mean %, std %) for ``method`` on ``setting``, or None when it has none."""
    key = (setting[0].lower(), int(setting[1]), int(setting[2]))
    if method in ACCURACY:
        return ACCURACY[method].get(key)
    value = NIL_HEAD_BODIES.get(method, {}).get(key)
    return None if value is None else (value, float("nan"))


# --- ours next to the paper: display tables (strings), built by selecting rows -----------------

def _pct(value: Any, ci: Any = None) -> str:
    if value is None or pd.isna(value):
        return "–"
    text = f"{100 * float(value):.1f}"
    return text if ci is None or pd.isna(ci) else f"{text} ± {100 * float(ci):.1f}"


def _no_minus_zero(value: Any, digits: int) -> str:
    """``-0.001`` → ``"0.00"``, not ``"-0.00"`` (a sign the rounded number does not have)."""
    return f"{round(float(value), digits) + 0.0:.{digits}f}"


def _num(value: Any, ci: Any = None, digits: int = 3) -> str:
    if value is None or pd.isna(value):
        return "–"
    text = _no_minus_zero(value, digits)
    return text if ci is None or pd.isna(ci) else f"{text} ± {float(ci):.{digits}f}"


def table_notes(kind: str, frame: pd.DataFrame) -> list[str]:
    """Sentences a reader needs under a report table (``kind``: the result file's stem)."""
    notes = []
    if kind == "eval" and "accuracy" not in frame:
        notes.append("No NIL row: the NIL head (a cosine-similarity vote over the support "
                     "labels) is defined for classification only; the sinusoid regression has "
                     "no labels to vote with.")
    if kind == "eval" and "diverged" in frame:  # issue 21: a diverging inner loop, flagged
        for _, row in frame[frame["diverged"].fillna(False).astype(bool)].iterrows():
            name = method_name(row.get("algorithm", "?"), row.get("head", "adapted"))
            why = row.get("divergence") or "its metric gets worse with more inner steps"
            notes.append(f"Divergence ({name}): {why}. Its number above is after the last "
                         "inner step, not the best one.")
    if kind == "compare" and "fc1" in set(frame.get("layer", ())):
        notes.append("fc1 of the sinusoid network maps one scalar input to 40 units: every "
                     "unit's pre-activation is an affine function of the same scalar, so fc1's "
                     "representation is nearly the same under any parameters. Its similarity "
                     "≈ 1 holds by construction and is no evidence of feature reuse; read fc2.")
    return notes


def accuracy_table(eval_rows: pd.DataFrame) -> pd.DataFrame:
    """Our meta-test accuracy per method beside the paper's (Tables 2-3), as display strings.

    Columns: setting, method, ours (% ± 95% CI over tasks), tasks, paper (% ± std over 3 seeds).
    Regression results (``mse``) get an MSE column and no paper column.
    """
    metric = "accuracy" if "accuracy" in eval_rows else "mse"
    out = []
    for _, row in eval_rows.iterrows():
        setting = (str(row.get("dataset", "?")), int(row.get("ways", 0) or 0),
                   int(row.get("shots", 0) or 0))
        method = method_name(row.get("algorithm", "?"), row.get("head", "adapted"))
        ref = paper_accuracy(method, setting) if metric == "accuracy" else None
        record = {"setting": setting_label(*setting), "method": method}
        if metric == "accuracy":
            record["ours (%, 95% CI)"] = _pct(row["accuracy"], row.get("ci95"))
        else:
            record["ours (MSE, 95% CI)"] = _num(row["mse"], row.get("ci95"), 4)
        if "diverged" in eval_rows:  # flagged, with the reason in the notes below the table
            record["inner loop"] = "diverges ⚠" if row.get("diverged") is True else "ok"
        record["tasks"] = "–" if pd.isna(row.get("tasks")) else str(int(row["tasks"]))
        if metric == "accuracy":
            record["paper (%, ± std)"] = ("–" if ref is None else f"{ref[0]:.1f}" + (
                "" if pd.isna(ref[1]) else f" ± {ref[1]:g}"))
        out.append(record)
    frame = pd.DataFrame(out)
    return frame.sort_values(["setting", "method"], key=lambda s: s.map(
        method_rank) if s.name == "method" else s).reset_index(drop=True)


def seeds_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over training seeds per preset and method (a sweep's ``eval_seeds`` table)
    beside the paper's mean ± std over 3 seeds, as display strings."""
    out = []
    for _, row in summary.iterrows():
        setting = (str(row.get("dataset", "?")), int(row.get("ways", 0) or 0),
                   int(row.get("shots", 0) or 0))
        method = method_name(row.get("algorithm", "?"), row.get("head", "adapted"))
        accuracy = row.get("metric") == "accuracy"
        ref = paper_accuracy(method, setting) if accuracy else None
        seeds = row.get("seeds")
        out.append({
            "preset": str(row.get("preset", setting_label(*setting))),
            "method": method,
            ("ours (%, ± std over seeds)" if accuracy else "ours (MSE, ± std over seeds)"):
                _pct(row["mean"], row["std"]) if accuracy else _num(row["mean"], row["std"], 4),
            "seeds": f"{int(row['n_seeds'])}" + (f" ({', '.join(map(str, seeds))})"
                                                  if isinstance(seeds, list) else ""),
            "steps": "–" if pd.isna(row.get("step")) else str(int(row["step"])),
            "paper (%, ± std)": "–" if ref is None else f"{ref[0]:.1f}" + (
                "" if pd.isna(ref[1]) else f" ± {ref[1]:g}"),
        })
    frame = pd.DataFrame(out)
    return frame.sort_values(["preset", "method"], key=lambda s: s.map(
        method_rank) if s.name == "method" else s).reset_index(drop=True)


def freezing_table(ablate: pd.DataFrame, setting: Setting | None) -> pd.DataFrame:
    """Accuracy (or MSE) with layers frozen at test time beside the paper's Table 1.

    The paper's column is filled for MAML with the adapted head on a setting Table 1 covers.
    """
    from repsim.plots.style import frozen_label, layer_order

    ref = FREEZING.get(setting) if setting else None
    out = []
    for _, row in ablate.iterrows():
        frozen = tuple(layer_order(row["frozen"] or ()))
        head = row.get("head", "adapted")
        is_table1 = ref and row["algorithm"] == "maml" and head == "adapted"
        paper = ref.get(frozen) if is_table1 else None
        out.append({"model": method_name(row["algorithm"], head),
                    "frozen": frozen_label(frozen), "_n": len(frozen),
                    **({"ours (%, 95% CI)": _pct(row["accuracy"], row.get("ci95"))}
                       if "accuracy" in row else
                       {"ours (MSE, 95% CI)": _num(row.get("mse"), row.get("ci95"), 4)}),
                    # the paper's column only where there could be a number (accuracy)
                    **({"paper (%)": "–" if paper is None else f"{paper:.1f}"}
                       if "accuracy" in row else {})})
    frame = pd.DataFrame(out).sort_values(["model", "_n"], kind="stable", key=lambda s: s.map(
        method_rank) if s.name == "model" else s)
    return frame.drop(columns="_n").reset_index(drop=True)


def similarity_table(compare: pd.DataFrame) -> pd.DataFrame:
    """θ vs θ′ per layer: mean ± 95% CI [noise baseline] per measure, beside the paper's reading."""
    from repsim.plots.style import layer_order, measure_label

    out = []
    for (alg, layer), rows in compare.groupby(["algorithm", "layer"]):
        record = {"algorithm": str(alg).upper(), "layer": layer}
        for _, row in rows.iterrows():
            base = row.get("baseline")
            cell = _num(row["mean"], row.get("ci95"))
            record[measure_label(row["measure"])] = cell + (
                "" if base is None or pd.isna(base) else f" [{_no_minus_zero(base, 2)}]")
        if layer == "head":
            record["paper"] = f"CCA {SIMILARITY_EXPECTATION['head_cca']}"
        elif str(layer).startswith("conv"):
            record["paper"] = (f"CCA {SIMILARITY_EXPECTATION['body_cca']}, "
                               f"CKA {SIMILARITY_EXPECTATION['body_cka']}")
        else:  # e.g. the sinusoid MLP's fc layers: the paper's body rule, not its conv wording
            record["paper"] = "body (paper's conv1–4): CCA > 0.9, CKA ≈ 1"
        out.append(record)
    frame = pd.DataFrame(out)
    order = {name: i for i, name in enumerate(layer_order(frame["layer"]))}
    frame = frame.sort_values(["algorithm", "layer"], key=lambda s: s.map(
        order if s.name == "layer" else method_rank))
    return frame.fillna("–").reset_index(drop=True)


def timing_table(timing_rows: pd.DataFrame) -> pd.DataFrame:
    """Median ms per iteration of MAML and ANIL, their ratio, and the paper's average ratio."""
    keys = [k for k in ("shape", "phase", "path", "device") if k in timing_rows]
    wide = timing_rows.pivot_table(index=keys, columns="algorithm", values="seconds",
                                   aggfunc="median") * 1e3
    out = []
    for index, row in wide.iterrows():
        record = dict(zip(keys, index if isinstance(index, tuple) else (index,), strict=True))
        for alg in sorted(row.index, key=lambda a: method_rank(str(a).upper())):
            record[f"{str(alg).upper()} (ms)"] = _num(row[alg], digits=1)
        if {"maml", "anil"} <= set(row.index):
            record["MAML / ANIL"] = f"{row['maml'] / row['anil']:.2f}×"
        record["paper MAML / ANIL"] = (f"{SPEEDUP[record['phase']]:.1f}×"
                                       if record.get("phase") in SPEEDUP else "–")
        out.append(record)
    return pd.DataFrame(out).fillna("–")


def between_models_table(compare_models: pd.DataFrame) -> pd.DataFrame:
    """Between-model similarity: mean over the conv (body) layers per pair and measure, and head."""
    from repsim.plots.style import measure_label, short_names

    short = short_names([*compare_models["model_a"], *compare_models["model_b"]])
    out = []
    for (a, b, measure), rows in compare_models.groupby(["model_a", "model_b", "measure"]):
        a, b = short[str(a)], short[str(b)]
        body = rows[rows["layer"].astype(str).str.match(r"^(conv|fc)\d+$")]["mean"]
        head = rows[rows["layer"] == "head"]["mean"]
        family = "cka" if str(measure).startswith("cka") else "cca" if "cca" in str(
            measure) else None
        low, high = BETWEEN_MODELS.get(family, (None, None))
        out.append({"pair": f"{a} vs {b}", "measure": measure_label(measure),
                    "body mean": _num(body.mean() if len(body) else None),
                    "head": _num(head.iloc[0] if len(head) else None),
                    "paper (body)": "–" if low is None else (
                        f"≈ {low:g}" if low == high else f"{low:g}–{high:g}")})
    return pd.DataFrame(out)
