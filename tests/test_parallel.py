"""Parallel and distributed runners give the same results as the in-process one."""

from __future__ import annotations

import pytest

from tests.conftest import tiny_recipe


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
    distributed = pytest.importorskip("distributed")
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
    pytest.importorskip("distributed")
    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build", "--executor", "dask://127.0.0.1:9") == 2
    assert "cannot reach the dask scheduler" in " ".join(capsys.readouterr().err.split())


def test_unknown_executor(mini, capsys) -> None:
    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build", "--executor", "ray://x") == 2
    assert "unknown executor" in capsys.readouterr().err
