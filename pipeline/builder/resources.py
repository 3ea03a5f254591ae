"""How many recipes to run at once, and how many threads each recipe's kernel gets.

``jobs`` (recipes at once):

* CPU: one recipe per :data:`CORES_PER_JOB` cores (at least one);
* memory: a recipe's kernel peaks at about :data:`KERNEL_MEMORY_BYTES` (TensorFlow, the
  datasets, a CNN's activations), so no more kernels than the available memory holds;
* GPU: TensorFlow reserves all of a GPU's memory in the first kernel that touches it, so with
  GPUs at most one kernel per visible GPU;
* never more than the recipes to run.

Threads per kernel (:func:`plan_threads`): no core is left idle by design. The build's cores
are shared among the recipes that run at once (``cores // min(jobs, recipes)``): a build of
one recipe gives it every core, seven recipes on two cores get one thread each. A recipe that
will run alone for most of its time, because it is expected to take longer than all the
others together on the remaining workers, gets every core (the CIFAR-10 full profile beside six
small recipes). Expected times come from the last run of the same profile, or, before any run
of it, from the recipes' ``timeout`` headers (the authors' own bounds).

Why that is safe for the cache. The number of intra-op threads changes how TensorFlow splits
its reductions, so it changes the last bits of trained weights and, through them, metrics and
pixels. It is therefore part of the key, as something the run used (like the library modules
it imported, :mod:`pipeline.builder.cache`): a result made with two threads is stored under
another key than one made with one, and a later build whose schedule would pick another count
still finds it (the key is computed from what the stored run used). ``--force`` recomputes
with today's schedule.

Nothing here imports TensorFlow: the build tool stays light and starts in well under a second.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.library.cores import usable_cores
from pipeline.library.errors import ConfigError

log = logging.getLogger(__name__)

#: Cores per concurrently running recipe. On 2 cores two one-thread kernels beat one
#: two-thread kernel clearly (the recipes' small models scale badly past one thread and half
#: of each run is single-threaded Python: rendering, encoding, the kernel's start).
CORES_PER_JOB = 1
#: Peak resident memory of one recipe kernel (measured: CIFAR-10 quick about 1.6 GB, the
#: others 0.6-1.2 GB); with the next kernel warming up beside it.
KERNEL_MEMORY_BYTES = 2 * 1024**3
#: More kernels than this rarely pays: the recipe set is small and the longest one dominates.
MAX_AUTO_JOBS = 8


@dataclass(frozen=True)
class Machine:
    """What the automatic choice looked at (logged, and kept in the build report)."""

    cores: int
    available_memory: int | None
    gpus: int

    def to_dict(self) -> dict[str, int | None]:
        return {"cores": self.cores, "available_memory": self.available_memory, "gpus": self.gpus}


def available_memory() -> int | None:
    """Bytes of memory available for new processes (``MemAvailable``); None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # psutil missing or unsupported platform
        return None


def visible_gpus() -> int:
    """NVIDIA GPUs the kernels will see, without importing TensorFlow.

    ``CUDA_VISIBLE_DEVICES`` wins when set (empty or ``-1`` hides every GPU); otherwise the
    driver's ``/proc/driver/nvidia/gpus`` folder is counted.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip() and not v.strip().startswith("-")]
        return len(ids)
    folder = Path("/proc/driver/nvidia/gpus")
    try:
        return sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0
    except OSError:
        return 0


def this_machine() -> Machine:
    return Machine(usable_cores(), available_memory(), visible_gpus())


def machine_jobs(machine: Machine) -> int:
    """Recipes this machine's processors run at once (cores and GPUs only).

    Memory is left out on purpose: it changes from minute to minute, and this number fixes
    the threads per kernel, which must not.
    """
    jobs = max(1, machine.cores // CORES_PER_JOB)
    if machine.gpus:
        jobs = min(jobs, machine.gpus)
    return max(1, min(jobs, MAX_AUTO_JOBS))


def auto_jobs(recipes: int, machine: Machine | None = None) -> int:
    """The automatic ``--jobs`` for a build of ``recipes`` recipes (memory permitting)."""
    machine = machine or this_machine()
    jobs = machine_jobs(machine)
    if machine.available_memory is not None:
        jobs = min(jobs, max(1, machine.available_memory // KERNEL_MEMORY_BYTES))
    return max(1, min(jobs, recipes))


def pinned_kernel_threads(machine: Machine | None = None) -> int:
    """The machine's fair share of cores per kernel (``cores // machine_jobs``).

    What a kernel gets when nothing else is known about the build (a dask worker's default,
    ``python -m pipeline doctor``); builds use :func:`plan_threads`.
    """
    machine = machine or this_machine()
    return max(1, machine.cores // machine_jobs(machine))


def heavy_job(expected: dict[str, float], jobs: int) -> str | None:
    """The one job that will run alone for most of its time, if there is one.

    With ``jobs`` workers, the others finish on the remaining ``jobs - 1`` workers in about
    ``sum(others) / (jobs - 1)``; a job expected to take longer than that leaves cores idle
    unless it has them. Only the longest job can qualify.
    """
    if jobs < 2 or len(expected) < 2:
        return None
    slug = max(expected, key=lambda s: (expected[s], s))
    others = sum(v for s, v in expected.items() if s != slug)
    return slug if expected[slug] > others / (jobs - 1) else None


def plan_threads(expected: dict[str, float], jobs: int, value: str | None = None,
                 cores: int | None = None) -> dict[str, int | None]:
    """Threads for each job's kernel (``slug -> threads``; None: the libraries decide).

    ``expected``: each job's expected seconds (any common unit: the plan only compares them).
    ``NNX_KERNEL_THREADS`` (or ``value``): unset or empty shares the cores (module docstring);
    ``N`` gives every kernel N; ``auto`` gives ``cores // jobs`` to every kernel; ``default``
    leaves them to the libraries.
    """
    raw = (os.environ.get(KERNEL_THREADS_ENV, "") if value is None else value).strip().lower()
    cores = max(1, cores or usable_cores())
    if raw != "":
        fixed = kernel_threads(jobs, raw, cpus=cores)
        return {slug: fixed for slug in expected}
    running = max(1, min(jobs, len(expected)))
    plan: dict[str, int | None] = {slug: max(1, cores // running) for slug in expected}
    heavy = heavy_job(expected, running)
    if heavy is not None:
        plan[heavy] = cores
    return plan


#: Environment variable: threads per recipe kernel (see the module docstring).
KERNEL_THREADS_ENV = "NNX_KERNEL_THREADS"
#: What ``NNX_KERNEL_THREADS`` sets in each kernel's environment (TensorFlow, OpenMP, BLAS).
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def kernel_threads(jobs: int, value: str | None = None, cpus: int | None = None) -> int | None:
    """Threads per kernel from ``NNX_KERNEL_THREADS`` (or ``value``); None: leave them alone.

    Unset or empty: :func:`pinned_kernel_threads` (builds share the cores per job instead,
    :func:`plan_threads`).
    """
    raw = (os.environ.get(KERNEL_THREADS_ENV, "") if value is None else value).strip().lower()
    if raw == "":
        return pinned_kernel_threads()
    if raw == "default":
        return None
    if raw == "auto":
        return max(1, (cpus or usable_cores()) // max(1, jobs))
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ConfigError(f"{KERNEL_THREADS_ENV}={raw!r}: use a positive number of threads, "
                          "'auto' (cores // --jobs), 'default' (the libraries decide) or leave "
                          "it unset (pinned from the machine's cores)")
    return threads


def kernel_thread_env(jobs: int, value: str | None = None) -> dict[str, str]:
    """The variables a kernel's environment gets (an explicitly set variable wins)."""
    return thread_env(kernel_threads(jobs, value))


def thread_env(threads: int | None) -> dict[str, str]:
    """The variables that give a kernel ``threads`` threads (an explicitly set one wins)."""
    if threads is None:
        return {}
    return {name: str(threads) for name in THREAD_VARIABLES if name not in os.environ}


def threads_used() -> str:
    """What the next kernel started from this environment will use: a count or "default"."""
    return os.environ.get("TF_NUM_INTRAOP_THREADS", "").strip() or "default"


@contextlib.contextmanager
def environ_with(extra: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``extra`` set (kernels copy the environment when they start)."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
