"""Executors for sweep jobs: a local process pool, or Ray (a local instance or a cluster).

Each takes the jobs (objects with a ``name``), a picklable job function
``fn(job, *args) -> status dict`` that never raises for a failing job, its ``args`` (the last
one the thread count of a job), and ``report`` (called with each status as it arrives). Ctrl-C and
SIGTERM (under :func:`sigterm_as_interrupt`) stop the jobs and report them as interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["RAY_EXTRA", "cores", "require_ray", "run_local", "run_ray", "sigterm_as_interrupt"]

RAY_EXTRA = "pip install 'repsim-maml[ray]'"
Report = Callable[[dict[str, Any]], None]


def cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _init_worker(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)


def run_local(fn: Callable[..., dict[str, Any]], jobs: Sequence[Any], args: tuple, workers: int,
              report: Report) -> None:
    """Run ``jobs`` on a pool of ``workers`` processes; Ctrl-C or SIGTERM stops them cleanly.

    On interruption every worker gets SIGTERM (again every 10 s until it has exited): a job
    that is training finishes its step, writes a checkpoint and reports "interrupted"; an idle
    worker or a job not yet training just ends. The next run of the sweep resumes them.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed, wait

    # spawn: a fresh interpreter per worker (no forked torch thread pools or locks)
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                               initargs=(args[-1],),
                               mp_context=multiprocessing.get_context("spawn"))
    futures = {pool.submit(fn, job, *args): job for job in jobs}
    reported: set[Any] = set()

    def collect(future: Any) -> None:
        reported.add(future)
        if future.cancelled():
            report({"run": futures[future].name, "status": "not started (interrupted)"})
            return
        try:
            report(future.result())
        except Exception as exc:  # the worker process died (killed, out of memory)
            report({"run": futures[future].name, "status": "failed",
                    "error": f"worker process lost: {type(exc).__name__}: {exc}"})

    try:
        for future in as_completed(futures):
            collect(future)
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()
        processes = list(getattr(pool, "_processes", {}).values())
        pending = [f for f in futures if f not in reported]
        wait(pending, timeout=2.0)  # workers signalled with us (Ctrl-C) are already stopping
        while any(p.is_alive() for p in processes):
            for p in processes:
                if p.is_alive():
                    p.terminate()
            wait(pending, timeout=10.0)  # time for a step and its checkpoint
        for future in [f for f in futures if f not in reported]:
            collect(future)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError(f"--executor ray needs Ray, an optional extra: {RAY_EXTRA}") from None
    return ray


def run_ray(fn: Callable[..., dict[str, Any]], jobs: Sequence[Any], args: tuple, workers: int,
            address: str | None, cpus: float, gpus: float, report: Report) -> None:
    ray = require_ray()
    started = not ray.is_initialized()
    if started and address:
        ray.init(address=address, log_to_driver=False)
    elif started:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # ray.init installed its own (exit at once)
    try:
        remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(fn)
        refs = {remote.remote(job, *args): job for job in jobs}
        pending = list(refs)

        def collect(ref: Any) -> None:
            try:
                report(ray.get(ref))
            except ray.exceptions.TaskCancelledError:
                report({"run": refs[ref].name,
                        "status": "interrupted (resumes from its last checkpoint)"})
            except Exception as exc:  # the Ray worker or its node died
                report({"run": refs[ref].name, "status": "failed",
                        "error": f"Ray task lost: {type(exc).__name__}: {exc}"})

        try:
            while pending:  # a timeout, so that signals reach Python between waits
                done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
                for ref in done:
                    collect(ref)
        except KeyboardInterrupt:
            # Ray's gentle cancel does not reach a task busy in torch, so the tasks are
            # killed: each run keeps its last periodic checkpoint (writes are atomic).
            for ref in pending:
                ray.cancel(ref, force=True)
            for ref in pending:
                collect(ref)
    finally:
        if started:
            ray.shutdown()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler, ``kill``) stops the sweep as Ctrl-C does: jobs checkpoint first."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
