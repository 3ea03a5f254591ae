"""Where recipes run: in this process, in a local process pool, or on a dask cluster.

Every runner takes the same jobs and yields :class:`~pipeline.build.Outcome` objects as they
finish, so the build does not care which one it got. The pool uses the ``spawn`` start method
because recipes start Jupyter kernels and TensorFlow does not survive ``fork``.
"""

from __future__ import annotations

import logging
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


def run_pool(jobs: list[Job], options: BuildOptions,
             started: Callable[[str], None]) -> Iterator[Outcome]:
    from pipeline.build import run_job

    with ProcessPoolExecutor(max_workers=options.jobs, mp_context=get_context("spawn")) as pool:
        futures = {}
        for job in jobs:
            futures[pool.submit(run_job, job, options)] = job
            started(job.slug)
        for future in as_completed(futures):
            yield future.result()


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
