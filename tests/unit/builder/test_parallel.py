"""Parallel and distributed runners give the same results as the in-process one."""

from __future__ import annotations

import pytest

from tests.conftest import need_module, tiny_recipe


def _asset_hashes(mini, slugs):
    out = {}
    for slug in slugs:
        _, manifest = mini.current(slug)
        out[slug] = {k: v["sha256"] for k, v in manifest["files"].items() if k.startswith("assets/")
                     and not k.endswith("outputs.json")}
    return out


def test_jobs_2_matches_jobs_1(make_mini) -> None:
    slugs = ["a1", "b2", "c3"]
    results = []
    for jobs in ("1", "2"):
        mini = make_mini(f"jobs{jobs}")
        for i, slug in enumerate(slugs):
            mini.add(slug, tiny_recipe(slug.upper(), n=3 + i))
        assert mini.cli("build", "--jobs", jobs) == 0
        assert mini.statuses() == dict.fromkeys(slugs, "ran")
        results.append(_asset_hashes(mini, slugs))
    assert results[0] == results[1]


def test_dask_executor_against_local_cluster(mini) -> None:
    distributed = need_module("distributed")
    mini.add("alpha", tiny_recipe("Alpha"))
    mini.add("beta", tiny_recipe("Beta", body="\n# %%\nraise RuntimeError('remote failure')\n"))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert mini.cli("build", "--executor", f"dask://{address}") == 1
    assert mini.statuses() == {"alpha": "ran", "beta": "failed"}
    entry, manifest = mini.current("alpha")
    assert (entry / "assets" / "line.png").exists() and manifest["metrics"] == {"n": 3}
    assert "remote failure" in mini.state("beta")["last_attempt"]["failure"]["evalue"]


def test_unreachable_dask_scheduler_is_a_clear_error(mini, capsys) -> None:
    need_module("distributed")
    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build", "--executor", "dask://127.0.0.1:9") == 2
    assert "cannot reach the dask scheduler" in " ".join(capsys.readouterr().err.split())


def test_unknown_executor(mini, capsys) -> None:
    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build", "--executor", "ray://x") == 2
    assert "unknown executor" in capsys.readouterr().err


# -- threads per kernel and the pool's job order ------------------------------------------------

def test_kernel_threads_setting(monkeypatch) -> None:
    from pipeline.builder.resources import kernel_thread_env, kernel_threads
    from pipeline.library.errors import ConfigError

    monkeypatch.delenv("NNX_KERNEL_THREADS", raising=False)
    from pipeline.builder.resources import pinned_kernel_threads

    # unset: pinned from the machine, the same whatever --jobs is
    assert kernel_threads(1) == kernel_threads(2) == kernel_threads(8) == pinned_kernel_threads()
    assert kernel_threads(2, "default") is None and kernel_thread_env(2, "default") == {}
    assert kernel_threads(2, "auto", cpus=2) == 1
    assert kernel_threads(3, "auto", cpus=2) == 1
    assert kernel_threads(1, "auto", cpus=8) == 8
    assert kernel_threads(4, " 2 ") == 2
    for bad in ("0", "-1", "many"):
        with pytest.raises(ConfigError, match="NNX_KERNEL_THREADS"):
            kernel_threads(1, bad)
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "4")  # set explicitly: it wins
    env = kernel_thread_env(2, "1")
    assert env["TF_NUM_INTRAOP_THREADS"] == "1" and env["OMP_NUM_THREADS"] == "1"
    assert "TF_NUM_INTEROP_THREADS" not in env


THREADS_BODY = """
# %%
import os
ex.metric("intra", os.environ.get("TF_NUM_INTRAOP_THREADS", "unset"))
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_kernel_threads_reach_the_kernels(mini, monkeypatch, jobs) -> None:
    from tests.system.test_faults import add_micro

    add_micro(mini, "alpha", body=THREADS_BODY)
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setenv("NNX_KERNEL_THREADS", "1")
    assert mini.cli("build", "--jobs", jobs) == 0
    assert mini.current("alpha")[1]["metrics"]["intra"] == "1"
    import os

    assert "TF_NUM_INTRAOP_THREADS" not in os.environ  # the build process is left as it was


def test_kernel_threads_reach_dask_kernels(mini, monkeypatch) -> None:
    distributed = need_module("distributed")
    from tests.system.test_faults import add_micro

    add_micro(mini, "alpha", body=THREADS_BODY)
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setenv("NNX_KERNEL_THREADS", "1")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert mini.cli("build", "--executor", f"dask://{cluster.scheduler_address}") == 0
    assert mini.current("alpha")[1]["metrics"]["intra"] == "1"


def test_bad_kernel_threads_is_a_clear_error(mini, monkeypatch, capsys) -> None:
    mini.add("alpha", tiny_recipe("Alpha"))
    monkeypatch.setenv("NNX_KERNEL_THREADS", "lots")
    assert mini.cli("build") == 2
    assert "NNX_KERNEL_THREADS" in capsys.readouterr().err


def test_pool_submits_longest_first(tmp_path) -> None:
    from pipeline.builder.jobs import BuildOptions, Job
    from pipeline.builder.parallel import longest_first
    from pipeline.builder.store import BuildDir

    options = BuildOptions(repo_root=tmp_path, content_root=tmp_path, build_root=tmp_path / "b",
                           data_dir=None, jobs=2)
    bdir = BuildDir(tmp_path / "b")
    bdir.write_state("short", {"last_attempt": {"status": "ran", "seconds": 3.0}})
    bdir.write_state("long", {"last_attempt": {"status": "failed", "seconds": 90.0}})
    bdir.write_state("cached", {"current": "f" * 64,
                                "last_attempt": {"status": "cached", "seconds": 0.0}})
    entry = bdir.entry_dir("cached", "f" * 64)
    entry.mkdir(parents=True)
    (entry / "manifest.json").write_text('{"timings": {"execute": 20.0}}')

    def job(slug: str) -> Job:
        return Job(slug, tmp_path / f"{slug}.recipe.py", f"{slug}.recipe.py", None, {}, "0" * 64,
                   {}, {}, 60, False)

    order = [j.slug for j in longest_first([job(s) for s in ("short", "new", "cached", "long")],
                                           options)]
    assert order == ["new", "long", "cached", "short"]  # never measured counts as longest

    def timed(slug: str, timeout: int) -> Job:
        return Job(slug, tmp_path / f"{slug}.recipe.py", f"{slug}.recipe.py", None, {},
                   "0" * 64, {}, {}, timeout, False)

    fresh = [timed("a", 600), timed("b", 10800), timed("c", 1800)]
    assert [j.slug for j in longest_first(fresh, options)] == ["b", "c", "a"]
