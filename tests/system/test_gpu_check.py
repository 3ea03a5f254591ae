"""The GPU check's parts that run without a GPU: memory sampling, manifests, carry packing."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from benchmarks import gpu_check

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import prepare_gpu_carry  # noqa: E402


def test_peak_gpu_memory_from_a_fake_nvidia_smi(monkeypatch, tmp_path) -> None:
    counter = tmp_path / "n"
    counter.write_text("0")
    exe = tmp_path / "nvidia-smi"
    # Reports 100, 300, 200, 200, ... MiB on successive calls (two GPUs: summed).
    exe.write_text(f"""#!/bin/sh
n=$(cat {counter}); echo $((n+1)) > {counter}
case $n in 0) echo "50"; echo "50";; 1) echo "300"; echo "0";; *) echo "200"; echo "0";; esac
""")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    import time

    with gpu_check.GpuMemorySampler(interval_s=0.05) as sampler:
        time.sleep(0.5)
    assert sampler.peak == 300


def test_no_nvidia_smi_means_no_memory_figure(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with gpu_check.GpuMemorySampler(interval_s=0.05) as sampler:
        pass
    assert sampler.peak is None


def test_latest_manifest_is_the_newest_entry(tmp_path) -> None:
    for i, key in enumerate(("old", "new")):
        d = tmp_path / "store" / "alpha" / key
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(json.dumps({"key": key}))
        os.utime(d / "manifest.json", (1000 + i, 1000 + i))
    assert gpu_check.latest_manifest(tmp_path, "alpha") == {"key": "new"}
    assert gpu_check.latest_manifest(tmp_path, "beta") is None


def test_carry_parts_stay_under_the_limit(tmp_path) -> None:
    files = []
    for i, size in enumerate([50, 30, 30, 20, 5, 1]):
        f = tmp_path / f"f{i}.whl"
        f.write_bytes(b"x" * size)
        files.append((f, Path("wheels") / f.name))
    parts = prepare_gpu_carry.pack(files, part_bytes=60)
    assert all(
        sum(f.stat().st_size for f, _ in p) <= 60 for p in parts)
    assert sum(len(p) for p in parts) == len(files) and len(parts) == 3  # 136 bytes / 60
    big = tmp_path / "big.whl"
    big.write_bytes(b"x" * 61)
    with pytest.raises(SystemExit, match="larger than one part"):
        prepare_gpu_carry.pack([(big, Path("big.whl"))], part_bytes=60)
    assert prepare_gpu_carry.project_name(Path("Imageio_FFmpeg-0.5.1-py3-none-x.whl")) == "imageio-ffmpeg"


@pytest.mark.slow
def test_tiny_check_on_this_machine(tmp_path) -> None:
    """One small recipe, quick profile, and the GPU/CPU comparison (both on the CPU here)."""
    out = tmp_path / "check.json"
    rc = gpu_check.main(["--profile", "quick", "--only", "training-at-a-glance", "--compare",
                         "training-at-a-glance", "--build-dir", str(tmp_path / "b"),
                         "--out", str(out)])
    report = json.loads(out.read_text())
    run = report["recipes"]["training-at-a-glance"]
    assert rc == 0 and run["status"] == "ok", run.get("error_tail")
    assert run["seconds"] > 0 and run["metrics"]["moons_val_accuracy"] > 0.8
    assert report["backend"] == run["backend"] == os.environ.get("KERAS_BACKEND", "tensorflow")
    assert report["compare"]["speedup_wall"] > 0
