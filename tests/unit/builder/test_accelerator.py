"""GPU selection: nvidia-smi absent, present (a fake executable on PATH), failing; the override."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pipeline.builder import accelerator


def _fake_smi(folder: Path, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    exe = folder / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return folder


@pytest.fixture
def no_smi(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("NNX_ACCELERATOR", raising=False)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)


def test_no_nvidia_smi_means_the_cpu_build(no_smi):
    choice = accelerator.choose()
    assert (choice.backend, choice.accelerator, choice.extra) == ("tensorflow", "cpu", "cpu")
    assert "not on PATH" in choice.reason


def test_a_gpu_listed_by_nvidia_smi_means_the_gpu_build(monkeypatch, tmp_path, no_smi):
    folder = _fake_smi(tmp_path / "bin", 'echo "NVIDIA H200, 143771"')
    monkeypatch.setenv("PATH", str(folder))
    choice = accelerator.choose()
    assert choice.accelerator == "gpu" and choice.extra == "gpu"
    assert choice.gpus == [accelerator.GPU("NVIDIA H200", 143771)]
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert accelerator.choose().extra == "jax-gpu"


def test_a_failing_nvidia_smi_means_the_cpu_build(monkeypatch, tmp_path, no_smi):
    folder = _fake_smi(tmp_path / "bin", 'echo "NVIDIA-SMI has failed: no driver" >&2; exit 9')
    monkeypatch.setenv("PATH", str(folder))
    choice = accelerator.choose()
    assert choice.accelerator == "cpu" and "exited with 9" in choice.reason and "no driver" in choice.reason


def test_the_variable_overrides_detection(monkeypatch, tmp_path, no_smi):
    monkeypatch.setenv("NNX_ACCELERATOR", "gpu")
    assert accelerator.choose().extra == "gpu"  # asked for although no GPU is visible
    folder = _fake_smi(tmp_path / "bin", 'echo "NVIDIA H200, 143771"')
    monkeypatch.setenv("PATH", str(folder) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("NNX_ACCELERATOR", "cpu")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert accelerator.choose().extra == "jax"


def test_bad_values_are_refused(monkeypatch, no_smi):
    monkeypatch.setenv("NNX_ACCELERATOR", "tpu")
    with pytest.raises(ValueError, match="NNX_ACCELERATOR='tpu'"):
        accelerator.choose()
    monkeypatch.setenv("NNX_ACCELERATOR", "cpu")
    monkeypatch.setenv("KERAS_BACKEND", "mxnet")
    with pytest.raises(ValueError, match="KERAS_BACKEND='mxnet'"):
        accelerator.choose()
