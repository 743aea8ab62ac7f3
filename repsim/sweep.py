"""Sweeps: a grid of presets × algorithms × seeds, each job trained and evaluated, one results
folder for ``repsim figures``. ``repsim sweep`` is a thin wrapper.

A job is idempotent: its training run resumes from its last checkpoint, and a job whose
``eval.json`` reports the asked number of steps is finished and skipped. So a sweep that was
interrupted (or extended with more seeds) is rerun with the same command and does only what is
missing. Jobs run through an executor: ``local`` (a process pool, one process per core, one
thread each) or ``ray`` (a local Ray instance, or an existing cluster by address; the results
folder must then be on storage every node sees).

Layout of the results folder (the study's, with one run per job)::

    runs/<preset>-<algorithm>-seed<k>/   training run (checkpoints/, metrics.csv, config.json,
                                         manifest.json) and its eval.json / eval.csv
    eval.json / eval.csv                 every job's rows, per seed (columns preset, seed, run)
    eval_seeds.json / eval_seeds.csv     mean ± std over seeds per preset, algorithm and head
    sweep.json                           the grid, the executor, each job's status
    figures/, report.md, report.html     from repsim.plots (like ``repsim figures``)
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from repsim._executors import (
    check_ray_address,
    check_ray_gpus,
    cores,
    require_ray,
    run_local,
    run_ray,
    sigterm_as_interrupt,
)
from repsim._io import atomic_write_json, run_manifest
from repsim.analyses.tables import write_table

__all__ = ["EXECUTORS", "SweepJob", "gather", "job_config", "run_job", "run_sweep", "sweep_jobs"]

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class SweepJob:
    """One cell of the grid: train ``algorithm`` on ``preset`` with ``seed``, then evaluate."""

    preset: str
    algorithm: str
    seed: int
    steps: int | None = None  # None: the preset's
    eval_tasks: int | None = None  # None: the preset's
    overrides: tuple[tuple[str, Any], ...] = ()  # other TrainConfig fields, e.g. val_tasks

    @property
    def name(self) -> str:
        return f"{self.preset}-{self.algorithm}-seed{self.seed}"


def _preset_parts(name: str) -> tuple[Any, int]:
    """(training config, evaluation tasks) of a study preset, else of a meta preset."""
    from repsim.meta import PRESETS
    from repsim.study import STUDY_PRESETS

    if name in STUDY_PRESETS:
        return STUDY_PRESETS[name].train, STUDY_PRESETS[name].eval_tasks
    if name in PRESETS:
        return PRESETS[name], 600
    valid = sorted(set(STUDY_PRESETS) | set(PRESETS))
    raise ValueError(f"unknown preset {name!r}; valid: {', '.join(valid)}")


def job_config(job: SweepJob) -> Any:
    """The TrainConfig of ``job``: its preset's, with its algorithm, seed and steps."""
    base, _ = _preset_parts(job.preset)
    known = {f.name for f in dataclasses.fields(base)} - {"algorithm", "seed", "steps", "inner"}
    unknown = sorted(k for k, _ in job.overrides if k not in known)
    if unknown:
        raise ValueError(f"cannot override {unknown} in a sweep; valid: {sorted(known)}")
    changes: dict[str, Any] = {**dict(job.overrides), "algorithm": job.algorithm,
                               "seed": job.seed}
    if job.steps is not None:
        changes["steps"] = job.steps
    return dataclasses.replace(base, **changes)


def sweep_jobs(presets: Sequence[str], algorithms: Sequence[str], seeds: Sequence[int], *,
               steps: int | None = None, eval_tasks: int | None = None,
               overrides: dict[str, Any] | None = None) -> list[SweepJob]:
    """Every (preset, algorithm, seed) of the grid, validated before anything runs.

    ``overrides`` replaces other fields of every job's TrainConfig (e.g. ``val_tasks``).
    """
    from repsim.meta import ALGORITHMS

    if not presets or not algorithms or not seeds:
        raise ValueError("a sweep needs at least one preset, one algorithm and one seed")
    for name in presets:
        _preset_parts(name)
    for algo in algorithms:
        if algo not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algo!r}; valid: {', '.join(ALGORITHMS)}")
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be distinct and >= 0; got {list(seeds)}")
    if (steps is not None and steps < 1) or (eval_tasks is not None and eval_tasks < 1):
        raise ValueError("--steps and --eval-tasks must be >= 1")
    fixed = tuple(sorted((overrides or {}).items()))
    jobs = [SweepJob(p, a, int(s), steps, eval_tasks, fixed)
            for p, a, s in itertools.product(dict.fromkeys(presets), dict.fromkeys(algorithms),
                                             seeds)]
    for job in jobs:
        job_config(job)  # a bad preset override fails here, not in a worker
    return jobs


def _finished(job: SweepJob, run_dir: Path) -> bool:
    """True when the run's eval.json evaluates this job: its config, final step and tasks.

    A job asked with other settings is not finished: it runs, and training refuses a run
    folder that holds another config with a clear error.
    """
    path = run_dir / "eval.json"
    if not path.is_file():
        return False
    try:
        data = json.loads(path.read_text())
        records, config = data["records"], data["manifest"]["config"]
    except (ValueError, KeyError, TypeError):
        return False  # unreadable: evaluate again
    cfg = job_config(job)
    tasks = job.eval_tasks or _preset_parts(job.preset)[1]
    return (bool(records) and config == json.loads(json.dumps(dataclasses.asdict(cfg)))
            and all(r.get("step") == cfg.steps and r.get("tasks") == tasks for r in records))


LOCK_NAME = ".job.lock"


@contextlib.contextmanager
def job_lock(run_dir: Path) -> Iterator[int | None]:
    """Hold ``run_dir/.job.lock`` (an exclusive ``flock``) while a job runs; yields None when
    held, else the pid of the live process that holds it (the job is running elsewhere).

    The kernel drops the lock when its holder dies, even by ``kill -9``, so a stale lock never
    blocks a rerun, and a live one always does (issue 21: a rerun trained a job beside the
    orphaned worker still training it).
    """
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_NAME, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            text = fh.read().strip()
            yield int(text) if text.isdigit() else -1
            return
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield None
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_job(job: SweepJob, out_dir: str | Path, *, device: str = "cpu",
            data_dir: str | Path | None = None, threads: int = 1) -> dict[str, Any]:
    """Train (or resume) and evaluate one job into ``out_dir/runs/<name>``; return its status.

    Safe to call again: a finished job returns ``"skipped"`` without touching its files, and a
    job another live process is running returns ``"busy"`` without touching them either.
    """
    out_dir = Path(out_dir)
    run_dir = out_dir / "runs" / job.name
    if _finished(job, run_dir):
        return {"run": job.name, "status": "skipped"}
    with job_lock(run_dir) as holder:
        if holder is not None:
            return {"run": job.name, "status": "busy",
                    "error": f"process {holder} is running this job already (an earlier "
                    "sweep's worker?); rerun once it has ended"}
        return _run_job(job, out_dir, run_dir, device=device, data_dir=data_dir,
                        threads=threads)


def _run_job(job: SweepJob, out_dir: Path, run_dir: Path, *, device: str,
             data_dir: str | Path | None, threads: int) -> dict[str, Any]:
    from repsim._threads import use_threads
    from repsim.meta import evaluate_checkpoint, load_trained, train
    from repsim.meta.checkpoint import checkpoint_paths

    use_threads(threads)
    if _finished(job, run_dir):  # finished while we waited for the lock
        return {"run": job.name, "status": "skipped"}
    t0 = time.perf_counter()
    cfg = job_config(job)
    done = checkpoint_paths(run_dir)
    status = f"resumed from step {done[-1][0]}" if done else "trained"
    result = train(cfg, out_dir=run_dir, resume=True, data_dir=data_dir, device=device,
                   progress=False)
    if result.step != cfg.steps:  # stopped by a signal: not finished, the next run resumes
        return {"run": job.name, "status": f"interrupted at step {result.step}"}
    trained = load_trained(result.last_checkpoint, device=device)
    tasks = job.eval_tasks or _preset_parts(job.preset)[1]
    heads = ("adapted", "nil") if cfg.task == "classification" else ("adapted",)
    rows = []
    for head in heads:
        res = evaluate_checkpoint(trained, head=head, tasks=tasks, data_dir=data_dir,
                                  device=device)
        row = res.to_dict()
        # "seed" is the run's training seed here; the test tasks' seed keeps its own column.
        row["test_seed"] = row.pop("seed")
        row["checkpoint"] = result.last_checkpoint.relative_to(out_dir).as_posix()
        rows.append({"preset": job.preset, "seed": job.seed, "run": job.name, **row})
    write_table(rows, run_dir / "eval", manifest=run_manifest(
        config=dataclasses.asdict(cfg), seed=job.seed, device=device, preset=job.preset,
        checkpoint=result.last_checkpoint.relative_to(out_dir).as_posix()))
    return {"run": job.name, "status": status, "seconds": round(time.perf_counter() - t0, 1)}


def _job_or_error(job: SweepJob, out_dir: str, device: str, data_dir: str | None,
                  threads: int) -> dict[str, Any]:
    """:func:`run_job` for a worker: a failing job reports its error instead of killing the
    sweep (the others go on; a rerun retries it)."""
    try:
        return run_job(job, out_dir, device=device, data_dir=data_dir, threads=threads)
    except Exception as exc:  # any failure of one job is reported with the others
        return {"run": job.name, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def run_sweep(
    out_dir: str | Path,
    *,
    presets: Sequence[str],
    algorithms: Sequence[str],
    seeds: Sequence[int],
    steps: int | None = None,
    eval_tasks: int | None = None,
    overrides: dict[str, Any] | None = None,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    cpus_per_job: float = 1,
    gpus_per_job: float = 0,
    device: str = "cpu",
    data_dir: str | Path | None = None,
    download: bool = False,
    threads: int = 1,
    figures: bool = True,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every missing job of the grid, gather the tables, draw figures and the report.

    Returns ``sweep.json``'s content: the grid, and each job's status (``trained``,
    ``resumed from step k``, ``skipped``, ``failed`` with its error, ``interrupted``).

    Raises
    ------
    ValueError
        A bad grid or executor, Ray missing for ``executor="ray"``, or jobs that failed (after
        every other job has run and the finished ones have been gathered).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    if threads < 1 or cpus_per_job <= 0 or gpus_per_job < 0:
        raise ValueError("--threads and --cpus-per-job must be positive, --gpus-per-job >= 0")
    jobs = sweep_jobs(presets, algorithms, seeds, steps=steps, eval_tasks=eval_tasks,
                      overrides=overrides)
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1 (jobs at a time); got {workers}")
    if executor == "ray":
        require_ray()  # missing Ray: say so before anything runs
        check_ray_address(address)  # nobody listening: fail now, not after minutes of retries
        if gpus_per_job > 0 and address is None:  # a local Ray has this machine's GPUs
            import torch

            check_ray_gpus(gpus_per_job, torch.cuda.device_count(), "this machine")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    statuses = {j.name: {"run": j.name, "status": "skipped"} for j in jobs
                if _finished(j, out / "runs" / j.name)}
    todo = [j for j in jobs if j.name not in statuses]
    workers = max(1, min(workers or cores(), len(todo) or 1))
    say(f"sweep: {len(jobs)} jobs, {len(statuses)} finished already, {len(todo)} to run "
        f"({executor} executor, {workers} at a time) → {out}")
    if download and todo:  # fetch each dataset once here, not in every worker at once
        from repsim.meta.tasks import task_source

        for cfg in {job_config(j).dataset: job_config(j) for j in todo}.values():
            task_source(cfg, split="train", seed=0, data_dir=data_dir, download=True)

    def report(status: dict[str, Any]) -> None:
        statuses[status["run"]] = status
        extra = f": {status['error']}" if "error" in status else ""
        say(f"[{len(statuses)}/{len(jobs)}] {status['run']}: {status['status']}{extra}")

    args = (str(out), device, None if data_dir is None else str(data_dir), threads)
    with sigterm_as_interrupt():
        if todo and executor == "local":
            run_local(_job_or_error, todo, args, workers, report)
        elif todo:
            run_ray(_job_or_error, todo, args, workers, address, cpus_per_job, gpus_per_job,
                    report)
    summary = {
        "grid": {"presets": list(dict.fromkeys(presets)),
                 "algorithms": list(dict.fromkeys(algorithms)), "seeds": list(seeds),
                 "steps": steps, "eval_tasks": eval_tasks, "overrides": dict(overrides or {})},
        "executor": executor, "address": address, "workers": workers,
        "jobs": [statuses[j.name] for j in jobs],
    }
    atomic_write_json(out / "sweep.json", run_manifest(seed=None, device=device, **summary))
    finished = [j for j in jobs if _finished(j, out / "runs" / j.name)]
    if finished:
        gather(out, finished)
        if figures:
            from repsim.plots.report import make_figures, write_report

            make_figures(out, out / "figures")
            write_report(out, out / "figures", out)
    failed = [s for s in summary["jobs"] if s["status"] not in ("skipped", "trained")
              and not s["status"].startswith("resumed")]
    if failed:
        details = "; ".join(f"{s['run']}: {s.get('error', s['status'])}" for s in failed)
        raise ValueError(f"{len(failed)} of {len(jobs)} sweep jobs did not finish ({details}); "
                         "rerun the same command (after fixing any error): finished jobs are "
                         "skipped, interrupted ones resume")
    return summary


def gather(out_dir: str | Path, jobs: Sequence[SweepJob]) -> pd.DataFrame:
    """Write ``eval`` (every job's rows, per seed) and ``eval_seeds`` (mean ± std over seeds).

    The std is the sample std over seeds (ddof=1, the paper's ± over 3 seeds); with one seed
    it is NaN. Returns the ``eval_seeds`` table.
    """
    from repsim.analyses.tables import read_table

    out = Path(out_dir)
    frames, parts = [], []
    for job in jobs:
        frame, manifest = read_table(out / "runs" / job.name / "eval.json")
        frames.append(frame)
        parts.append({"run": job.name, "checkpoint": manifest.get("checkpoint")})
    rows = pd.concat(frames, ignore_index=True)
    write_table(rows.drop(columns=[c for c in rows if c.endswith("_per_step")]), out / "eval",
                manifest=run_manifest(seed=None, parts=parts))
    seeds = seed_summary(rows)
    write_table(seeds, out / "eval_seeds", manifest=run_manifest(
        seed=None, description="mean ± sample std (ddof=1) over seeds of each job's "
        "meta-test metric; per-seed rows in eval.json"))
    return seeds


def seed_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std (ddof=1) over seeds of the metric, per preset, algorithm and head."""
    metric = "accuracy" if "accuracy" in rows else "mse"
    keys = [k for k in ("preset", "dataset", "ways", "shots", "algorithm", "head", "step",
                        "tasks") if k in rows]
    grouped = rows.groupby(keys, sort=True, dropna=False)
    summary = grouped[metric].agg(mean="mean", std="std", n_seeds="count").reset_index()
    summary["seeds"] = [sorted(int(s) for s in g) for _, g in grouped["seed"]]
    summary["metric"] = metric
    return summary
