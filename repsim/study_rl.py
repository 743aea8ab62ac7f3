"""``repsim reproduce rl-nav2d|rl-cheetah-vel|rl-cheetah-dir``: the meta-RL study end to end.

Train MAML-TRPO and ANIL-TRPO for each seed (resumable), then for every run's last checkpoint:
returns before/after adaptation on fixed test tasks, θ vs θ' similarity of ``fc1, fc2, head``
(same measures and baselines as classification), and the freezing ablation; then tables,
figures and a markdown report with the paper's numbers beside ours. The scale (``cpu`` or
``paper``) and the iterations each run reached are written in every table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repsim._csv import read_csv
from repsim._io import atomic_write_text, run_manifest
from repsim.analyses.tables import write_table

__all__ = ["GAIN_SENTENCE", "PAPER_RETURNS", "RL_STUDY_ENVS", "gain_figure", "is_rl_study",
           "redraw_rl_study", "rl_summary", "run_rl_study"]

RL_STUDY_ENVS = {"rl-nav2d": "nav2d", "rl-cheetah-vel": "cheetah-vel",
                 "rl-cheetah-dir": "cheetah-dir"}
# Raghu et al. 2020, Table 2: return after one adaptation step, mean ± std over seeds.
PAPER_RETURNS = {
    "nav2d": {"maml": (-20.3, 3.2), "anil": (-20.1, 2.3)},
    "cheetah-vel": {"maml": (-139.0, 18.9), "anil": (-120.9, 6.3)},
    "cheetah-dir": {"maml": (170.4, 21.0), "anil": (363.2, 14.8)},
}
# Episode length behind those numbers (PAPER.md: 200 in the official code for HalfCheetah).
PAPER_HORIZON = {"nav2d": 100, "cheetah-vel": 200, "cheetah-dir": 200}
ALGORITHMS = ("maml", "anil")


GAIN_SENTENCE = ("What the inner step gains, iteration by iteration (after − before, trailing "
                 "mean with its 95% CI; window in the figure's legend):")


def gain_figure(curves: pd.DataFrame, env: str, scale: str, *, source: str):
    """The adaptation-gain figure of a study's training curves, and its caption."""
    from repsim.plots.rl import rl_adaptation_gain

    # 25 iterations (500 tasks) per point; short runs get a window of half their length
    window = max(2, min(25, int(curves["step"].nunique()) // 2))
    fig = rl_adaptation_gain(curves, window=window, title=f"{env}: return gained by one inner "
                             f"step during training ({scale} scale)")
    return fig, (f"Adaptation gain during meta-training ({env}, {scale} scale): return after − "
                 f"before the inner step on the meta-batch's tasks, mean over a trailing "
                 f"{window}-iteration window (seeds pooled); band: its 95% CI over those "
                 f"iterations × seeds; dotted: no gain. Source: {source}.")


def _env_of(preset: str) -> str:
    if preset not in RL_STUDY_ENVS:
        raise ValueError(f"unknown RL preset {preset!r}; valid: {', '.join(RL_STUDY_ENVS)}")
    return RL_STUDY_ENVS[preset]


def rl_summary(evals: pd.DataFrame) -> pd.DataFrame:
    """Per algorithm: mean ± std over seeds of the returns, and the paper's beside them."""
    rows = []
    for alg, g in evals.groupby("algorithm", sort=False):
        env = g["env"].iloc[0]
        pm, ps = PAPER_RETURNS.get(env, {}).get(alg, (np.nan, np.nan))
        rows.append({
            "env": env, "algorithm": alg, "scale": g["scale"].iloc[0],
            "horizon": int(g["horizon"].iloc[0]), "seeds": len(g),
            "iterations": ",".join(str(int(s)) for s in g["step"]),
            "return_before": g["return_before"].mean(),
            "return_before_std": g["return_before"].std(ddof=1) if len(g) > 1 else np.nan,
            "return_after": g["return_after"].mean(),
            "return_after_std": g["return_after"].std(ddof=1) if len(g) > 1 else np.nan,
            "improvement": g["improvement"].mean(),
            "min_improvement_ci_low": (g["improvement"] - g["ci95_improvement"]).min(),
            "tasks": int(g["tasks"].iloc[0]), "paper_return_after": pm, "paper_std": ps,
        })
    return pd.DataFrame(rows)


def _aggregate_compare(compare: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (algorithm, layer, measure); CI: 1.96·std/√seeds over seed means."""
    keys = ["algorithm", "layer", "measure"]
    g = compare.groupby(keys, sort=False)
    out = g[["mean", "baseline"]].mean()
    n = g["mean"].count()
    out["ci95"] = (1.96 * g["mean"].std(ddof=1) / np.sqrt(n)).fillna(g["ci95"].mean())
    out["baseline_ci95"] = g["baseline_ci95"].mean()
    out["seeds"] = n
    return out.reset_index()


def run_rl_study(
    preset: str, *, scale: str = "cpu", seeds: int = 3, out_dir: str | Path,
    runs_dir: str | Path | None = None, steps: int | None = None, train: bool = True,
    tasks: int = 40, compare_tasks: int = 20, test_seed: int = 0,
    log: Callable[[str], Any] = print,
) -> dict[str, Path]:
    """Train (unless ``train=False``), evaluate, compare, ablate, draw and report.

    Runs live in ``runs_dir`` (default ``out_dir/runs``) as ``ALGO-sSEED``; with ``train=False``
    the last checkpoint of each existing run is analysed as it is. Returns the files written.
    """
    import repsim.rl  # noqa: F401  (fails clearly without the extra)
    from repsim.analyses.rl import ablate_policy, compare_policy
    from repsim.meta.checkpoint import checkpoint_paths
    from repsim.plots.style import markdown_table
    from repsim.rl.checkpoint import load_rl
    from repsim.rl.config import rl_config
    from repsim.rl.evaluate import evaluate_policy
    from repsim.rl.train import train_rl

    env = _env_of(preset)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1; got {seeds!r}")
    out_dir = Path(out_dir)
    runs_dir = Path(runs_dir) if runs_dir is not None else out_dir / "runs"
    runs = {(a, s): runs_dir / f"{a}-s{s}" for a in ALGORITHMS for s in range(seeds)}
    if train:
        for (alg, seed), run in runs.items():
            cfg = rl_config(env, scale=scale, algorithm=alg, seed=seed, steps=steps)
            log(f"training {alg} seed {seed} ({scale} scale, {cfg.steps} iterations) in {run}")
            train_rl(cfg, out_dir=run, resume=True)
    evals, compares, ablates, curves, last = [], [], [], [], {}
    for (alg, seed), run in runs.items():
        found = checkpoint_paths(run)
        if not found:
            raise ValueError(f"{run} holds no checkpoints; train it first (train=True)")
        trained = load_rl(found[-1][1])
        last[alg, seed] = found[-1][1]
        log(f"analysing {alg} seed {seed} at iteration {trained.step}")
        rec = evaluate_policy(trained.params, trained.config, tasks=tasks, seed=test_seed,
                              step=trained.step).to_dict()
        evals.append({**rec, "seed": seed, "checkpoint": str(found[-1][1])})
        cmp = compare_policy(trained, tasks=compare_tasks, seed=test_seed)
        compares.append(cmp.assign(seed=seed))
        abl = ablate_policy(trained, tasks=tasks, seed=test_seed)
        ablates.append(abl.assign(seed=seed))
        metrics = read_csv(run / "metrics.csv").assign(algorithm=alg, seed=seed)
        curves.append(metrics)
    evals_df = pd.DataFrame(evals)
    compare_df, ablate_df = pd.concat(compares), pd.concat(ablates)
    curves_df = pd.concat(curves)
    summary = rl_summary(evals_df)
    manifest = run_manifest(seed=test_seed, preset=preset, scale=scale, seeds=seeds,
                            runs={f"{a}-s{s}": str(p) for (a, s), p in last.items()})
    files = {
        "eval": write_table(evals_df.drop(columns=["per_task_before", "per_task_after"]),
                            out_dir / "eval", manifest=manifest),
        "summary": write_table(summary, out_dir / "summary", manifest=manifest),
        "compare": write_table(compare_df, out_dir / "compare",
                               manifest=compares[0].attrs["manifest"]),
        "ablate": write_table(ablate_df, out_dir / "ablate",
                              manifest=ablates[0].attrs["manifest"]),
        "curves": write_table(curves_df, out_dir / "curves", manifest=manifest),
    }
    files.update(_draw(out_dir / "figures", env, scale, evals_df, curves_df, compare_df,
                       ablate_df, tasks=tasks, compare_tasks=compare_tasks)[0])
    files["report_md"] = _report(out_dir, env, scale, summary, compare_df, ablate_df, tasks,
                                 compare_tasks, markdown_table)
    return files


def _draw(fig_dir: Path, env: str, scale: str, evals_df: pd.DataFrame,
          curves_df: pd.DataFrame | None, compare_df: pd.DataFrame, ablate_df: pd.DataFrame, *,
          tasks: int, compare_tasks: int) -> tuple[dict[str, Path], list[dict[str, str]]]:
    """The study's four figures from its tables; ``({fig_name: png}, [skipped])``.

    Without training curves (``curves_df`` None: a folder that ships no ``curves.csv``) the
    curves and gain figures are skipped, with the reason.
    """
    from repsim.plots.figures import similarity_inner_loop
    from repsim.plots.rl import rl_curves, rl_freezing
    from repsim.plots.style import save_figure

    # The paper's returns are drawn only beside runs of the same episode length.
    same_horizon = int(evals_df["horizon"].iloc[0]) == PAPER_HORIZON[env]
    paper_marks = PAPER_RETURNS.get(env) if same_horizon else None
    tag = f"{env}, {scale} scale"
    figs: dict[str, Any] = {}
    skipped = []
    if curves_df is not None:
        figs["curves"] = (
            rl_curves(curves_df, paper=paper_marks,
                      title=f"{env}: return before/after one inner step ({scale} scale)"),
            f"Training curves ({tag}): average return of the meta-batch's trajectories "
            "before (dashed) and after (solid) the inner step, mean over seeds of a "
            "10-iteration running mean, band ± 1 std over seeds; squares (only at the "
            "paper's horizon): the paper's post-adaptation return (mean ± std). "
            "Source: curves.csv.")
        figs["gain"] = gain_figure(curves_df, env, scale, source="curves.csv")
    else:
        skipped += [{"stem": f"rl_{name}", "reason": "no curves.json (training curves) here"}
                    for name in ("curves", "gain")]
    figs["similarity"] = (
        similarity_inner_loop(_aggregate_compare(compare_df)),
        f"θ vs θ′ similarity of each policy layer ({tag}): mean over seeds of "
        f"the mean over {compare_tasks} test tasks; error bars 95% CI over "
        "seeds; black: shuffle baseline. Inputs: states visited by the adapted "
        "policy (see compare.json's manifest). Source: compare.csv.")
    figs["freezing"] = (
        rl_freezing(ablate_df, title=f"{env}: freezing layers in the inner loop"),
        f"Return after one inner step with layers held at θ ({tag}), mean ± std "
        f"over seeds, {tasks} test tasks; dotted: before adaptation. ANIL has "
        "only the unfrozen row (its inner loop never moves the body). Source: "
        "ablate.csv.")
    files = {}
    for name, (fig, caption) in figs.items():
        save_figure(fig, fig_dir / f"rl_{name}", caption=caption)
        files[f"fig_{name}"] = fig_dir / f"rl_{name}.png"
    return files, skipped


def is_rl_study(results_dir: str | Path) -> bool:
    """Whether ``results_dir`` holds a meta-RL study's tables (its eval.json has returns)."""
    path = Path(results_dir) / "eval.json"
    if not path.is_file():
        return False
    try:
        import json

        data = json.loads(path.read_text())
        return "return_after" in (data.get("records") or [{}])[0]
    except (OSError, ValueError, AttributeError, IndexError, TypeError):
        return False


def redraw_rl_study(results_dir: str | Path, out_dir: str | Path | None = None
                    ) -> dict[str, Any]:
    """``repsim figures`` on a meta-RL study folder: its figures again, from its tables.

    Reads ``eval``, ``compare``, ``ablate`` (and ``curves`` when present) and draws into
    ``out_dir`` (default ``results_dir/figures``); nothing is recomputed. Returns
    ``{"kind": "rl-study", "files": [...], "skipped": [{"stem", "reason"}]}``.
    """
    from repsim.analyses.tables import read_table

    root = Path(results_dir)
    tables = {}
    for stem in ("eval", "compare", "ablate", "curves"):
        path = root / f"{stem}.json"
        if path.is_file():
            tables[stem] = read_table(path)[0]
        elif stem != "curves":
            raise FileNotFoundError(f"{root} looks like a meta-RL study but has no {stem}.json; "
                                    "rerun `repsim reproduce rl-...` to write it")
    evals = tables["eval"]
    env, scale = str(evals["env"].iloc[0]), str(evals["scale"].iloc[0])
    made, skipped = _draw(Path(out_dir) if out_dir is not None else root / "figures", env,
                          scale, evals, tables.get("curves"), tables["compare"],
                          tables["ablate"], tasks=int(evals["tasks"].iloc[0]),
                          compare_tasks=int(tables["compare"]["tasks"].iloc[0]))
    return {"kind": "rl-study", "files": list(made.values()), "skipped": skipped}


def _report(out_dir: Path, env: str, scale: str, summary: pd.DataFrame, compare: pd.DataFrame,
            ablate: pd.DataFrame, tasks: int, compare_tasks: int, markdown_table) -> Path:
    def pm(m: float, s: float) -> str:
        return f"{m:.1f}" + (" (1 seed)" if s != s else f" ± {s:.1f}")

    table = summary.assign(
        ours_before=lambda d: [pm(m, s) for m, s in
                               zip(d["return_before"], d["return_before_std"], strict=True)],
        ours_after=lambda d: [pm(m, s) for m, s in
                              zip(d["return_after"], d["return_after_std"], strict=True)],
        paper_after=lambda d: [f"{m:.1f} ± {s:.1f}" for m, s in
                               zip(d["paper_return_after"], d["paper_std"], strict=False)],
    )[["algorithm", "scale", "horizon", "seeds", "iterations", "ours_before", "ours_after",
       "paper_after", "improvement", "min_improvement_ci_low"]]
    sim = (compare[compare["measure"].isin(["cka", "cca", "svcca"])]
           .groupby(["algorithm", "layer", "measure"], sort=False)[["mean", "baseline"]]
           .mean().round(3).reset_index())
    abl = (ablate.groupby(["algorithm", "label"], sort=False)["return"]
           .agg(["mean", "std", "count"]).round(2).reset_index())
    text = "\n\n".join([
        f"# Meta-RL study: {env} ({scale} scale)",
        f"Returns are average undiscounted returns per episode on {tasks} fixed test tasks "
        "(test seed 0), before and after one inner step; ± is the std over seeds (the paper's "
        "convention). `iterations` lists the meta-iterations each seed's checkpoint reached. "
        "`improvement` is after − before (mean over seeds); `min_improvement_ci_low` the "
        "lowest lower end, over seeds, of its 95% CI over tasks (> 0: every seed improves "
        "significantly). Returns grow with the episode length: the paper's HalfCheetah numbers "
        "come from horizon-200 episodes (the official code), 2D navigation from horizon 100; "
        "compare only rows of equal horizon. `scale` `cpu` means the reduced settings of "
        "`repsim.rl.config` (2D navigation: the paper's, with TRPO's Fisher products from every "
        "5th trajectory; HalfCheetah also horizon 100, meta-batch 20, 10 trajectories).",
        markdown_table(table.round(2)),
        "## Training curves", "![curves](figures/rl_curves.png)",
        GAIN_SENTENCE, "![gain](figures/rl_gain.png)",
        f"## θ vs θ′ similarity per layer ({compare_tasks} test tasks per seed)",
        markdown_table(sim), "![similarity](figures/rl_similarity.png)",
        "## Freezing layers in the inner loop (return after adaptation)",
        markdown_table(abl), "![freezing](figures/rl_freezing.png)",
    ])
    return atomic_write_text(out_dir / "report.md", text + "\n")
