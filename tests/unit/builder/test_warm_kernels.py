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
    from pipeline.builder.warm_kernels import KernelSupply

    with KernelSupply(tmp_path, modules=()) as supply:
        supply.prepare({"A": "1", "PATH": "/usr/bin:/bin"})
        spare = supply._spare
        assert spare is not None
        assert supply.take({"A": "2", "PATH": "/usr/bin:/bin"}) is None
        assert not spare.is_alive(), "an unusable spare is shut down"


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
