"""What the study's numbers say: comparisons over seeds turned into the report's sentences.

Every sentence here is computed from seed-summary rows (:func:`repsim.analyses.seeds.
seed_summary`: ``seed_mean``, ``seed_std``, ``n_seeds``, ``seeds``, ``per_seed``,
``per_seed_ci95``); nothing is concluded in advance. Two numbers are called *separated* when
the 95% CI of their difference over seeds excludes zero: a paired t interval when both come
from the same runs (same seeds, e.g. own head vs NIL head of one model), else Welch's interval
(different runs). With fewer than two seeds on either side there is no spread to judge: the
sentence gives the numbers and says it draws no conclusion. Within one seed, the CIs over test
tasks are reported as such, never as evidence about training seeds.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from repsim.analyses.multiple import mark
from repsim.analyses.regimes import REGIME_ORDER

__all__ = ["Stat", "difference", "p_value", "pick", "read_between", "read_conv4",
           "read_interpolation", "read_regimes", "read_seeds", "read_shots"]

_META = ("MAML", "ANIL", "FOMAML", "BOIL", "top-2", "top-3", "top-4")


@dataclass(frozen=True)
class Stat:
    """One summarised number: its mean and std over seeds and every seed's value and CI."""

    mean: float
    std: float
    n: int
    seeds: tuple[int, ...]
    per_seed: tuple[float, ...]
    per_seed_ci95: tuple[float, ...]
    steps: tuple[int, ...] = ()  # training steps of the runs behind it (empty: unknown)

    @classmethod
    def of(cls, row: Any) -> Stat:
        cis = row.get("per_seed_ci95") if hasattr(row, "get") else None
        cis = cis if isinstance(cis, (list, tuple)) else []
        steps = row.get("steps") if hasattr(row, "get") else None
        return cls(float(row["seed_mean"]), float(row["seed_std"]) if pd.notna(
            row["seed_std"]) else math.nan, int(row["n_seeds"]), tuple(int(s) for s in
            row["seeds"]), tuple(float(v) for v in row["per_seed"]),
            tuple(math.nan if c is None else float(c) for c in cis),
            tuple(int(k) for k in steps) if isinstance(steps, (list, tuple)) else ())

    def text(self, scale: float = 100.0, digits: int = 1, unit: str = "") -> str:
        """``"97.3 ± 0.4% (n=3)"``: the mean and std over seeds, scaled, and the seed count."""
        body = f"{scale * self.mean:.{digits}f}"
        if self.n >= 2 and math.isfinite(self.std):
            body += f" ± {scale * self.std:.{digits}f}"
        return f"{body}{unit} (n={self.n})"


def pick(frame: pd.DataFrame | None, **match: Any) -> Stat | None:
    """The one row of ``frame`` matching ``match`` (None matches a missing value) as a Stat."""
    if frame is None or frame.empty:
        return None
    keep = pd.Series(True, index=frame.index)
    for column, value in match.items():
        if column not in frame:
            return None
        keep &= frame[column].isna() if value is None else frame[column] == value
    rows = frame[keep]
    return Stat.of(rows.iloc[0]) if len(rows) == 1 else None


def difference(a: Stat, b: Stat, *, paired: bool = False) -> tuple[float, float, float] | None:
    """``a - b`` with its 95% CI over seeds, or None with fewer than 2 seeds on a side.

    ``paired`` (same runs, same seeds): t interval of the per-seed differences; otherwise
    Welch's interval for two independent sets of seeds.
    """
    if a.n < 2 or b.n < 2:
        return None
    paired = paired and a.seeds == b.seeds
    diff = float(np.mean(np.subtract(a.per_seed, b.per_seed)) if paired else a.mean - b.mean)
    spread = (np.ptp(np.subtract(a.per_seed, b.per_seed)) if paired
              else np.ptp(a.per_seed) + np.ptp(b.per_seed))
    if spread == 0:  # no variation at all (e.g. ANIL's gap, 0 in every seed): a point
        return diff, diff, diff
    test = (stats.ttest_rel(a.per_seed, b.per_seed) if paired
            else stats.ttest_ind(a.per_seed, b.per_seed, equal_var=False))
    ci = test.confidence_interval(0.95)
    return diff, float(ci.low), float(ci.high)


def p_value(a: Stat, b: Stat | None = None, *, paired: bool = False) -> float | None:
    """Two-sided p of ``a - b`` over seeds (the test behind :func:`difference`), or of ``a``
    against 0 when ``b`` is None (one-sample t); None with fewer than 2 seeds. Without any
    spread the difference is exact: p = 0 when it is not 0, else 1."""
    if a.n < 2 or (b is not None and b.n < 2):
        return None
    if b is None:
        values = np.asarray(a.per_seed)
        if np.ptp(values) == 0:
            return 0.0 if values[0] != 0 else 1.0
        return float(stats.ttest_1samp(values, 0.0).pvalue)
    paired = paired and a.seeds == b.seeds
    diff = np.subtract(a.per_seed, b.per_seed) if paired else None
    spread = np.ptp(diff) if paired else np.ptp(a.per_seed) + np.ptp(b.per_seed)
    if spread == 0:
        return 0.0 if (diff[0] if paired else a.mean - b.mean) != 0 else 1.0
    test = (stats.ttest_rel(a.per_seed, b.per_seed) if paired
            else stats.ttest_ind(a.per_seed, b.per_seed, equal_var=False))
    return float(test.pvalue)


def _verdict(a: Stat, b: Stat, *, scale: float, unit: str, paired: bool = False) -> str:
    """"separated: difference d [lo, hi]" or why not (and whether the steps differ)."""
    text = _verdict_text(a, b, scale=scale, unit=unit, paired=paired)
    if a.steps and b.steps and a.steps != b.steps:
        text += (f" (careful: from different training steps, {'/'.join(map(str, a.steps))} vs "
                 f"{'/'.join(map(str, b.steps))})")
    return text


def _verdict_text(a: Stat, b: Stat, *, scale: float, unit: str, paired: bool) -> str:
    d = difference(a, b, paired=paired)
    if d is None:
        return (f"difference {scale * (a.mean - b.mean):+.{_digits(scale)}f}{unit}; fewer than 2 "
                f"seeds (n={a.n} vs n={b.n}): not concluded")
    diff, lo, hi = (scale * v for v in d)
    k = _digits(scale)
    word = "separated" if lo > 0 or hi < 0 else "not separated"
    return (f"difference {diff:+.{k}f}{unit}, 95% CI over seeds [{lo:+.{k}f}, {hi:+.{k}f}]: "
            f"{word} by the seeds ({mark(p_value(a, b, paired=paired))})")


def _digits(scale: float) -> int:
    return 1 if scale == 100.0 else 3


def _ordered(values: Sequence[str]) -> list[str]:
    present = list(dict.fromkeys(values))
    return ([r for r in REGIME_ORDER if r in present]
            + [r for r in present if r not in REGIME_ORDER])


def _zero_ci(s: Stat, scale: float, unit: str) -> str:
    """Whether the mean over seeds (and each seed's CI over tasks) excludes zero."""
    k = _digits(scale)
    parts = []
    if s.n >= 2 and math.isfinite(s.std):
        half = stats.t.ppf(0.975, s.n - 1) * s.std / math.sqrt(s.n)
        lo, hi = scale * (s.mean - half), scale * (s.mean + half)
        parts.append(f"95% CI over seeds [{lo:.{k}f}, {hi:.{k}f}]{unit} "
                     + ("excludes 0" if lo > 0 or hi < 0 else "includes 0")
                     + f" ({mark(p_value(s))})")
    else:
        parts.append(f"one seed (n={s.n}): not concluded over seeds")
    cis = [(v, c) for v, c in zip(s.per_seed, s.per_seed_ci95, strict=False) if math.isfinite(c)]
    if cis:
        away = sum(abs(v) > c for v, c in cis)
        parts.append(f"{away} of {len(cis)} seeds' 95% CIs over tasks exclude 0")
    return "; ".join(parts)


def read_seeds(summary: pd.DataFrame) -> list[str]:
    """MAML and ANIL over seeds: head-only gap, MAML vs ANIL, NIL head vs own head."""
    out = []
    for regime in _ordered(summary["regime"]):
        gap = pick(summary, regime=regime, quantity="head_only_gap")
        own = pick(summary, regime=regime, quantity="accuracy")
        nil = pick(summary, regime=regime, quantity="nil_accuracy")
        if gap is not None:
            out.append(f"{regime}: adapting only the head at test time costs "
                       f"{gap.text(unit=' points')} ({_zero_ci(gap, 100.0, ' points')}).")
        body = [(layer, pick(summary, regime=regime, quantity="similarity", layer=layer,
                             measure="cka")) for layer in ("conv1", "conv2", "conv3", "conv4")]
        body = [(layer, s) for layer, s in body if s is not None]
        if body and all(s.mean >= 0.9995 for _, s in body):
            out.append(f"{regime}: the inner loop leaves every body layer unchanged (θ vs θ′ "
                       "linear CKA 1.000; paper: body CKA ≈ 1).")
        elif body:
            layer, low = min(body, key=lambda item: item[1].mean)
            out.append(f"{regime}: the body layer the inner loop changes most is {layer}, "
                       f"θ vs θ′ linear CKA {low.text(1.0, 3)} (paper: body CKA ≈ 1).")
        if own is not None and nil is not None:
            out.append(f"{regime}: NIL head {nil.text(unit='%')} vs own head "
                       f"{own.text(unit='%')}: "
                       f"{_verdict(nil, own, scale=100.0, unit=' points', paired=True)}.")
    maml, anil = (pick(summary, regime=r, quantity="accuracy") for r in ("MAML", "ANIL"))
    if maml is not None and anil is not None:
        out.append(f"Own head, MAML {maml.text(unit='%')} vs ANIL {anil.text(unit='%')} "
                   "(paper: ANIL matches MAML): "
                   f"{_verdict(maml, anil, scale=100.0, unit=' points')}.")
    return out


def read_between(summary: pd.DataFrame, paper: dict[str, tuple[float, float]]) -> list[str]:
    """Between-seed similarity (body-averaged) against the paper's range, per kind and measure."""
    out = []
    for row in summary.to_dict("records"):
        measure = str(row["measure"])
        ref = paper.get(measure)  # linear CKA and mean CCA only: the paper's measures
        values = [float(v) for v in row["per_pair"]]
        text = (f"{row['kind']}, {measure}: {row['pair_mean']:.3f}"
                + (f" ± {row['pair_std']:.3f}" if pd.notna(row["pair_std"]) else "")
                + f" over {row['n_pairs']} model pair(s)")
        if ref is None:  # in the table; the reading keeps to the paper's measures
            continue
        span = f"{ref[0]:g}" + (f"-{ref[1]:g}" if ref[1] != ref[0] else "")
        if len(values) < 2:
            side = ("above" if values[0] > ref[1] else "below" if values[0] < ref[0] else
                    "inside")
            where = f"one pair ({side} the paper's value): not concluded"
        elif min(values) > ref[1]:
            where = "every pair lies above it"
        elif max(values) < ref[0]:
            where = "every pair lies below it"
        else:
            where = "the pairs reach into it"
        out.append(f"{text}; paper ≈ {span}: {where}.")
    return out


def read_regimes(summary: pd.DataFrame, paper: dict[str, float]) -> list[str]:
    """Table 5: ranking with the NIL head, against the paper's ranking (MiniImageNet 5w1s)."""
    nil = summary[summary["head"] == "nil"]
    stats_ = {r: pick(nil, regime=r) for r in _ordered(nil["regime"])}
    stats_ = {r: s for r, s in stats_.items() if s is not None}
    if not stats_:
        return []
    ranked = sorted(stats_, key=lambda r: -stats_[r].mean)
    out = ["With the NIL head, ours rank " + " > ".join(
        f"{r} ({100 * stats_[r].mean:.1f})" for r in ranked) + "."]
    shared = [r for r in ranked if r in paper]
    if len(shared) >= 2:
        ref = sorted(shared, key=lambda r: -paper[r])
        out.append("The paper (MiniImageNet 5w1s, another dataset: compare orders, not values) "
                   "ranks " + " > ".join(f"{r} ({paper[r]:g})" for r in ref) + ".")
        if len(shared) >= 3:
            rho = stats.spearmanr([stats_[r].mean for r in shared],
                                  [paper[r] for r in shared]).statistic
            out.append(f"Rank correlation with the paper over these {len(shared)} regimes: "
                       f"Spearman ρ = {rho:.2f}.")
    meta = [r for r in ranked if r in _META]
    other = [r for r in ranked if r not in _META]
    if meta and other:
        a, b = meta[0], other[0]
        out.append(f"Best meta-learned body ({a}) vs best other regime ({b}) (paper: the "
                   f"meta-learned bodies lead): "
                   f"{_verdict(stats_[a], stats_[b], scale=100.0, unit=' points')}.")
    return out


def read_interpolation(accuracy: pd.DataFrame | None, similarity: pd.DataFrame | None,
                       freezing: pd.DataFrame | None) -> list[str]:
    """Where each regime sits: conv4 θ vs θ' CKA along the order, freezing cost, accuracy."""
    out = []
    if similarity is not None and not similarity.empty:
        conv4 = {r: pick(similarity, regime=r, layer="conv4", measure="cka")
                 for r in _ordered(similarity["regime"])}
        conv4 = {r: s for r, s in conv4.items() if s is not None}
        if conv4:
            out.append("conv4 θ vs θ′ linear CKA, from rapid learning to feature reuse: "
                       + ", ".join(f"{r} {s.text(1.0, 3)}" for r, s in conv4.items()) + ".")
            values = [s.mean for s in conv4.values()]
            steps = [b - a for a, b in itertools.pairwise(values)]
            if len(values) >= 3:
                shape = ("rises monotonically" if all(x >= 0 for x in steps) else
                         "is not monotone")
                out.append(f"Along this order the conv4 CKA {shape} (ends {values[0]:.3f} → "
                           f"{values[-1]:.3f}).")
    if freezing is not None and not freezing.empty:
        costs = []
        for regime in _ordered(freezing["regime"]):
            none, full = (pick(freezing, regime=regime, n_frozen=k) for k in (0, 4))
            if none is not None and full is not None:
                costs.append(f"{regime}: " + _verdict(none, full, scale=100.0,
                                                      unit=" points", paired=True))
        if costs:
            out.append("Freezing conv1-conv4 in the test-time inner loop costs: "
                       + "; ".join(costs) + ".")
    if accuracy is not None and not accuracy.empty:
        acc = {r: pick(accuracy, regime=r) for r in _ordered(accuracy["regime"])}
        acc = {r: s for r, s in acc.items() if s is not None}
        if len(acc) >= 2:
            best = max(acc, key=lambda r: acc[r].mean)
            worst = min(acc, key=lambda r: acc[r].mean)
            out.append(f"Accuracy: highest {best} {acc[best].text(unit='%')}, lowest "
                       f"{worst} {acc[worst].text(unit='%')}: "
                       f"{_verdict(acc[best], acc[worst], scale=100.0, unit=' points')}.")
    return out


def _quantity(frame: pd.DataFrame, quantity: str, **keys: Any) -> Stat | None:
    if quantity == "similarity":
        return pick(frame, quantity=quantity, layer="conv4", measure="cka", **keys)
    return pick(frame, quantity=quantity, **keys)


#: quantity → (name, scale, unit of a difference, unit of a value)
_NAMES = {"head_only_gap": ("head-only gap", 100.0, " points", " points"),
          "similarity": ("conv4 θ vs θ′ CKA", 1.0, "", ""),
          "accuracy": ("accuracy (full inner loop)", 100.0, " points", "%")}


#: Training settings a shots or ways comparison may change besides shots or ways:
#: column → (name, plural, unit of a value).
_SETTINGS = {"inner": ("inner loop", "inner loops", ""),
             "meta_batch": ("meta-batch", "meta-batches", " tasks per step")}


def _setting(frame: pd.DataFrame, **keys: Any) -> dict[str, tuple[str, ...]]:
    """Per training-setting column present, the values of the rows matching ``keys``."""
    rows = frame
    for column, value in keys.items():
        rows = rows[rows[column] == value]
    return {c: tuple(sorted({str(int(v)) if c == "meta_batch" else str(v)
                             for v in rows[c].dropna()}))
            for c in _SETTINGS if c in rows}


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _values(column: str, values: tuple[str, ...]) -> str:
    return ", ".join(values) + _SETTINGS[column][2]


def _caveat(dimension: str, labels: tuple[str, str], settings: tuple[dict, dict],
            columns: Sequence[str]) -> str:
    """The sentence naming the settings two runs differ in besides ``dimension``: "The two
    train different inner loops (5-way …; 20-way …), so this is ways and inner loop together."
    """
    if not columns:
        return ""
    parts = [f"{_SETTINGS[c][1]} ({labels[0]} {_values(c, settings[0][c])}; {labels[1]} "
             f"{_values(c, settings[1][c])})" for c in columns]
    return (f" The two train different {_and(parts)}, so this is "
            f"{_and([dimension] + [_SETTINGS[c][0] for c in columns])} together.")


def read_shots(summary: pd.DataFrame, conditions: pd.DataFrame | None = None) -> list[str]:
    """Medium shot: does the head-only gap (and conv4 adaptation) shrink as shots grow?

    Where the runs compared also differ in a training setting (inner loop, meta-batch), the
    reading says so, and ``conditions`` (the conv4 summary, optional) supplies a run trained
    with the other run's setting where there is one: it holds that setting fixed. Runs of
    different training lengths (``train_steps``: a run capped for compute and runs trained
    as long) are read apart, the longest first, each against conditions of its own length."""
    if "train_steps" not in summary or summary["train_steps"].nunique() < 2:
        return _read_shots_at(summary, conditions)
    out = []
    for steps in sorted({int(k) for k in summary["train_steps"]}, reverse=True):
        held = None
        if conditions is not None and "steps" in conditions:
            held = conditions[conditions["steps"].map(
                lambda v, k=steps: isinstance(v, (list, tuple)) and list(v) == [k])]
        lines = _read_shots_at(summary[summary["train_steps"] == steps], held)
        out += [f"At {steps} training steps: {line}" for line in lines]
    return out


def _read_shots_at(summary: pd.DataFrame, conditions: pd.DataFrame | None) -> list[str]:
    """:func:`read_shots` for runs of one training length."""
    out = []
    lines = sorted(set(zip(summary["algorithm"], summary["ways"], strict=True)))
    for algorithm, ways in lines:
        part = summary[(summary["algorithm"] == algorithm) & (summary["ways"] == ways)]
        shots = sorted({int(s) for s in part["shots"]})
        for quantity in ("head_only_gap", "similarity"):
            name, scale, unit, value_unit = _NAMES[quantity]
            got = {k: _quantity(part, quantity, shots=k) for k in shots}
            got = {k: s for k, s in got.items() if s is not None}
            if not got:
                continue
            series = ", ".join(
                f"{k} shot{'s' if k > 1 else ''} {s.text(scale, _digits(scale), value_unit)}"
                for k, s in got.items())
            if len(got) < 2:
                out.append(f"{algorithm.upper()} {ways}-way {name}: {series}; one shot setting "
                           "only: no trend to read.")
                continue
            few, many = min(got), max(got)
            lo, hi = got[few], got[many]
            what, word = _trend(quantity, hi.mean - lo.mean)
            labels = (f"{few}-shot", f"{many}-shot")
            settings = (_setting(part, shots=few), _setting(part, shots=many))
            columns = [c for c in settings[0] if settings[0][c] != settings[1].get(c)]
            out.append(f"{algorithm.upper()} {ways}-way {name}: {series}; from {few} to "
                       f"{many} shots the {what} {word} ("
                       f"{_verdict(hi, lo, scale=scale, unit=unit)})."
                       + _caveat("shots", labels, settings, columns))
            out += _held(conditions, quantity, hi, settings, columns, labels, "shots",
                         (few, many), algorithm=algorithm, ways=ways, shots=few)
    return out + _read_ways(summary, conditions)


def _trend(quantity: str, change: float) -> tuple[str, str]:
    """(what, how): the gap grows with its value; conv4's adaptation grows as its CKA falls."""
    grows = change > 0 if quantity != "similarity" else change < 0
    word = "is unchanged" if change == 0 else "grows" if grows else "shrinks"
    return ("adaptation" if quantity == "similarity" else "gap"), word


def _read_ways(summary: pd.DataFrame, conditions: pd.DataFrame | None = None) -> list[str]:
    """At equal shots, the most ways against the fewest: does the gap (and conv4's
    adaptation) grow with ways? Settings that differ too are named, and held where
    ``conditions`` has a fewer-ways run trained with the many-ways setting."""
    out = []
    for (algorithm, shots), part in summary.groupby(["algorithm", "shots"], sort=True):
        ways = sorted({int(w) for w in part["ways"]})
        if len(ways) < 2:
            continue
        few, many = ways[0], ways[-1]
        labels = (f"{few}-way", f"{many}-way")
        settings = (_setting(part, ways=few), _setting(part, ways=many))
        columns = [c for c in settings[0] if settings[0][c] != settings[1].get(c)]
        for quantity in ("head_only_gap", "similarity"):
            name, scale, unit, value_unit = _NAMES[quantity]
            lo = _quantity(part, quantity, ways=few)
            hi = _quantity(part, quantity, ways=many)
            if lo is None or hi is None:
                continue
            what, word = _trend(quantity, hi.mean - lo.mean)
            out.append(f"{algorithm.upper()} {shots}-shot {name}: {few}-way "
                       f"{lo.text(scale, _digits(scale), value_unit)}, {many}-way "
                       f"{hi.text(scale, _digits(scale), value_unit)}; from {few} to {many} "
                       f"ways the {what} {word} ({_verdict(hi, lo, scale=scale, unit=unit)})."
                       + _caveat("ways", labels, settings, columns))
            out += _held(conditions, quantity, hi, settings, columns, labels, "ways",
                         (few, many), algorithm=algorithm, ways=few, shots=shots)
    return out


def _held(conditions: pd.DataFrame | None, quantity: str, hi: Stat,
          settings: tuple[dict, dict], columns: Sequence[str], labels: tuple[str, str],
          dimension: str, span: tuple[int, int], **setting: Any) -> list[str]:
    """The many-ways (most-shots) runs against a condition at the fewer-ways (fewest-shots)
    setting that was trained with their inner loop or meta-batch: that setting held fixed.
    A condition qualifies when it takes the other run's value of at least one differing
    setting and keeps the low run's value of every other one (conditions change one factor)."""
    if conditions is None or not columns or not {"condition", *setting, *columns} <= set(
            conditions):
        return []
    rows = conditions
    for column, value in setting.items():
        rows = rows[rows[column] == value]
    low, high = settings
    name, scale, unit, value_unit = _NAMES[quantity]
    out = []
    for cond in dict.fromkeys(rows["condition"]):
        own = _setting(rows, condition=cond)
        held = [c for c in columns if own.get(c) == high[c]]
        if not held or any(own.get(c) != low[c] for c in low if c not in held):
            continue
        lo = _quantity(rows, quantity, condition=cond)
        if lo is None:
            continue
        what, word = _trend(quantity, hi.mean - lo.mean)
        kept = _and([f"{_SETTINGS[c][0]} ({_values(c, high[c])})" for c in held])
        rest = [c for c in columns if c not in held]
        text = (f"With the {labels[1]} runs' {kept}: the conv4 condition \"{cond}\" "
                f"({setting['algorithm'].upper()} {setting['ways']}-way {setting['shots']}-shot) "
                f"has {name} {lo.text(scale, _digits(scale), value_unit)}; against "
                f"{labels[1]}'s {hi.text(scale, _digits(scale), value_unit)}, from {span[0]} to "
                f"{span[1]} {dimension} the {what} {word} "
                f"({_verdict(hi, lo, scale=scale, unit=unit)}).")
        if rest:
            text += " Still different: " + _and(
                [f"{_SETTINGS[c][1]} ({labels[0]} {_values(c, own[c])}; {labels[1]} "
                 f"{_values(c, high[c])})" for c in rest]) + "."
        out.append(text)
    return out


_STEPS_CONDITION = re.compile(r"^(\d+) (?:inner )?steps, lr ([\d.]+)$")


def _read_inner_steps(summary: pd.DataFrame, conditions: list[str]) -> list[str]:
    """A condition "N steps, lr X" against "inner lr X" (one step, same lr): the number of
    inner steps alone, the one factor the baseline comparison mixes with the lr."""
    out = []
    for cond in conditions:
        match = _STEPS_CONDITION.match(cond)
        reference = match and f"inner lr {match.group(2)}"
        if not match or reference not in conditions:
            continue
        for quantity in ("similarity", "head_only_gap"):
            name, scale, unit, value_unit = _NAMES[quantity]
            s = _quantity(summary, quantity, condition=cond)
            ref = _quantity(summary, quantity, condition=reference)
            if s is None or ref is None:
                continue
            out.append(f"{cond} against {reference} (the number of inner steps alone): {name} "
                       f"{s.text(scale, _digits(scale), value_unit)} vs "
                       f"{ref.text(scale, _digits(scale), value_unit)}: "
                       f"{_verdict(s, ref, scale=scale, unit=unit)}.")
    return out


def read_conv4(summary: pd.DataFrame) -> list[str]:
    """Each controlled condition against the baseline: conv4 CKA and the head-only gap."""
    conditions = list(dict.fromkeys(summary["condition"]))
    if "baseline" not in conditions:
        return ["No baseline run among the conditions: nothing to compare against, not "
                "concluded."]
    out, shrink = [], {}
    for quantity in ("similarity", "head_only_gap", "accuracy"):
        name, scale, unit, value_unit = _NAMES[quantity]
        base = _quantity(summary, quantity, condition="baseline")
        if base is None:
            continue
        for cond in conditions:
            s = _quantity(summary, quantity, condition=cond)
            if cond == "baseline" or s is None:
                continue
            verdict = _verdict(s, base, scale=scale, unit=unit)
            out.append(f"{cond}: {name} {s.text(scale, _digits(scale), value_unit)} vs "
                       f"baseline {base.text(scale, _digits(scale), value_unit)}: {verdict}.")
            if quantity == "head_only_gap":
                d = difference(s, base)
                shrink[cond] = (s.mean - base.mean, None if d is None else d[2] < 0)
    out += _read_inner_steps(summary, conditions)
    if shrink:
        cond, (delta, separated) = min(shrink.items(), key=lambda kv: kv[1][0])
        if delta < 0:
            out.append(f"The condition that shrinks the head-only gap most is {cond} "
                       f"({100 * delta:+.1f} points); " + (
                           "it or the baseline has fewer than 2 seeds, so this is not a "
                           "conclusion." if separated is None else
                           "its change is separated from the baseline by the seeds."
                           if separated else "its change is not separated from the baseline "
                           "by the seeds, so it is not a conclusion."))
        else:
            out.append("No condition shrinks the head-only gap below the baseline's.")
    return out
