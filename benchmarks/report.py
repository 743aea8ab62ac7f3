"""Collect the side-by-side benchmark JSONs into docs/benchmarks/README.md (tables of ratios).

    python benchmarks/report.py [--results docs/benchmarks] [--note TEXT]

Reads ``meta_vs_learn2learn_*.json``, ``compare_vs_google_*.json`` and
``similarity_vs_peers_*.json`` written by bench_meta.py, bench_compare.py and
bench_similarity.py, and writes one Markdown page; every figure in it is a ratio against a real
peer measured in the same run (speed-up = peer time / repsim time, > 1: repsim faster).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def _load(folder: Path, pattern: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob(pattern))]


def _env(e: dict) -> str:
    load = ", ".join(f"{v:.1f}" for v in e.get("load_avg_end", []))
    return f"{e['threads']} thread(s), torch {e['torch']}, {e['date']}, load average at end {load}"


def _paired(r: dict) -> float:
    """Paired ratio for runs recorded before bench_meta.py stored it (one extra peer entry at
    each end: the peer's list starts one step earlier and ends one step later)."""
    ours, theirs = r["repsim_all_s"], r["learn2learn_all_s"]
    theirs = theirs[1 : len(ours) + 1] if len(theirs) > len(ours) else theirs
    return statistics.median(t / o for o, t in zip(ours, theirs, strict=True))


def meta_section(runs: list[dict]) -> list[str]:
    lines = ["## Meta-iteration: `repsim train` vs learn2learn 0.2.0 (Omniglot 5-way 1-shot, CPU)",
             "", "Speed-up = median learn2learn time / median repsim time; paired = median over "
             "steps of (learn2learn iteration / the repsim step just before it), the figure "
             "least moved by load changing during the run. The goal is judged on the lower "
             "of the two.", "",
             "| algorithm | threads | repsim ms | learn2learn ms | speed-up | paired | goal "
             "| steps |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    goals = {"maml": 1.5, "anil": 2.0}
    for run in runs:
        for r in run["rows"]:
            goal = goals.get(r["algorithm"])
            paired = r.get("paired_speedup") or _paired(r)
            low = min(paired, r["speedup"])
            met = "" if goal is None else f"≥ {goal}× {'met' if low >= goal else 'MISSED'}"
            lines.append(f"| {r['algorithm']} | {r['threads']} | {1e3 * r['repsim_s']:.0f} | "
                         f"{1e3 * r['learn2learn_s']:.0f} | **{r['speedup']:.2f}×** | "
                         f"{paired:.2f}× | {met} | {r['reps']} |")
    lines += [""] + [f"- {_env(run['env'])}" for run in runs] + [""]
    return lines


def compare_section(runs: list[dict]) -> list[str]:
    lines = ["## Compare workload: `similarity_batch` vs google/svcca's own code (real Omniglot "
             "activations, CPU)", "",
             "| threads | tasks | layer | tasks with dead units | repsim s | google s | speed-up |",
             "|---:|---:|---|---:|---:|---:|---:|"]
    for run in runs:
        th = run["env"]["threads"]
        for layer, v in run["layers"].items():
            lines.append(f"| {th} | {run['tasks']} | {layer} | {v['tasks_with_dead_units']} | "
                         f"{v['repsim_s']:.2f} | {v['google_s']:.2f} | {v['speedup']:.1f}× |")
        lines.append(f"| {th} | {run['tasks']} | **all** | | {run['repsim_s']:.1f} | "
                     f"{run['google_s']:.1f} | **{run['speedup']:.1f}×** (goal ≥ 10×: "
                     f"{'met' if run['speedup'] >= 10 else 'MISSED'}) |")
    lines.append("")
    for run in runs:
        diffs = ", ".join(f"{m} {d:.1e}" for m, d in run["max_abs_diff"].items())
        lines.append(f"- {_env(run['env'])}; largest |repsim − google| over all tasks and "
                     f"layers: {diffs}")
    return [*lines, ""]


def similarity_section(runs: list[dict]) -> list[str]:
    lines = ["## Single tiny pair (n = 75, d = 5) vs google/svcca, numpy and netrep (CPU)", "",
             "| threads | measure | peer | repsim µs | peer µs | speed-up | |repsim − peer| |",
             "|---:|---|---|---:|---:|---:|---:|"]
    for run in runs:
        th = run["env"]["threads"]
        for r in run["tiny_pair"]:
            lines.append(f"| {th} | {r['measure']} | {r['peer']} | {r['repsim_us']:.0f} | "
                         f"{r['peer_us']:.0f} | **{r['speedup']:.2f}×** | {r['abs_diff']:.1e} |")
    lines += ["", "## Linear CKA vs ckatorch 1.0.3, anatome, numpy and netrep (CPU)", "",
              "repsim computes in float64; ckatorch promotes to float64; anatome and netrep "
              "compute in their input's float32 (netrep: cos of its `LinearCKA` distance, biased "
              "CKA only, from n x n Gram matrices).", "",
              "| threads | n | d | debiased | peer | repsim input | speed-up | |Δ| |",
              "|---:|---:|---:|---|---|---|---:|---:|"]
    for run in runs:
        th = run["env"]["threads"]
        for r in run["cka"]:
            lines.append(f"| {th} | {r['n']} | {r['d']} | {r['debiased']} | {r['peer']} | "
                         f"{r['repsim_input']} | {r['speedup']:.2f}× | {r['abs_diff']:.1e} |")
    for run in runs:
        parts = run.get("env_parts") or {"tiny_pair": run["env"], "cka": run["env"]}
        if parts["tiny_pair"] == parts["cka"]:
            lines.append(f"- {_env(run['env'])}")
        else:
            lines += [f"- tiny pair: {_env(parts['tiny_pair'])}",
                      f"- linear CKA: {_env(parts['cka'])}"]
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    lines = ["# Benchmarks against the real peers", "",
             "Generated by `benchmarks/report.py` from the JSON files beside this page. How each "
             "peer is installed and what each benchmark does: `benchmarks/README.md`. Speed-up = "
             "peer time / repsim time, both measured in one run on the same machine, "
             "alternating, medians (totals for the compare workload).", ""]
    if args.note:
        lines += [args.note, ""]
    lines += meta_section(_load(args.results, "meta_vs_learn2learn_*.json"))
    lines += compare_section(_load(args.results, "compare_vs_google_*.json"))
    lines += similarity_section(_load(args.results, "similarity_vs_peers_*.json"))
    (args.results / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
