"""The kernel zygote: one process that imports the heavy libraries once and forks kernels.

Why: every recipe runs in a fresh kernel, and a fresh kernel spends about five CPU seconds
importing numpy, matplotlib, TensorFlow and Keras before the recipe's first line. Warm kernels
(:mod:`pipeline.builder.warm_kernels`) hide that time behind the previous recipe, but on a
machine whose cores are all busy the import still costs its CPU seconds, once per recipe. A
kernel forked from a process that has already imported them shares those pages and pays
nothing: the import is done once per build worker instead of once per recipe.

Why it is safe to fork here: the zygote imports modules and does nothing else. No TensorFlow
operation has run, so no TensorFlow runtime, thread pool or device exists yet (TensorFlow
creates them on first use, in the child); no ZeroMQ context exists (the child's kernel creates
its own). The child becomes exactly what ``python -m ipykernel_launcher`` would be: its own
session, the working folder, environment, ``sys.argv`` and ``sys.path[0]`` of a cold start,
fresh seeds for ``random`` and numpy's global generator, and this module's own names removed
from ``sys.modules``. What differs from a cold kernel is only what a warm kernel already has:
the modules of :data:`~pipeline.builder.warm_kernels.WARM_IMPORTS` in ``sys.modules``. The
determinism test builds recipes both ways and compares every published file.

Protocol (one JSON object per line): the parent writes ``{"argv": [...], "env": {...},
"cwd": "..."}`` to the zygote's stdin; the zygote answers on stdout ``{"pid": N}`` or
``{"error": "..."}``. It answers ``{"ready": true, "failed": [...]}`` once its imports are done
and exits when its stdin closes (the build ended or died). Standard library only: run as
``python .../pipeline/builder/kernel_zygote.py MODULE...`` (a script, so that no module of this
package is in the kernels' ``sys.modules``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

#: The command a cold kernel runs after the interpreter: ``python -m ipykernel_launcher ...``.
LAUNCHER = ("-m", "ipykernel_launcher")
#: What ipykernel puts in ``MPLBACKEND`` when it is unset (``IPKernelApp.init_gui_pylab``).
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: Modules a zygote started with ``python -m`` would have imported only to run itself.
OWN_MODULES = ("pipeline.builder.kernel_zygote", "pipeline.builder", "pipeline")


def _reply(stream: Any, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _reseed() -> None:
    """Fresh seeds, as a new process would draw them (the child otherwise repeats the
    zygote's streams). Recipes seed what they use (``ex.seed_everything()``); this only keeps
    an unseeded draw from being the same in every kernel."""
    if "random" in sys.modules:
        sys.modules["random"].seed()
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


def _reap(signum: int = 0, frame: Any = None) -> None:
    """Wait for every child that has ended (without blocking)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class _Current:
    """A stream that writes to whatever ``sys.<name>`` is when written to.

    Handlers get closed while the kernel starts (traitlets configures logging with
    ``dictConfig``, which shuts every existing handler down; absl's then closes its stream
    unless it is a terminal or ``sys.stderr``): closing this one closes nothing, the stream
    it writes to belongs to the kernel.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def _stream(self) -> Any:
        return getattr(sys, self.name)

    def write(self, text: str) -> int:
        return int(self._stream().write(text))

    def flush(self) -> None:
        self._stream().flush()

    def close(self) -> None:
        """Nothing to close: see the class docstring."""

    def isatty(self) -> bool:
        return bool(self._stream().isatty())

    def __getattr__(self, name: str) -> Any:  # encoding, errors ...: the current stream's
        return getattr(self._stream(), name)


class _ImportStdout(_Current):
    """``sys.stdout`` while the zygote imports (its real stdout answers the build): text goes to
    stderr, and a log handler made then is recognised as one meant for stdout."""

    def __init__(self) -> None:
        super().__init__("stderr")


#: Log handlers the imports made, each with the stream it was given (stderr, or stdout).
_IMPORT_HANDLERS: list[tuple[Any, str]] = []


def _stream_handlers() -> list[Any]:
    import logging

    handlers = [ref() for ref in list(logging._handlerList)]  # type: ignore[attr-defined]
    return [h for h in handlers if isinstance(h, logging.StreamHandler)]


def _note_import_handlers(before: list[Any], import_stdout: Any) -> None:
    """Remember the handlers the imports created on the zygote's stderr or stdout: in a cold
    kernel those imports run after ipykernel put the notebook's streams in ``sys.stderr`` and
    ``sys.stdout``, so their handlers write into the notebook; a forked kernel's must too."""
    seen = {id(h) for h in before}
    for handler in _stream_handlers():
        if id(handler) in seen:
            continue
        if handler.stream is import_stdout:
            _IMPORT_HANDLERS.append((handler, "stdout"))
        elif handler.stream is sys.__stderr__:
            _IMPORT_HANDLERS.append((handler, "stderr"))


def _streams_follow_the_kernel() -> None:
    for handler, name in _IMPORT_HANDLERS:
        handler.setStream(_Current(name))


def _inline_backend() -> None:
    """ipykernel chooses matplotlib's inline backend (figures shown in the notebook) by setting
    ``MPLBACKEND``, which matplotlib reads when it is imported; here it was imported before.
    Set the variable as ipykernel would (it then leaves it alone) and do what matplotlib's
    import does with it, before any figure exists."""
    if not os.environ.get("MPLBACKEND"):
        os.environ["MPLBACKEND"] = INLINE_BACKEND
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is not None:
        matplotlib.rcParams["backend"] = os.environ["MPLBACKEND"]


def become_kernel(request: dict[str, Any]) -> None:
    """In the forked child: become ``python -m ipykernel_launcher`` with the request's
    arguments, folder and environment. Never returns."""
    code = 1
    try:
        os.setsid()  # its own session and process group, as jupyter_client starts kernels
        # what a new Python process has: the zygote changed only these two
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)  # the protocol pipes are the zygote's, never the kernel's
        os.close(devnull)
        os.dup2(2, 1)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own descriptors
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        cwd = request.get("cwd") or os.getcwd()
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(request["env"])
        for name in OWN_MODULES:  # imported to run this module; a cold kernel has none of them
            sys.modules.pop(name, None)
        _inline_backend()
        _streams_follow_the_kernel()
        _reseed()
        argv = list(request["argv"])
        from importlib.util import find_spec

        spec = find_spec(LAUNCHER[1])  # the file `python -m ipykernel_launcher` runs
        # ipykernel read JPY_PARENT_PID when the zygote imported it: name the parent (this
        # zygote: the kernel leaves when it does) on the command line instead
        sys.argv = [str(spec.origin if spec else LAUNCHER[1]), *argv[1 + len(LAUNCHER):],
                    f"--IPKernelApp.parent_handle={os.getppid()}"]
        sys.path[0] = cwd  # `python -m` puts the start folder first
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:  # noqa: BLE001 - report and leave: the parent sees the kernel die
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(modules: list[str], stdin: Any = None, stdout: Any = None) -> int:
    """Import ``modules``, then fork one kernel per request until stdin closes."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the build coordinates interrupts
    # Reap ended kernels at once (no zombies). Waiting for them, rather than letting the
    # system discard them, also adds their CPU time to this process's children, and so to the
    # build's when it waits for the zygote: the benchmarks count the kernels' CPU seconds.
    signal.signal(signal.SIGCHLD, _reap)
    failed = []
    before = _stream_handlers()
    import_stdout = _ImportStdout()
    sys.stdout = import_stdout  # the answers' pipe stays clean
    try:
        for name in modules:
            try:
                __import__(name)
            except Exception as exc:  # noqa: BLE001 - the recipe reports it, as a cold kernel
                failed.append(f"{name}: {exc}")
        _note_import_handlers(before, import_stdout)
        import ipykernel.kernelapp  # noqa: F401 - the kernel itself, imported once too
    finally:
        sys.stdout = sys.__stdout__

    _reply(stdout, {"ready": True, "failed": failed})
    for line in stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            if tuple(request["argv"][1:1 + len(LAUNCHER)]) != LAUNCHER:
                raise ValueError(f"not an ipykernel command: {request['argv']}")
            request["env"] = {**request["env"], "JPY_PARENT_PID": str(os.getpid())}
        except (ValueError, KeyError, TypeError) as exc:
            _reply(stdout, {"error": str(exc)})
            continue
        pid = os.fork()
        if pid == 0:
            become_kernel(request)  # never returns
        _reply(stdout, {"pid": pid})
    _reap()
    return 0


if __name__ == "__main__":
    # Run as a script (nothing of the package is imported into the kernels): like `python -m`,
    # start with the working folder first on the path, not this file's folder, whose module
    # names (cache, store, progress ...) must not shadow anything the imports look for.
    sys.path[0] = os.getcwd()
    sys.exit(serve(sys.argv[1:]))
