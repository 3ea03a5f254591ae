"""Run one recipe in a fresh Jupyter kernel and export it as a notebook page.

Why nbclient rather than ``exec``: each recipe gets its own process (no state leaks between
recipes, a hung recipe can be killed), inline figures are captured for the "Notebook" page, and
a failing cell can be reported with its own source and traceback instead of the pipeline's.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
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
    kind: str = "error"  # "error" | "timeout" | "kernel-died" | "interrupted" | "setup"

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


class RecipeFailed(PipelineError):
    """A recipe's notebook failed; carries the :class:`CellFailure`."""

    def __init__(self, failure: CellFailure) -> None:
        super().__init__(failure.summary())
        self.failure = failure

    def __reduce__(self):
        return (type(self), (self.failure,))


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
    """Line in the recipe file where a cell's first non-empty line appears (for error reports)."""
    first = next((ln for ln in cell_source.splitlines() if ln.strip()), None)
    if not first:
        return None
    for number, line in enumerate(recipe_text.splitlines(), start=1):
        if line.rstrip() == first.rstrip():
            return number
    return None


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
) -> ExecutionResult:
    """Execute a recipe in a fresh kernel; export the executed notebook as Markdown.

    Raises :class:`RecipeFailed` with the failing cell's index, source and kernel traceback.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    start = time.perf_counter()
    try:
        nb = build_notebook(recipe_path, parameters)
    except PipelineError:
        raise
    except Exception as exc:  # jupytext parse problems
        raise RecipeFailed(CellFailure(rel_name, None, None, "", type(exc).__name__, str(exc), "",
                                       kind="setup")) from None
    recipe_text = recipe_path.read_text(encoding="utf-8")
    deadline = time.monotonic() + timeout
    failed: dict[str, Any] = {}

    def on_error(cell: Any, cell_index: int, execute_reply: Any) -> None:
        failed["index"] = cell_index

    def remaining(cell: Any) -> int:
        return max(1, int(deadline - time.monotonic()))

    client = NotebookClient(
        nb,
        kernel_name="python3",
        kernel_manager_class=_ipc_kernel_manager(workdir),
        timeout=timeout,
        timeout_func=remaining,
        allow_errors=False,
        record_timing=True,
        shutdown_kernel="immediate",
        on_cell_error=on_error,
        resources={"metadata": {"path": str(workdir)}},
    )
    env = kernel_env(repo_root, data_dir)
    try:
        client.execute(env=env)
    except CellTimeoutError as exc:
        index = failed.get("index", _running_index(nb))
        raise RecipeFailed(_failure(rel_name, nb, index, recipe_text, "TimeoutError",
                                    f"the recipe exceeded its timeout of {timeout} s "
                                    "(set 'timeout' in its header)", strip_ansi(str(exc)),
                                    kind="timeout")) from None
    except DeadKernelError as exc:
        index = failed.get("index", _running_index(nb))
        raise RecipeFailed(_failure(rel_name, nb, index, recipe_text, "DeadKernelError",
                                    "the kernel died (out of memory or killed)", strip_ansi(str(exc)),
                                    kind="kernel-died")) from None
    except CellExecutionError as exc:
        index = failed.get("index", _running_index(nb))
        tb = _kernel_traceback(nb, index) or strip_ansi(str(exc))
        raise RecipeFailed(_failure(rel_name, nb, index, recipe_text, exc.ename,
                                    strip_ansi(exc.evalue), tb)) from None
    executed = time.perf_counter() - start

    notebook_md = export_markdown(nb, notebook_dir, slug, parameters)
    return ExecutionResult(
        seconds=executed,
        notebook_md=notebook_md,
        timings={"execute": round(executed, 3),
                 "export": round(time.perf_counter() - start - executed, 3)},
    )


def _ipc_kernel_manager(workdir: Path) -> type:
    """A kernel manager on IPC sockets inside the run's work folder.

    IPC avoids ipykernel's "TCP without encryption" warning and keeps the sockets private to the
    run; they live in ``workdir`` so removing the staging folder removes any leftovers.
    """
    from jupyter_client.manager import AsyncKernelManager

    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(transport="ipc", **kwargs)
            self.ip = str(workdir / "kernel")

    return IpcKernelManager


def _running_index(nb: Any) -> int | None:
    """The index of the last code cell that started executing (nbclient records timing)."""
    last = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.get("metadata", {}).get("execution", {}).get(
            "iopub.execute_input"
        ):
            last = i
    return last


def _kernel_traceback(nb: Any, index: int | None) -> str:
    if index is None:
        return ""
    for output in nb.cells[index].get("outputs", []):
        if output.get("output_type") == "error":
            return strip_ansi("\n".join(output.get("traceback", [])))
    return ""


def _failure(rel_name: str, nb: Any, index: int | None, recipe_text: str, ename: str,
             evalue: str, tb: str, kind: str = "error") -> CellFailure:
    source = nb.cells[index].source if index is not None else ""
    return CellFailure(
        recipe=rel_name, cell_index=index, line=_cell_line(recipe_text, source) if source else None,
        source=source, ename=ename, evalue=evalue, traceback=tb, kind=kind,
    )


def export_markdown(nb: Any, notebook_dir: Path, slug: str, parameters: dict[str, Any]) -> Path:
    """Export the executed notebook as ``<slug>.md`` + ``<slug>_files/`` for the "Notebook" page."""
    from nbconvert import MarkdownExporter

    notebook_dir.mkdir(parents=True, exist_ok=True)
    exporter = MarkdownExporter()
    resources = {"output_files_dir": f"{slug}_files", "unique_key": slug}
    body, resources = exporter.from_notebook_node(nb, resources=resources)
    for rel, data in (resources.get("outputs") or {}).items():
        out = notebook_dir / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    body = ANSI_RE.sub("", body)
    path = notebook_dir / f"{slug}.md"
    path.write_text(body, encoding="utf-8")
    nbformat_path = notebook_dir / f"{slug}.ipynb"
    import nbformat

    nbformat.write(nb, nbformat_path)
    return path


def python_for_kernels() -> str:
    return sys.executable
