"""How many recipes to run at once, and how many threads each kernel gets, from the machine.

Why two separate numbers. ``jobs`` only changes how long a build takes; the threads per kernel
change TensorFlow's reduction order and so the last bits of trained weights, metrics and pixels
(see :mod:`pipeline.builder.parallel`). So the threads are derived from the *machine* alone
(``cores // machine_jobs``) and never from ``--jobs`` or from how many recipes a build selects:
``--jobs 1``, ``--jobs 2`` and the automatic choice publish the same assets on one machine.

The automatic ``--jobs``:

* CPU: one recipe per :data:`CORES_PER_JOB` cores (at least one);
* memory: a recipe's kernel peaks at about :data:`KERNEL_MEMORY_BYTES` (TensorFlow, the
  datasets, a CNN's activations), so no more kernels than the available memory holds;
* GPU: TensorFlow reserves all of a GPU's memory in the first kernel that touches it, so with
  GPUs at most one kernel per visible GPU;
* never more than the recipes to run.

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
    """Threads per kernel when ``NNX_KERNEL_THREADS`` is unset: the machine's fair share.

    Derived from :func:`machine_jobs`, never from ``--jobs``, so the choice of ``--jobs``
    cannot change a recipe's numbers.
    """
    machine = machine or this_machine()
    return max(1, machine.cores // machine_jobs(machine))


#: Environment variable: threads per recipe kernel (see the module docstring).
KERNEL_THREADS_ENV = "NNX_KERNEL_THREADS"
#: What ``NNX_KERNEL_THREADS`` sets in each kernel's environment (TensorFlow, OpenMP, BLAS).
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def kernel_threads(jobs: int, value: str | None = None, cpus: int | None = None) -> int | None:
    """Threads per kernel from ``NNX_KERNEL_THREADS`` (or ``value``); None: leave them alone.

    Unset or empty: :func:`pinned_kernel_threads` (from the machine only).
    """
    raw = (os.environ.get(KERNEL_THREADS_ENV, "") if value is None else value).strip().lower()
    if raw == "":
        return pinned_kernel_threads()
    if raw == "default":
        return None
    if raw == "auto":
        return max(1, (cpus or os.cpu_count() or 1) // max(1, jobs))
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
    threads = kernel_threads(jobs, value)
    if threads is None:
        return {}
    return {name: str(threads) for name in THREAD_VARIABLES if name not in os.environ}


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
