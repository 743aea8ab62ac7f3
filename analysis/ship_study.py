"""Ship the Omniglot study's checkpoints and index every number reported from them.

    python analysis/ship_study.py --root runs/omniglot-study [--out checkpoints/study]

For every finished run of the study root (``ROOT/<run>/seed<s>/``, as
``analysis/omniglot_study.py`` writes it), the final checkpoint is exported without its
optimizer state to ``OUT/<run>_s<seed>.pt`` (with its ``metrics.csv`` beside it), and one entry
per file goes into ``checkpoints/index.json``: run, preset, algorithm or regime, seed, steps and
every accuracy and profile figure its analyses reported (metric, head or frozen layers, value,
ci95, tasks, test seed), so anyone can re-evaluate a claim from the shipped file. Nothing is
recomputed: runs that have not finished or not been analysed are skipped and listed.
"""

from __future__ import annotations

import argparse
import math
import shutil
from pathlib import Path

from repsim.analyses.checkpoint_index import merge_index
from repsim.meta.checkpoint import export_checkpoint
from repsim.study_report import discover_runs
from repsim.study_runs import checkpoint_index, run_dir

ROOT = Path(__file__).resolve().parents[1]


def _clean(value):
    """JSON-safe: NaN (a missing CI) becomes None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT / "runs" / "omniglot-study")
    parser.add_argument("--out", type=Path, default=ROOT / "checkpoints" / "study")
    parser.add_argument("--index", type=Path, default=ROOT / "checkpoints" / "index.json")
    args = parser.parse_args()
    runs = discover_runs(args.root)
    entries, skipped = [], []
    for entry, run in ((e, r) for r in runs for e in checkpoint_index(args.root, [r])):
        if not entry["figures"]:
            skipped.append(f"{run.name} seed {run.config.seed} (not analysed)")
            continue
        stem = f"{run.name}_s{run.config.seed}"
        target = args.out / f"{stem}.pt"
        export_checkpoint(entry["path"], target)
        metrics = run_dir(args.root, run) / "metrics.csv"
        if metrics.exists():
            shutil.copy(metrics, args.out / f"{stem}_metrics.csv")
        cfg = run.config
        rel = target.resolve().relative_to(ROOT).as_posix()
        figures = [{k: _clean(v) for k, v in fig.items()} for fig in entry["figures"]]
        entries.append({**entry, "path": rel, "preset": f"{cfg.dataset}-{cfg.ways}w{cfg.shots}s",
                        "study": "omniglot-study", "figures": figures})
    finished = {(e["run"], e["seed"]) for e in entries}
    for run in runs:
        if (run.name, run.config.seed) not in finished and not any(
                s.startswith(f"{run.name} seed {run.config.seed} ") for s in skipped):
            skipped.append(f"{run.name} seed {run.config.seed} (not finished)")
    merge_index(args.index, entries)
    print(f"shipped {len(entries)} checkpoints to {args.out}; index: {args.index}")
    for line in skipped:
        print(f"skipped: {line}")


if __name__ == "__main__":
    main()
