"""The GPU check's parts that run without a GPU: memory sampling, manifests, carry packing."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
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
        deadline = time.monotonic() + 60  # a hang guard, not a timing: wait for the 3rd call
        while int(counter.read_text() or 0) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert int(counter.read_text()) >= 3
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


def _meta(name: str, version: str, *requires: str) -> dict:
    return {"metadata": {"name": name, "version": version, "requires_dist": list(requires)}}


#: A pip installation report in miniature: what the host has, what it lacks, an extra,
#: markers for other platforms and a dependency only a package the host has needs.
FAKE_REPORT = {"install": [
    _meta("keras", "3.9.0", "numpy", "namex", "optree"),
    _meta("namex", "0.1.0"),
    _meta("optree", "0.16.0", "typing-extensions>=4.6"),
    _meta("numpy", "2.2.0"),
    _meta("typing_extensions", "4.14.0"),
    _meta("pandas", "2.3.0", "numpy", 'tzdata>=2022.7'),
    _meta("tzdata", "2025.2"),
    _meta("ipykernel", "6.30.0", "debugpy>=1.6.5", "Comm>=0.1.1",
          'appnope; platform_system == "Darwin"'),
    _meta("debugpy", "1.8.0"),
    _meta("comm", "0.2.2"),
    _meta("appnope", "0.1.4"),
    _meta("nbconvert", "7.16.0", "bleach[css]!=5.0.0", "pandas"),
    _meta("bleach", "6.2.0", "webencodings", 'tinycss2<1.5,>=1.1.0; extra == "css"',
          'html5lib; extra == "html5"'),
    _meta("webencodings", "0.5.1"),
    _meta("tinycss2", "1.4.0", "webencodings>=0.4"),
    _meta("html5lib", "1.1"),
]}


def test_carried_closure_stops_at_what_the_machine_has() -> None:
    pins = prepare_gpu_carry.carried_closure(
        FAKE_REPORT, ["keras>=3", "ipykernel", "nbconvert", 'pywin32; sys_platform == "win32"'],
        have=["NumPy", "typing-extensions", "pandas"], skip=["debugpy"])
    # tzdata: only pandas (the machine's) needs it; appnope: macOS only; html5lib: an extra
    # nobody asked for; debugpy: skipped; tinycss2: asked for through bleach[css].
    assert pins == {"bleach": "6.2.0", "comm": "0.2.2", "ipykernel": "6.30.0", "keras": "3.9.0",
                    "namex": "0.1.0", "nbconvert": "7.16.0", "optree": "0.16.0",
                    "tinycss2": "1.4.0", "webencodings": "0.5.1"}


def test_carried_closure_names_a_package_missing_from_the_report() -> None:
    with pytest.raises(SystemExit, match="no hiplot"):
        prepare_gpu_carry.carried_closure(FAKE_REPORT, ["hiplot"], have=[])


def test_default_have_lists_the_machine_s_packages_once() -> None:
    have = [prepare_gpu_carry.normalise(h) for h in prepare_gpu_carry.DEFAULT_HAVE]
    assert len(have) == len(set(have))
    assert {"numpy", "jax", "torch", "matplotlib", "scikit-learn", "imageio"} <= set(have)
    # What the recipes need and the machine lacks must not be taken for present.
    assert not {"keras", "nbclient", "jupytext", "ipykernel", "imageio-ffmpeg"} & set(have)


def test_size_check_names_every_part_when_over_the_limit() -> None:
    mib = prepare_gpu_carry.MIB
    sizes = {"working tree": 2 * mib, "wheels": 10 * mib, "ffmpeg": 2 * mib, "data": 40 * mib}
    assert prepare_gpu_carry.check_size(sizes, limit_mib=64) == pytest.approx(54)
    assert prepare_gpu_carry.check_size({**sizes, "data": 4000 * mib}) > 64  # no limit by default
    with pytest.raises(SystemExit) as over:
        prepare_gpu_carry.check_size({**sizes, "data": 51 * mib}, limit_mib=64)
    message = str(over.value)
    assert "65.0 MiB" in message and "data 51.0 MiB" in message and "wheels 10.0 MiB" in message


def _fake_pip(calls: list[list[str]], versions: dict[str, list[str]]):
    """A stand-in for subprocess.run that writes empty wheels where pip would."""
    def run(cmd, check=False, **kwargs):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-w" if "wheel" in cmd else "-d") + 1])
        for spec in cmd[cmd.index(dest.as_posix()) + 1:]:
            name, version = spec.split("==")
            for v in versions.get(name, [version]):
                (dest / f"{name.replace('-', '_')}-{v}-py3-none-any.whl").write_bytes(b"w" * 100)
    return run


def test_download_fetches_each_pin_once_and_ffmpeg_without_its_binary(monkeypatch, tmp_path) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(prepare_gpu_carry.subprocess, "run", _fake_pip(calls, {}))
    pins = {"imageio-ffmpeg": "0.5.1", "keras": "3.9.0", "namex": "0.1.0"}
    wheels = prepare_gpu_carry.download_wheels(pins, tmp_path / "w")
    assert [prepare_gpu_carry.project_name(w) for w in wheels] == ["imageio-ffmpeg", "keras", "namex"]
    download, build = calls
    assert "--no-deps" in download and "keras==3.9.0" in download and "3.12" in download
    assert not any("imageio" in a for a in download)  # the manylinux wheel holds a 70 MB ffmpeg
    assert build[3] == "wheel" and "--no-binary" in build and build[-1] == "imageio-ffmpeg==0.5.1"

    monkeypatch.setattr(prepare_gpu_carry.subprocess, "run",
                        _fake_pip(calls, {"namex": ["0.1.0", "0.2.0"]}))
    with pytest.raises(SystemExit, match="two versions of namex"):
        prepare_gpu_carry.download_wheels({"namex": "0.1.0"}, tmp_path / "w2")


def test_prepare_writes_one_folder_and_one_script_or_fails_with_the_sizes(monkeypatch, tmp_path
                                                                         ) -> None:
    monkeypatch.setattr(prepare_gpu_carry, "CARRY", tmp_path / ".gpu-carry")
    monkeypatch.setattr(prepare_gpu_carry, "WORK", tmp_path / "work")
    monkeypatch.setattr(prepare_gpu_carry, "resolve", lambda reqs, work: FAKE_REPORT)
    monkeypatch.setattr(prepare_gpu_carry, "REQUIREMENTS", ["keras", "nbconvert"])
    monkeypatch.setattr(prepare_gpu_carry, "tree_bytes", lambda repo: 1000)
    monkeypatch.setattr(prepare_gpu_carry, "tree_files",
                        lambda repo: ["scripts/gpu_check_device.sh", "pipeline/__init__.py"])
    monkeypatch.setattr(prepare_gpu_carry.subprocess, "run", _fake_pip([], {}))
    data = tmp_path / "datasets"
    for rel in prepare_gpu_carry.DATA:
        f = data / rel if rel.endswith(".npz") else data / rel / "x.bin"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"d" * 1000)
    ffmpeg = tmp_path / "ffmpeg-static"
    ffmpeg.write_bytes(b"f" * 3000)
    args = ["--data-dir", str(data), "--ffmpeg", str(ffmpeg), "--have", "numpy,pandas"]

    assert prepare_gpu_carry.main(args) == 0
    carry = tmp_path / ".gpu-carry"
    commands = [line for line in (carry / "RUN.txt").read_text().splitlines()
                if not line.startswith("#")]
    assert commands == ["sh .gpu-carry/run.sh"]
    run_sh = (carry / "run.sh").read_text()
    assert 'KERAS_BACKEND="${KERAS_BACKEND:-jax}"' in run_sh and "GPU_CHECK_BUDGET_S:-420" in run_sh
    assert 'cd "$carry/src"' in run_sh and 'OUT="${OUT:-$carry/out}"' in run_sh
    # the tree travels inside the one folder: the script run.sh starts is there
    assert (carry / "src" / "scripts" / "gpu_check_device.sh").read_bytes() == (
        Path(prepare_gpu_carry.REPO_ROOT) / "scripts" / "gpu_check_device.sh").read_bytes()
    summary = json.loads((carry / "summary.json").read_text())
    assert len(summary["wheels"]) == 8 and summary["data_files"] == len(prepare_gpu_carry.DATA)
    assert (carry / "ffmpeg" / "ffmpeg").stat().st_size == 3000
    assert (carry / "data" / "datasets" / "mnist" / "x.bin").is_file()

    with pytest.raises(SystemExit, match=r"data 0\.0 MiB"):
        prepare_gpu_carry.main([*args, "--limit-mib", "0.005"])
    assert not (carry / "run.sh").exists()


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


def test_device_script_uses_the_carried_ffmpeg_and_keeps_the_exit_status(tmp_path) -> None:
    """gpu_check_device.sh with stand-ins for python3 and ffmpeg: what it runs, logs and returns."""
    carry = tmp_path / "carry"
    (carry / "wheels").mkdir(parents=True)
    (carry / "wheels" / "x-1-py3-none-any.whl").write_bytes(b"")
    (carry / "ffmpeg").mkdir()
    (carry / "ffmpeg" / "ffmpeg").write_text("#!/bin/sh\necho ' V....D libx264 H.264'\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    # pip and doctor succeed; imageio_ffmpeg's lookup answers IMAGEIO_FFMPEG_EXE; the check fails (3).
    (bin_dir / "python3").write_text(f"""#!/bin/sh
echo "$*" >> {calls}
case "$*" in
  *benchmarks.gpu_check*) echo "checking with IMAGEIO_FFMPEG_EXE=$IMAGEIO_FFMPEG_EXE"; exit 3;;
  -c*) echo "$IMAGEIO_FFMPEG_EXE";;
esac
""")
    (bin_dir / "python3").chmod(0o755)
    out = tmp_path / "out"
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "GPU_CARRY": str(carry),
           "GPU_SITE": str(tmp_path / "site"), "OUT": str(out)}
    proc = subprocess.run(["sh", str(ROOT / "scripts" / "gpu_check_device.sh"), "--only", "alpha"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 3, proc.stderr
    assert f"ffmpeg: the carried minimal build, {carry}/ffmpeg/ffmpeg" in proc.stderr
    assert "no libx264" not in proc.stderr
    log = (out / "gpu_check.log").read_text()
    assert f"IMAGEIO_FFMPEG_EXE={carry}/ffmpeg/ffmpeg" in log
    ran = calls.read_text().splitlines()
    assert ran[0].startswith("-m pip install") and "--no-index" in ran[0] and "--target" in ran[0]
    check = ran[-1]
    assert check.startswith("-m benchmarks.gpu_check") and check.endswith("--budget-s 420 --only alpha")
    assert f"--out {out}/gpu_check.json" in check


def test_run_sh_runs_the_check_from_the_carried_tree_and_leaves_one_file(tmp_path) -> None:
    """.gpu-carry/run.sh, as prepare_gpu_carry.py writes it, run from anywhere: the device
    script of the carried tree, the carried data, and the result in .gpu-carry/out/."""
    carry = tmp_path / "elsewhere" / ".gpu-carry"
    (carry / "src" / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "gpu_check_device.sh", carry / "src" / "scripts")
    (carry / "wheels").mkdir()
    (carry / "wheels" / "x-1-py3-none-any.whl").write_bytes(b"")
    (carry / "run.sh").write_text(prepare_gpu_carry.RUN_SCRIPT.format(backend="jax", budget=420))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    (bin_dir / "python3").write_text(f"""#!/bin/sh
echo "$PWD|$KERAS_BACKEND|$NNX_DATA_DIR|$*" >> {calls}
case "$*" in *benchmarks.gpu_check*) echo '{{}}' > "$OUT/gpu_check.json";; esac
""")
    (bin_dir / "python3").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
           "GPU_SITE": str(tmp_path / "site")}
    proc = subprocess.run(["sh", str(carry / "run.sh"), "--only", "alpha"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    check = calls.read_text().splitlines()[-1]
    workdir, backend, data, args = check.split("|")
    assert workdir == str(carry / "src") and backend == "jax"
    assert data == str(carry / "data" / "datasets")
    assert args.endswith("--budget-s 420 --only alpha")
    assert (carry / "out" / "gpu_check.json").is_file() and (carry / "out" / "gpu_check.log").is_file()


def test_device_script_says_what_to_do_without_a_carry(tmp_path) -> None:
    proc = subprocess.run(["sh", str(ROOT / "scripts" / "gpu_check_device.sh")], cwd=ROOT,
                          env={"PATH": os.environ["PATH"], "GPU_CARRY": str(tmp_path / "none"),
                               "OUT": str(tmp_path / "out")},
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "run scripts/prepare_gpu_carry.py" in proc.stderr
