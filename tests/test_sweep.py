"""Sweeps: the grid, seed aggregation by hand, an interrupted sweep finishes only what is
missing, and the Ray executor writes the same run folders as the local one."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from repsim._io import load_checkpoint
from repsim.cli.main import app
from repsim.cli.sweep import parse_overrides, parse_seeds
from repsim.meta import train
from repsim.sweep import SweepJob, job_config, run_job, run_sweep, seed_summary, sweep_jobs

# 20 steps, 10 test tasks, validation on 5 tasks: seconds per job.
TINY = {"presets": ["sinusoid"], "steps": 20, "eval_tasks": 10, "overrides": {"val_tasks": 5}}


def _quiet(_text: str) -> None:
    pass


def test_grid_and_its_errors(tmp_path, monkeypatch):
    jobs = sweep_jobs(["sinusoid"], ["maml", "anil"], [0, 3])
    assert [j.name for j in jobs] == ["sinusoid-maml-seed0", "sinusoid-maml-seed3",
                                      "sinusoid-anil-seed0", "sinusoid-anil-seed3"]
    cfg = job_config(SweepJob("sinusoid", "anil", 3, steps=7))
    assert (cfg.algorithm, cfg.seed, cfg.steps, cfg.dataset) == ("anil", 3, 7, "sinusoid")
    with pytest.raises(ValueError, match=r"unknown preset 'nope'; valid: .*omniglot-5w1s"):
        sweep_jobs(["nope"], ["maml"], [0])
    with pytest.raises(ValueError, match="unknown algorithm 'reptile'"):
        sweep_jobs(["sinusoid"], ["reptile"], [0])
    with pytest.raises(ValueError, match=r"cannot override \['wings'\]"):
        sweep_jobs(["sinusoid"], ["maml"], [0], overrides={"wings": 2})
    with pytest.raises(ValueError, match="val_tasks must be >= 1"):
        sweep_jobs(["sinusoid"], ["maml"], [0], overrides={"val_tasks": 0})
    with pytest.raises(ValueError, match="distinct"):
        sweep_jobs(["sinusoid"], ["maml"], [1, 1])
    with pytest.raises(ValueError, match="unknown executor 'slurm'"):
        run_sweep("unused", executor="slurm", algorithms=["maml"], seeds=[0], **TINY)
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
        with pytest.raises(ValueError, match=r"needs Ray.*pip install 'repsim-maml\[ray\]'"):
            run_sweep(tmp_path, executor="ray", algorithms=["maml"], seeds=[0], **TINY)
    assert not (tmp_path / "runs").exists()
    assert parse_overrides(["val_tasks=5", "meta_lr=3e-4", "vectorize=false"]) == {
        "val_tasks": 5, "meta_lr": 3e-4, "vectorize": False}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["val_tasks"])
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,4,7") == [0, 4, 7]
    assert parse_seeds("5,") == [5]
    with pytest.raises(ValueError, match="count"):
        parse_seeds("three")


def test_seed_summary_matches_hand_computed_mean_and_std():
    rows = pd.DataFrame({
        "preset": ["p"] * 4, "algorithm": ["maml", "maml", "maml", "anil"],
        "head": ["adapted"] * 4, "seed": [0, 1, 2, 0], "step": [5] * 4,
        "accuracy": [0.50, 0.60, 0.70, 0.40],
    })
    summary = seed_summary(rows).set_index("algorithm")
    assert summary.loc["maml", "mean"] == pytest.approx(0.60)
    # sample std of 0.5, 0.6, 0.7: sqrt((0.01 + 0 + 0.01) / 2) = 0.1
    assert summary.loc["maml", "std"] == pytest.approx(0.1)
    assert summary.loc["maml", "n_seeds"] == 3 and summary.loc["maml", "seeds"] == [0, 1, 2]
    assert math.isnan(summary.loc["anil", "std"]) and summary.loc["anil", "n_seeds"] == 1


def test_seeds_table_puts_mean_std_over_seeds_beside_the_paper():
    from repsim.plots.paper import paper_accuracy, seeds_table

    summary = pd.DataFrame([{
        "preset": "omniglot-20w1s", "dataset": "omniglot", "ways": 20, "shots": 1,
        "algorithm": "anil", "head": "nil", "step": 8000, "tasks": 600, "mean": 0.9512,
        "std": 0.0049, "n_seeds": 3, "seeds": [0, 1, 2], "metric": "accuracy"}])
    row = seeds_table(summary).iloc[0]
    assert row["method"] == "NIL" and row["ours (%, ± std over seeds)"] == "95.1 ± 0.5"
    assert row["seeds"] == "3 (0, 1, 2)" and row["steps"] == "8000"
    assert paper_accuracy("NIL", ("omniglot", 20, 1)) == (96.7, 0.3)  # Table 2
    assert row["paper (%, ± std)"] == "96.7 ± 0.3"


def _files(root: Path) -> dict[str, tuple[int, str]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_mtime_ns,
                                             hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_interrupted_sweep_rerun_finishes_the_missing_runs_only(tmp_path):
    out = tmp_path / "sweep"
    grid = {"algorithms": ["anil"], "seeds": [0, 1, 2], **TINY}
    first = run_sweep(out, workers=2, figures=False, say=_quiet, **grid)
    assert [j["status"] for j in first["jobs"]] == ["trained"] * 3
    records = {s: json.loads((out / f"runs/sinusoid-anil-seed{s}/eval.json").read_text())
               ["records"] for s in (0, 1, 2)}
    # Interrupt: seed 1 trained but not evaluated; seed 2 stopped after its first step.
    (out / "runs/sinusoid-anil-seed1/eval.json").unlink()
    shutil.rmtree(out / "runs/sinusoid-anil-seed2")
    job = sweep_jobs(["sinusoid"], ["anil"], [2], steps=20, overrides={"val_tasks": 5})[0]
    partial = train(job_config(job),
                    out_dir=out / "runs/sinusoid-anil-seed2", progress=False, max_seconds=0.0)
    assert partial.step == 1
    untouched = _files(out / "runs/sinusoid-anil-seed0")

    again = run_sweep(out, workers=2, figures=False, say=_quiet, **grid)
    assert [j["status"] for j in again["jobs"]] == [
        "skipped", "resumed from step 20", "resumed from step 1"]
    assert _files(out / "runs/sinusoid-anil-seed0") == untouched  # not even rewritten
    for s in (1, 2):  # the finished jobs give what the uninterrupted sweep gave
        rerun = json.loads((out / f"runs/sinusoid-anil-seed{s}/eval.json").read_text())
        assert rerun["records"] == records[s]
    table = json.loads((out / "eval_seeds.json").read_text())["records"]
    assert [(r["algorithm"], r["n_seeds"], r["seeds"]) for r in table] == [("anil", 3, [0, 1, 2])]
    third = run_sweep(out, workers=2, figures=False, say=_quiet, **grid)
    assert {j["status"] for j in third["jobs"]} == {"skipped"}
    # Other settings are not "finished": the run folder refuses them, in one clear error.
    other = sweep_jobs(["sinusoid"], ["anil"], [0], steps=20, eval_tasks=10,
                       overrides={"val_tasks": 6})[0]
    with pytest.raises(ValueError, match="different config"):
        run_job(other, out)


# Fields that record when, where and how long: everything else must be identical.
_TIMING = {"elapsed", "created", "platform", "git_sha", "versions", "cuda", "seconds"}


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _TIMING}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)  # NaN → "NaN", so NaN == NaN


def _fingerprint(root: Path) -> dict[str, object]:
    """Every file of a sweep's runs and tables, reduced to what must not depend on the
    executor: tensors by content hash, JSON and CSV without timing and host fields."""
    prints: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel.startswith(("figures/", "report.", "sweep.json")):
            continue
        if path.suffix == ".pt":
            state = load_checkpoint(path)
            tensors = {k: hashlib.sha256(v.numpy().tobytes()).hexdigest()
                       for k, v in state["model"].items()}
            optim = [hashlib.sha256(t.numpy().tobytes()).hexdigest()
                     for s in state["optimizer"]["state"].values() for t in s.values()
                     if isinstance(t, torch.Tensor)]
            rest = {k: v for k, v in state.items() if k not in ("model", "optimizer", "rng")}
            prints[rel] = (tensors, optim, _canonical(_strip(rest)))
        elif path.suffix == ".json":
            prints[rel] = _canonical(_strip(json.loads(path.read_text())))
        elif path.suffix == ".csv":
            frame = pd.read_csv(path)
            frame = frame.drop(columns=[c for c in frame if c in _TIMING])
            prints[rel] = frame.astype(str).to_dict("list")  # str: NaN equals NaN, floats exact
    return prints


def test_ray_and_local_executors_write_identical_run_folders(tmp_path):
    pytest.importorskip("ray", reason="the Ray executor needs the optional extra repsim-maml[ray]")
    local, ray_dir = tmp_path / "local", tmp_path / "ray"
    cli = CliRunner().invoke(app, [
        "sweep", "--presets", "sinusoid", "--algos", "maml,anil", "--seeds", "2", "--steps",
        "20", "--eval-tasks", "10", "--set", "val_tasks=5", "--workers", "2", "--out", str(local)])
    assert cli.exit_code == 0, cli.output
    summary = run_sweep(ray_dir, executor="ray", workers=2, algorithms=["maml", "anil"],
                        seeds=[0, 1], say=_quiet, **TINY)
    assert {j["status"] for j in summary["jobs"]} == {"trained"}
    a, b = _fingerprint(local), _fingerprint(ray_dir)
    assert sorted(a) == sorted(b)
    assert len([k for k in a if k.endswith(".pt")]) == 4
    for key in a:
        assert a[key] == b[key], key
    # One report from the gathered folder, with the mean ± std over seeds.
    assert "Over seeds: mean ± std" in (ray_dir / "report.md").read_text()


@pytest.mark.slow
def test_sigterm_stops_a_local_sweep_at_checkpoints_and_a_rerun_resumes(tmp_path):
    """A real interruption: SIGTERM the `repsim sweep` process while its jobs train."""
    import os
    import signal
    import subprocess
    import time

    from repsim.meta.checkpoint import checkpoint_paths

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "sweep"
    base = [sys.executable, "-m", "repsim", "sweep", "--presets", "sinusoid", "--algos", "anil",
            "--seeds", "2", "--eval-tasks", "5", "--set", "val_tasks=5", "--set",
            "checkpoint_every=50", "--workers", "2", "--no-figures", "--out", str(out)]
    proc = subprocess.Popen([*base, "--steps", "100000"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    runs = [out / "runs" / f"sinusoid-anil-seed{s}" for s in (0, 1)]
    deadline = time.monotonic() + 300
    while not all(checkpoint_paths(r) for r in runs) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "2 of 2 sweep jobs did not finish" in stderr and "interrupted at step" in stderr
    assert "Traceback" not in stderr
    last = [checkpoint_paths(r)[-1][0] for r in runs]
    again = subprocess.run([*base, "--steps", str(max(last) + 10)], env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    for run, step in zip(runs, last, strict=True):
        assert f"{run.name}: resumed from step {step}" in again.stdout
    table = json.loads((out / "eval_seeds.json").read_text())["records"]
    assert table[0]["n_seeds"] == 2 and table[0]["step"] == max(last) + 10
