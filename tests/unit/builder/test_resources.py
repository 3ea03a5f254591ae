"""The automatic --jobs and the pinned threads per kernel (pipeline.builder.resources)."""

from __future__ import annotations

import pytest

from pipeline.builder.resources import (
    KERNEL_MEMORY_BYTES,
    Machine,
    auto_jobs,
    heavy_job,
    machine_jobs,
    pinned_kernel_threads,
    plan_threads,
    visible_gpus,
)

GB = 1024**3


def test_jobs_follow_cores_memory_gpus_and_recipes() -> None:
    assert auto_jobs(7, Machine(2, 20 * GB, 0)) == 2
    assert auto_jobs(12, Machine(16, 64 * GB, 0)) == 8  # capped
    assert auto_jobs(1, Machine(16, 64 * GB, 0)) == 1  # no idle workers
    assert auto_jobs(7, Machine(8, 3 * KERNEL_MEMORY_BYTES, 0)) == 3  # memory bound
    assert auto_jobs(7, Machine(8, KERNEL_MEMORY_BYTES // 2, 0)) == 1
    assert auto_jobs(7, Machine(16, 64 * GB, 1)) == 1  # one kernel per GPU
    assert auto_jobs(7, Machine(16, 64 * GB, 2)) == 2
    assert auto_jobs(7, Machine(4, None, 0)) == 4  # memory unknown


def test_threads_depend_on_the_machine_only() -> None:
    # memory (which changes minute to minute) never changes the threads, nor does --jobs
    assert pinned_kernel_threads(Machine(2, 20 * GB, 0)) == 1
    assert pinned_kernel_threads(Machine(2, 1 * GB, 0)) == 1
    assert pinned_kernel_threads(Machine(16, 64 * GB, 0)) == 2
    assert pinned_kernel_threads(Machine(16, 64 * GB, 1)) == 16  # one GPU kernel: all cores
    assert machine_jobs(Machine(2, None, 0)) == 2


def test_visible_gpus_respects_cuda_visible_devices(monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert visible_gpus() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert visible_gpus() == 0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == 0


def test_jobs_auto_is_accepted_and_bad_jobs_rejected(mini, capsys) -> None:
    from tests.conftest import tiny_recipe

    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build", "--jobs", "auto") == 0
    assert mini.cli("build", "--jobs", "0") == 2
    try:
        mini.cli("build", "--jobs", "many")
    except SystemExit as exc:
        assert exc.code == 2
    assert "'many'" in capsys.readouterr().err


def test_threads_share_the_cores_among_the_recipes_running() -> None:
    # one recipe on two cores gets both; seven recipes on two workers one each
    assert plan_threads({"a": 10.0}, jobs=1, value="", cores=2) == {"a": 2}
    even = {s: 10.0 for s in "abcdefg"}
    assert set(plan_threads(even, jobs=2, value="", cores=2).values()) == {1}
    # two recipes on 16 cores: eight threads each; more recipes than workers: cores // jobs
    assert plan_threads({"a": 1.0, "b": 1.0}, jobs=8, value="", cores=16) == {"a": 8, "b": 8}
    assert set(plan_threads(even, jobs=4, value="", cores=16).values()) == {4}


def test_a_recipe_that_runs_alone_most_of_the_time_gets_every_core() -> None:
    # the CIFAR-10 full profile (about 2,800 s) beside six recipes of about 380 s together
    full = {"cifar": 2800.0, "a": 100.0, "b": 130.0, "c": 50.0, "d": 44.0, "e": 40.0, "f": 15.0}
    plan = plan_threads(full, jobs=2, value="", cores=2)
    assert plan["cifar"] == 2 and {plan[s] for s in "abcdef"} == {1}
    assert heavy_job(full, 2) == "cifar"
    # the quick profile: CIFAR 70 s against 180 s of others is balanced by the pool
    quick = {"cifar": 70.0, "a": 40.0, "b": 35.0, "c": 32.0, "d": 26.0, "e": 34.0, "f": 11.0}
    assert heavy_job(quick, 2) is None
    assert set(plan_threads(quick, jobs=2, value="", cores=2).values()) == {1}
    # with more workers the others finish sooner, so less is needed to count as alone
    assert heavy_job({"x": 100.0, "y": 60.0, "z": 60.0}, 2) is None
    assert heavy_job({"x": 100.0, "y": 60.0, "z": 60.0}, 3) == "x"
    assert heavy_job({"x": 100.0}, 2) is None and heavy_job(full, 1) is None


def test_an_explicit_setting_wins_over_the_plan() -> None:
    jobs = {"cifar": 2800.0, "a": 100.0}
    assert plan_threads(jobs, jobs=2, value="3", cores=2) == {"cifar": 3, "a": 3}
    assert plan_threads(jobs, jobs=2, value="auto", cores=8) == {"cifar": 4, "a": 4}
    assert plan_threads(jobs, jobs=2, value="default", cores=2) == {"cifar": None, "a": None}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_build_of_one_recipe_gives_it_every_core(mini, monkeypatch, jobs) -> None:
    from pipeline.library.cores import usable_cores
    from tests.system.test_faults import add_micro
    from tests.unit.builder.test_parallel import THREADS_BODY

    add_micro(mini, "alpha", body=THREADS_BODY)
    monkeypatch.delenv("NNX_KERNEL_THREADS", raising=False)
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    assert mini.cli("build", "--jobs", jobs) == 0
    manifest = mini.current("alpha")[1]
    assert manifest["metrics"]["intra"] == str(usable_cores())
    # the count is part of the key, as something the run used
    assert manifest["deps"]["threads"] == str(usable_cores())


def test_a_result_is_found_whatever_thread_count_a_new_schedule_picks(mini, monkeypatch) -> None:
    from tests.system.test_faults import add_micro
    from tests.unit.builder.test_parallel import THREADS_BODY

    add_micro(mini, "alpha", body=THREADS_BODY)
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setenv("NNX_KERNEL_THREADS", "3")
    assert mini.cli("build") == 0
    key3 = mini.current("alpha")[1]["key"]
    assert mini.current("alpha")[1]["deps"]["threads"] == "3"
    monkeypatch.setenv("NNX_KERNEL_THREADS", "1")
    assert mini.cli("build") == 0  # cached: the key covers what the stored run used
    assert mini.current("alpha")[1]["key"] == key3
    assert mini.cli("build", "--force") == 0  # recomputed with today's count: another key
    manifest = mini.current("alpha")[1]
    assert manifest["deps"]["threads"] == "1" and manifest["key"] != key3
