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

__all__ = ["RAY_EXTRA", "check_ray_address", "check_ray_gpus", "cores", "require_ray",
           "run_local", "run_ray", "sigterm_as_interrupt"]

RAY_EXTRA = "pip install 'repsim-maml[ray]'"
Report = Callable[[dict[str, Any]], None]


def cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# A worker whose driver is gone (kill -9) must not live on: it would finish its job, then
# block forever on the pool's queue, and a rerun would train the same job beside it (issue 21).
_PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.5  # how often a worker looks for its driver
GRACE_S = 120.0  # how long an orphaned job may take to finish its step and checkpoint
_busy = threading.Event()  # set while this worker runs a job


def _parent_death_signal(signum: int) -> None:
    """Linux: the kernel sends ``signum`` to this process when its parent dies (prctl)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watchdog below does the same
        pass


def _watch_parent(parent: int) -> None:
    """Worker thread: once the driver is gone, stop as Ctrl-C would, then exit for good.

    SIGTERM ends an idle worker at once; a training job finishes its step, writes its
    checkpoint and returns (the next run resumes it); then, or after :data:`GRACE_S`, the
    process exits instead of waiting on a queue nobody feeds.
    """
    import time

    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL_S)
    os.kill(os.getpid(), signal.SIGTERM)  # harmless if PDEATHSIG already sent it
    deadline = time.monotonic() + GRACE_S
    while _busy.is_set() and time.monotonic() < deadline:
        time.sleep(WATCH_INTERVAL_S)
    os._exit(1)


def _init_worker(threads: int, parent: int | None = None) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    if parent is None:
        return
    _parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # the driver died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                     name="repsim-parent-watch").start()


def _run_in_worker(fn: Callable[..., dict[str, Any]], job: Any, *args: Any) -> dict[str, Any]:
    """``fn(job, *args)``, marked busy so an orphaned worker lets it checkpoint first."""
    _busy.set()
    try:
        return fn(job, *args)
    finally:
        _busy.clear()


def run_local(fn: Callable[..., dict[str, Any]], jobs: Sequence[Any], args: tuple, workers: int,
              report: Report) -> None:
    """Run ``jobs`` on a pool of ``workers`` processes; Ctrl-C or SIGTERM stops them cleanly.

    Workers die with the driver: if it is killed outright (``kill -9``), each worker gets
    SIGTERM (Linux's parent-death signal, and a watchdog thread elsewhere), checkpoints a job
    it is training and exits.

    On interruption every worker gets SIGTERM (again every 10 s until it has exited): a job
    that is training finishes its step, writes a checkpoint and reports "interrupted"; an idle
    worker or a job not yet training just ends. The next run of the sweep resumes them.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed, wait

    # spawn: a fresh interpreter per worker (no forked torch thread pools or locks)
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                               initargs=(args[-1], os.getpid()),
                               mp_context=multiprocessing.get_context("spawn"))
    futures = {pool.submit(_run_in_worker, fn, job, *args): job for job in jobs}
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


def check_ray_address(address: str | None, *, timeout_s: float = 5.0) -> None:
    """Fail fast, in one line, when nothing listens at a Ray ``address`` (``host:port`` or
    ``ray://host:port``): ``ray.init`` would otherwise retry for minutes (issue 21).
    ``None`` and ``"auto"`` (a cluster started on this machine) are left to Ray."""
    import socket

    if not address or address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port_text = hostport.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise ValueError(f"--address {address!r} is not HOST:PORT (or ray://HOST:PORT, or auto)")
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ValueError(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}, "
            f"{timeout_s:g} s timeout); start one with `ray start --head` and pass the address "
            "it prints, or drop --address to run a local Ray"
        ) from None


def check_ray_gpus(gpus: float, available: float, where: str) -> None:
    """Refuse ``--gpus-per-job`` that ``available`` GPUs cannot serve (the jobs would wait
    forever for a GPU that never comes)."""
    if gpus > 0 and available < gpus:
        raise ValueError(
            f"--gpus-per-job {gpus:g}: {where} has {available:g} GPU(s), so no job could ever "
            "start; use --gpus-per-job 0 (and --device cpu), or a cluster with GPUs"
        )


def run_ray(fn: Callable[..., dict[str, Any]], jobs: Sequence[Any], args: tuple, workers: int,
            address: str | None, cpus: float, gpus: float, report: Report) -> None:
    ray = require_ray()
    started = not ray.is_initialized()
    if started and address:
        check_ray_address(address)
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, TimeoutError, RuntimeError) as exc:  # something else answers
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise ValueError(f"--address {address}: something listens there but no Ray cluster "
                             f"could be joined ({detail}); pass the address `ray start --head` "
                             "printed, or drop --address to run a local Ray") from None
    elif started:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    if gpus > 0:
        try:
            check_ray_gpus(gpus, float(ray.cluster_resources().get("GPU", 0)),
                           f"the Ray cluster ({address or 'local'})")
        except ValueError:
            if started:
                ray.shutdown()
            raise
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
