"""The Omniglot study of issue 9: seeds, Table 5 regimes, interpolation, medium shot, conv4.

    python analysis/omniglot_study.py --root runs/omniglot-study --data-dir ../shared/data \\
        [--groups seeds,regimes,interpolation,shots,conv4] [--seeds 0,1,2] [--shard 0/2]
        [--steps N] [--max-minutes M] [--stage train|analyse|tables|all]

Every run is a ``repsim train`` directory ``ROOT/<run>/seed<s>/`` with its analyses in
``analysis/``; finished runs and analyses are skipped, interrupted ones resume, so the command
can be rerun (or killed) at any time. ``--shard i/n`` gives process ``i`` every n-th run: start
one process per core (``--shard 0/2`` and ``--shard 1/2``, one thread each) to use both cores.
``--stage tables`` (run once, after the shards; rerun any time) computes the between-seed
similarity of MAML and ANIL into ``ROOT/tables`` (again when a seed has finished since), records
the plan in ``ROOT/study.json`` and writes the tables, figures and ``report.md`` into
``ROOT/figures`` (:func:`repsim.study_report.study_report`, which is also what
``repsim figures ROOT`` runs). ``docs/study_plan.md`` gives the grid's cost and the cheapest
settings per question.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from repsim._io import atomic_write_json
from repsim.analyses.seeds import between_seeds, seed_pairs
from repsim.analyses.tables import write_table
from repsim.cli._common import set_threads
from repsim.meta import PRESETS, InnerLoop, TrainConfig
from repsim.study_report import discover_runs, study_report, write_plan
from repsim.study_runs import (
    StudyRun,
    analyse_run,
    analyse_steps,
    checkpoint_index,
    final_checkpoint,
    run_dir,
    train_run,
    with_seed,
)

ROOT = Path(__file__).resolve().parents[1]
BASE = dataclasses.replace(PRESETS["omniglot-5w1s"], checkpoint_every=250, val_every=1000)
#: Training lengths. "long" (the shipped study's 8000 steps) for the headline numbers: seeds
#: and the Table 5 regimes, whose budget of examples must match MAML's and ANIL's. "short" for
#: the questions about *how* the inner loop works (interpolation, medium shot, conv4): the
#: shipped MAML already shows the conv4 effect at 500-2000 steps (head-only accuracy 45% at
#: 500, 42% at 2000, 36% at 8000), so 2000 steps answer them at a quarter of the cost. Runs
#: compared in one figure always share their length (each question has its own MAML/ANIL).
STEPS = {"long": 8000, "short": 2000}
#: The long tier of issue 19: the headline runs, the two head-side conv4 conditions and two
#: Table 5 regimes at 10,000 meta-iterations (the paper trains 40-60k), checkpointed every 500
#: steps so the 1k, 2k, 5k and 10k models are kept and a kill loses at most 500 steps.
LONG_TIER = 10_000


def _run(name: str, groups: tuple[str, ...], steps: int, condition: str = "", *,
         compare_query: int = 15, **changes: object) -> StudyRun:
    cfg = dataclasses.replace(BASE, steps=steps, **changes)
    return StudyRun(name, cfg, groups, condition, compare_query=compare_query)


#: Length of the matched MAML runs: what MAML 20w5s reached on a CPU (docs/study_plan.md).
MATCHED = 100


def _matched(ways: int, shots: int) -> TrainConfig:
    """MAML at ``ways``-way ``shots``-shot with the study's settings for that shape (the
    5-way ones of the medium-shot grid, the paper's for 20-way) and ``MATCHED`` steps."""
    if ways == 20:
        cfg = dataclasses.replace(PRESETS[f"omniglot-20w{shots}s"], algorithm="maml")
    else:
        cfg = dataclasses.replace(BASE, shots=shots, query=shots,
                                  meta_batch=32 if shots == 1 else 16)
    return dataclasses.replace(cfg, steps=MATCHED, checkpoint_every=1000, val_every=1000)


def grid(groups: set[str], steps: int | None = None, *, long_steps: int | None = None,
         short_steps: int | None = None) -> list[StudyRun]:
    """The study's runs for seed 0 (one entry per config, shared across the questions).

    With ``long_steps == short_steps`` the headline MAML/ANIL runs and the short questions'
    baselines are the same runs (``maml-5w1s-short``, ``anil-5w1s-short``): one length for the
    whole study, as when compute is short.
    """
    long = steps or long_steps or STEPS["long"]
    short = steps or short_steps or STEPS["short"]
    runs: dict[str, StudyRun] = {}

    def add(run: StudyRun) -> None:
        wanted = tuple(g for g in run.groups if g in groups)
        if not wanted:
            return
        if run.name in runs:  # one run serving several questions
            old = runs[run.name]
            wanted = tuple(dict.fromkeys(old.groups + wanted))
            run = dataclasses.replace(run, condition=run.condition or old.condition)
        runs[run.name] = dataclasses.replace(run, groups=wanted)

    headline = "-short" if long == short else ""
    add(_run(f"maml-5w1s{headline}", ("seeds", "regimes"), long))
    add(_run(f"anil-5w1s{headline}", ("seeds", "regimes"), long, algorithm="anil"))
    for algorithm in ("multiclass", "multitask", "nil", "random"):
        add(_run(f"{algorithm}-5w1s", ("regimes",), long, algorithm=algorithm))
    add(_run("maml-5w1s-short", ("interpolation", "shots", "conv4"), short, "baseline"))
    add(_run("anil-5w1s-short", ("interpolation", "shots"), short, algorithm="anil"))
    for k in (2, 3, 4):
        add(_run(f"top{k}-5w1s-short", ("interpolation",), short, adapt_layers=k))
    add(_run("boil-5w1s-short", ("interpolation",), short, algorithm="boil"))
    # Omniglot has 20 drawings per character: shots + query <= 20, so 20 shots cannot be
    # trained; 15 shots with 5 queries is the largest medium-shot setting. Meta-batches shrink
    # as shots grow (16, 8, 8 tasks) to keep a step affordable on a CPU.
    for shots, query, meta_batch in ((5, 5, 16), (10, 10, 8), (15, 5, 8)):
        for algorithm in ("maml", "anil"):
            add(_run(f"{algorithm}-5w{shots}s-short", ("shots",), short, algorithm=algorithm,
                     shots=shots, query=query, meta_batch=meta_batch,
                     compare_query=min(15, 20 - shots)))
    for preset in ("omniglot-20w1s", "omniglot-20w5s"):
        for algorithm in ("maml", "anil"):
            cfg = dataclasses.replace(PRESETS[preset], algorithm=algorithm, steps=short,
                                      checkpoint_every=1000, val_every=1000)
            add(StudyRun(f"{algorithm}-20w{cfg.shots}s-short", cfg, ("shots",),
                         compare_query=min(15, 20 - cfg.shots)))
    # MAML 20w5s costs 30-39 CPU-s a step, so on a CPU it is capped (--steps) far short of the
    # study's length. These MAML runs have the capped length (their name says it; --steps
    # leaves them alone), so the shots and ways readings compare 20w5s with 1-shot and 5-way
    # runs trained as long, not with 1000-step runs.
    for ways, shots in ((5, 1), (5, 5), (20, 1)):
        cfg = _matched(ways, shots)
        add(StudyRun(f"maml-{ways}w{shots}s-{MATCHED}", cfg, ("shots",),
                     compare_query=min(15, 20 - shots)))
    add(_run("maml-5w1s-flatten", ("conv4",), short, "flatten before head",
             head_input="flatten"))
    add(_run("maml-5w1s-zerohead", ("conv4",), short, "zero head init", head_init="zeros"))
    add(_run("maml-5w1s-lr0.1", ("conv4",), short, "inner lr 0.1", inner=InnerLoop(1, 0.1)))
    add(_run("maml-5w1s-5steps", ("conv4",), short, "5 steps, lr 0.1",
             inner=InnerLoop(5, 0.1), test_inner_steps=5))
    # The 10- and 15-shot runs train 8 tasks per step, the 1-shot baseline 32: this run holds
    # the meta-batch (tasks seen) when the shots reading compares 1 with 10-15 shots.
    add(_run("maml-5w1s-mb8", ("conv4",), short, "meta-batch 8", meta_batch=8))
    # The long tier ("length"): the same settings as the 1000-step runs, 10x longer, so every
    # headline answer can be read at 1k and 10k side by side (and claim 3 over training).
    tier = {"checkpoint_every": 500, "val_every": 1000}
    add(_run("maml-5w1s-10k", ("length",), LONG_TIER, "baseline", **tier))
    add(_run("anil-5w1s-10k", ("length",), LONG_TIER, algorithm="anil", **tier))
    add(_run("maml-5w1s-flatten-10k", ("length",), LONG_TIER, "flatten before head",
             head_input="flatten", **tier))
    add(_run("maml-5w1s-zerohead-10k", ("length",), LONG_TIER, "zero head init",
             head_init="zeros", **tier))
    add(_run("multiclass-5w1s-10k", ("length",), LONG_TIER, algorithm="multiclass", **tier))
    add(_run("nil-5w1s-10k", ("length",), LONG_TIER, algorithm="nil", **tier))
    return list(runs.values())


# The costly conditions in the order they answer questions: inner steps (the conv4
# investigation), ways (conv4 adaptation is MAML's, so 20-way needs MAML), then more shots,
# then ANIL 20w5s; MAML 20w5s is for a GPU (21.7 CPU-h per 2000 steps).
COSTLY = ("5steps", "maml-20w1s", "maml-5w10s", "anil-5w10s", "maml-5w15s", "anil-5w15s",
          "anil-20w5s", "maml-20w5s")
# Once every question has its seed 0, the costly ones are completed one question at a time,
# all seeds of one before the next: a question at 3 seeds draws a conclusion, two questions
# at 2 seeds draw none (t = 12.7 at 1 degree of freedom). 10 shots first (it makes the
# shots trend a three-point curve), then MAML 20w1s (the ways question), 15 shots, ANIL 20w5s.
QUESTIONS = (("5w10s",), ("maml-20w1s",), ("5w15s",), ("anil-20w5s",))


def priority(run: StudyRun) -> tuple[int, int, int, int, str]:
    """Queue order: every cheap question answered once (seed 0, headline seeds first), then
    more seeds of the 5w1s questions (Table 5, the conv4 conditions, interpolation); then the
    costly conditions that the conv4 investigation needs (5 inner steps at seed 0, then its
    seeds 1-2, so that it reaches a conclusion; MAML 20w1s at seed 0), more seeds of the 5- and
    20-way medium-shot runs, then the costly medium-shot and ways runs one question at a time
    (``QUESTIONS``, every seed of one before the next), and MAML 20w5s, a GPU run, last. The
    conv4 conditions get their seeds before interpolation: with 2 seeds a t-interval has 1
    degree of freedom (t = 12.7), with 3 it has 2 (t = 4.3); with 1 seed a comparison draws
    no conclusion at all."""
    seed, name = run.config.seed, run.name
    costly = next((rank for rank, part in enumerate(COSTLY) if part in name), None)
    question = next((rank for rank, parts in enumerate(QUESTIONS)
                     if any(part in name for part in parts)), -1)
    if "seeds" in run.groups:
        tier = 0
    elif costly == 0 or (costly == 1 and seed == 0):  # 5 inner steps; MAML 20w1s at seed 0
        tier = 5 if seed == 0 else 6
    elif "maml-20w5s" in name:  # 21.7 CPU-h per 2000 steps: analysis/gpu_study_20way.sh
        tier = 10
    elif costly is not None:
        tier = 8
    elif seed == 0:
        tier = 1
    elif "regimes" in run.groups:
        tier = 2
    elif "conv4" in run.groups:
        tier = 3
    elif run.groups == ("shots",):
        tier = 7
    else:
        tier = 4
    return tier, question if tier == 8 else -1, seed, -1 if costly is None else costly, name


def claim_in_order(runs: list[StudyRun], root: Path):
    """Yield the runs this process holds a lock on, in order; a run locked by another process
    (``flock``, released when that process exits, even when killed) is skipped and retried in a
    later pass, until a pass finds nothing this process could take. Finished runs are skipped
    by ``train_run``/``analyse_run`` themselves."""
    import fcntl

    pending = list(runs)
    while pending:
        skipped = []
        for run in pending:
            folder = run_dir(root, run)
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(folder / ".lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                skipped.append(run)
                continue
            try:
                yield run
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
        if len(skipped) == len(pending):
            return  # everything left is in another process's hands
        pending = skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT / "runs" / "omniglot-study")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--groups", default="seeds,regimes,interpolation,shots,conv4,length")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--shard", default="0/1", help="i/n: this process takes every n-th run")
    parser.add_argument("--steps", type=int, default=None, help="override every run's steps")
    parser.add_argument("--long-steps", type=int, default=None,
                        help=f"seeds and Table 5 regimes (default {STEPS['long']})")
    parser.add_argument("--short-steps", type=int, default=None,
                        help=f"interpolation, medium shot, conv4 (default {STEPS['short']})")
    parser.add_argument("--queue", action="store_true",
                        help="take runs in priority order from a shared queue (start one such "
                        "process per core) instead of a fixed --shard; each run is trained "
                        "and analysed before the next")
    parser.add_argument("--max-minutes", type=float, default=None, help="per training call")
    parser.add_argument("--stage", default="all", choices=["train", "analyse", "tables", "all"])
    parser.add_argument("--tasks", type=int, default=600, help="test tasks per accuracy")
    parser.add_argument("--compare-tasks", type=int, default=100, help="tasks for θ vs θ'")
    parser.add_argument("--only", default=None,
                        help="comma-separated substrings: keep the runs whose name has one")
    parser.add_argument("--device", default="cpu", help="cpu | cuda (e.g. the 20-way MAML runs)")
    parser.add_argument("--list", action="store_true", help="print the runs and exit")
    args = parser.parse_args()
    set_threads(1)
    groups = set(args.groups.split(","))
    seeds = [int(x) for x in args.seeds.split(",")]
    runs = [dataclasses.replace(with_seed(r, seed), tasks=args.tasks,
                                compare_tasks=args.compare_tasks)
            for seed in seeds for r in grid(groups, args.steps, long_steps=args.long_steps,
                                            short_steps=args.short_steps)]
    if args.only:
        runs = [r for r in runs if any(part in r.name for part in args.only.split(","))]
    if args.queue:
        runs = sorted(runs, key=priority)
    if args.list:  # in queue order with --queue
        for r in runs:
            print(f"{r.name:22s} seed {r.config.seed}  {r.config.steps:6d} steps  {r.groups}")
        return
    if args.queue:
        for run in claim_in_order(runs, args.root):
            print(f"train {run.name} seed {run.config.seed}", flush=True)
            if train_run(run, args.root, data_dir=args.data_dir, device=args.device,
                         max_minutes=args.max_minutes) is None:
                print("training stopped before its last step (signal or --max-minutes); "
                      "rerun to resume", flush=True)
                return
            if args.stage == "all":
                print(f"analyse {run.name} seed {run.config.seed}", flush=True)
                analyse_run(run, args.root, data_dir=args.data_dir, device=args.device)
        return
    index, count = (int(x) for x in args.shard.split("/"))
    mine = runs[index::count]
    if args.stage in ("train", "all"):
        for run in mine:
            print(f"train {run.name} seed {run.config.seed}", flush=True)
            train_run(run, args.root, data_dir=args.data_dir, max_minutes=args.max_minutes,
                      device=args.device)
    if args.stage in ("analyse", "all"):
        for run in mine:
            if final_checkpoint(args.root, run) is not None:
                print(f"analyse {run.name} seed {run.config.seed}", flush=True)
                analyse_run(run, args.root, data_dir=args.data_dir, device=args.device)
            if "length" in run.groups:  # its checkpoints along training, those it has
                done = analyse_steps(run, args.root, data_dir=args.data_dir, device=args.device)
                if done:
                    print(f"analysed {run.name} seed {run.config.seed} at steps "
                          f"{sorted(done)}", flush=True)
    if args.stage == "tables" or (args.stage == "all" and count == 1):
        # the plan names every run (started or not), so the report can say what is missing;
        # each started run is then taken with the config it was trained with (its steps)
        write_plan(args.root, runs)
        trained = discover_runs(args.root)
        between = args.root / "tables" / "between_seeds.json"
        models = {(r.config.algorithm, r.config.seed): final_checkpoint(args.root, r)
                  for r in trained if "seeds" in r.groups}
        models = {k: v for k, v in models.items() if v is not None}
        if "seeds" in groups and len(models) >= 2 and _pairs_changed(between, models):
            frame = between_seeds(models, tasks=args.compare_tasks, data_dir=args.data_dir)
            write_table(frame, between, manifest=frame.attrs["manifest"])
        # the report gathers the tables (ROOT/figures/tables), draws and writes report.md
        files = study_report(args.root, args.root / "figures")
        files["index"] = atomic_write_json(args.root / "index.json",
                                           {"checkpoints": checkpoint_index(args.root, trained)})
        for name, path in sorted(files.items()):
            print(f"{name}: {path}")


def _pairs_changed(path: Path, models: dict) -> bool:
    """True when ``path`` is absent or compares other model pairs than ``models`` give (a
    seed finished since): the between-seed table is then recomputed."""
    if not path.exists():
        return True
    from repsim.analyses.tables import read_table

    done = {(tuple(p["a"]), tuple(p["b"])) for p in read_table(path)[1].get("pairs", [])}
    return done != {(a, b) for _, a, b in seed_pairs(models)}


if __name__ == "__main__":
    main()
