"""Readings of the adaptation budget and of the long tier, in the report's words.

The head-only gap (:mod:`repsim.analyses.study_readings`) says how much accuracy is lost when
only the head adapts for the trained number of steps; it does not say that the body *must*
change. The budget (:mod:`repsim.analyses.budget`) does: ``body_only_gain`` is what the full
inner loop buys over the best reader that keeps θ's body. These readings compare it where the
study compares the gap, and read every headline quantity at 1k and at the end of the long runs
(the same runs, so paired over seeds). Verdicts and p-values are those of
:mod:`repsim.analyses.study_readings` (Holm-corrected over the report when collected).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repsim.analyses.study_readings import Stat, _verdict, _verdict_text, _zero_ci, pick

__all__ = ["BUDGET_COMPARISONS", "common_seeds", "read_budget", "read_length"]

#: (run, reference run, what the comparison asks): where the study reads the head-only gap.
BUDGET_COMPARISONS = (
    ("maml-5w1s-flatten", "maml-5w1s-short", "flattened conv4 maps before the head"),
    ("maml-5w1s-zerohead", "maml-5w1s-short", "a zero-initialised head"),
    ("maml-5w1s-lr0.1", "maml-5w1s-short", "inner lr 0.1"),
    ("maml-5w1s-5steps", "maml-5w1s-lr0.1", "5 inner steps against 1, both at lr 0.1"),
    ("maml-5w1s-mb8", "maml-5w1s-short", "meta-batch 8"),
    ("maml-5w5s-short", "maml-5w1s-short", "5 shots against 1 (meta-batch 16 vs 32)"),
    ("maml-5w15s-short", "maml-5w1s-mb8", "15 shots against 1 at meta-batch 8"),
    ("maml-20w1s-short", "maml-5w1s-5steps", "20 ways against 5 with 20-way's inner loop"),
    ("maml-20w5s-short", "maml-20w1s-100", "20-way 5 shots against 1, at 100 steps"),
)
_PCT = (100.0, " points")


def _stat(summary: pd.DataFrame, run: str, quantity: str, steps: int | None = None
          ) -> Stat | None:
    rows = summary[(summary["run"] == run) & (summary["quantity"] == quantity)]
    if steps is not None:
        rows = rows[rows["train_steps"] == steps]
    elif len(rows) > 1:  # the run's end: its longest length
        rows = rows[rows["train_steps"] == rows["train_steps"].max()]
    return Stat.of(rows.iloc[0]) if len(rows) == 1 else None


def read_budget(summary: pd.DataFrame) -> list[str]:
    """Body-only gain and probe gain of the baseline, then each comparison of
    :data:`BUDGET_COMPARISONS` whose runs are in ``summary``."""
    out = []
    for run in ("maml-5w1s-short", "maml-5w1s-10k"):
        gain, probe = _stat(summary, run, "body_only_gain"), _stat(summary, run, "probe_gain")
        if gain is None:
            continue
        best = summary[(summary["run"] == run) & (summary["quantity"] == "best_head_side")]
        side = _stat(summary, run, "best_head_side")
        buys = gain.text(100.0, 1, " points")
        kept = side.text(100.0, 1, "%") if side else "?"
        out.append(f"{run}: the full inner loop buys {buys} over "
                   f"the best reader that keeps θ's body ({kept}"
                   f"{_best_names(best)}); {_zero_ci(gain, *_PCT)}.")
        if probe is not None:
            out.append(f"{run}: a logistic probe fit on the support set gains "
                       f"{probe.text(100.0, 1, ' points')} on θ′'s body features over θ's "
                       f"({_zero_ci(probe, *_PCT)}): the inner loop improves the features "
                       "themselves, not only the head.")
    for run, ref, what in BUDGET_COMPARISONS:
        a, b = _stat(summary, run, "body_only_gain"), _stat(summary, ref, "body_only_gain")
        if a is None or b is None:
            continue
        if a.steps and b.steps and a.steps != b.steps:
            continue  # never read across training lengths
        out.append(f"Body-only gain, {what}: {run} {a.text(100.0, 1, ' points')} vs {ref} "
                   f"{b.text(100.0, 1, ' points')}: "
                   f"{_verdict(a, b, scale=100.0, unit=' points')}.")
    return out


def _best_names(rows: pd.DataFrame) -> str:
    """"; best reader per seed: prototype, prototype, nil" when the summary carries them."""
    if rows.empty or "detail_per_seed" not in rows:
        return ""
    names = rows["detail_per_seed"].iloc[0]
    return f"; best reader per seed: {', '.join(map(str, names))}" if names else ""


#: Quantities of the 1k-vs-end reading: (quantity, layer, label, scale, unit).
LENGTH_QUANTITIES = (
    ("accuracy", None, "own-head accuracy", 100.0, " points"),
    ("head_only_accuracy", None, "head-only accuracy", 100.0, " points"),
    ("nil_accuracy", None, "NIL-head accuracy", 100.0, " points"),
    ("similarity", "conv4", "conv4 θ vs θ′ CKA", 1.0, ""),
    ("body_only_gain", None, "body-only gain", 100.0, " points"),
    ("probe_gain", None, "probe gain", 100.0, " points"),
)


def common_seeds(a: Stat, b: Stat) -> tuple[Stat, Stat]:
    """``a`` and ``b`` restricted to the seeds both have (so that they pair)."""
    common = sorted(set(a.seeds) & set(b.seeds))
    if common == list(a.seeds) == list(b.seeds):
        return a, b

    def keep(s: Stat) -> Stat:
        idx = [s.seeds.index(k) for k in common]
        values = np.array([s.per_seed[i] for i in idx])
        cis = tuple(s.per_seed_ci95[i] for i in idx) if len(s.per_seed_ci95) == len(
            s.seeds) else ()
        return Stat(float(values.mean()) if len(values) else float("nan"),
                    float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                    len(common), tuple(common), tuple(values.tolist()), cis, s.steps)

    return keep(a), keep(b)


def read_length(summary: pd.DataFrame) -> list[str]:
    """Each long run's headline quantities at 1000 steps against its end, paired over seeds
    (the same runs): which answers change with length and which do not."""
    out = []
    for run in dict.fromkeys(summary["run"]):
        part = summary[summary["run"] == run]
        end = int(part["train_steps"].max())
        if end <= 1000 or 1000 not in set(part["train_steps"]):
            continue
        for quantity, layer, label, scale, unit in LENGTH_QUANTITIES:
            a = pick(part, quantity=quantity, layer=layer, train_steps=end)
            b = pick(part, quantity=quantity, layer=layer, train_steps=1000)
            if a is None or b is None:
                continue
            a, b = common_seeds(a, b)  # a run still training: read the seeds both lengths have
            digits = 1 if scale == 100.0 else 3
            value_unit = "%" if unit and "accuracy" in quantity else unit
            out.append(f"{run}, {label}: {b.text(scale, digits, value_unit)} at 1000 steps, "
                       f"{a.text(scale, digits, value_unit)} at {end}: "
                       f"{_verdict_text(a, b, scale=scale, unit=unit, paired=True)}.")
    return out
