"""Where recipes run: in this process, in a local process pool, or on a dask cluster.

Every runner takes the same jobs and yields :class:`~pipeline.build.Outcome` objects as they
finish, so the build does not care which one it got. The pool uses the ``spawn`` start method
because recipes start Jupyter kernels and TensorFlow does not survive ``fork``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import TYPE_CHECKING

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.build import BuildOptions, Job, Outcome

log = logging.getLogger(__name__)

Runner = Callable[["list[Job]", "BuildOptions", Callable[[str], None]], Iterator["Outcome"]]


def run_inline(jobs: list[Job], options: BuildOptions,
               started: Callable[[str], None]) -> Iterator[Outcome]:
    from pipeline.build import run_job

    for job in jobs:
        started(job.slug)
        yield run_job(job, options)


#: Seconds the workers get to kill their kernels and remove their staging folders on Ctrl-C.
WORKER_STOP_S = 15.0

_job_running = False  # in a worker: is a job running right now?


def _worker_init(parent_pid: int) -> None:
    """Set up a pool worker: the build's main process decides when to stop, not the terminal.

    * SIGINT is ignored: Ctrl-C in a terminal goes to the whole process group, and the main
      process coordinates the stop (it sends SIGTERM to each worker).
    * SIGTERM interrupts the running job (the executor kills the kernel and ``run_job`` removes
      the staging folder) and then the worker exits instead of taking the next job.
    * A watchdog thread does the same when the main process disappears (``kill -9``), so no
      worker and no kernel outlives a killed build for more than a second or two.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="nnx-parent-watch", daemon=True).start()


def _on_sigterm(signum: int, frame: object) -> None:
    if _job_running:
        raise KeyboardInterrupt
    os._exit(0)


def _run_in_worker(job: Job, options: BuildOptions) -> Outcome:
    """``run_job`` in a pool worker; after an interrupt the worker exits (cleanup is done)."""
    global _job_running
    from pipeline.build import run_job

    _job_running = True
    try:
        return run_job(job, options)
    except KeyboardInterrupt:
        os._exit(130)
    finally:
        _job_running = False


def run_pool(jobs: list[Job], options: BuildOptions,
             started: Callable[[str], None]) -> Iterator[Outcome]:
    """Run jobs in a pool of spawned worker processes; yield outcomes as they finish.

    On Ctrl-C (or when the consumer stops early) every worker is told to stop with SIGTERM and
    given :data:`WORKER_STOP_S` to shut its kernel down; stragglers are killed.
    """
    pool = ProcessPoolExecutor(max_workers=options.jobs, mp_context=get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(),))
    futures: dict[object, Job] = {}
    yielded: set[object] = set()
    state = "running"
    try:
        for job in jobs:
            futures[pool.submit(_run_in_worker, job, options)] = job
            started(job.slug)
        for future in as_completed(futures):
            yielded.add(future)
            yield _result_or_failure(future, futures[future])
        state = "done"
    except KeyboardInterrupt as exc:
        _stop_pool(pool)
        state = "stopped"
        # Results that were complete when the interrupt came are handed to the build, which
        # publishes them before it stops: finished work is never thrown away.
        exc.finished_outcomes = [  # type: ignore[attr-defined]
            future.result() for future in futures  # type: ignore[attr-defined]
            if future not in yielded and future.done() and not future.cancelled()  # type: ignore[attr-defined]
            and future.exception() is None  # type: ignore[attr-defined]
        ]
        raise
    finally:
        if state == "done":
            pool.shutdown(wait=True)
        elif state == "running":  # the consumer stopped early (GeneratorExit) or an error
            _stop_pool(pool)


def _result_or_failure(future: object, job: Job) -> Outcome:
    """The job's outcome; a worker that died (out of memory, killed) becomes a failed outcome."""
    from pipeline.build import Outcome
    from pipeline.executor import CellFailure

    try:
        return future.result()  # type: ignore[attr-defined]
    except Exception as exc:
        log.error("%s: the worker process running it failed: %s", job.slug, exc)
        failure = CellFailure(job.rel_path, None, None, "", type(exc).__name__,
                              f"the worker process running this recipe died or failed ({exc})",
                              "", kind="kernel-died")
        return Outcome(job.slug, "failed", 0.0, job.key, failure=failure.to_dict())


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop every worker now: SIGTERM (they clean up), then SIGKILL whatever is left."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for proc in processes:
        if proc.is_alive():
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + WORKER_STOP_S
    for proc in processes:
        while proc.is_alive() and time.monotonic() < deadline:
            try:
                proc.join(0.2)
            except KeyboardInterrupt:  # a second Ctrl-C: keep waiting for the cleanup
                continue
        if proc.is_alive():
            log.warning("worker %d did not stop in %.0f s; killing it", proc.pid, WORKER_STOP_S)
            proc.kill()
            proc.join(5)
    pool.shutdown(wait=False, cancel_futures=True)


def make_runner(options: BuildOptions) -> Runner:
    """Pick the runner named by ``--executor`` / ``--jobs``."""
    if options.executor:
        if options.executor.startswith("dask://"):
            from pipeline.distributed import run_dask

            return run_dask
        raise ConfigError(
            f"unknown executor {options.executor!r}: use 'local' or 'dask://HOST:PORT'"
        )
    return run_pool if options.jobs > 1 else run_inline
