"""The report's reading sentences follow the numbers: intervals checked against scipy's t-tests,
and each conclusion flips when the numbers do (nothing is hard-coded)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from repsim.analyses.study_readings import (
    Stat,
    difference,
    read_between,
    read_conv4,
    read_regimes,
    read_seeds,
    read_shots,
)


def _row(values, **keys):
    values = list(values)
    return {**keys, "seed_mean": float(np.mean(values)),
            "seed_std": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan,
            "n_seeds": len(values), "seeds": list(range(len(values))), "per_seed": values,
            "per_seed_ci95": [0.01] * len(values)}


def _stat(values) -> Stat:
    return Stat.of(_row(values))


def test_differences_match_scipy_welch_and_paired_t_intervals():
    a, b = [0.91, 0.95, 0.97], [0.80, 0.86, 0.81]
    diff, lo, hi = difference(_stat(a), _stat(b))
    # textbook Welch-Satterthwaite interval, independent of scipy's ttest_ind
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 3
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)
    assert diff == pytest.approx(np.mean(a) - np.mean(b))
    assert (lo, hi) == pytest.approx((diff - half, diff + half))
    d = np.subtract(a, b)  # paired: t interval of the per-seed differences
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    diff, lo, hi = difference(_stat(a), _stat(b), paired=True)
    assert (diff, lo, hi) == pytest.approx((d.mean(), d.mean() - half, d.mean() + half))
    assert difference(_stat([0.0, 0.0, 0.0]), _stat([0.0, 0.0, 0.0])) == (0.0, 0.0, 0.0)
    assert difference(_stat([0.9]), _stat(b)) is None  # one seed: no spread to judge


def _conv4(baseline_gap, flat_gap, lr_gap):
    rows, n = [], len(baseline_gap)
    for cond, gap, cka in (("baseline", baseline_gap, [0.74, 0.75, 0.73][:n]),
                           ("flatten before head", flat_gap, [0.95, 0.96, 0.97][:n]),
                           ("inner lr 0.1", lr_gap, [0.74, 0.76, 0.72][:n])):
        rows.append(_row(gap, condition=cond, quantity="head_only_gap", layer=None,
                         measure=None))
        rows.append(_row(cka, condition=cond, quantity="similarity", layer="conv4",
                         measure="cka"))
    return pd.DataFrame(rows)


def test_conv4_reading_names_the_condition_the_numbers_pick():
    text = " ".join(read_conv4(_conv4([0.58, 0.60, 0.59], [0.10, 0.12, 0.11],
                                      [0.55, 0.61, 0.57])))
    assert "shrinks the head-only gap most is flatten before head (-48.0 points)" in text
    assert "its change is separated from the baseline" in text
    assert "flatten before head: conv4 θ vs θ′ CKA 0.960 ± 0.010 (n=3)" in text
    # swap which condition helps: the sentence follows
    text = " ".join(read_conv4(_conv4([0.58, 0.60, 0.59], [0.55, 0.61, 0.57],
                                      [0.10, 0.12, 0.11])))
    assert "shrinks the head-only gap most is inner lr 0.1" in text
    # no condition helps
    text = " ".join(read_conv4(_conv4([0.10, 0.12, 0.11], [0.58, 0.60, 0.59],
                                      [0.55, 0.61, 0.57])))
    assert "No condition shrinks the head-only gap" in text
    # overlapping seeds: the direction is given but not concluded
    text = " ".join(read_conv4(_conv4([0.30, 0.60, 0.45], [0.20, 0.62, 0.40],
                                      [0.35, 0.58, 0.47])))
    assert "not separated" in text and "not a conclusion" in text
    # one seed per condition: nothing concluded
    text = " ".join(read_conv4(_conv4([0.58], [0.10], [0.55])))
    assert "fewer than 2 seeds" in text and "not a conclusion" in text
    assert "separated" not in text


def test_conv4_reading_isolates_inner_steps_against_the_same_lr():
    frame = _conv4([0.58, 0.60, 0.59], [0.10, 0.12, 0.11], [0.65, 0.67, 0.66])
    rows = [_row([0.62, 0.63, 0.61], condition="5 steps, lr 0.1", quantity="head_only_gap",
                 layer=None, measure=None),
            _row([0.82, 0.83, 0.81], condition="5 steps, lr 0.1", quantity="similarity",
                 layer="conv4", measure="cka")]
    frame = pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)
    text = " ".join(read_conv4(frame))
    steps = "5 steps, lr 0.1 against inner lr 0.1 (the number of inner steps alone)"
    # gap 62.0 vs 66.0: -4.0 points, separated (Welch over 3 seeds each)
    assert (f"{steps}: head-only gap 62.0 ± 1.0 points (n=3) vs 66.0 ± 1.0 points (n=3): "
            "difference -4.0 points") in text
    assert f"{steps}: conv4 θ vs θ′ CKA 0.820 ± 0.010 (n=3) vs 0.740 ± 0.020 (n=3)" in text
    # without the one-step run at the same lr there is nothing to isolate
    no_ref = frame[frame["condition"] != "inner lr 0.1"]
    assert "inner steps alone" not in " ".join(read_conv4(no_ref))


def test_shots_reading_says_shrink_or_grow_from_the_numbers():
    def table(gaps):
        return pd.DataFrame([_row(g, algorithm="maml", ways=5, shots=k,
                                  quantity="head_only_gap", layer=None, measure=None)
                             for k, g in zip((1, 5, 10), gaps, strict=True)])

    text = " ".join(read_shots(table([[0.6, 0.58], [0.3, 0.32], [0.1, 0.12]])))
    assert "from 1 to 10 shots the gap shrinks" in text and "separated by the seeds" in text
    text = " ".join(read_shots(table([[0.1, 0.12], [0.3, 0.32], [0.6, 0.58]])))
    assert "from 1 to 10 shots the gap grows" in text
    text = " ".join(read_shots(table([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])))  # ANIL's gap
    assert "the gap is unchanged" in text and "shrinks" not in text
    one = pd.DataFrame([_row([0.6], algorithm="maml", ways=5, shots=1,
                             quantity="head_only_gap", layer=None, measure=None)])
    assert "no trend to read" in " ".join(read_shots(one))


def test_shots_reading_compares_ways_at_equal_shots():
    rows = [_row(g, algorithm="maml", ways=w, shots=1, quantity="head_only_gap", layer=None,
                 measure=None) for w, g in ((5, [0.50, 0.52, 0.54]), (20, [0.70, 0.72, 0.74]))]
    rows += [_row(c, algorithm="maml", ways=w, shots=1, quantity="similarity", layer="conv4",
                  measure="cka") for w, c in ((5, [0.75, 0.76, 0.77]), (20, [0.85, 0.86, 0.87]))]
    text = " ".join(read_shots(pd.DataFrame(rows)))
    assert ("MAML 1-shot head-only gap: 5-way 52.0 ± 2.0 points (n=3), 20-way 72.0 ± 2.0 "
            "points (n=3); from 5 to 20 ways the gap grows") in text
    assert "from 5 to 20 ways the adaptation shrinks" in text  # CKA up: less adaptation
    assert "different inner loops" not in text  # no inner-loop column: nothing to say
    assert " ".join(read_shots(pd.DataFrame(rows[:1]))).count("ways the") == 0
    frame = pd.DataFrame(rows).assign(inner=["1 x lr 0.4", "5 x lr 0.1"] * 2)
    assert ("The two train different inner loops (5-way 1 x lr 0.4; 20-way 5 x lr 0.1)"
            in " ".join(read_shots(frame)))
    same = pd.DataFrame(rows).assign(inner="5 x lr 0.1")
    assert "different inner loops" not in " ".join(read_shots(same))


def test_ways_reading_holds_the_inner_loop_with_a_matching_conv4_condition():
    rows = [_row(g, algorithm="maml", ways=w, shots=1, inner=i, meta_batch=b,
                 quantity="head_only_gap", layer=None, measure=None)
            for w, i, b, g in ((5, "1 x lr 0.4", 32, [0.50, 0.52, 0.54]),
                               (20, "5 x lr 0.1", 16, [0.70, 0.72, 0.74]))]
    conditions = pd.DataFrame([
        _row(g, condition=c, algorithm="maml", ways=5, shots=1, inner=i, meta_batch=b,
             quantity="head_only_gap", layer=None, measure=None)
        for c, i, b, g in (("baseline", "1 x lr 0.4", 32, [0.50, 0.52, 0.54]),
                           ("5 steps, lr 0.1", "5 x lr 0.1", 32, [0.62, 0.64, 0.66]),
                           ("zero head init", "1 x lr 0.4", 32, [0.20, 0.22, 0.24]))])
    text = " ".join(read_shots(pd.DataFrame(rows), conditions))
    assert ("The two train different inner loops (5-way 1 x lr 0.4; 20-way 5 x lr 0.1) and "
            "meta-batches (5-way 32 tasks per step; 20-way 16 tasks per step), so this is ways, "
            "inner loop and meta-batch together.") in text
    # Welch: difference 8.0 points, se = sqrt(2 * 2.0**2 / 3), 4 degrees of freedom
    half = stats.t.ppf(0.975, 4) * math.sqrt(2 * 2.0**2 / 3)
    p = 2 * stats.t.sf(8 / math.sqrt(2 * 2.0**2 / 3), 4)  # the Welch test's two-sided p
    assert ("With the 20-way runs' inner loop (5 x lr 0.1): the conv4 condition "
            '"5 steps, lr 0.1" (MAML 5-way 1-shot) has head-only gap 64.0 ± 2.0 points (n=3); '
            "against 20-way's 72.0 ± 2.0 points (n=3), from 5 to 20 ways the gap grows "
            f"(difference +8.0 points, 95% CI over seeds [{8 - half:+.1f}, {8 + half:+.1f}]: "
            f"separated by the seeds (p = {p:.3f}, not corrected for the report's other "
            "readings)). Still different: meta-batches (5-way 32 tasks per step; "
            "20-way 16 tasks per step).") in text
    # neither the baseline nor a condition that changes something else is a held comparison
    assert text.count("With the 20-way runs'") == 1
    assert "With the" not in " ".join(read_shots(pd.DataFrame(rows)))
    other = conditions.assign(shots=5)  # a condition at other shots does not match
    assert "With the" not in " ".join(read_shots(pd.DataFrame(rows), other))


def test_shots_reading_names_and_holds_the_meta_batch():
    rows = [_row(g, algorithm="maml", ways=5, shots=k, inner="1 x lr 0.4", meta_batch=b,
                 quantity="head_only_gap", layer=None, measure=None)
            for k, b, g in ((1, 32, [0.50, 0.52, 0.54]), (5, 16, [0.58, 0.60, 0.62]),
                            (15, 8, [0.66, 0.68, 0.70]))]
    conditions = pd.DataFrame([
        _row(g, condition=c, algorithm="maml", ways=5, shots=1, inner="1 x lr 0.4",
             meta_batch=b, quantity="head_only_gap", layer=None, measure=None)
        for c, b, g in (("baseline", 32, [0.50, 0.52, 0.54]),
                        ("meta-batch 8", 8, [0.66, 0.68, 0.70]))])
    text = " ".join(read_shots(pd.DataFrame(rows), conditions))
    assert ("from 1 to 15 shots the gap grows (difference +16.0 points" in text
            and "The two train different meta-batches (1-shot 32 tasks per step; 15-shot 8 "
            "tasks per step), so this is shots and meta-batch together." in text)
    assert ("With the 15-shot runs' meta-batch (8 tasks per step): the conv4 condition "
            '"meta-batch 8" (MAML 5-way 1-shot) has head-only gap 68.0 ± 2.0 points (n=3); '
            "against 15-shot's 68.0 ± 2.0 points (n=3), from 1 to 15 shots the gap is "
            "unchanged (difference +0.0 points") in text
    assert "Still different" not in text
    same = pd.DataFrame(rows).assign(meta_batch=8)  # nothing differs: nothing to hold
    assert "meta-batch" not in " ".join(read_shots(same, conditions))


def test_shots_reading_reads_each_training_length_apart():
    """A run capped for compute (100 steps) is read against runs of its own length; the
    conditions it may hold with are those of its length too."""
    def gap(ways, shots, steps, values, meta_batch=16):
        return _row(values, algorithm="maml", ways=ways, shots=shots, inner="5 x lr 0.1",
                    meta_batch=meta_batch, train_steps=steps, steps=[steps],
                    quantity="head_only_gap", layer=None, measure=None)

    rows = [gap(20, 1, 1000, [0.74, 0.76, 0.78]),
            gap(20, 1, 100, [0.40, 0.42, 0.44]), gap(20, 5, 100, [0.60, 0.62, 0.64])]
    conditions = pd.DataFrame([
        _row(v, condition=c, algorithm="maml", ways=20, shots=1, inner="5 x lr 0.1",
             meta_batch=b, steps=[1000], quantity="head_only_gap", layer=None, measure=None)
        for c, b, v in (("baseline", 16, [0.74, 0.76, 0.78]), ("mb 32", 32, [0.10, 0.12, 0.14]))])
    lines = read_shots(pd.DataFrame(rows))
    assert lines[0].startswith("At 1000 training steps: MAML 20-way head-only gap: 1 shot 76.0")
    assert "one shot setting only" in lines[0]
    text = " ".join(lines)
    assert ("At 100 training steps: MAML 20-way head-only gap: 1 shot 42.0 ± 2.0 points (n=3), "
            "5 shots 62.0 ± 2.0 points (n=3); from 1 to 5 shots the gap grows (difference "
            "+20.0 points") in text
    assert "careful" not in text  # never compared across lengths
    assert "76.0" not in text.split("At 100 training steps:")[1]
    # a 5-shot run at 32 tasks per step: the 1000-step condition "mb 32" is not its length
    rows[2] = gap(20, 5, 100, [0.60, 0.62, 0.64], meta_batch=32)
    text = " ".join(read_shots(pd.DataFrame(rows), conditions))
    assert "different meta-batches" in text and "With the" not in text
    at_100 = conditions.assign(steps=[[100], [100]])
    assert 'the conv4 condition "mb 32"' in " ".join(read_shots(pd.DataFrame(rows), at_100))
    # one length only: read as before, without the prefix
    assert not read_shots(pd.DataFrame(rows[1:]))[0].startswith("At ")


def test_seeds_between_and_regimes_readings():
    seeds = pd.DataFrame([
        _row([0.55, 0.60, 0.65], regime="MAML", quantity="head_only_gap", layer=None,
             measure=None),
        _row([0.99, 0.98, 0.99], regime="MAML", quantity="accuracy", layer=None, measure=None),
        _row([0.97, 0.98, 0.975], regime="ANIL", quantity="accuracy", layer=None,
             measure=None),
    ])
    text = " ".join(read_seeds(seeds))
    half = stats.t.ppf(0.975, 2) * 0.05 / math.sqrt(3)
    assert f"[{100 * (0.6 - half):.1f}, {100 * (0.6 + half):.1f}] points excludes 0" in text
    assert "3 of 3 seeds' 95% CIs over tasks exclude 0" in text
    one = seeds.iloc[[0]].assign(n_seeds=1, seed_std=math.nan, seeds=[[0]], per_seed=[[0.6]],
                                 per_seed_ci95=[[0.7]])
    one_text = " ".join(read_seeds(one))
    assert "one seed (n=1): not concluded" in one_text and "0 of 1 seeds'" in one_text
    assert "Own head, MAML 98.7 ± 0.6% (n=3) vs ANIL 97.5 ± 0.5% (n=3)" in text
    between = pd.DataFrame([{"kind": "maml vs maml", "measure": "cka", "pair_mean": 0.95,
                             "pair_std": 0.01, "n_pairs": 3, "pairs": ["a", "b", "c"],
                             "per_pair": [0.94, 0.95, 0.96]}])
    assert "every pair lies above it" in read_between(between, {"cka": (0.83, 0.86)})[0]
    between.loc[0, "per_pair"] = [0.80, 0.84, 0.90]
    assert "the pairs reach into it" in read_between(between, {"cka": (0.83, 0.86)})[0]
    regimes = pd.DataFrame([_row(v, regime=r, head="nil") for r, v in
                            (("MAML", [0.9, 0.91]), ("random", [0.5, 0.52]),
                             ("multiclass", [0.95, 0.96]))])
    text = " ".join(read_regimes(regimes, {"MAML": 48.4, "random": 32.9, "multiclass": 39.7}))
    assert "ours rank multiclass (95.5) > MAML (90.5) > random (51.0)" in text
    assert "Best meta-learned body (MAML) vs best other regime (multiclass)" in text
    assert "Spearman ρ = 0.50" in text and "careful" not in text
    regimes["steps"] = [[2000], [2000], [8000]]
    text = " ".join(read_regimes(regimes, {"MAML": 48.4}))
    assert "careful: from different training steps, 2000 vs 8000" in text


def test_holm_adjusts_by_hand_and_marks_resolve_over_the_whole_report():
    from repsim.analyses.multiple import Collector, collecting, holm, mark

    # by hand: sorted 0.01, 0.02, 0.04, 0.30 times 4, 3, 2, 1 -> 0.04, 0.06, 0.08, 0.30;
    # running maximum keeps that order; back in the input order
    assert holm([0.04, 0.01, 0.30, 0.02]).tolist() == pytest.approx([0.08, 0.04, 0.30, 0.06])
    # 0.5 · 2 caps at 1; 0.9 · 1 is raised to it by the running maximum (monotone)
    assert holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError, match="p-values"):
        holm([0.1, float("nan")])
    assert "not corrected" in mark(0.2)  # outside a report
    with collecting() as c:
        texts = [f"A is separated from B ({mark(0.01)}).", f"C is not ({mark(0.04)})."]
    assert isinstance(c, Collector) and c.pvalues == [0.01, 0.04]
    first, second = (c.resolve(t) for t in texts)
    assert "p = 0.010; Holm-adjusted over the report's 2 readings p = 0.020: holds" in first
    assert "p = 0.040; Holm-adjusted over the report's 2 readings p = 0.040: holds" in second
    table = c.table(texts)
    assert table["verdict"].tolist() == ["holds", "holds"]
    assert table["comparison"][0].startswith("A is separated from B")


def test_every_verdict_carries_the_p_value_of_its_own_test():
    from repsim.analyses.study_readings import Stat, p_value

    a = Stat(0.6, 0.02, 3, (0, 1, 2), (0.58, 0.60, 0.62), (0.01,) * 3)
    b = Stat(0.5, 0.02, 3, (0, 1, 2), (0.49, 0.50, 0.51), (0.01,) * 3)
    assert p_value(a, b) == pytest.approx(
        stats.ttest_ind(a.per_seed, b.per_seed, equal_var=False).pvalue)
    assert p_value(a, b, paired=True) == pytest.approx(
        stats.ttest_rel(a.per_seed, b.per_seed).pvalue)
    assert p_value(a) == pytest.approx(stats.ttest_1samp(a.per_seed, 0).pvalue)
    flat = Stat(0.0, 0.0, 3, (0, 1, 2), (0.0, 0.0, 0.0), (0.0,) * 3)
    assert p_value(flat) == 1.0 and p_value(Stat(1, 0, 1, (0,), (1.0,), (0.1,))) is None


def _budget_rows(run, steps, quantities):
    return [{"run": run, "regime": "MAML", "ways": 5, "shots": 1, "train_steps": steps,
             "quantity": q, "summarised": "value", "seed_mean": float(np.mean(v)),
             "seed_std": float(np.std(v, ddof=1)), "n_seeds": len(v), "seeds": [0, 1, 2],
             "per_seed": list(v), "per_seed_ci95": [0.01] * 3, "steps": [steps],
             **({"detail_per_seed": ["prototype", "nil", "prototype"]}
                if q == "best_head_side" else {})}
            for q, v in quantities.items()]


def test_budget_readings_test_the_gain_and_compare_it_where_the_gap_was_read():
    from repsim.analyses.budget_readings import read_budget

    base = {"body_only_gain": [0.05, 0.06, 0.04], "probe_gain": [0.06, 0.07, 0.05],
            "best_head_side": [0.89, 0.88, 0.90]}
    flat = {"body_only_gain": [0.015, 0.02, 0.01]}
    summary = pd.DataFrame(_budget_rows("maml-5w1s-short", 1000, base)
                           + _budget_rows("maml-5w1s-flatten", 1000, flat)
                           + _budget_rows("maml-5w1s-zerohead", 100, flat))  # other length
    text = " ".join(read_budget(summary))
    assert "maml-5w1s-short: the full inner loop buys 5.0 ± 1.0 points (n=3)" in text
    assert "best reader per seed: prototype, nil, prototype" in text
    p = stats.ttest_1samp(base["body_only_gain"], 0).pvalue
    assert f"excludes 0 (p = {p:.3f}" in text
    welch = stats.ttest_ind(flat["body_only_gain"], base["body_only_gain"], equal_var=False)
    assert ("Body-only gain, flattened conv4 maps before the head: maml-5w1s-flatten 1.5 ± "
            "0.5 points (n=3) vs maml-5w1s-short 5.0 ± 1.0 points (n=3): difference -3.5 "
            "points") in text and f"p = {welch.pvalue:.3f}" in text
    assert "zero-initialised" not in text  # never read across training lengths


def test_length_readings_pair_each_run_with_itself_at_1000_steps():
    from repsim.analyses.budget_readings import read_length

    rows = (_budget_rows("maml-5w1s-10k", 1000, {"body_only_gain": [0.05, 0.06, 0.04]})
            + _budget_rows("maml-5w1s-10k", 10000, {"body_only_gain": [0.03, 0.05, 0.02]}))
    frame = pd.DataFrame(rows).assign(layer=None)
    text = " ".join(read_length(frame))
    p = stats.ttest_rel([0.03, 0.05, 0.02], [0.05, 0.06, 0.04]).pvalue
    assert ("maml-5w1s-10k, body-only gain: 5.0 ± 1.0 points (n=3) at 1000 steps, 3.3 ± 1.5 "
            "points (n=3) at 10000: difference -1.7 points") in text
    assert f"p = {p:.3f}" in text and "careful" not in text  # paired on purpose


def test_length_readings_pair_on_the_seeds_both_lengths_have():
    from repsim.analyses.budget_readings import read_length

    rows = _budget_rows("anil-10k", 1000, {"body_only_gain": [0.05, 0.09, 0.04]})
    end = _budget_rows("anil-10k", 10000, {"body_only_gain": [0.03, 0.0, 0.02]})[0]
    end.update(seeds=[0, 2], per_seed=[0.03, 0.02], n_seeds=2, seed_mean=0.025,
               seed_std=float(np.std([0.03, 0.02], ddof=1)), per_seed_ci95=[0.01, 0.01])
    text = " ".join(read_length(pd.DataFrame([*rows, end]).assign(layer=None)))
    # seed 1 (still training) is left out of the 1000-step side: 4.5 ± 0.7, n=2, paired
    assert "4.5 ± 0.7 points (n=2) at 1000 steps, 2.5 ± 0.7 points (n=2) at 10000" in text
    assert "difference -2.0 points, 95% CI over seeds [+nan" not in text
    p = stats.ttest_rel([0.03, 0.02], [0.05, 0.04]).pvalue if np.ptp([-0.02, -0.02]) else 0.0
    assert f"p {'< 0.001' if p < 0.001 else f'= {p:.3f}'}" in text
