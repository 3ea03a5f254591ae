"""Run one recipe in a fresh Jupyter kernel and export it as a notebook page.

Why nbclient rather than ``exec``: each recipe gets its own process (no state leaks between
recipes, a hung recipe can be killed), inline figures are captured for the "Notebook" page, and
a failing cell can be reported with its own source and traceback instead of the pipeline's.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.build.kernel_sockets import ipc_kernel_manager, socket_base
from pipeline.build.notebook_export import ANSI_RE, export_markdown
from pipeline.library.errors import PipelineError, RecipeFailed, user_error_names

if TYPE_CHECKING:
    from pipeline.build.warm_kernels import WarmKernel

log = logging.getLogger(__name__)

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


@dataclass
class CellFailure:
    """Where and why a recipe failed; plain data so it pickles across processes."""

    recipe: str
    cell_index: int | None
    line: int | None
    source: str
    ename: str
    evalue: str
    traceback: str
    #: "error" | "timeout" | "kernel-died" | "diverged" | "setup" | "internal"
    kind: str = "error"

    def summary(self) -> str:
        where = f"cell {self.cell_index}" if self.cell_index is not None else "setup"
        if self.line:
            where += f" (line {self.line})"
        return f"{self.recipe}, {where}: {self.ename}: {self.evalue}".strip()

    def report(self) -> str:
        lines = [self.summary()]
        if self.source:
            lines += ["", "Cell source:", _indent(self.source)]
        if self.traceback:
            lines += ["", "Traceback (from the recipe's kernel):", _indent(self.traceback)]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe, "cell_index": self.cell_index, "line": self.line,
            "source": self.source, "ename": self.ename, "evalue": self.evalue,
            "traceback": self.traceback, "kind": self.kind, "summary": self.summary(),
        }


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


@dataclass
class ExecutionResult:
    seconds: float
    notebook_md: Path
    timings: dict[str, float] = field(default_factory=dict)


def build_notebook(recipe_path: Path, parameters: dict[str, Any]) -> Any:
    """Read a recipe with jupytext and inject ``parameters`` after its ``parameters`` cell."""
    import jupytext
    import nbformat

    nb = jupytext.read(recipe_path)
    # The YAML header becomes a raw cell; it is metadata for us, not content for readers.
    nb.cells = [
        c for c in nb.cells
        if not (c.cell_type == "raw" and c.source.lstrip().startswith("---") and "explainer" in c.source)
    ]
    index = next(
        (i for i, c in enumerate(nb.cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])),
        None,
    )
    if index is None:
        raise PipelineError(
            f"{recipe_path}: no cell tagged 'parameters'. Add one with the defaults, e.g.\n"
            '# %% tags=["parameters"]\nprofile = "quick"\nseed = 0\nasset_dir = "_assets"\n'
            'data_dir = None\nsizes = {}'
        )
    source = "# Parameters injected by the pipeline\n" + "\n".join(
        f"{name} = {value!r}" for name, value in parameters.items()
    )
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [INJECTED_TAG]})
    nb.cells.insert(index + 1, cell)
    return nb


def _cell_line(recipe_text: str, cell_source: str) -> int | None:
    """Line in the recipe file where a cell's first non-empty line appears (for error reports).

    A fallback only (it takes the first match, so a line repeated earlier in the file misleads
    it): :func:`failing_line` uses the cell's real position and the traceback.
    """
    first = next((ln for ln in cell_source.splitlines() if ln.strip()), None)
    if not first:
        return None
    for number, line in enumerate(recipe_text.splitlines(), start=1):
        if line.rstrip() == first.rstrip():
            return number
    return None


_CELL_MARKER_RE = re.compile(r"^# %%(?!%)")
_TRACEBACK_CELL_RE = re.compile(r"(?:Cell In|Input In) ?\[(\d+)\],? line (\d+)")


def cell_start_lines(recipe_text: str, sources: list[str]) -> list[int | None]:
    """The file line (1-based) where each cell's source starts, by the ``# %%`` markers.

    ``sources`` are the notebook's cells in file order (header and injected cells removed):
    cell ``j`` is the text after the ``j``-th ``# %%`` marker. Its start is the first line
    after the marker that equals the source's first line (jupytext drops leading blank
    lines); None when the file and the cells do not line up (the caller falls back).
    """
    lines = recipe_text.splitlines()
    markers = [i for i, ln in enumerate(lines) if _CELL_MARKER_RE.match(ln)]
    starts: list[int | None] = []
    for j, source in enumerate(sources):
        if j >= len(markers):
            starts.append(None)
            continue
        end = markers[j + 1] if j + 1 < len(markers) else len(lines)
        src_lines = source.splitlines()
        first = src_lines[0].rstrip() if src_lines else ""
        start = next((i for i in range(markers[j] + 1, end) if lines[i].rstrip() == first), None)
        # Not found verbatim: a Markdown cell (its lines carry a "# " prefix in the file).
        starts.append((start if start is not None else markers[j] + 1) + 1)
    return starts


def failing_line(nb: Any, index: int, recipe_text: str, traceback_text: str) -> int | None:
    """The recipe file's line that failed: the cell's real start plus the traceback's line.

    IPython names the failing cell's frame ``Cell In[<execution count>], line <n>``; the first
    such frame of the failing cell is the statement of that cell that raised. Without one (a
    timeout, a dead kernel) the cell's first line is given.
    """
    cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    cell = nb.cells[index]
    if cell not in cells:
        return None
    position = next(i for i, c in enumerate(cells) if c is cell)
    start = cell_start_lines(recipe_text, [c.source for c in cells])[position]
    if start is None:
        return _cell_line(recipe_text, cell.source)
    count = cell.get("execution_count")
    for number, line in _TRACEBACK_CELL_RE.findall(traceback_text or ""):
        if count is not None and int(number) == int(count):
            return start + int(line) - 1
    return start


def kernel_env(repo_root: Path, data_dir: Path | None) -> dict[str, str]:
    """Environment for recipe kernels: the pipeline importable, TensorFlow's noise silenced."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo_root), env.get("PYTHONPATH", "")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env.setdefault("PYTHONHASHSEED", "0")
    env.pop("MPLBACKEND", None)  # inline backend in kernels; a forced Agg loses the figures
    if data_dir is not None:
        env["NNX_DATA_DIR"] = str(data_dir)
    return env


def execute_recipe(
    recipe_path: Path,
    rel_name: str,
    parameters: dict[str, Any],
    workdir: Path,
    notebook_dir: Path,
    slug: str,
    timeout: int,
    repo_root: Path,
    data_dir: Path | None,
    kernel: WarmKernel | None = None,
) -> ExecutionResult:
    """Execute a recipe in a fresh kernel; export the executed notebook as Markdown.

    ``kernel``: a fresh kernel started ahead of time (:mod:`pipeline.build.warm_kernels`), used for
    this recipe only and shut down afterwards; None starts one now.
    Raises :class:`RecipeFailed` with the failing cell's index, source and kernel traceback.
    """
    start = time.perf_counter()
    try:
        nb = build_notebook(recipe_path, parameters)
    except PipelineError:
        raise
    except Exception as exc:  # jupytext parse problems
        raise RecipeFailed(CellFailure(rel_name, None, None, "", type(exc).__name__, str(exc), "",
                                       kind="setup")) from None
    recipe_text = recipe_path.read_text(encoding="utf-8")
    if kernel is not None:
        try:
            return _execute_notebook(nb, rel_name, recipe_text, workdir, notebook_dir, slug,
                                     timeout, repo_root, data_dir, "", start, kernel=kernel)
        finally:
            kernel.close()
    with socket_base(workdir) as base:
        return _execute_notebook(nb, rel_name, recipe_text, workdir, notebook_dir, slug,
                                 timeout, repo_root, data_dir, base, start)


def _execute_notebook(nb: Any, rel_name: str, recipe_text: str, workdir: Path,
                      notebook_dir: Path, slug: str, timeout: int, repo_root: Path,
                      data_dir: Path | None, socket_base: str, start: float,
                      kernel: WarmKernel | None = None) -> ExecutionResult:
    from nbclient import NotebookClient

    deadline = time.monotonic() + timeout
    failed: dict[str, Any] = {}

    def on_error(cell: Any, cell_index: int, execute_reply: Any) -> None:
        failed["index"] = cell_index

    def remaining(cell: Any) -> int:
        return max(1, int(deadline - time.monotonic()))

    warm: dict[str, Any] = {}
    if kernel is not None:
        # A warm kernel: nbclient uses it as given (and, not owning it, would leave it
        # running: ``cleanup_kc`` below shuts it down). It started in its own folder, so it
        # moves to the work folder a cold kernel starts in before the first cell runs.
        # It answers only once its imports are done, which on a busy machine can take longer
        # than nbclient's 60 s start-up allowance for a bare kernel.
        warm = {"km": kernel.km, "on_notebook_start": _MoveKernel(workdir),
                "startup_timeout": WARM_STARTUP_TIMEOUT_S}
    client = NotebookClient(
        nb,
        **warm,
        kernel_name="python3",
        kernel_manager_class=ipc_kernel_manager(socket_base, workdir),
        timeout=timeout,
        timeout_func=remaining,
        allow_errors=False,
        record_timing=True,
        shutdown_kernel="immediate",
        on_cell_error=on_error,
        resources={"metadata": {"path": str(workdir)}},
    )
    env = kernel_env(repo_root, data_dir)
    error, overran = _execute_interruptibly(client, env, deadline, slug,
                                            cleanup_kc=kernel is not None)
    if error is not None:
        raise _as_failure(error, overran, nb, failed.get("index"), rel_name, recipe_text,
                          timeout) from None
    executed = time.perf_counter() - start

    notebook_md = export_markdown(nb, notebook_dir, slug)
    return ExecutionResult(
        seconds=executed,
        notebook_md=notebook_md,
        timings={"execute": round(executed, 3),
                 "export": round(time.perf_counter() - start - executed, 3)},
    )


def _as_failure(error: BaseException, overran: bool, nb: Any, index: int | None, rel_name: str,
                recipe_text: str, timeout: int) -> RecipeFailed:
    """Turn what nbclient raised into a :class:`RecipeFailed` with the failing cell's context."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if index is None:
        index = _running_index(nb)
    if overran or isinstance(error, CellTimeoutError):
        return RecipeFailed(_failure(rel_name, nb, index, recipe_text, "TimeoutError",
                                     f"the recipe exceeded its timeout of {timeout} s "
                                     "(set 'timeout' in its header)", strip_ansi(str(error)),
                                     kind="timeout"))
    if isinstance(error, DeadKernelError):
        return RecipeFailed(_failure(rel_name, nb, index, recipe_text, "DeadKernelError",
                                     "the kernel died (out of memory or killed)",
                                     strip_ansi(str(error)), kind="kernel-died"))
    if isinstance(error, CellExecutionError):
        short = error.ename in user_error_names()
        tb = _kernel_traceback(nb, index, short=short) or strip_ansi(str(error))
        kind = "diverged" if error.ename == "TrainingDiverged" else "error"
        return RecipeFailed(_failure(rel_name, nb, index, recipe_text, error.ename,
                                     strip_ansi(error.evalue), tb, kind=kind))
    # the kernel could not start, a broken kernelspec, ...
    return RecipeFailed(CellFailure(rel_name, None, None, "", type(error).__name__,
                                    strip_ansi(str(error)) or repr(error), "", kind="setup"))


#: Seconds past a recipe's deadline after which the kernel is killed even if nbclient has not
#: noticed the timeout (a kernel that stopped answering, a wedged shutdown).
TIMEOUT_GRACE_S = 30.0
#: Seconds to wait for the execution thread after the kernel was killed on an interrupt.
STOP_WAIT_S = 10.0
#: Seconds a warm kernel may still spend on its imports when its recipe starts.
WARM_STARTUP_TIMEOUT_S = 300


class _MoveKernel:
    """``on_notebook_start`` hook: move a warm kernel into ``workdir`` with a silent request.

    nbclient calls it after the kernel answered ``kernel_info`` and before the first cell; the
    reply is awaited, so the recipe's first cell already runs in ``workdir``.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.client: Any = None

    async def __call__(self, **_: Any) -> None:
        msg_id = self.client.kc.execute(f"__import__('os').chdir({str(self.workdir)!r})",
                                        silent=True, store_history=False)
        reply = await self.client.async_wait_for_reply(msg_id)
        if (reply or {}).get("content", {}).get("status") != "ok":
            raise PipelineError(f"could not move the warm kernel into {self.workdir}")


def _execute_interruptibly(client: Any, env: dict[str, str], deadline: float,
                           slug: str, cleanup_kc: bool = False
                           ) -> tuple[BaseException | None, bool]:
    """Run ``client.execute`` in a helper thread; return (its exception or None, overran).

    Why a thread: the main thread then stays free to receive Ctrl-C / SIGTERM as
    ``KeyboardInterrupt`` (nbclient, when run in the main thread, installs signal handlers that
    swallow SIGINT and leave the build running). On an interrupt the kernel's process group is
    killed, the thread is given a moment to notice and clean up its sockets, and the interrupt
    is re-raised so the caller discards the staging folder.
    """
    box: dict[str, BaseException] = {}

    hook = getattr(client, "on_notebook_start", None)
    if isinstance(hook, _MoveKernel):
        hook.client = client  # the hook talks to the kernel through the client that runs it
    extra = {"cleanup_kc": True} if cleanup_kc else {}

    def target() -> None:
        try:
            client.execute(env=env, **extra)
        except BaseException as exc:  # handed to the calling thread
            box["error"] = exc
        finally:
            _close_thread_loop()

    thread = threading.Thread(target=target, name=f"nnx-kernel-{slug}", daemon=True)
    thread.start()
    overran = False
    killed: set[int] = set()
    try:
        while thread.is_alive():
            thread.join(0.2)
            if not overran and time.monotonic() > deadline + TIMEOUT_GRACE_S:
                log.warning("%s: still running %.0f s after its timeout; killing the kernel",
                            slug, TIMEOUT_GRACE_S)
                overran = True
                kill_kernel(client, killed)
    except BaseException:
        log.debug("%s: interrupted; killing the kernel", slug)
        stop_deadline = time.monotonic() + STOP_WAIT_S
        while thread.is_alive() and time.monotonic() < stop_deadline:
            try:
                kill_kernel(client, killed)  # again if the kernel was still starting
                thread.join(0.2)
            except KeyboardInterrupt:  # a second Ctrl-C while we clean up: keep cleaning
                continue
        kill_kernel(client, killed)
        raise
    return box.get("error"), overran


def _close_thread_loop() -> None:
    """Cancel what nbclient left pending on this thread's event loop and close it.

    nbclient runs on a per-thread loop; after a timeout or a dead kernel it leaves its output
    poller pending, and an abandoned loop later logs "Task was destroyed but it is pending!".
    """
    import asyncio

    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return
    if loop.is_running() or loop.is_closed():
        return
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=5))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    except Exception:  # never let tidying up hide the run's own result
        log.debug("could not close the kernel thread's event loop", exc_info=True)
    finally:
        asyncio.set_event_loop(None)


def kill_kernel(client: Any, already: set[int] | None = None) -> bool:
    """SIGKILL the kernel's process group (the kernel and anything it started); True if sent.

    ``already`` holds pids killed before: each kernel is signalled once, so a pid that the
    system reuses after the kernel was reaped is never hit.
    """
    km = getattr(client, "km", None)
    provisioner = getattr(km, "provisioner", None) if km is not None else None
    pid = getattr(provisioner, "pid", None)
    pgid = getattr(provisioner, "pgid", None)
    if not pid or (already is not None and pid in already):
        return False
    if already is not None:
        already.add(pid)
    try:
        if pgid and pgid != os.getpgid(0):
            os.killpg(pgid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _running_index(nb: Any) -> int | None:
    """The index of the last code cell that started executing (nbclient records timing)."""
    last = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.get("metadata", {}).get("execution", {}).get(
            "iopub.execute_input"
        ):
            last = i
    return last


def _kernel_traceback(nb: Any, index: int | None, short: bool = False) -> str:
    """The failing cell's traceback as the kernel printed it (ANSI codes removed).

    With ``short`` (the exception is one of the pipeline's user errors), frames inside the
    pipeline library are folded into one line: the error's own message says what to do, and a
    reader should see the recipe line that triggered it, not the loader's internals.
    """
    if index is None:
        return ""
    for output in nb.cells[index].get("outputs", []):
        if output.get("output_type") == "error":
            entries = [strip_ansi(t) for t in output.get("traceback", [])]
            if short:
                entries = _fold_library_frames(entries)
            return "\n".join(entries)
    return ""


def _fold_library_frames(entries: list[str]) -> list[str]:
    """Keep the header, the recipe's own ``Cell In[..]`` frames and the final message."""
    if len(entries) < 3:
        return entries
    frames = [e for e in entries[:-1] if e.startswith(("Cell In[", "File ", "Input In ["))]
    if not frames:
        return entries
    head = [e for e in entries[:-1] if e not in frames and not set(e.strip()) <= {"-"}]
    own = [e for e in frames if not e.startswith("File ")]
    hidden = [e for e in frames if e.startswith("File ")]
    folded = head + own
    if hidden:
        where = hidden[-1].splitlines()[0]
        folded.append(f"({len(hidden)} frame(s) inside the library hidden; raised at {where})")
    ename = entries[-1].split(":", 1)[0]
    return [*folded, f"{ename}: (its message, above, says what to do)"]


def _failure(rel_name: str, nb: Any, index: int | None, recipe_text: str, ename: str,
             evalue: str, tb: str, kind: str = "error") -> CellFailure:
    source = nb.cells[index].source if index is not None else ""
    line = failing_line(nb, index, recipe_text, tb) if index is not None and source else None
    return CellFailure(
        recipe=rel_name, cell_index=index, line=line,
        source=source, ename=ename, evalue=evalue, traceback=tb, kind=kind,
    )
