"""Ship the Omniglot study's checkpoints and index every number reported from them.

    python analysis/ship_study.py --root runs/omniglot-study [--out checkpoints/study]
    python analysis/ship_study.py --restore --root runs/omniglot-study   # on a new machine

For every finished run of the study root (``ROOT/<run>/seed<s>/``, as
``analysis/omniglot_study.py`` writes it), the final checkpoint is exported without its
optimizer state to ``OUT/<run>_s<seed>.pt`` (with its ``metrics.csv`` beside it), and one entry
per file goes into ``checkpoints/index.json``: run, preset, algorithm or regime, seed, steps and
every accuracy and profile figure its analyses reported (metric, head or frozen layers, value,
ci95, tasks, test seed), so anyone can re-evaluate a claim from the shipped file. Nothing is
recomputed: runs that have not finished or not been analysed are skipped and listed.

The light part of each shipped run (``config.json``, ``manifest.json``, ``metrics.csv`` and
``analysis/``) is kept in ``--results`` (``results/omniglot-study``), so that ``--restore``
can rebuild the finished runs of a study root on a fresh clone (their checkpoint as
``checkpoints/step_XXXXXX.pt``): the report regenerates and the unfinished runs continue.
"""

from __future__ import annotations

import argparse
import math
import shutil
from pathlib import Path

from repsim.analyses.checkpoint_index import merge_index
from repsim.meta.checkpoint import checkpoint_paths, export_checkpoint
from repsim.study_report import discover_runs
from repsim.study_runs import checkpoint_index, run_dir

ROOT = Path(__file__).resolve().parents[1]


def _rel(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (as the index records)."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _same_weights(source: str | Path, target: Path) -> bool:
    """True when ``target`` is already an export of ``source``: same step, same tensors."""
    import torch

    if not target.exists():
        return False
    a = torch.load(source, map_location="cpu", weights_only=True)
    b = torch.load(target, map_location="cpu", weights_only=True)
    return a["step"] == b["step"] and a["model"].keys() == b["model"].keys() and all(
        torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def _clean(value):
    """JSON-safe: NaN (a missing CI) becomes None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def restore(results: Path, shipped: Path, root: Path) -> None:
    """Rebuild ``root/<run>/seed<s>/`` for every run kept in ``results`` whose exported
    checkpoint is in ``shipped``; existing run folders are left alone."""
    import torch

    count = 0
    for kept in sorted(results.glob("*/seed*")):
        run, seed = kept.parent.name, kept.name.removeprefix("seed")
        target = root / run / kept.name
        ckpt = shipped / f"{run}_s{seed}.pt"
        if not ckpt.exists():  # a run shipped unfinished: its full state, to resume exactly
            ckpt = shipped / "resume" / f"{run}_s{seed}.pt"
        if target.exists() or not ckpt.exists():
            continue
        steps = int(torch.load(ckpt, map_location="cpu", weights_only=True)["step"])
        shutil.copytree(kept, target)
        (target / "checkpoints").mkdir()
        shutil.copy(ckpt, target / "checkpoints" / f"step_{steps:06d}.pt")
        for along in sorted(shipped.glob(f"{run}_s{seed}_step*.pt")):  # the long tier's
            step = int(along.stem.rsplit("_step", 1)[1])
            shutil.copy(along, target / "checkpoints" / f"step_{step:06d}.pt")
        count += 1
    for table in sorted((results / "tables").glob("between_seeds.*")):
        (root / "tables").mkdir(parents=True, exist_ok=True)
        if not (root / "tables" / table.name).exists():
            shutil.copy(table, root / "tables" / table.name)
    print(f"restored {count} finished runs into {root}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT / "runs" / "omniglot-study")
    parser.add_argument("--out", type=Path, default=ROOT / "checkpoints" / "study")
    parser.add_argument("--index", type=Path, default=ROOT / "checkpoints" / "index.json")
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "omniglot-study")
    parser.add_argument("--restore", action="store_true",
                        help="rebuild the shipped finished runs into --root instead")
    args = parser.parse_args(argv)
    if args.restore:
        restore(args.results, args.out, args.root)
        return
    runs = discover_runs(args.root)
    entries, skipped = [], []
    for entry, run in ((e, r) for r in runs
                       for e in checkpoint_index(args.root, [r], along=True)):
        if not entry["figures"]:
            skipped.append(f"{run.name} seed {run.config.seed} (not analysed)")
            continue
        stem = f"{run.name}_s{run.config.seed}"
        if entry.get("along_training"):  # the long tier's checkpoints along training
            stem += f"_step{entry['steps']}"
        target = args.out / f"{stem}.pt"
        if not _same_weights(entry["path"], target):  # re-shipping leaves a shipped file alone
            export_checkpoint(entry["path"], target)
        folder = run_dir(args.root, run)
        if entry.get("along_training"):
            entries.append({**entry, "path": _rel(target), "study": "omniglot-study",
                            "preset": f"{run.config.dataset}-{run.config.ways}w"
                                      f"{run.config.shots}s",
                            "figures": [{k: _clean(v) for k, v in fig.items()}
                                        for fig in entry["figures"]]})
            continue  # its analyses travel with the run's own folder below
        if (folder / "metrics.csv").exists():
            shutil.copy(folder / "metrics.csv", args.out / f"{stem}_metrics.csv")
        kept = args.results / run.name / f"seed{run.config.seed}"
        kept.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "manifest.json", "metrics.csv"):
            if (folder / name).exists():
                shutil.copy(folder / name, kept / name)
        shutil.copytree(folder / "analysis", kept / "analysis", dirs_exist_ok=True)
        cfg = run.config
        rel = _rel(target)
        figures = [{k: _clean(v) for k, v in fig.items()} for fig in entry["figures"]]
        entries.append({**entry, "path": rel, "preset": f"{cfg.dataset}-{cfg.ways}w{cfg.shots}s",
                        "study": "omniglot-study", "figures": figures})
    # the between-seed table is computed from the checkpoints (the --stage tables step), not
    # from one run's analyses: keep it with the runs
    for table in sorted((args.root / "tables").glob("between_seeds.*")):
        (args.results / "tables").mkdir(parents=True, exist_ok=True)
        shutil.copy(table, args.results / "tables" / table.name)
    finished = {(e["run"], e["seed"]) for e in entries if not e.get("along_training")}
    # a run still training (the long tier): its last full checkpoint (optimizer state and RNG
    # included) and its light folder, so that --restore on a fresh machine resumes it exactly
    for run in runs:
        folder = run_dir(args.root, run)
        last = checkpoint_paths(folder)
        stale = args.out / "resume" / f"{run.name}_s{run.config.seed}.pt"
        if (run.name, run.config.seed) in finished and stale.exists():
            stale.unlink()  # finished since it was shipped unfinished
        if (run.name, run.config.seed) in finished or not last:
            continue
        (args.out / "resume").mkdir(parents=True, exist_ok=True)
        shutil.copy(last[-1][1], args.out / "resume" / f"{run.name}_s{run.config.seed}.pt")
        kept = args.results / run.name / f"seed{run.config.seed}"
        kept.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "manifest.json", "metrics.csv"):
            if (folder / name).exists():
                shutil.copy(folder / name, kept / name)
        if (folder / "analysis").exists():
            shutil.copytree(folder / "analysis", kept / "analysis", dirs_exist_ok=True)
        print(f"unfinished: {run.name} seed {run.config.seed} at step {last[-1][0]} of "
              f"{run.config.steps}; its full state is in {args.out / 'resume'}")
    for run in runs:
        if (run.name, run.config.seed) not in finished and not any(
                s.startswith(f"{run.name} seed {run.config.seed} ") for s in skipped):
            skipped.append(f"{run.name} seed {run.config.seed} (not finished)")
    merge_index(args.index, entries)
    print(f"shipped {len(entries)} checkpoints to {args.out} ("
          f"{sum(bool(e.get('along_training')) for e in entries)} along training); "
          f"index: {args.index}")
    for line in skipped:
        print(f"skipped: {line}")


if __name__ == "__main__":
    main()
