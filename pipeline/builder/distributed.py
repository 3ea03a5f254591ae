"""Run recipes on an existing dask.distributed cluster (``--executor dask://HOST:PORT``).

We use dask's scheduler rather than writing our own. Each recipe runs as one task on a worker,
into a worker-local staging folder; the worker sends the finished folder back as a tar archive,
and the build publishes it locally exactly as it would a local result. Workers need the same
checkout (recipes and the ``pipeline`` package) and data folder at the same paths, e.g. a shared
file system or the same container image.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.library.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.builder.jobs import BuildOptions, Job, Outcome

log = logging.getLogger(__name__)


def _in_own_thread(fn: Callable[..., Outcome], *args: object) -> Outcome:
    """Call ``fn`` in a new thread: nbclient's sync API needs an event loop no one else runs,
    and dask worker threads may share one."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="nnx-recipe")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _worker_threads() -> int:
    """How many tasks this dask worker runs at once (for NNX_KERNEL_THREADS=auto)."""
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except Exception:  # not inside a worker (called directly, e.g. in tests)
        return 1


def run_job_packed(job: Job, options: BuildOptions,
                   kernel_threads: str | None = None) -> tuple[Outcome, bytes | None]:
    """Worker side: run one job in a private build folder; return the outcome and a tarball.

    ``kernel_threads`` is the client's ``NNX_KERNEL_THREADS`` (a number or ``auto``, which
    here means the worker's cores divided by its task slots), applied to the recipe's kernel.
    """
    from pipeline.builder.jobs import run_job
    from pipeline.builder.resources import environ_with, kernel_thread_env

    env = kernel_thread_env(_worker_threads(), kernel_threads) if kernel_threads else {}
    private = Path(tempfile.mkdtemp(prefix=f"nnx-{job.slug}-"))
    try:
        with environ_with(env):
            outcome = _in_own_thread(run_job, job, replace(options, build_root=private))
        blob = None
        if outcome.staged is not None:
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                tar.add(outcome.staged, arcname=".")
            blob = buffer.getvalue()
            outcome.staged = None
        return outcome, blob
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _unpack(blob: bytes, staging: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        tar.extractall(staging, filter="data")


def run_dask(jobs: list[Job], options: BuildOptions,
             started: Callable[[str], None]) -> Iterator[Outcome]:
    """Submit every job to the cluster at ``options.executor`` and yield outcomes as they finish."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError("--executor dask://... needs dask.distributed: "
                          "pip install 'nn-explainers[dist]'") from None
    from pipeline.builder.store import BuildDir

    address = options.executor.removeprefix("dask://")  # type: ignore[union-attr]
    if "://" not in address:  # HOST:PORT means TCP; a full address (tls://, inproc://) is kept
        address = "tcp://" + address
    try:
        client = Client(address, timeout=10)
    except OSError as exc:
        raise ConfigError(f"cannot reach the dask scheduler at {address}: {exc}") from None
    from pipeline.builder.resources import KERNEL_THREADS_ENV, kernel_threads

    kernel_threads(options.jobs)  # a bad NNX_KERNEL_THREADS is reported before anything runs
    threads = os.environ.get(KERNEL_THREADS_ENV) or None
    bdir = BuildDir(options.build_root)
    futures = []
    try:
        for job in jobs:
            futures.append(client.submit(run_job_packed, job, options, threads,
                                         key=f"nnx-{job.slug}-{job.key[:8]}", pure=False))
            started(job.slug)
        for future in as_completed(futures):
            outcome, blob = future.result()
            if blob is not None:
                staged = bdir.new_staging(outcome.slug)
                _unpack(blob, staged)
                outcome.staged = staged
            yield outcome
    finally:
        # Interrupted or failed: tasks not started yet are dropped. A recipe already running on
        # a worker cannot be stopped from here (dask does not kill running tasks); it ends at
        # its header's timeout at the latest and its result is discarded.
        pending = [f for f in futures if not f.done()]
        if pending:
            log.warning("cancelling %d recipe task(s) on the dask cluster", len(pending))
            with contextlib.suppress(Exception):
                client.cancel(pending)
        client.close()
