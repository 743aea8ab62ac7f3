"""Figures and display tables of the adaptation budget and of the long tier.

Drawn from seed summaries (``budget_summary``, ``length_summary``, ``length_freezing_summary``
as :func:`repsim.study_runs.gather_tables` writes them); nothing is computed here but display
strings and the t interval over seeds that the tables print.

- :func:`budget`: per run, each reader's accuracy (the trained inner loop, the head alone at the
  trained and at 200 steps, the best head-side reader, the probes, conv4 + head alone);
- :func:`length_curves`: the paper's claim 3 along training: θ vs θ′ CKA per layer, the
  freezing curve and the accuracies at each kept checkpoint;
- :func:`budget_table`, :func:`length_table`: one row per run (per run and quantity).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from repsim.plots.style import CYCLE, styled

__all__ = ["budget", "budget_table", "freezing_table", "length_curves", "length_table"]

#: The budget's readers, drawn and tabulated in this order: (quantity, label).
READERS = (
    ("inner_loop", "(a) trained inner loop"),
    ("head_only", "(b) head only, trained steps"),
    ("head_only_200", "(c) head only, 200 steps"),
    ("nil", "(d) NIL head on θ"),
    ("prototype", "(d) prototype on θ"),
    ("probe", "(e) probe on θ"),
    ("probe_adapted", "(f) probe on θ′"),
    ("top_and_head", "(g) conv4 + head only"),
)


def _cell(row: Any, scale: float = 100.0, digits: int = 1) -> str:
    if row is None:
        return "–"
    text = f"{scale * row['seed_mean']:.{digits}f}"
    std = row["seed_std"]
    if std is not None and math.isfinite(std):
        text += f" ± {scale * std:.{digits}f}"
    return text


def _ci(row: Any, scale: float = 100.0, digits: int = 1) -> str:
    """``mean [lo, hi]``: the t interval over seeds (n ≥ 2)."""
    if row is None:
        return "–"
    n, mean, std = int(row["n_seeds"]), float(row["seed_mean"]), row["seed_std"]
    if n < 2 or std is None or not math.isfinite(std):
        return f"{scale * mean:+.{digits}f} (n={n})"
    half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    return (f"{scale * mean:+.{digits}f} [{scale * (mean - half):+.{digits}f}, "
            f"{scale * (mean + half):+.{digits}f}]")


def _rows(summary: pd.DataFrame) -> dict[tuple[str, int], dict[str, Any]]:
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for row in summary.to_dict("records"):
        out.setdefault((row["run"], int(row["train_steps"])), {})[row["quantity"]] = row
    return out


def budget_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per run and length: every reader (mean ± std over seeds, %), the best
    head-side reader, and the two gains with their 95% CI over seeds (points)."""
    table = []
    for (run, steps), q in _rows(summary).items():
        first = next(iter(q.values()))
        best = q.get("best_head_side")
        names = (best or {}).get("detail_per_seed") or []
        table.append({
            "run": run, "regime": first["regime"],
            "setting": f"{int(first['ways'])}w{int(first['shots'])}s", "steps": steps,
            "n_seeds": int(first["n_seeds"]),
            **{label: _cell(q.get(k)) for k, label in READERS},
            "best head-side (which)": _cell(best) + (
                f" ({', '.join(dict.fromkeys(map(str, names)))})" if names else ""),
            "body-only gain [95% CI]": _ci(q.get("body_only_gain")),
            "probe gain [95% CI]": _ci(q.get("probe_gain"))})
    return pd.DataFrame(table)


@styled
def budget(summary: pd.DataFrame) -> Figure:
    """Per run (rows), each reader's accuracy as a dot with ± std over seeds."""
    import matplotlib.pyplot as plt

    rows = [(k, q) for k, q in _rows(summary).items() if "inner_loop" in q]
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(rows) + 1.6))
    for i, (_, q) in enumerate(rows):
        for j, (key, label) in enumerate(READERS):
            row = q.get(key)
            if row is None:
                continue
            ax.errorbar(100 * row["seed_mean"], i + (j - 3.5) * 0.07,
                        xerr=100 * (row["seed_std"] if math.isfinite(row["seed_std"]) else 0),
                        fmt="o" if key != "inner_loop" else "D", ms=4, color=CYCLE[j % len(CYCLE)],
                        label=label if i == 0 else None)
    ax.set_yticks(range(len(rows)), [f"{run} ({steps} steps)" for (run, steps), _ in rows])
    ax.invert_yaxis()
    ax.set_xlabel("accuracy on the same 600 test tasks (%), mean ± std over seeds")
    ax.set_title("What each reader gets from θ's body, and what the inner loop adds")
    # below the axes: inside, it would sit on the lowest run's dots
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), fontsize=7, ncol=4,
              frameon=False)
    fig.tight_layout()
    return fig


def length_table(summary: pd.DataFrame, freezing: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run and quantity: mean ± std over seeds at every kept length, then the
    end minus 1000 steps (paired over seeds; 95% t interval)."""
    from repsim.analyses.budget_readings import LENGTH_QUANTITIES

    table = []
    steps = sorted({int(s) for s in summary["train_steps"]})
    for run in dict.fromkeys(summary["run"]):
        part = summary[summary["run"] == run]
        for quantity, layer, label, scale, _ in LENGTH_QUANTITIES:
            sel = part[(part["quantity"] == quantity) & (
                part["layer"].isna() if layer is None else part["layer"] == layer)]
            if sel.empty:
                continue
            by_step = {int(r["train_steps"]): r for r in sel.to_dict("records")}
            digits = 1 if scale == 100.0 else 3
            cells = {f"{k} steps": _cell(by_step.get(k), scale, digits) for k in steps}
            end = max(by_step)
            change = "–"
            if 1000 in by_step and end > 1000:
                a, b = by_step[end], by_step[1000]
                common = sorted(set(a["seeds"]) & set(b["seeds"]))  # paired on shared seeds
                if len(common) >= 2:
                    d = np.subtract([a["per_seed"][list(a["seeds"]).index(k)] for k in common],
                                    [b["per_seed"][list(b["seeds"]).index(k)] for k in common])
                    change = _ci({"n_seeds": len(d), "seed_mean": d.mean(),
                                  "seed_std": d.std(ddof=1)}, scale, digits)
            table.append({"run": run, "quantity": label, **cells,
                          "end − 1000 (paired over shared seeds, 95% CI)": change})
    return pd.DataFrame(table)


def freezing_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per run and length: accuracy (%) with conv1..k frozen at test, k = 0..4."""
    table = []
    for (run, steps), part in summary.groupby(["run", "train_steps"], sort=False):
        row = {"run": run, "steps": int(steps), "n_seeds": int(part["n_seeds"].max())}
        for r in part.sort_values("n_frozen").to_dict("records"):
            k = int(r["n_frozen"])
            row["none frozen" if k == 0 else f"conv1..{k} frozen"] = _cell(r)
        table.append(row)
    return pd.DataFrame(table).sort_values(["run", "steps"], kind="stable")


@styled
def length_curves(summary: pd.DataFrame, freezing: pd.DataFrame | None = None) -> Figure:
    """Claim 3 along training: CKA per layer, the freezing curve, and the accuracies."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    styles = ["-", "--", ":", "-."]
    runs = list(dict.fromkeys(summary["run"]))

    def line(ax, rows, scale, color, style, label):
        rows = rows.sort_values("train_steps")
        std = rows["seed_std"].fillna(0).to_numpy()
        ax.errorbar(rows["train_steps"], scale * rows["seed_mean"], yerr=scale * std,
                    color=color, ls=style, marker="o", ms=3, capsize=2, label=label)

    for r, run in enumerate(runs):
        part = summary[summary["run"] == run]
        sim = part[part["quantity"] == "similarity"]
        for c, layer in enumerate(("conv1", "conv2", "conv3", "conv4", "head")):
            rows = sim[sim["layer"] == layer]
            if not rows.empty:
                line(axes[0], rows, 1.0, CYCLE[c], styles[r % 4], f"{run}: {layer}")
        for c, quantity in enumerate(("accuracy", "head_only_accuracy", "nil_accuracy",
                                      "best_head_side")):
            rows = part[part["quantity"] == quantity]
            if not rows.empty:
                line(axes[2], rows, 100.0, CYCLE[c], styles[r % 4], f"{run}: {quantity}")
    if freezing is not None and not freezing.empty:
        for r, run in enumerate(dict.fromkeys(freezing["run"])):
            part = freezing[freezing["run"] == run]
            for k in sorted({int(k) for k in part["n_frozen"]}):
                rows = part[part["n_frozen"] == k]
                line(axes[1], rows, 100.0, CYCLE[k % len(CYCLE)], styles[r % 4],
                     f"{run}: conv1..{k} frozen" if k else f"{run}: none frozen")
    titles = ("θ vs θ′ linear CKA per layer", "freezing at test (own head adapted)",
              "accuracy (%)")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
        ax.set_xscale("log")
        ax.set_xlabel("training steps (meta-iterations)")
        ax.legend(fontsize=6, loc="best")
    axes[0].set_ylabel("CKA")
    axes[1].set_ylabel("accuracy (%)")
    fig.suptitle("Along training: mean ± std over seeds at each kept checkpoint")
    fig.tight_layout()
    return fig
