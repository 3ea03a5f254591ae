"""Where recipes run: in this process, in a local process pool, or on a dask cluster.

Every runner takes the same jobs and yields :class:`~pipeline.builder.jobs.Outcome` objects as they
finish, so the build does not care which one it got. The pool uses the ``spawn`` start method
because recipes start Jupyter kernels and TensorFlow does not survive ``fork``.

Threads per kernel: :func:`pipeline.builder.resources.plan_threads` shares the cores among
the recipes that run at once and gives every core to a recipe that will run alone for most of
its time; ``NNX_KERNEL_THREADS`` overrides it (a number, ``auto`` or ``default``). Each job's
kernel gets its own count, so one build may give CIFAR-10 two threads and the small recipes
beside it one each. The count is part of each result's key (see the resources module).

Pool jobs are submitted longest first (by their last recorded run time), so a long recipe
does not start last and leave one worker idle while it runs alone.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import TYPE_CHECKING

from pipeline.builder.records import Failure, FailureKind, Manifest, OutcomeStatus
from pipeline.builder.resources import (
    environ_with,
    kernel_threads,
    plan_threads,
    thread_env,
)
from pipeline.library.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.builder.jobs import BuildOptions, Job, Outcome
    from pipeline.builder.warm_kernels import KernelSupply

log = logging.getLogger(__name__)

Runner = Callable[["list[Job]", "BuildOptions", Callable[[str], None]], Iterator["Outcome"]]


def run_inline(jobs: list[Job], options: BuildOptions,
               started: Callable[[str], None]) -> Iterator[Outcome]:
    from pipeline.builder.jobs import run_job
    from pipeline.builder.store import BuildDir
    from pipeline.builder.warm_kernels import KernelSupply

    envs = job_thread_envs(jobs, options)
    with KernelSupply(BuildDir(options.build_root).staging, options.warm_kernels) as kernels:
        for i, job in enumerate(jobs):
            started(job.slug)
            with environ_with(envs[job.slug]):
                outcome = run_job(job, options, kernels, prewarm=i + 1 < len(jobs))
            yield outcome


def job_thread_envs(jobs: list[Job], options: BuildOptions) -> dict[str, dict[str, str]]:
    """Each job's thread variables (:func:`plan_threads`), logged once per build."""
    plan = plan_threads(expected_times(jobs, options), options.jobs)
    shown = ", ".join(f"{slug} {'default' if n is None else n}" for slug, n in plan.items())
    log.info("kernel threads: %s", shown)
    return {slug: thread_env(threads) for slug, threads in plan.items()}


def expected_seconds(job: Job, options: BuildOptions) -> float:
    """How long the job's last run of this profile took (a scheduling hint); ``inf`` if unknown.

    A quick run says nothing about a full one: the last attempt counts when the current result
    is of the build's profile (or there is none), then any stored result of that profile (the
    store keeps the latest of each profile).
    """
    from pipeline.builder.store import BuildDir

    bdir = BuildDir(options.build_root)

    def same_profile(manifest: Manifest) -> bool:
        return manifest.profile in (None, options.profile)

    try:
        state = bdir.read_state(job.slug)
        folder = bdir.store / job.slug
        entries = [bdir.entry_dir(job.slug, state.current)] if state.current else []
        if folder.is_dir():
            entries += sorted((p for p in folder.iterdir() if p.is_dir() and p not in entries),
                              key=lambda p: p.stat().st_mtime, reverse=True)
        manifests = []
        for entry in entries:
            try:
                manifests.append(Manifest.from_dict(json.loads((entry / "manifest.json").read_text())))
            except (OSError, ValueError):
                continue
        current_matches = not state.current or (bool(manifests) and same_profile(manifests[0]))
        attempt = state.last_attempt
        if current_matches and attempt is not None \
                and attempt.status in (OutcomeStatus.RAN, OutcomeStatus.FAILED) \
                and attempt.seconds is not None and attempt.seconds > 0:
            return attempt.seconds
        for manifest in manifests:
            seconds = manifest.timings.get("execute")
            if same_profile(manifest) and isinstance(seconds, int | float) and seconds > 0:
                return float(seconds)
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    return math.inf


def expected_times(jobs: list[Job], options: BuildOptions) -> dict[str, float]:
    """Every job's expected seconds, in one unit the thread plan can compare.

    Measured times when every job has one for this profile; otherwise the jobs' ``timeout``
    headers (each author's bound on the run time, so at least their ratios are meaningful;
    mixing them with measurements would not be).
    """
    measured = {job.slug: expected_seconds(job, options) for job in jobs}
    if all(math.isfinite(v) for v in measured.values()):
        return measured
    return {job.slug: float(job.timeout) for job in jobs}


def longest_first(jobs: list[Job], options: BuildOptions) -> list[Job]:
    """Jobs ordered by expected run time, longest (or never measured) first; stable.

    Jobs never measured (a first build) are ordered by their header's ``timeout``, the
    author's own bound on the run time, so the slowest recipe does not start last.
    """
    return sorted(jobs, key=lambda job: (-expected_seconds(job, options), -job.timeout))


#: Seconds the workers get to kill their kernels and remove their staging folders on Ctrl-C.
WORKER_STOP_S = 15.0

_job_running = False  # in a worker: is a job running right now?
_kernels: KernelSupply | None = None  # in a worker: its spare kernel for the next job


def _worker_init(parent_pid: int, env: dict[str, str] | None = None,
                 staging: str | None = None, warm: bool = False) -> None:
    """Set up a pool worker: the build's main process decides when to stop, not the terminal.

    * SIGINT is ignored: Ctrl-C in a terminal goes to the whole process group, and the main
      process coordinates the stop (it sends SIGTERM to each worker).
    * SIGTERM interrupts the running job (the executor cancels the recipe and kills its kernel,
      see :mod:`pipeline.builder.interrupts`; ``run_job`` removes the staging folder) and then the
      worker exits instead of taking the next job.
    * A watchdog thread does the same when the main process disappears (``kill -9``), so no
      worker and no kernel outlives a killed build for more than a second or two.
    * ``env`` (thread limits, see :func:`kernel_thread_env`) goes into the environment that
      the worker's kernels copy.
    * ``warm``: the worker keeps a spare kernel (in ``staging``) for its next job.
    """
    global _kernels
    from pathlib import Path

    from pipeline.builder.warm_kernels import KernelSupply

    os.environ.update(env or {})
    _kernels = KernelSupply(Path(staging), warm) if staging else None
    if _kernels is not None:
        # a spare started for a job another worker took is shut down when the pool ends
        from multiprocessing.util import Finalize

        Finalize(_kernels, _kernels.close, exitpriority=10)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="nnx-parent-watch", daemon=True).start()


def _close_kernels() -> None:
    if _kernels is not None:
        _kernels.close()


def _on_sigterm(signum: int, frame: object) -> None:
    if _job_running:
        raise KeyboardInterrupt
    _close_kernels()
    os._exit(0)


def _run_in_worker(job: Job, options: BuildOptions, prewarm: bool = False,
                   env: dict[str, str] | None = None) -> Outcome:
    """``run_job`` in a pool worker; after an interrupt the worker exits (cleanup is done).

    ``prewarm``: jobs are still queued behind this one, so the worker starts its next kernel.
    ``env``: this job's thread variables (its kernel copies the environment; a spare kernel
    started with other values is not used, see :class:`~pipeline.builder.warm_kernels.KernelSupply`).
    """
    global _job_running
    from pipeline.builder.jobs import run_job

    try:
        _job_running = True  # inside the try: a SIGTERM right after it still ends the worker
        with environ_with(env or {}):
            return run_job(job, options, _kernels, prewarm=prewarm)
    except KeyboardInterrupt:
        _close_kernels()
        os._exit(130)
    finally:
        _job_running = False


def run_pool(jobs: list[Job], options: BuildOptions,
             started: Callable[[str], None]) -> Iterator[Outcome]:
    """Run jobs in a pool of spawned worker processes; yield outcomes as they finish.

    On Ctrl-C (or when the consumer stops early) every worker is told to stop with SIGTERM and
    given :data:`WORKER_STOP_S` to shut its kernel down; stragglers are killed.
    """
    envs = job_thread_envs(jobs, options)
    from pipeline.builder.store import BuildDir

    staging = str(BuildDir(options.build_root).staging)
    pool = ProcessPoolExecutor(max_workers=options.jobs, mp_context=get_context("spawn"),
                               initializer=_worker_init,
                               initargs=(os.getpid(), None, staging, options.warm_kernels))
    futures: dict[Future[Outcome], Job] = {}
    yielded: set[Future[Outcome]] = set()
    state = "running"
    try:
        ordered = longest_first(jobs, options)
        for i, job in enumerate(ordered):
            # a worker that takes job i is likely to take another if jobs are still queued
            prewarm = i + options.jobs < len(ordered)
            futures[pool.submit(_run_in_worker, job, options, prewarm, envs[job.slug])] = job
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
            future.result() for future in futures
            if future not in yielded and future.done() and not future.cancelled()
            and future.exception() is None
        ]
        raise
    finally:
        if state == "done":
            pool.shutdown(wait=True)
        elif state == "running":  # the consumer stopped early (GeneratorExit) or an error
            _stop_pool(pool)


def _result_or_failure(future: Future[Outcome], job: Job) -> Outcome:
    """The job's outcome; a worker that died (out of memory, killed) becomes a failed outcome."""
    from pipeline.builder.jobs import Outcome

    try:
        return future.result()
    except Exception as exc:
        log.error("%s: the worker process running it failed: %s", job.slug, exc)
        failure = Failure(job.rel_path, ename=type(exc).__name__,
                          evalue=f"the worker process running this recipe died or failed ({exc})",
                          kind=FailureKind.KERNEL_DIED)
        return Outcome(job.slug, OutcomeStatus.FAILED, 0.0, job.key, failure=failure)


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
    kernel_threads(options.jobs)  # a bad NNX_KERNEL_THREADS is reported before anything runs
    if options.executor:
        if options.executor.startswith("dask://"):
            from pipeline.builder.distributed import run_dask

            return run_dask
        raise ConfigError(
            f"unknown executor {options.executor!r}: use 'local' or 'dask://HOST:PORT'"
        )
    return run_pool if options.jobs > 1 else run_inline
