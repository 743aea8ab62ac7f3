"""The Omniglot study of issue 9: seeds, Table 5 regimes, interpolation, medium shot, conv4.

    python analysis/omniglot_study.py --root runs/omniglot-study --data-dir ../shared/data \\
        [--groups seeds,regimes,interpolation,shots,conv4] [--seeds 0,1,2] [--shard 0/2]
        [--steps N] [--max-minutes M] [--stage train|analyse|tables|all]

Every run is a ``repsim train`` directory ``ROOT/<run>/seed<s>/`` with its analyses in
``analysis/``; finished runs and analyses are skipped, interrupted ones resume, so the command
can be rerun (or killed) at any time. ``--shard i/n`` gives process ``i`` every n-th run: start
one process per core (``--shard 0/2`` and ``--shard 1/2``, one thread each) to use both cores.
``--stage tables`` (run once, after the shards) gathers the tables, summaries and figures into
``ROOT/tables`` and ``ROOT/figures``; the between-seed similarity of MAML and ANIL is part of
it. ``docs/study_plan.md`` gives the grid's cost and the cheapest settings per question.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from repsim.analyses.seeds import between_seeds, body_average, pair_summary
from repsim.analyses.tables import write_table
from repsim.cli._common import set_threads
from repsim.meta import PRESETS, InnerLoop
from repsim.study_runs import (
    StudyRun,
    analyse_run,
    draw_study,
    final_checkpoint,
    gather_tables,
    train_run,
    with_seed,
)

ROOT = Path(__file__).resolve().parents[1]
BASE = dataclasses.replace(PRESETS["omniglot-5w1s"], checkpoint_every=1000, val_every=1000)
#: Steps per question: the cheapest that still answers it (docs/study_plan.md says why). Runs
#: compared within one figure share their step count: the 5w1s questions reuse the MAML/ANIL
#: seed runs, so they train as long; the shots grid trains its own 1-shot runs at its length.
STEPS = {"seeds": 8000, "regimes": 8000, "interpolation": 8000, "shots": 2000, "conv4": 8000}


def _run(name: str, groups: tuple[str, ...], steps: int, condition: str = "", *,
         compare_query: int = 15, **changes: object) -> StudyRun:
    cfg = dataclasses.replace(BASE, steps=steps, **changes)
    return StudyRun(name, cfg, groups, condition, compare_query=compare_query)


def grid(groups: set[str], steps: int | None = None) -> list[StudyRun]:
    """The study's runs for seed 0 (one entry per config, deduplicated across groups)."""
    s = {g: steps or n for g, n in STEPS.items()}
    runs: dict[str, StudyRun] = {}

    def add(run: StudyRun) -> None:
        if run.name in runs:  # one run serving several questions
            old = runs[run.name]
            run = dataclasses.replace(old, groups=tuple(dict.fromkeys(old.groups + run.groups)),
                                      condition=old.condition or run.condition)
        runs[run.name] = run

    top = s["seeds"]
    if groups & {"seeds", "regimes", "interpolation", "conv4"}:
        both = ("seeds", "regimes", "interpolation", "conv4")
        add(_run("maml-5w1s", tuple(g for g in both if g in groups), top, "baseline"))
        add(_run("anil-5w1s", tuple(g for g in both[:3] if g in groups), top,
                 algorithm="anil"))
    if "regimes" in groups:
        for algorithm in ("multiclass", "multitask", "nil", "random"):
            add(_run(f"{algorithm}-5w1s", ("regimes",), s["regimes"], algorithm=algorithm))
    if "interpolation" in groups:
        for k in (2, 3, 4):
            add(_run(f"top{k}-5w1s", ("interpolation",), s["interpolation"], adapt_layers=k))
        add(_run("boil-5w1s", ("interpolation",), s["interpolation"], algorithm="boil"))
    if "shots" in groups:
        # Omniglot has 20 drawings per character: shots + query <= 20, so 20 shots cannot be
        # trained; 15 shots with 5 queries is the largest medium-shot setting.
        for shots, query, meta_batch in ((1, 1, 32), (5, 5, 16), (10, 10, 8), (15, 5, 8)):
            for algorithm in ("maml", "anil"):
                name = f"{algorithm}-5w{shots}s" + ("-short" if shots == 1 else "")
                add(_run(name, ("shots",), s["shots"], algorithm=algorithm,
                         shots=shots, query=query, meta_batch=meta_batch,
                         compare_query=20 - shots))
        for preset in ("omniglot-20w1s", "omniglot-20w5s"):
            for algorithm in ("maml", "anil"):
                cfg = dataclasses.replace(PRESETS[preset], algorithm=algorithm, steps=s["shots"],
                                          checkpoint_every=1000, val_every=1000)
                name = f"{algorithm}-20w{cfg.shots}s"
                runs[name] = StudyRun(name, cfg, ("shots",), compare_query=min(15, 20 - cfg.shots))
    if "conv4" in groups:
        c = s["conv4"]
        add(_run("maml-5w1s-flatten", ("conv4",), c, "flatten before head", head_input="flatten"))
        add(_run("maml-5w1s-zerohead", ("conv4",), c, "zero head init", head_init="zeros"))
        add(_run("maml-5w1s-lr0.1", ("conv4",), c, "inner lr 0.1", inner=InnerLoop(1, 0.1)))
        add(_run("maml-5w1s-5steps", ("conv4",), c, "5 steps, lr 0.1", inner=InnerLoop(5, 0.1),
                 test_inner_steps=5))
    return list(runs.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT / "runs" / "omniglot-study")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--groups", default="seeds,regimes,interpolation,shots,conv4")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--shard", default="0/1", help="i/n: this process takes every n-th run")
    parser.add_argument("--steps", type=int, default=None, help="override every run's steps")
    parser.add_argument("--max-minutes", type=float, default=None, help="per training call")
    parser.add_argument("--stage", default="all", choices=["train", "analyse", "tables", "all"])
    parser.add_argument("--list", action="store_true", help="print the runs and exit")
    args = parser.parse_args()
    set_threads(1)
    groups = set(args.groups.split(","))
    seeds = [int(x) for x in args.seeds.split(",")]
    runs = [with_seed(r, seed) for seed in seeds for r in grid(groups, args.steps)]
    if args.list:
        for r in runs:
            print(f"{r.name:22s} seed {r.config.seed}  {r.config.steps:6d} steps  {r.groups}")
        return
    index, count = (int(x) for x in args.shard.split("/"))
    mine = runs[index::count]
    if args.stage in ("train", "all"):
        for run in mine:
            print(f"train {run.name} seed {run.config.seed}", flush=True)
            train_run(run, args.root, data_dir=args.data_dir, max_minutes=args.max_minutes)
    if args.stage in ("analyse", "all"):
        for run in mine:
            if final_checkpoint(args.root, run) is not None:
                print(f"analyse {run.name} seed {run.config.seed}", flush=True)
                analyse_run(run, args.root, data_dir=args.data_dir)
    if args.stage == "tables" or (args.stage == "all" and count == 1):
        tables = args.root / "tables"
        files = gather_tables(args.root, runs, tables)
        between = tables / "between_seeds.json"
        models = {(r.config.algorithm, r.config.seed): final_checkpoint(args.root, r)
                  for r in runs if r.name in ("maml-5w1s", "anil-5w1s")}
        models = {k: v for k, v in models.items() if v is not None}
        if "seeds" in groups and len(models) >= 2 and not between.exists():
            frame = between_seeds(models, data_dir=args.data_dir)
            write_table(frame, between, manifest=frame.attrs["manifest"])
        if between.exists():
            from repsim.analyses.tables import read_table

            averaged = body_average(read_table(between)[0])
            write_table(pair_summary(averaged), tables / "between_seeds_summary")
        files.update(draw_study(tables, args.root / "figures"))
        for name, path in sorted(files.items()):
            print(f"{name}: {path}")


if __name__ == "__main__":
    main()
