"""pipeline.builder.executor pieces that need no kernel: parameter injection and the notebook export."""

from __future__ import annotations

import base64
import io
import os
import signal
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from pipeline.builder import executor, notebook_export
from pipeline.library.errors import PipelineError

RECIPE = '''# %% [markdown]
# A recipe.

# %% tags=["parameters"]
profile = "quick"

# %%
print(profile)
'''


def _png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (2, 2), "red").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def test_parameters_are_injected_after_the_parameters_cell(tmp_path: Path) -> None:
    recipe = tmp_path / "r.recipe.py"
    recipe.write_text(RECIPE)
    nb = executor.build_notebook(recipe, {"profile": "full", "seed": 3})
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
    index = next(i for i, t in enumerate(tags) if executor.PARAMETERS_TAG in t)
    injected = nb.cells[index + 1]
    assert executor.INJECTED_TAG in injected.metadata["tags"]
    assert "profile = 'full'" in injected.source and "seed = 3" in injected.source
    (tmp_path / "bad.recipe.py").write_text("# %%\nx = 1\n")
    with pytest.raises(PipelineError, match="no cell tagged 'parameters'"):
        executor.build_notebook(tmp_path / "bad.recipe.py", {})


def test_the_executed_notebook_is_stored_as_it_ran(tmp_path: Path) -> None:
    """The store keeps the notebook (dark twins included); the site makes the page from it."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "image/png": _png(), "text/plain": "<Figure>", "image/x-nnx-dark-png": _png()})]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), cell]
    path = notebook_export.write_notebook(nb, tmp_path / "notebook", "demo")
    assert path == tmp_path / "notebook" / "demo.ipynb"
    assert sorted(p.name for p in path.parent.iterdir()) == ["demo.ipynb"]
    stored = nbformat.read(path, as_version=4)
    assert stored.cells[1].source == "show()" and "image/x-nnx-dark-png" in stored.cells[1].outputs[0].data


SLEEPER = '''# %% tags=["parameters"]
profile = "quick"

# %%
import time
from pathlib import Path
Path("started").write_text("yes")
time.sleep(300)
'''


def _kernels() -> set[int]:
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "ipykernel" in " ".join(p.cmdline()):
                out.add(p.pid)
        except psutil.NoSuchProcess:
            continue
    return out


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_ctrl_c_shuts_the_kernel_down_before_it_interrupts(tmp_path: Path, warm: bool) -> None:
    """In-process: SIGINT mid-cell cancels the run, kills the kernel, then raises."""
    from pipeline.builder.warm_kernels import start_kernel

    recipe = tmp_path / "sleeper.recipe.py"
    recipe.write_text(SLEEPER)
    workdir = tmp_path / "work"
    workdir.mkdir()
    before = _kernels()
    env = executor.kernel_env(Path.cwd(), None)
    kernel = start_kernel(tmp_path / "staging", env, modules=()) if warm else None

    def press_ctrl_c() -> None:
        deadline = time.monotonic() + 120
        while not (workdir / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            executor.execute_recipe(recipe, "demo/sleeper.recipe.py", {}, workdir,
                                    tmp_path / "notebook", "sleeper", 600, Path.cwd(), None,
                                    kernel=kernel)
    finally:
        presser.join(130)
        signal.signal(signal.SIGINT, previous)
    assert (workdir / "started").exists(), "the cell ran before the interrupt"
    # (the interrupted cell sleeps 300 s: had the interrupt not stopped it, execute_recipe
    # would have returned instead of raising; how fast it stops is the benchmarks' business)
    assert _kernels() - before == set(), "the kernel was shut down before the interrupt"
    assert not list(workdir.glob("kernel*")), "its sockets and connection file are gone"
    if kernel is not None:
        assert not kernel.folder.exists()


@pytest.mark.timeout(300)
def test_the_watchdog_kills_a_run_stuck_outside_a_cell(tmp_path: Path, monkeypatch,
                                                        caplog) -> None:
    """nbclient's own timeout covers cells only; a run stuck elsewhere is killed too."""
    import asyncio

    async def stuck_after_the_kernel_started(self) -> None:
        self.client.km = self.client.create_kernel_manager()
        await self.client.async_start_new_kernel(env=self.env)
        started.append(self.client.km.provisioner.pid)
        await asyncio.sleep(3600)  # e.g. a kernel that never answers kernel_info

    started: list[int] = []

    recipe = tmp_path / "quick.recipe.py"
    recipe.write_text(RECIPE)
    workdir = tmp_path / "work"
    workdir.mkdir()
    before = _kernels()
    monkeypatch.setattr(executor, "TIMEOUT_GRACE_S", 0.0)
    monkeypatch.setattr(executor._NotebookRun, "_cells", stuck_after_the_kernel_started)
    with pytest.raises(executor.RecipeFailed) as failed:
        executor.execute_recipe(recipe, "demo/quick.recipe.py", {}, workdir,
                                tmp_path / "notebook", "quick", 1, Path.cwd(), None)
    failure = failed.value.failure
    assert failure.kind == "timeout" and "exceeded its timeout of 1 s" in failure.evalue
    assert "the kernel was killed" in caplog.text, "the watchdog, not nbclient, stopped it"
    assert started and not psutil.pid_exists(started[0]), "the started kernel was killed"
    assert _kernels() - before == set()
    assert not list(workdir.glob("kernel*"))
