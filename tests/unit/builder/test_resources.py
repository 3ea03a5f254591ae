"""The automatic --jobs and the pinned threads per kernel (pipeline.builder.resources)."""

from __future__ import annotations

import pytest

from pipeline.builder.resources import (
    KERNEL_MEMORY_BYTES,
    Machine,
    auto_jobs,
    machine_jobs,
    pinned_kernel_threads,
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


@pytest.mark.parametrize("jobs", ["1", "2", "auto"])
def test_unset_threads_are_pinned_whatever_the_jobs(mini, monkeypatch, jobs) -> None:
    from tests.system.test_faults import add_micro
    from tests.unit.builder.test_parallel import THREADS_BODY

    add_micro(mini, "alpha", body=THREADS_BODY)
    monkeypatch.delenv("NNX_KERNEL_THREADS", raising=False)
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    assert mini.cli("build", "--jobs", jobs) == 0
    intra = mini.current("alpha")[1]["metrics"]["intra"]
    assert intra == str(pinned_kernel_threads())
