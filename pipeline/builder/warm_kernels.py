"""Warm kernels: start the next recipe's kernel, with its heavy imports done, ahead of time.

Why: every recipe runs in a fresh kernel (no state leaks, a hung recipe can be killed), and a
fresh kernel spends seconds importing TensorFlow, Keras and matplotlib before the recipe's
first line runs. A :class:`KernelSupply` starts the *next* kernel while the current recipe is
still running, so that import overlaps the current recipe's work (which is mostly
single-threaded: rendering, encoding, Python).

What stays the same as a cold kernel:

* a warm kernel is used for exactly one recipe and is then shut down, like a cold one;
* the warm-up binds no name in the user namespace: modules land in ``sys.modules`` only, so a
  recipe that forgets ``import numpy as np`` still fails as it would in a cold kernel;
* before the first cell the kernel moves to the recipe's work folder (a cold kernel starts
  there), and a kernel started with another environment (thread limits, data folder, a Keras
  backend) is never used: the supply then falls back to a cold start.

``NNX_WARM_KERNELS=0`` (or ``build --no-warm-kernels``) turns it off; the benchmark uses that
for the serial, cold baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.builder.interrupts import run_cancellable
from pipeline.builder.kernel_sockets import ipc_kernel_manager, socket_base

log = logging.getLogger(__name__)

#: Environment variable: ``0``/``no``/``false`` disables warm kernels.
WARM_KERNELS_ENV = "NNX_WARM_KERNELS"
#: Imported in a warm kernel before it is handed over, in this order.
WARM_IMPORTS = ("numpy", "matplotlib", "matplotlib.pyplot", "PIL.Image", "tensorflow", "keras")
#: Environment variable: a comma-separated list replacing :data:`WARM_IMPORTS` (the test suite's
#: recipes use no TensorFlow, so its kernels import only numpy and matplotlib).
WARM_IMPORTS_ENV = "NNX_WARM_IMPORTS"


def warm_imports(value: str | None = None) -> tuple[str, ...]:
    """The modules a warm kernel imports (``NNX_WARM_IMPORTS`` or :data:`WARM_IMPORTS`)."""
    raw = os.environ.get(WARM_IMPORTS_ENV) if value is None else value
    if raw is None:
        return WARM_IMPORTS
    return tuple(m.strip() for m in raw.split(",") if m.strip())


def warm_kernels_enabled(value: str | None = None) -> bool:
    """Whether builds pre-start kernels (``NNX_WARM_KERNELS``; on unless 0/no/false/off)."""
    raw = (os.environ.get(WARM_KERNELS_ENV, "") if value is None else value).strip().lower()
    return raw not in ("0", "no", "false", "off")


def warmup_code(modules: tuple[str, ...] = WARM_IMPORTS) -> str:
    """One line for IPython's ``exec_lines``: import ``modules`` without binding any name.

    The comprehension's variable is local to it, and the trailing ``;`` keeps IPython from
    displaying (and storing in ``_``) the list. A module that fails to import is logged by the
    kernel and left to the recipe, which then fails the way a cold kernel would.
    """
    names = ", ".join(repr(m) for m in modules)
    return f"[__import__(m) for m in ({names},)];"


@dataclass
class WarmKernel:
    """A started kernel waiting for its recipe: its manager, environment and private folder."""

    km: Any
    env: dict[str, str]
    folder: Path
    started_at: float
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    @property
    def pid(self) -> int | None:
        return getattr(getattr(self.km, "provisioner", None), "pid", None)

    def is_alive(self) -> bool:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return process is not None and process.poll() is None

    def close(self) -> None:
        """Kill the kernel if it still runs; remove its folder and sockets (idempotent).

        An interrupt arriving meanwhile does not cut this short: the folder always goes.
        """
        import signal

        try:
            provisioner = getattr(self.km, "provisioner", None)
            process = getattr(provisioner, "process", None)
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                    pgid = os.getpgid(process.pid)
                    if pgid != os.getpgid(0):
                        os.killpg(pgid, signal.SIGKILL)
                    else:
                        process.kill()
                with contextlib.suppress(Exception):
                    process.wait(5)
            with contextlib.suppress(Exception):
                pending = self.km.cleanup_resources(restart=False)  # a coroutine (async manager)
                if asyncio.iscoroutine(pending):
                    run_cancellable(pending)
        finally:
            self._stack.close()
            shutil.rmtree(self.folder, ignore_errors=True)


def start_kernel(parent: Path, env: dict[str, str],
                 modules: tuple[str, ...] = WARM_IMPORTS) -> WarmKernel:
    """Start a kernel in a new folder under ``parent`` that imports ``modules`` as it starts.

    Returns at once: the imports run in the kernel process (IPython's ``exec_lines``, executed
    before the kernel answers its first request, so a client waiting for it to be ready waits
    for the imports too).
    """

    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="_kernel.", dir=parent))
    stack = contextlib.ExitStack()
    kernel: WarmKernel | None = None
    try:
        base = stack.enter_context(socket_base(folder))
        km = ipc_kernel_manager(base, folder)(kernel_name="python3")
        kernel = WarmKernel(km, dict(env), folder, time.monotonic(), stack)
        arguments = [f"--IPKernelApp.exec_lines={warmup_code(modules)}"] if modules else []
        run_cancellable(km.start_kernel(env=dict(env), cwd=str(folder),
                                        extra_arguments=arguments))
    except BaseException:  # a failed start, or Ctrl-C while the kernel was being launched
        if kernel is not None:
            kernel.close()  # kills the kernel if it was launched before the interrupt
        else:
            stack.close()
            shutil.rmtree(folder, ignore_errors=True)
        raise
    log.debug("warm kernel %s started in %s", kernel.pid, folder)
    return kernel


class KernelSupply:
    """At most one spare kernel, started ahead of the recipe that will take it.

    One supply per process that runs recipes (the build's process for ``--jobs 1``, each pool
    worker otherwise). Not thread-safe: one recipe at a time per supply.
    """

    def __init__(self, parent: Path, enabled: bool = True,
                 modules: tuple[str, ...] | None = None) -> None:
        self.parent = parent
        self.enabled = enabled
        self.modules = warm_imports() if modules is None else modules
        self._spare: WarmKernel | None = None
        self.started = 0
        self.used = 0

    def prepare(self, env: dict[str, str]) -> None:
        """Start the spare kernel for the next recipe (no-op when one waits or disabled)."""
        if not self.enabled or self._spare is not None:
            return
        try:
            self._spare = start_kernel(self.parent, env, self.modules)
            self.started += 1
        except Exception as exc:  # a cold start later reports the problem with its context
            log.debug("could not start a warm kernel: %s", exc)
            self._spare = None

    def take(self, env: dict[str, str]) -> WarmKernel | None:
        """The spare kernel if it was started with ``env`` and is alive; else None (cold)."""
        kernel, self._spare = self._spare, None
        if kernel is None:
            return None
        if kernel.env != env or not kernel.is_alive():
            log.debug("warm kernel %s not usable (environment changed or it exited)", kernel.pid)
            kernel.close()
            return None
        self.used += 1
        return kernel

    def close(self) -> None:
        """Shut the spare kernel down (end of the build, interrupt)."""
        kernel, self._spare = self._spare, None
        if kernel is not None:
            kernel.close()

    def __enter__(self) -> KernelSupply:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
