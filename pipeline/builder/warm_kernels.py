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

Forked kernels. Where the system allows it (Linux: ``fork`` and ``pidfd_open``), a supply's
kernels are forked from a zygote (:mod:`pipeline.builder.kernel_zygote`) that imported the
same modules once, instead of each importing them again: a warm kernel then costs a fork and
the kernel's own start-up (well under a CPU second) instead of about five CPU seconds, which on
a machine whose cores are all busy is time the build waits for. A supply's first kernel is
forked too, as soon as the zygote is ready (that wait is what a cold start would take anyway).
``NNX_FORK_KERNELS=0`` starts warm kernels as new processes, as before; the executor's cold
start (``--no-warm-kernels``) never forks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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


#: Environment variable: ``0``/``no``/``false`` starts warm kernels as new processes instead of
#: forking them from a zygote (see the module docstring).
FORK_KERNELS_ENV = "NNX_FORK_KERNELS"
#: Seconds a zygote may take to import its modules before the supply gives up forking.
ZYGOTE_READY_TIMEOUT_S = 300.0
#: Environment variables jupyter_client sets for a kernel; not part of what a zygote must match.
_LAUNCH_VARIABLES = ("JPY_PARENT_PID", "JPY_SESSION_NAME")


def fork_kernels_enabled(value: str | None = None) -> bool:
    """Whether warm kernels are forked from a zygote (``NNX_FORK_KERNELS``; on where the
    system has ``fork`` and ``pidfd_open``, unless 0/no/false/off)."""
    raw = (os.environ.get(FORK_KERNELS_ENV, "") if value is None else value).strip().lower()
    supported = hasattr(os, "fork") and hasattr(os, "pidfd_open") and sys.platform == "linux"
    return supported and raw not in ("0", "no", "false", "off")


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


class ForkedProcess:
    """A kernel forked by a zygote, seen from the build: the part of ``subprocess.Popen``'s
    interface jupyter_client and this package use (``pid``, ``poll``, ``wait``, signals).

    It is not the build's child (the zygote forked it), so it is watched through a pidfd,
    which, unlike a pid, can never name another process after this one exited.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdin: IO[Any] | None = None
        self.stdout: IO[Any] | None = None
        self.stderr: IO[Any] | None = None
        self._signal: int | None = None
        self._fd: int | None = None
        try:
            self._fd = os.pidfd_open(pid)
        except ProcessLookupError:  # it ended (and was reaped) before it could be watched
            self.returncode = 0

    def _exited(self) -> None:
        # The exit status went to the zygote (its parent, which reaps it): a kernel this side
        # killed reports that signal, any other exit 0.
        self.returncode = -self._signal if self._signal else 0
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def poll(self) -> int | None:
        """The exit code once the kernel ended, else None."""
        if self.returncode is None and self._fd is not None and \
                select.select([self._fd], [], [], 0)[0]:
            self._exited()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the kernel to end; ``subprocess.TimeoutExpired`` after ``timeout`` s."""
        if self.returncode is None and self._fd is not None:
            if not select.select([self._fd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"forked kernel {self.pid}", timeout or 0.0)
            self._exited()
        return self.returncode if self.returncode is not None else 0

    def send_signal(self, sig: int) -> None:
        if self.returncode is not None or self._fd is None:
            return
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self._signal = sig
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._fd, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class Zygote:
    """The build's side of a :mod:`pipeline.builder.kernel_zygote` process.

    Started with the kernels' environment: the variables a library reads when it is imported
    (thread counts, ``TF_ENABLE_ONEDNN_OPTS``, ``KERAS_BACKEND``, ``PYTHONHASHSEED``) are fixed
    in the zygote, so it forks kernels only for that same environment.
    """

    def __init__(self, env: Mapping[str, str], modules: tuple[str, ...], cwd: Path) -> None:
        self.env = dict(env)
        self.modules = modules
        self._ready: bool | None = None
        self.failed_imports: list[str] = []
        from pipeline.builder import kernel_zygote

        self.proc = subprocess.Popen(
            [sys.executable, kernel_zygote.__file__, *modules],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env, cwd=str(cwd),
            start_new_session=True, text=True)

    async def _read(self, timeout: float) -> dict[str, Any]:
        """The zygote's next answer. Polled, not a blocking read: an interrupt cancels the
        wait at once (the build then closes the zygote)."""
        out = self.proc.stdout
        assert out is not None
        deadline = time.monotonic() + timeout
        while not select.select([out], [], [], 0)[0]:
            if time.monotonic() > deadline:
                raise ChildProcessError(f"no answer from the kernel zygote within {timeout:.0f} s")
            await asyncio.sleep(0.02)
        line = out.readline()
        if not line:
            raise ChildProcessError(f"the kernel zygote exited (status {self.proc.poll()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def wait_ready(self, timeout: float = ZYGOTE_READY_TIMEOUT_S) -> None:
        """Block until the zygote has imported its modules (ChildProcessError if it cannot:
        the caller then starts its kernel the usual way)."""
        if self._ready:
            return
        if self._ready is False:
            raise ChildProcessError("the kernel zygote failed to start")
        try:
            reply = await self._read(timeout)
        except ChildProcessError:
            self._ready = False
            raise
        self._ready = bool(reply.get("ready"))
        self.failed_imports = list(reply.get("failed", []))
        if self.failed_imports:
            log.debug("kernel zygote could not import %s", self.failed_imports)

    def matches(self, env: Mapping[str, str]) -> bool:
        """Whether a kernel launched with ``env`` may be forked from this zygote."""
        launch = {k: v for k, v in env.items() if k not in _LAUNCH_VARIABLES}
        return launch == self.env and self.proc.poll() is None

    async def spawn(self, argv: list[str], env: Mapping[str, str],
                    cwd: str | None) -> ForkedProcess:
        """Fork a kernel that runs ``argv`` (``python -m ipykernel_launcher ...``)."""
        if not self.matches(env):
            raise ChildProcessError("the kernel's environment differs from the zygote's")
        await self.wait_ready()
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps({"argv": list(argv), "env": dict(env), "cwd": cwd}) + "\n")
            stdin.flush()
        except OSError as exc:
            raise ChildProcessError(f"the kernel zygote is gone ({exc})") from exc
        reply = await self._read(60.0)
        if "pid" not in reply:
            raise ChildProcessError(str(reply.get("error", reply)))
        return ForkedProcess(int(reply["pid"]))

    def close(self) -> None:
        """End the zygote (closing its stdin; killed if it does not leave within 5 s)."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def forking_kernel_manager(socket_base: str, workdir: Path, zygote: Zygote) -> type:
    """:func:`~pipeline.builder.kernel_sockets.ipc_kernel_manager`, whose kernel is forked by
    ``zygote`` (started the usual way when the zygote cannot: it is gone, or the environment
    differs)."""
    base = ipc_kernel_manager(socket_base, workdir)

    class ForkingKernelManager(base):  # type: ignore[misc, valid-type]  # made at run time
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            env = kw.get("env") or dict(os.environ)
            try:
                process = await zygote.spawn(kernel_cmd, env, kw.get("cwd"))
            except ChildProcessError as exc:
                log.debug("starting a kernel without the zygote: %s", exc)
                await super()._async_launch_kernel(kernel_cmd, **kw)
                return
            provisioner = self.provisioner
            provisioner.process = process
            provisioner.pid = process.pid
            provisioner.pgid = process.pid  # the child made itself a session (and group) leader
            provisioner.cwd = kw.get("cwd")
            self._reconcile_connection_info(provisioner.connection_info)

    return ForkingKernelManager


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
                 modules: tuple[str, ...] = WARM_IMPORTS,
                 zygote: Zygote | None = None) -> WarmKernel:
    """Start a kernel in a new folder under ``parent`` that imports ``modules`` as it starts.

    Returns at once: the imports run in the kernel process (IPython's ``exec_lines``, executed
    before the kernel answers its first request, so a client waiting for it to be ready waits
    for the imports too). With ``zygote`` the kernel is forked from it (its imports are then
    already done; this call waits until the zygote is ready).
    """

    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="_kernel.", dir=parent))
    stack = contextlib.ExitStack()
    kernel: WarmKernel | None = None
    try:
        base = stack.enter_context(socket_base(folder))
        manager = (ipc_kernel_manager(base, folder) if zygote is None
                   else forking_kernel_manager(base, folder, zygote))
        km = manager(kernel_name="python3")
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
                 modules: tuple[str, ...] | None = None, fork: bool | None = None) -> None:
        self.parent = parent
        self.enabled = enabled
        self.modules = warm_imports() if modules is None else modules
        self.fork = fork_kernels_enabled() if fork is None else fork
        self._spare: WarmKernel | None = None
        self._zygote: Zygote | None = None
        self.started = 0
        self.used = 0
        self.forked = 0

    def _zygote_for(self, env: dict[str, str]) -> Zygote | None:
        """The zygote for kernels started with ``env`` (started now if needed); None when
        kernels are not forked, or the zygote failed (then never again in this supply)."""
        if not (self.enabled and self.fork):
            return None
        if self._zygote is not None and self._zygote.matches(env):
            return self._zygote
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
            self._zygote = Zygote(env, self.modules, self.parent)
        except OSError as exc:
            log.debug("no kernel zygote (%s); warm kernels start as new processes", exc)
            self.fork = False
        return self._zygote

    def _start(self, env: dict[str, str]) -> WarmKernel | None:
        zygote = self._zygote_for(env)
        try:
            kernel = start_kernel(self.parent, env, self.modules, zygote)
        except Exception as exc:  # a cold start later reports the problem with its context
            log.debug("could not start a warm kernel: %s", exc)
            return None
        self.started += 1
        if isinstance(getattr(kernel.km.provisioner, "process", None), ForkedProcess):
            self.forked += 1
        return kernel

    def prepare(self, env: dict[str, str]) -> None:
        """Start the spare kernel for the next recipe (no-op when one waits or disabled)."""
        if not self.enabled or self._spare is not None:
            return
        self._spare = self._start(env)

    def take(self, env: dict[str, str]) -> WarmKernel | None:
        """The spare kernel if it was started with ``env`` and is alive; else None (cold).

        With forked kernels and no usable spare (a supply's first recipe, or a recipe whose
        environment differs from the previous one's, such as another thread count), a kernel
        is forked now: waiting for the zygote costs what a cold kernel's own imports would.
        """
        kernel, self._spare = self._spare, None
        if kernel is not None and (kernel.env != env or not kernel.is_alive()):
            log.debug("warm kernel %s not usable (environment changed or it exited)", kernel.pid)
            kernel.close()
            kernel = None
        if kernel is None and self.enabled and self.fork:
            kernel = self._start(env)
        if kernel is None:
            return None
        self.used += 1
        return kernel

    def close(self) -> None:
        """Shut the spare kernel and the zygote down (end of the build, interrupt)."""
        kernel, self._spare = self._spare, None
        zygote, self._zygote = self._zygote, None
        try:
            if kernel is not None:
                kernel.close()
        finally:
            if zygote is not None:
                zygote.close()

    def __enter__(self) -> KernelSupply:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
