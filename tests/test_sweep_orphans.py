"""Issue 21, item 2: sweep workers die with their driver, and a rerun never runs a live job twice.

Before the fix a ``kill -9`` of ``repsim sweep`` left its pool workers alive: they finished their
jobs, then blocked forever on the dead driver's queue, and a rerun trained the same jobs beside
them. The first test kills a real pool's driver (a sleeping job, no training: seconds); the slow
one kills ``python -m repsim sweep`` mid-training and reruns it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from repsim.sweep import SweepJob, job_lock, run_job

ROOT = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is dead for our purpose (it runs nothing); /proc tells them apart on Linux
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


DRIVER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path

    def job(seconds, pid_dir, threads):
        Path(pid_dir, str(os.getpid())).write_text("")
        time.sleep(seconds)
        return {"run": str(seconds), "status": "trained"}

    if __name__ == "__main__":
        from repsim._executors import run_local
        run_local(job, [120, 120], (sys.argv[1], 1), 2, print)
""")


def test_pool_workers_die_when_the_driver_is_killed(tmp_path, subprocess_env):
    """kill -9 of the driver: every worker (each busy in a 120 s job) is gone within seconds."""
    script, pids = tmp_path / "driver.py", tmp_path / "pids"
    script.write_text(DRIVER)
    pids.mkdir()
    driver = subprocess.Popen([sys.executable, str(script), str(pids)], env=subprocess_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: len(list(pids.iterdir())) == 2, 90, "both workers to start a job")
        workers = [int(p.name) for p in pids.iterdir()]
        assert all(_alive(pid) for pid in workers)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
        _wait_for(lambda: not any(_alive(pid) for pid in workers), 15,
                  f"the orphaned workers {workers} to exit")
    finally:
        if driver.poll() is None:
            driver.kill()
        for p in pids.iterdir():
            if _alive(int(p.name)):
                os.kill(int(p.name), signal.SIGKILL)


def test_a_job_held_by_a_live_process_is_not_run_again(tmp_path):
    """A rerun finds the job's lock held (by a live worker): it reports 'busy' and trains
    nothing; once the lock is free the same call trains it."""
    job = SweepJob("sinusoid", "maml", 0, steps=2, eval_tasks=2, overrides=(("val_tasks", 2),))
    run_dir = tmp_path / "runs" / job.name
    with job_lock(run_dir) as holder:
        assert holder is None
        status = run_job(job, tmp_path)
    assert status["status"] == "busy" and str(os.getpid()) in status["error"]
    assert not (run_dir / "checkpoints").exists()
    assert run_job(job, tmp_path)["status"] == "trained"


@pytest.mark.slow
def test_kill9_sweep_then_rerun_trains_nothing_twice(tmp_path, subprocess_env):
    """`repsim sweep` killed with -9 mid-training: its worker checkpoints and exits; the rerun
    resumes from that checkpoint, and every training step appears once in metrics.csv."""
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "repsim", "sweep", "--presets", "sinusoid", "--algos", "maml",
           "--seeds", "1", "--steps", "300", "--eval-tasks", "5", "--set", "val_tasks=2",
           "--set", "checkpoint_every=10", "--set", "log_every=1", "--set", "val_every=1000",
           "--workers", "1", "--no-figures", "--out", str(out)]
    run_dir = out / "runs" / "sinusoid-maml-seed0"
    ckpts = run_dir / "checkpoints"
    driver = subprocess.Popen(cmd, env=subprocess_env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: ckpts.is_dir() and any(ckpts.glob("step_*.pt")), 180,
                  "the first checkpoint")
        worker = int((run_dir / ".job.lock").read_text())
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
        _wait_for(lambda: not _alive(worker), 60, f"the orphaned worker {worker} to exit")
    finally:
        if driver.poll() is None:
            driver.kill()
    last = max(int(p.stem.split("_")[1]) for p in ckpts.glob("step_*.pt"))
    assert last < 300  # killed mid-job
    rerun = subprocess.run(cmd, env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resumed from step {last}" in rerun.stdout
    steps = pd.read_csv(run_dir / "metrics.csv")
    train_steps = (steps.loc[steps["split"] == "train", "step"] if "split" in steps
                   else steps["step"])
    assert train_steps.is_unique and train_steps.max() == 300
