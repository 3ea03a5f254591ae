"""``python -m pipeline doctor``: facts and problems, each problem with its fix."""

from __future__ import annotations

import importlib.util
import stat

import pytest

from pipeline.builder import doctor
from pipeline.builder.cli import main
from tests.conftest import SHARED_DATA


@pytest.fixture
def fake_gpu(monkeypatch, tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    exe = folder / "nvidia-smi"
    exe.write_text('#!/bin/sh\necho "NVIDIA H200, 143771"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv("NNX_ACCELERATOR", raising=False)


def test_a_gpu_the_backend_cannot_see_is_a_problem_with_its_fix(fake_gpu, monkeypatch, tmp_path):
    from pipeline.library import precision

    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    (tmp_path / "cpuinfo").write_text("processor : 0\nflags : avx2 fma\n")  # no bfloat16 units
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "cpuinfo")
    report = doctor.diagnose(SHARED_DATA)
    assert report.facts["gpus"] == [{"name": "NVIDIA H200", "memory_mib": 143771}]
    assert report.facts["install_extra"] == "gpu"
    assert report.facts["backend_sees_gpus"] == []  # tensorflow-cpu here
    [problem] = [p for p in report.problems if "does not see a GPU" in p["problem"]]
    assert "NNX_ACCELERATOR=gpu" in problem["fix"]
    # an invisible GPU gets no float16; this fake CPU has no bfloat16 units either
    assert report.facts["mixed_precision"].startswith("off (float32: no GPU")


def test_missing_backend_and_data_are_problems(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    real = importlib.util.find_spec
    monkeypatch.setattr(doctor.importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    report = doctor.diagnose(tmp_path / "nowhere", import_backend=False)
    text = doctor.format_report(report)
    assert "KERAS_BACKEND=torch but torch is not installed" in text
    assert "fix: pip install -e '.[torch]'" in text
    assert "no offline data folder" in text and "NNX_DATA_DIR" in text


@pytest.mark.needs_data("cifar10", "yoongikim_train_jpeg")
def test_cli_reports_and_sets_the_exit_status(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    rc = main(["doctor", "--data-dir", str(SHARED_DATA)])
    out = capsys.readouterr().out
    assert "keras_backend        tensorflow" in out and "nvidia-smi is not on PATH" in out
    assert "cifar10 (50,000 training JPEGs, full profile): yes" in out
    assert rc == (1 if "PROBLEM" in out else 0)
    rc = main(["doctor", "--data-dir", str(tmp_path / "missing"), "--json"])
    assert rc == 1 and '"problem": "no offline data folder' in capsys.readouterr().out


@pytest.mark.parametrize(("onednn", "expected"), [("1", "on for recipes"),
                                                 (None, "on for recipes"), ("0", "off")])
def test_mixed_precision_fact_follows_the_cpu_and_onednn(monkeypatch, tmp_path, onednn, expected):
    """bfloat16 on a CPU with bfloat16 units only with oneDNN, which kernels have on by default."""
    from pipeline.library import precision

    (tmp_path / "cpuinfo").write_text("processor : 0\nflags : avx512f avx512_bf16 amx_bf16\n")
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "cpuinfo")
    if onednn is None:
        monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    else:
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", onednn)
    fact = doctor._mixed_precision_fact(False, "tensorflow")
    assert fact.startswith(expected) and "amx_bf16" in fact
    assert "bfloat16 compute" in fact if expected != "off" else "TF_ENABLE_ONEDNN_OPTS" in fact
    assert doctor._mixed_precision_fact(False, "jax").startswith("off")
    assert "float16 compute" in doctor._mixed_precision_fact(True, "tensorflow")
