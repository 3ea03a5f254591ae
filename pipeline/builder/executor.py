"""Run one recipe in a fresh Jupyter kernel and store the executed notebook (the site makes its
page: pipeline/site/notebook_page.py).

Why nbclient rather than ``exec``: each recipe gets its own process (no state leaks between
recipes, a hung recipe can be killed), inline figures are captured for the "Notebook" page, and
a failing cell can be reported with its own source and traceback instead of the pipeline's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async

from pipeline.builder.errors import RecipeFailed
from pipeline.builder.interrupts import run_cancellable
from pipeline.builder.kernel_sockets import ipc_kernel_manager, socket_base
from pipeline.builder.notebook_export import ANSI_RE, write_notebook
from pipeline.builder.records import Failure, FailureKind
from pipeline.library.errors import PipelineError, user_error_names
from pipeline.library.precision import ONEDNN_DEFAULT

if TYPE_CHECKING:
    from pipeline.builder.warm_kernels import WarmKernel

log = logging.getLogger(__name__)

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


@dataclass
class ExecutionResult:
    seconds: float
    notebook: Path  # the executed .ipynb in the entry's notebook/ folder
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
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", ONEDNN_DEFAULT)  # why: library/precision.py
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
    """Execute a recipe in a fresh kernel; store the executed notebook in ``notebook_dir``.

    ``kernel``: a fresh kernel started ahead of time (:mod:`pipeline.builder.warm_kernels`), used for
    this recipe only and shut down afterwards; None starts one now.
    Raises :class:`RecipeFailed` with the failing cell's index, source and kernel traceback.
    """
    start = time.perf_counter()
    try:
        nb = build_notebook(recipe_path, parameters)
    except PipelineError:
        raise
    except Exception as exc:  # jupytext parse problems
        raise RecipeFailed(Failure(rel_name, ename=type(exc).__name__, evalue=str(exc),
                                   kind=FailureKind.SETUP)) from None
    recipe_text = recipe_path.read_text(encoding="utf-8")
    # How the kernel started, kept in the notebook's metadata (the .ipynb readers download):
    # the determinism test checks that forked, warm and cold kernels publish the same files.
    nb.metadata["nnx"] = {"kernel": kernel_start_kind(kernel)}
    if kernel is not None:
        try:
            return _execute_notebook(nb, rel_name, recipe_text, workdir, notebook_dir, slug,
                                     timeout, repo_root, data_dir, "", start, kernel=kernel)
        finally:
            kernel.close()
    with socket_base(workdir) as base:
        return _execute_notebook(nb, rel_name, recipe_text, workdir, notebook_dir, slug,
                                 timeout, repo_root, data_dir, base, start)


def kernel_start_kind(kernel: WarmKernel | None) -> str:
    """``"cold"`` (started for the recipe), ``"warm"`` (started ahead) or ``"forked"`` (started
    ahead, forked from a zygote; :mod:`pipeline.builder.kernel_zygote`)."""
    if kernel is None:
        return "cold"
    from pipeline.builder.warm_kernels import ForkedProcess

    process = getattr(getattr(kernel.km, "provisioner", None), "process", None)
    return "forked" if isinstance(process, ForkedProcess) else "warm"


def _execute_notebook(nb: Any, rel_name: str, recipe_text: str, workdir: Path,
                      notebook_dir: Path, slug: str, timeout: int, repo_root: Path,
                      data_dir: Path | None, socket_base: str, start: float,
                      kernel: WarmKernel | None = None) -> ExecutionResult:
    from nbclient import NotebookClient

    deadline = time.monotonic() + timeout

    def remaining(cell: Any) -> int:
        return max(1, int(deadline - time.monotonic()))

    warm: dict[str, Any] = {}
    if kernel is not None:
        # A warm kernel answers only once its imports are done, which on a busy machine can
        # take longer than nbclient's 60 s start-up allowance for a bare kernel.
        warm = {"km": kernel.km, "startup_timeout": WARM_STARTUP_TIMEOUT_S}
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
        resources={"metadata": {"path": str(workdir)}},
    )
    run = _NotebookRun(client, kernel_env(repo_root, data_dir), workdir,
                       warm=kernel is not None, watchdog_s=timeout + TIMEOUT_GRACE_S, slug=slug)
    run_cancellable(run.execute())  # KeyboardInterrupt once the kernel is shut down
    if run.error is not None:
        raise _as_failure(run.error, run.overran, nb, run.index, rel_name, recipe_text,
                          timeout) from None
    executed = time.perf_counter() - start

    notebook = write_notebook(nb, notebook_dir, slug)
    return ExecutionResult(
        seconds=executed,
        notebook=notebook,
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
                                     kind=FailureKind.TIMEOUT))
    if isinstance(error, DeadKernelError):
        return RecipeFailed(_failure(rel_name, nb, index, recipe_text, "DeadKernelError",
                                     "the kernel died (out of memory or killed)",
                                     strip_ansi(str(error)), kind=FailureKind.KERNEL_DIED))
    if isinstance(error, CellExecutionError):
        short = error.ename in user_error_names()
        tb = _kernel_traceback(nb, index, short=short) or strip_ansi(str(error))
        kind = FailureKind.DIVERGED if error.ename == "TrainingDiverged" else FailureKind.ERROR
        return RecipeFailed(_failure(rel_name, nb, index, recipe_text, error.ename,
                                     strip_ansi(error.evalue), tb, kind=kind))
    # the kernel could not start, a broken kernelspec, ...
    return RecipeFailed(Failure(rel_name, ename=type(error).__name__,
                                evalue=strip_ansi(str(error)) or repr(error),
                                kind=FailureKind.SETUP))


#: Seconds past a recipe's deadline after which the kernel is killed even if nbclient has not
#: noticed the timeout (a kernel that stopped answering, a wedged shutdown).
TIMEOUT_GRACE_S = 30.0
#: Seconds the kernel manager gets to reap a killed kernel and remove its sockets.
SHUTDOWN_WAIT_S = 10.0
#: Seconds a warm kernel may still spend on its imports when its recipe starts.
WARM_STARTUP_TIMEOUT_S = 300


class _NotebookRun:
    """One recipe's cells on one kernel, driven through nbclient's public async API.

    Why not ``NotebookClient.async_execute``: its ``async_setup_kernel`` adds loop signal
    handlers for SIGINT and SIGTERM that only schedule a kernel shutdown, so in the main
    thread a Ctrl-C would end the recipe as a "dead kernel" and the build would go on with the
    next one; it also registers an ``atexit`` hook per run. The same steps are taken here
    (start the kernel, wait for it, ``kernel_info``, each cell with
    ``async_execute_cell``), and :func:`~pipeline.builder.interrupts.run_cancellable` turns an
    interrupt into the cancellation of :meth:`execute`, whose ``finally`` kills the kernel.

    After :meth:`execute`: ``error`` (what ended the run early, or None), ``index`` (the cell
    that was running), ``overran`` (the watchdog fired).
    """

    def __init__(self, client: Any, env: dict[str, str], workdir: Path, *, warm: bool,
                 watchdog_s: float, slug: str) -> None:
        self.client = client
        self.env = env
        self.workdir = workdir
        self.warm = warm
        self.watchdog_s = watchdog_s
        self.slug = slug
        self.error: BaseException | None = None
        self.index: int | None = None
        self.overran = False

    async def execute(self) -> None:
        watchdog = asyncio.timeout(self.watchdog_s)
        try:
            async with watchdog:
                await self._cells()
        except Exception as exc:  # a cell's error, a timeout, a dead kernel, a failed start
            self.error = exc
        finally:
            await self._shut_down()
        if watchdog.expired():
            log.warning("%s: still running %.0f s after its timeout; the kernel was killed",
                        self.slug, TIMEOUT_GRACE_S)
            self.overran = True

    async def _cells(self) -> None:
        client = self.client
        client.reset_execution_trackers()
        if client.km is None:
            client.km = client.create_kernel_manager()
        if not client.km.has_kernel:
            await client.async_start_new_kernel(env=self.env)
        await client.async_start_new_kernel_client()
        if self.warm:
            await self._move_kernel()
        reply = await client.async_wait_for_reply(await ensure_async(client.kc.kernel_info()))
        language = ((reply or {}).get("content") or {}).get("language_info")
        if language:
            client.nb.metadata["language_info"] = language
        for index, cell in enumerate(client.nb.cells):
            self.index = index
            await client.async_execute_cell(cell, index,
                                            execution_count=client.code_cells_executed + 1)
        self.index = None
        client.set_widgets_metadata()

    async def _move_kernel(self) -> None:
        """Move a warm kernel into the work folder (a cold one starts there) with a silent
        request, before the recipe's first cell; it started in a folder of its own."""
        client = self.client
        msg_id = client.kc.execute(f"__import__('os').chdir({str(self.workdir)!r})",
                                   silent=True, store_history=False)
        reply = await client.async_wait_for_reply(msg_id)
        if (reply or {}).get("content", {}).get("status") != "ok":
            raise PipelineError(f"could not move the warm kernel into {self.workdir}")

    async def _shut_down(self) -> None:
        """Kill the kernel and its children at once, then reap it and remove its sockets.

        Runs after success, failure and cancellation alike (the kernel is used for this recipe
        only). An interrupt arriving here does not cut it short: the kill is already done and
        the rest is bounded by :data:`SHUTDOWN_WAIT_S`.
        """
        client = self.client
        kill_kernel(client)
        cancelled = False
        km, kc = client.km, client.kc
        try:
            if kc is not None:
                kc.stop_channels()
            if km is not None:
                step = km.shutdown_kernel(now=True) if km.has_kernel else km.cleanup_resources()
                await asyncio.wait_for(ensure_async(step), SHUTDOWN_WAIT_S)
        except asyncio.CancelledError:
            cancelled = True
        except Exception:
            log.debug("%s: shutting the kernel down", self.slug, exc_info=True)
        client.kc = None
        if cancelled:
            raise asyncio.CancelledError


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
             evalue: str, tb: str, kind: FailureKind = FailureKind.ERROR) -> Failure:
    source = nb.cells[index].source if index is not None else ""
    line = failing_line(nb, index, recipe_text, tb) if index is not None and source else None
    return Failure(
        recipe=rel_name, cell_index=index, line=line,
        source=source, ename=ename, evalue=evalue, traceback=tb, kind=kind,
    )
