"""Prepare ``.gpu-carry/``: the wheels and data the GPU check needs on a machine without network.

Why: the lent GPU machine has Python 3.12 with JAX (CUDA) and PyTorch but no TensorFlow, no
network and no ``../shared``; one call carries at most 64 MiB of ignored files. This script
(run here, where pip reaches the package registry) downloads the pipeline's runtime wheels for
CPython 3.12 / manylinux x86_64, minus what the GPU machine already has (``--have``), copies the
offline data the recipes read, and packs both into parts of at most ``--part-mib`` each:
``.gpu-carry/part-1``, ``part-2``, ... Each part goes to the machine in one call, which moves it
into ``.gpu-stage/`` (ignored, so it stays while the machine is warm); the last call installs the
wheels into ``.gpu-site/`` and runs ``scripts/gpu_check_device.sh``. The exact calls are written
to ``.gpu-carry/CALLS.txt``. See README, "GPU check".
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CARRY = REPO_ROOT / ".gpu-carry"
MIB = 1024 * 1024

#: What the recipes import at run time (pyproject's dependencies minus the site-building ones),
#: with imageio-ffmpeg pinned to the release whose bundled ffmpeg is 27 MB instead of 68 MB.
REQUIREMENTS = [
    "keras>=3.5,<4", "matplotlib>=3.8,<4", "nbclient>=0.10,<0.12", "nbformat>=5.9,<6",
    "jupytext>=1.16,<2", "ipykernel>=6.29,<8", "imageio>=2.34,<3", "imageio-ffmpeg==0.5.1",
    "rich>=13,<16", "h5py>=3.10,<3.15", "filelock>=3.13,<5", "pillow>=10,<13",
    "scikit-learn>=1.4,<2", "hiplot>=0.1.33,<0.2", "nbconvert>=7.16,<8",
]
#: Already on the lent machine with JAX / PyTorch, or optional at run time (jedi: IPython's
#: completion only).
DEFAULT_HAVE = ["numpy", "scipy", "jax", "jaxlib", "ml-dtypes", "opt-einsum", "torch",
                "jedi", "parso", "setuptools", "sympy", "networkx", "fsspec"]
#: Data files (relative to the datasets folder) the recipes read in the full profile.
DATA = [
    "cifar10/cifar10_exact_subset.npz", "cifar10/yoongikim_train_jpeg", "cifar10/yoongikim_test_jpeg",
    "mnist", "boston_housing", "imagenet_cnn", "images",
]


def project_name(wheel: Path) -> str:
    """Normalised project name of a wheel file (PEP 503)."""
    return re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()


def download_wheels(dest: Path, have: set[str]) -> list[Path]:
    """The runtime closure as CPython 3.12 manylinux wheels, minus projects in ``have``."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version",
           "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64", "--platform",
           "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64", "--platform",
           "manylinux2010_x86_64", "-d", str(dest), *REQUIREMENTS]
    subprocess.run(cmd, check=True)
    keep = []
    for wheel in sorted(dest.glob("*.whl")):
        if project_name(wheel) in have:
            wheel.unlink()
        else:
            keep.append(wheel)
    return keep


def copy_data(source: Path, dest: Path) -> list[Path]:
    """Copy the recipes' data into ``dest`` (same layout as the datasets folder)."""
    files = []
    for rel in DATA:
        src = source / rel
        if not src.exists():
            raise SystemExit(f"{src} is missing: point --data-dir at the offline datasets folder")
        for f in ([src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())):
            target = dest / f.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
            files.append(target)
    return files


def pack(files: list[tuple[Path, Path]], part_bytes: int) -> list[list[tuple[Path, Path]]]:
    """First-fit decreasing: (file, path inside the stage) into parts of at most part_bytes."""
    parts: list[list[tuple[Path, Path]]] = []
    sizes: list[int] = []
    for f, rel in sorted(files, key=lambda item: item[0].stat().st_size, reverse=True):
        size = f.stat().st_size
        if size > part_bytes:
            raise SystemExit(f"{f.name} ({size / MIB:.1f} MiB) is larger than one part")
        for i, used in enumerate(sizes):
            if used + size <= part_bytes:
                parts[i].append((f, rel))
                sizes[i] += size
                break
        else:
            parts.append([(f, rel)])
            sizes.append(size)
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "datasets")
    parser.add_argument("--have", default=",".join(DEFAULT_HAVE),
                        help="projects the GPU machine already has (comma-separated)")
    parser.add_argument("--part-mib", type=float, default=58.0, help="largest part (MiB)")
    parser.add_argument("--backend", default="jax", help="KERAS_BACKEND on the GPU machine")
    args = parser.parse_args(argv)

    if CARRY.exists():
        shutil.rmtree(CARRY)
    staging = REPO_ROOT / "build" / "gpu-carry-staging"
    if staging.exists():
        shutil.rmtree(staging)
    have = {re.sub(r"[-_.]+", "-", h.strip()).lower() for h in args.have.split(",") if h.strip()}
    wheels = download_wheels(staging / "wheels", have)
    data = copy_data(args.data_dir, staging / "data" / "datasets")
    files = [(f, f.relative_to(staging)) for f in [*wheels, *data]]
    parts = pack(files, int(args.part_mib * MIB))
    summary = {"parts": [], "wheels": [w.name for w in wheels], "backend": args.backend}
    for i, part in enumerate(parts, start=1):
        root = CARRY / f"part-{i}"
        for f, rel in part:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(f), root / rel)
        size = sum((root / rel).stat().st_size for _, rel in part)
        summary["parts"].append({"name": root.name, "files": len(part), "mib": round(size / MIB, 1)})
    shutil.rmtree(staging)
    n = len(parts)
    calls = [f"# {n} call(s) of the device tool, in order, while the machine stays warm:"]
    for i in range(1, n + 1):
        stage = f"mkdir -p .gpu-stage && cp -r .gpu-carry/part-{i}/. .gpu-stage/"
        if i < n:
            calls.append(f'run(carry=[".gpu-carry/part-{i}"], command="{stage}")')
        else:
            calls.append(f'run(carry=[".gpu-carry/part-{i}"], timeout_s=600, command="{stage} && '
                         f'KERAS_BACKEND={args.backend} sh scripts/gpu_check_device.sh")')
    (CARRY / "CALLS.txt").write_text("\n".join(calls) + "\n")
    (CARRY / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    total = sum(p["mib"] for p in summary["parts"])
    print(f"{len(wheels)} wheels and {len(data)} data files, {total:.1f} MiB in {n} part(s): "  # noqa: T201
          + ", ".join(f"{p['name']} {p['mib']} MiB" for p in summary["parts"]))
    print("\n".join(calls))  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
