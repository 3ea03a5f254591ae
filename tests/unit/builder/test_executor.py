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


def test_export_markdown_writes_page_images_and_notebook(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("show()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": _png(),
                                                                  "text/plain": "<Figure>"}),
                    nbformat.v4.new_output("stream", name="stdout", text="\x1b[31mred\x1b[0m\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), cell]
    out = tmp_path / "notebook"
    path = notebook_export.export_markdown(nb, out, "demo")
    assert path == out / "demo.md"
    text = path.read_text()
    assert "# Title" in text and "demo_files/" in text and "\x1b[" not in text and "red" in text
    assert list((out / "demo_files").glob("*.png"))
    assert nbformat.read(out / "demo.ipynb", as_version=4).cells[1].source == "show()"


def test_console_style_html_falls_back_to_plain_text_on_the_page(tmp_path: Path) -> None:
    """rich's coloured <pre> (model.summary()) becomes a code block; real HTML stays."""
    rich_html = ('<pre style="white-space:pre;overflow-x:auto"><span style="color: #5f5f5f">'
                 'Total params: 17</span>\n</pre>\n')
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("model.summary()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": rich_html,
                                                      "text/plain": "Total params: 17\n"}),
        nbformat.v4.new_output("display_data", data={"text/html": "<table><tr><td>7</td></tr></table>",
                                                      "text/plain": "a table"}),
    ]
    nb.cells = [cell]
    text = notebook_export.export_markdown(nb, tmp_path / "nb", "demo").read_text()
    assert "Total params: 17" in text and "<pre style" not in text and "#5f5f5f" not in text
    assert "<table><tr><td>7</td></tr></table>" in text
    saved = nbformat.read(tmp_path / "nb" / "demo.ipynb", as_version=4)
    assert saved.cells[0].outputs[0].data["text/html"] == rich_html  # the download keeps it


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
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            executor.execute_recipe(recipe, "demo/sleeper.recipe.py", {}, workdir,
                                    tmp_path / "notebook", "sleeper", 600, Path.cwd(), None,
                                    kernel=kernel)
    finally:
        presser.join(130)
        signal.signal(signal.SIGINT, previous)
    assert (workdir / "started").exists(), "the cell ran before the interrupt"
    assert time.monotonic() - start < 60
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
    start = time.monotonic()
    with pytest.raises(executor.RecipeFailed) as failed:
        executor.execute_recipe(recipe, "demo/quick.recipe.py", {}, workdir,
                                tmp_path / "notebook", "quick", 1, Path.cwd(), None)
    assert time.monotonic() - start < 30
    failure = failed.value.failure
    assert failure.kind == "timeout" and "exceeded its timeout of 1 s" in failure.evalue
    assert "the kernel was killed" in caplog.text, "the watchdog, not nbclient, stopped it"
    assert started and not psutil.pid_exists(started[0]), "the started kernel was killed"
    assert _kernels() - before == set()
    assert not list(workdir.glob("kernel*"))
