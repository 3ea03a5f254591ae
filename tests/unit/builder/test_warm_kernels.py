"""Warm kernels (pipeline.builder.warm_kernels): started ahead, used once, no state between recipes."""

from __future__ import annotations

import pytest

from tests.conftest import tiny_recipe

SETS_GLOBAL = """
# %%
import os
import sys
LEAKED_BY_FIRST = 42
ex.metric("pid", os.getpid())
ex.metric("cwd_is_work", os.path.basename(os.getcwd()) == "work")
"""

CHECKS_GLOBAL = """
# %%
RECIPE_NAMES = {"np", "plt"}  # the tiny recipe imports these itself
import os
import sys
ex.metric("pid", os.getpid())
ex.metric("leaked", "LEAKED_BY_FIRST" in globals())
ex.metric("cwd_is_work", os.path.basename(os.getcwd()) == "work")
ex.metric("warm_names", sorted(n for n in ("m", "np", "numpy", "plt", "pyplot") if n in globals()
                                and n not in RECIPE_NAMES))
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_each_recipe_gets_a_fresh_warm_kernel(mini, jobs) -> None:
    # "a" runs first (jobs 1: discovery order), so "b" and "c" get kernels started ahead
    mini.add("a-first", tiny_recipe("A", body=SETS_GLOBAL))
    mini.add("b-second", tiny_recipe("B", body=CHECKS_GLOBAL))
    mini.add("c-third", tiny_recipe("C", body=CHECKS_GLOBAL))
    assert mini.cli("build", "--jobs", jobs) == 0
    metrics = {slug: mini.current(slug)[1]["metrics"] for slug in ("a-first", "b-second",
                                                                 "c-third")}
    pids = {m["pid"] for m in metrics.values()}
    assert len(pids) == 3, "every recipe runs in its own process"
    for slug in ("b-second", "c-third"):
        assert metrics[slug]["leaked"] is False, "a global of one recipe reached another"
        assert metrics[slug]["warm_names"] == [], "the warm-up bound names in the namespace"
        assert metrics[slug]["cwd_is_work"] is True, "a warm kernel must run in the work folder"
    assert metrics["a-first"]["cwd_is_work"] is True
    # no spare kernel or its folder outlives the build
    staging = mini.build_dir / "staging"
    assert not staging.exists() or not any(staging.iterdir())


def test_a_warm_kernel_has_its_imports_done(tmp_path) -> None:
    import jupyter_client

    from pipeline.builder.executor import kernel_env
    from pipeline.builder.warm_kernels import KernelSupply

    env = kernel_env(tmp_path, None)
    with KernelSupply(tmp_path / "staging", modules=("json", "numpy")) as supply:
        supply.prepare(env)
        kernel = supply.take(env)
        assert kernel is not None and kernel.is_alive()
        try:
            client = jupyter_client.BlockingKernelClient()
            client.load_connection_info(kernel.km.get_connection_info())
            # A client of its own judges the kernel by heartbeats, 1 s apart by default; on a
            # loaded 2-core machine one late answer read as "kernel died" (CI, load 6).
            client.hb_channel.time_to_dead = 10.0
            client.start_channels()
            client.wait_for_ready(timeout=60)
            reply = client.execute_interactive(
                "import sys; assert 'numpy' in sys.modules and 'numpy' not in globals()",
                timeout=30)
            client.stop_channels()
        finally:
            kernel.close()
        assert reply["content"]["status"] == "ok", "numpy imported, but no name bound"
        assert not kernel.is_alive() and not kernel.folder.exists()


def test_a_kernel_with_another_environment_is_not_used(tmp_path) -> None:
    from pipeline.builder.executor import kernel_start_kind
    from pipeline.builder.warm_kernels import KernelSupply

    with KernelSupply(tmp_path, modules=(), fork=False) as supply:
        supply.prepare({"A": "1", "PATH": "/usr/bin:/bin"})
        spare = supply._spare
        assert spare is not None
        assert supply.take({"A": "2", "PATH": "/usr/bin:/bin"}) is None  # the executor: cold
        assert not spare.is_alive(), "an unusable spare is shut down"
    # forked kernels: a kernel of the new environment is forked instead (a new zygote)
    with KernelSupply(tmp_path / "forked", modules=(), fork=True) as supply:
        supply.prepare({"A": "1", "PATH": "/usr/bin:/bin"})
        spare, first = supply._spare, supply._zygote
        assert spare is not None and kernel_start_kind(spare) == "forked"
        kernel = supply.take({"A": "2", "PATH": "/usr/bin:/bin"})
        assert kernel is not None and kernel.env["A"] == "2"
        assert kernel_start_kind(kernel) == "forked" and supply._zygote is not first
        assert not spare.is_alive(), "an unusable spare is shut down"
        kernel.close()


def test_disabled_supply_starts_nothing(tmp_path) -> None:
    from pipeline.builder.warm_kernels import KernelSupply, warm_kernels_enabled, warmup_code

    supply = KernelSupply(tmp_path, enabled=False)
    supply.prepare({})
    assert supply.take({}) is None and supply.started == 0
    assert not warm_kernels_enabled("0") and warm_kernels_enabled("") and warm_kernels_enabled("1")
    code = warmup_code(("numpy", "json"))
    namespace: dict = {}
    exec(code, namespace)  # binds nothing but the builtins
    assert set(namespace) == {"__builtins__"}


def test_no_warm_kernels_flag_builds_cold(mini) -> None:
    mini.add("a-first", tiny_recipe("A", body=SETS_GLOBAL))
    mini.add("b-second", tiny_recipe("B", body=CHECKS_GLOBAL))
    assert mini.cli("build", "--jobs", "1", "--no-warm-kernels") == 0
    b = mini.current("b-second")[1]["metrics"]
    assert b["leaked"] is False and b["cwd_is_work"] is True


FORKED_CHECKS = """
# %%
import os
import random
import signal
import sys
ex.metric("signals", [int(signal.getsignal(s)) for s in (signal.SIGPIPE, signal.SIGCHLD)])
ex.metric("parent_is_zygote", "kernel_zygote" in open(f"/proc/{os.getppid()}/cmdline").read())
ex.metric("own_modules", sorted(m for m in sys.modules if m.startswith("pipeline.builder")))
ex.metric("argv0", os.path.basename(sys.argv[0]))
ex.metric("cwd_is_work", os.path.basename(os.getcwd()) == "work")
ex.metric("draw", random.random())
import matplotlib
ex.metric("backend", matplotlib.get_backend())  # figures shown in the notebook
"""


@pytest.mark.parametrize("fork", ["1", "0"])
def test_forked_kernels_are_fresh_kernels(mini, monkeypatch, fork: str) -> None:
    """Every recipe's kernel is forked from the zygote (the first one too), and is what a cold
    kernel is: its launcher's argv, the work folder, none of the build tool's modules, and
    fresh seeds (an unseeded draw differs between recipes). NNX_FORK_KERNELS=0: not forked."""
    import signal

    monkeypatch.setenv("NNX_FORK_KERNELS", fork)
    slugs = ("a-first", "b-second", "c-third")
    for slug in slugs:
        mini.add(slug, tiny_recipe(slug.upper(), body=FORKED_CHECKS))
    assert mini.cli("build", "--jobs", "1") == 0
    metrics = {slug: mini.current(slug)[1]["metrics"] for slug in slugs}
    forked = fork == "1"
    for slug, m in metrics.items():
        assert m["parent_is_zygote"] is forked, slug
        assert m["own_modules"] == [] and m["cwd_is_work"] is True
        assert m["argv0"] == "ipykernel_launcher.py"
        assert m["signals"] == [signal.SIG_IGN, signal.SIG_DFL]  # as Python starts
        assert m["backend"] == "module://matplotlib_inline.backend_inline"
    assert len({m["draw"] for m in metrics.values()}) == 3


def test_the_zygote_forks_kernels_and_ends_with_its_supply(tmp_path) -> None:
    from pipeline.builder.executor import kernel_env, kernel_start_kind
    from pipeline.builder.warm_kernels import KernelSupply

    env = kernel_env(tmp_path, None)
    with KernelSupply(tmp_path / "staging", modules=("json",), fork=True) as supply:
        kernel = supply.take(env)  # no spare yet: forked at once
        assert kernel is not None and kernel_start_kind(kernel) == "forked"
        zygote = supply._zygote
        assert zygote is not None and zygote.proc.poll() is None
        assert not zygote.matches({**env, "OMP_NUM_THREADS": "7"})  # fixed at its imports
        supply.prepare(env)
        spare = supply._spare
        kernel.close()
        assert not kernel.is_alive() and not kernel.folder.exists()
        assert spare is not None and spare.is_alive()
    assert zygote.proc.poll() is not None, "the zygote ends with the supply"
    assert not spare.is_alive()
    assert supply.forked == 2 and supply.started == 2


def test_forked_process_is_watched_through_a_pidfd() -> None:
    import signal
    import subprocess

    from pipeline.builder.warm_kernels import ForkedProcess

    child = subprocess.Popen(["sleep", "30"])
    try:
        watched = ForkedProcess(child.pid)
        assert watched.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            watched.wait(0.1)
        watched.kill()
        assert watched.wait(10) == -signal.SIGKILL and watched.poll() == -signal.SIGKILL
        watched.kill()  # after its end: nothing to signal, no error
    finally:
        child.kill()
        child.wait()


def test_a_forked_kernel_logs_into_the_notebook(tmp_path) -> None:
    """A log handler a warm import made (TensorFlow's, absl's) writes where it would in a cold
    kernel, whose imports run after ipykernel put the notebook's streams in sys.stderr: into
    the notebook, not the build's log."""
    import jupyter_client

    from pipeline.builder.executor import kernel_env
    from pipeline.builder.warm_kernels import KernelSupply

    (tmp_path / "lib").mkdir()
    # like absl's handler (TensorFlow's): it closes its stream when the kernel's start-up shuts
    # the existing handlers down, unless that stream is a terminal or one of sys's own
    (tmp_path / "lib" / "nnx_probe_handler.py").write_text(
        "import logging, sys\n"
        "class Handler(logging.StreamHandler):\n"
        "    def close(self):\n"
        "        own = (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)\n"
        "        if self.stream not in own and not self.stream.isatty():\n"
        "            self.stream.close()\n"
        "        super().close()\n"
        "logging.getLogger('nnx-probe').addHandler(Handler())\n")
    env = kernel_env(tmp_path, None)
    env["PYTHONPATH"] = f"{tmp_path / 'lib'}:{env['PYTHONPATH']}"
    with KernelSupply(tmp_path / "staging", modules=("nnx_probe_handler",), fork=True) as supply:
        kernel = supply.take(env)
        assert kernel is not None
        try:
            client = jupyter_client.BlockingKernelClient()
            client.load_connection_info(kernel.km.get_connection_info())
            client.hb_channel.time_to_dead = 10.0
            client.start_channels()
            client.wait_for_ready(timeout=60)
            said: list[str] = []

            def keep(msg: dict) -> None:
                if msg["msg_type"] == "stream":
                    said.append(msg["content"]["text"])

            reply = client.execute_interactive(
                "import logging, sys\n"
                "assert 'nnx_probe_handler' in sys.modules\n"
                "logging.getLogger('nnx-probe').warning('logged from the recipe')",
                timeout=30, output_hook=keep)
            client.stop_channels()
        finally:
            kernel.close()
    assert reply["content"]["status"] == "ok"
    assert "logged from the recipe" in "".join(said)
