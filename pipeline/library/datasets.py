"""Offline-first data loaders for the recipes.

Why this module exists: the explainers must build on machines with no internet, and the page must
say exactly which data a model saw. Every loader therefore

* tries the places a dataset can come from in a fixed, documented order (``source="auto"``):
  the verified copy in the data directory (``../shared/datasets``; provenance and checks in its
  README), then Keras's own cache file, then the real Keras download (for users with internet),
  then a copy shipped inside a Python package (mlxtend, scikit-image);
* returns a :class:`DataSource` next to the arrays, with a sentence for the page that names the
  origin, the split and the sizes, and says when only a subset of the real dataset is used;
* raises :class:`pipeline.library.errors.DatasetUnavailable` listing every place it looked (never a deep
  Keras/urllib traceback) when nothing works, and :class:`DatasetCorrupt` naming the file when an
  offline copy is damaged (a damaged copy is never skipped silently: the page would lie).

The verified copies are read by our own code (IDX parsing, the npz, Pillow for JPEG/PNG) instead
of being placed in ``~/.keras/datasets``, because Keras re-downloads any cached file whose hash
differs from its own archive, and none of the verified files is byte-identical to those archives.
The split code is Keras's own, so the arrays equal what ``keras.datasets.X.load_data()`` returns.

Environment variables:

* ``NNX_DATA_DIR``: the data directory used when a loader gets ``data_dir=None``.
* ``NNX_OFFLINE=1``: never try a download (tests and offline builds set it, so a missing file
  fails in milliseconds rather than after a network timeout).
* ``NNX_DOWNLOAD_TIMEOUT``: seconds the network probe before a Keras download may take (5).

Importing this module does not import TensorFlow/Keras, scikit-learn, scikit-image or mlxtend:
the build tool imports it to compute cache keys (:func:`dataset_files`).
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import io
import logging
import os
import pickle
import re
import socket
import struct
import sys
import tempfile
import threading
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from pipeline.library import atomic
from pipeline.library.errors import ConfigError, DatasetCorrupt, DatasetUnavailable, PipelineError
from pipeline.library.files import sha256_file
from pipeline.library.suggest import did_you_mean

log = logging.getLogger(__name__)

T = TypeVar("T")
ArrayPair = tuple[np.ndarray, np.ndarray]

#: Where a DataSource's data came from (shown on the page).
Origin = Literal["verified-copy", "keras-cache", "keras-download", "package-copy", "generated"]
ORIGINS: tuple[str, ...] = (
    "verified-copy",
    "keras-cache",
    "keras-download",
    "package-copy",
    "generated",
)
#: Values of every loader's ``source`` argument.
SOURCES: tuple[str, ...] = ("auto", "verified", "keras", "package")

#: CIFAR-10 class names in label order (label 0 is airplane).
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

DATA_DIR_ENV = "NNX_DATA_DIR"
OFFLINE_ENV = "NNX_OFFLINE"
DOWNLOAD_TIMEOUT_ENV = "NNX_DOWNLOAD_TIMEOUT"

_KERAS_DATASETS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_MOBILENET_FILE = "mobilenet_2_5_128_tf.h5"
_MOBILENET_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/" + _MOBILENET_FILE
)
_VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
_VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
# SHA-256 of Keras's own archives (from keras/src/datasets/*.py). Only used to annotate the page:
# a cached file that differs is still real data if it loads with the right shapes.
_KERAS_SHA256 = {
    "boston_housing.npz": "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
    "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
}
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_MNIST_TRAIN_PARTS = "train-images-idx3-ubyte.gz.part-*"
_CIFAR_JPEG_DIR = "cifar10/yoongikim_test_jpeg"
_CIFAR_EXACT = "cifar10/cifar10_exact_subset.npz"
_STAGE_LABELS = {
    "verified": "verified copy",
    "keras-cache": "Keras cache",
    "keras-download": "Keras download",
    "package": "package copy",
}
_DEFAULT_AUTO_ORDER = ("verified", "keras-cache", "keras-download", "package")


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSource:
    """Which data a recipe used, in words for the page and in fields for the manifest.

    ``subset`` is True whenever fewer examples than the real dataset are used (a verified
    subset, a package's sample, or a ``limit_*`` argument), so the page can say so.
    """

    dataset: str
    origin: str
    location: str
    description: str
    n_train: int | None
    n_test: int | None
    subset: bool
    note: str = ""

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"DataSource.origin must be one of {ORIGINS}, got {self.origin!r}")
        # numpy integers are not JSON-able: normalise so to_dict() always is.
        for name in ("n_train", "n_test"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, int(value))
        object.__setattr__(self, "subset", bool(self.subset))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (for outputs.json / the manifest)."""
        return asdict(self)


@dataclass(frozen=True)
class DatasetSpec:
    """How one dataset name is provided.

    ``verified``, ``keras_cache`` and ``package_files`` are lists of alternatives; each
    alternative is a tuple of glob patterns that are read together (relative to the data
    directory, the Keras home directory, or the installed package). The first alternative whose
    every pattern matches is the one the loader reads; :func:`dataset_files` reports it for the
    build's cache key.
    """

    name: str
    title: str
    loader: str
    how_to_fix: str
    verified: tuple[tuple[str, ...], ...] = ()
    keras_cache: tuple[tuple[str, ...], ...] = ()
    keras_url: str = ""
    package_files: tuple[tuple[str, str], ...] = ()  # (import name, path inside the package)
    package_call: str = ""
    auto_order: tuple[str, ...] = _DEFAULT_AUTO_ORDER
    generated: bool = False
    #: distribution whose code makes or ships the data (its version goes into the cache key)
    provider: str = ""


_FIX_DATA_DIR = (
    f"pass data_dir=... or set {DATA_DIR_ENV} to the folder described in "
    "../shared/datasets/README.md"
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="boston_housing",
            title="Boston Housing",
            loader="load_boston_housing",
            verified=(
                ("boston_housing/boston_housing.npz",),
                ("boston_housing/boston_housing_mlxtend.csv",),
                ("boston_housing/boston_house_prices.csv",),
            ),
            keras_cache=(("datasets/boston_housing.npz",),),
            keras_url=_KERAS_DATASETS_URL + "boston_housing.npz",
            package_files=(("mlxtend", "data/data/boston_housing.csv"),),
            package_call="mlxtend.data.boston_housing_data()",
            how_to_fix=(
                f"put boston_housing/boston_housing.npz in the data directory ({_FIX_DATA_DIR}), "
                f"or `pip install mlxtend`, or allow the Keras download (unset {OFFLINE_ENV} "
                "and connect to the internet)."
            ),
        ),
        DatasetSpec(
            name="mnist",
            title="MNIST",
            loader="load_mnist",
            verified=(
                (
                    "mnist/" + _MNIST_TRAIN_PARTS,
                    "mnist/train-labels-idx1-ubyte.gz",
                    "mnist/t10k-images-idx3-ubyte.gz",
                    "mnist/t10k-labels-idx1-ubyte.gz",
                ),
                (
                    "mnist/train-images-idx3-ubyte.gz",
                    "mnist/train-labels-idx1-ubyte.gz",
                    "mnist/t10k-images-idx3-ubyte.gz",
                    "mnist/t10k-labels-idx1-ubyte.gz",
                ),
            ),
            keras_cache=(("datasets/mnist.npz",),),
            keras_url=_KERAS_DATASETS_URL + "mnist.npz",
            package_files=(("mlxtend", "data/data/mnist_5k.csv.gz"),),
            package_call="mlxtend.data.mnist_data()",
            how_to_fix=(
                f"put the four MNIST IDX .gz files in <data dir>/mnist/ ({_FIX_DATA_DIR}), or "
                f"`pip install mlxtend` (5,000 digits only), or allow the Keras download (unset "
                f"{OFFLINE_ENV} and connect to the internet)."
            ),
        ),
        DatasetSpec(
            name="cifar10",
            title="CIFAR-10",
            loader="load_cifar10",
            verified=(
                (_CIFAR_EXACT, _CIFAR_JPEG_DIR + "/*.zip"),
                (_CIFAR_EXACT,),
                (_CIFAR_JPEG_DIR + "/*.zip",),
            ),
            keras_cache=(
                (
                    "datasets/cifar-10-batches-py-target/cifar-10-batches-py/data_batch_*",
                    "datasets/cifar-10-batches-py-target/cifar-10-batches-py/test_batch",
                ),
                (
                    "datasets/cifar-10-batches-py/data_batch_*",
                    "datasets/cifar-10-batches-py/test_batch",
                ),
            ),
            keras_url=_CIFAR10_URL,
            how_to_fix=(
                f"put {_CIFAR_EXACT} (and {_CIFAR_JPEG_DIR}/*.zip for more images) in the data "
                f"directory ({_FIX_DATA_DIR}), or allow the Keras download (unset {OFFLINE_ENV} "
                "and connect to the internet; 170 MB)."
            ),
        ),
        DatasetSpec(
            name="imagenet_mobilenet",
            title="MobileNet v1 (alpha 0.25, 128 px) ImageNet weights",
            loader="install_mobilenet_weights",
            verified=(("imagenet_cnn/" + _MOBILENET_FILE,),),
            keras_cache=(("models/" + _MOBILENET_FILE,),),
            keras_url=_MOBILENET_URL,
            # Keras loads whatever valid file its cache holds, so that is checked (and reported)
            # first; the verified copy is installed only when the cache lacks one.
            auto_order=("keras-cache", "verified", "keras-download", "package"),
            how_to_fix=(
                f"put imagenet_cnn/{_MOBILENET_FILE} in the data directory ({_FIX_DATA_DIR}), or "
                f"copy it to $KERAS_HOME/models/ (default ~/.keras/models/), or allow the Keras "
                f"download (unset {OFFLINE_ENV} and connect to the internet)."
            ),
        ),
        DatasetSpec(
            name="cat_photo",
            title="Chelsea the cat (scikit-image)",
            loader="load_cat_photo",
            verified=(("images/chelsea.png",),),
            package_files=(("skimage", "data/chelsea.png"),),
            package_call="skimage.data.chelsea()",
            auto_order=("package", "verified"),
            how_to_fix=(
                "`pip install scikit-image` (chelsea ships inside the wheel), or put "
                f"images/chelsea.png in the data directory ({_FIX_DATA_DIR})."
            ),
        ),
        DatasetSpec(
            name="imagenet_samples",
            title="ImageNet sample photos (foolbox)",
            loader="load_imagenet_samples",
            verified=(("images/foolbox_imagenet_samples/imagenet_*.jpg",),),
            how_to_fix=(
                "put the foolbox sample photos in images/foolbox_imagenet_samples/ in the data "
                f"directory ({_FIX_DATA_DIR})."
            ),
        ),
        DatasetSpec(
            name="moons",
            title="Two moons (scikit-learn)",
            loader="load_moons",
            generated=True,
            provider="scikit-learn",
            auto_order=(),
            how_to_fix="`pip install scikit-learn`.",
        ),
    )
}


# --------------------------------------------------------------------------------------------
# Places: data directory, Keras home, packages
# --------------------------------------------------------------------------------------------


def _repo_root() -> Path:
    """The checkout root: the parent of the ``pipeline`` package's directory."""
    return Path(__file__).resolve().parents[2]


def default_data_dir() -> Path | None:
    """The data directory used when a loader gets ``data_dir=None``.

    ``$NNX_DATA_DIR`` if set (even if it does not exist, so a typo is reported rather than
    silently replaced), else ``../shared/datasets`` next to the checkout if it exists, else None.
    """
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    candidate = (_repo_root().parent / "shared" / "datasets").resolve()
    return candidate if candidate.is_dir() else None


def _resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path | None:
    if data_dir is None or str(data_dir) == "":
        return default_data_dir()
    return Path(data_dir).expanduser()


def keras_home() -> Path:
    """Keras's home directory (``$KERAS_HOME``, else ``~/.keras``, else ``/tmp/.keras``).

    Keras reads ``KERAS_HOME`` once, at import; when Keras is already imported we ask it, so we
    look where it will look.
    """
    config = sys.modules.get("keras.src.backend.config")
    getter = getattr(config, "keras_home", None)
    if callable(getter):
        try:
            return Path(getter()).expanduser()
        except Exception:  # a private accessor: never let its change break a build
            log.debug("keras.src.backend.config.keras_home() failed", exc_info=True)
    env = os.environ.get("KERAS_HOME", "").strip()
    if env:
        return Path(env).expanduser()
    home = Path("~").expanduser()
    base = home if os.access(home, os.W_OK) else Path("/tmp")
    return base / ".keras"


def _keras_cache_root() -> Path:
    """Where ``keras.utils.get_file`` reads and writes: Keras home, or /tmp/.keras if read-only."""
    home = keras_home()
    if home.exists() and not os.access(home, os.W_OK):
        return Path(tempfile.gettempdir()) / ".keras"
    return home


def _package_dir(import_name: str) -> Path | None:
    """An installed package's directory, found without importing it (cheap for cache keys)."""
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _display(path: str | os.PathLike[str]) -> str:
    """A path for the page: relative to the checkout when nearby, ``~/...`` under home.

    Keeps machine-specific absolute paths (user names, mount points) off the published site.
    """
    p = Path(path).expanduser()
    try:
        p = p.resolve()
    except OSError:
        pass
    root = _repo_root()
    if p.is_relative_to(root.parent):
        return os.path.relpath(p, root)
    home = Path("~").expanduser()
    if home != Path("/") and p.is_relative_to(home):
        return "~/" + p.relative_to(home).as_posix()
    if "site-packages" in p.parts:
        return "<site-packages>/" + "/".join(p.parts[p.parts.index("site-packages") + 1 :])
    return str(p)


def _glob_group(base: Path, patterns: Sequence[str]) -> list[Path] | None:
    """All files matching every pattern under ``base``; None unless each pattern matches."""
    found: list[Path] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matches = sorted(p for p in base.glob(pattern) if p.is_file())
        else:
            matches = [base / pattern] if (base / pattern).is_file() else []
        if not matches:
            return None
        found.extend(matches)
    return found


def _first_group(base: Path | None, alternatives: Sequence[Sequence[str]]) -> list[Path]:
    if base is None or not base.is_dir():
        return []
    for group in alternatives:
        files = _glob_group(base, group)
        if files:
            return files
    return []


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        hint = did_you_mean(name, DATASETS, n=3, cutoff=0.5)
        raise PipelineError(
            f"unknown dataset {name!r}.{hint} Valid names: {', '.join(sorted(DATASETS))}."
        ) from None


def dataset_files(
    name: str, data_dir: str | os.PathLike[str] | None, source: str = "auto"
) -> list[Path]:
    """The local files a loader would read for ``name`` (for the build's cache key).

    Cheap by design (no TensorFlow, no package imports, no hashing): it follows the same order as
    the loader with ``source`` and returns the first complete group of existing files among the
    verified copy, the Keras cache and the package copy. Returns ``[]`` for generated data and
    when nothing is available locally (then the loader would download or fail). A download
    made by one build lands in the Keras cache, so the next build's key includes that file.
    """
    spec = _spec(name)
    _check_source(source)
    data = _resolve_data_dir(data_dir)
    for stage in _stages_for(source, spec.auto_order):
        if stage == "verified":
            files = _first_group(data, spec.verified)
        elif stage == "keras-cache":
            files = _first_group(_keras_cache_root(), spec.keras_cache)
        elif stage == "package":
            files = []
            for import_name, rel in spec.package_files:
                pkg = _package_dir(import_name)
                if pkg is not None and (pkg / rel).is_file():
                    files.append(pkg / rel)
        else:
            files = []
        if files:
            return files
    return []


# --------------------------------------------------------------------------------------------
# The source-order machinery
# --------------------------------------------------------------------------------------------


class _Trail:
    """The places tried so far, each with why it did not work (for DatasetUnavailable)."""

    def __init__(self) -> None:
        self.places: list[str] = []

    def add(self, where: str, why: str) -> None:
        self.places.append(f"{where}: {why}")
        log.debug("dataset source not used: %s: %s", where, why)


def _check_source(source: str, allowed: Sequence[str] = SOURCES) -> None:
    if source not in allowed:
        hint = did_you_mean(source, allowed, cutoff=0.5)
        raise ConfigError(
            f"source={source!r} is not valid.{hint} Use one of: {', '.join(allowed)}."
        )


def _stages_for(source: str, auto_order: Sequence[str]) -> list[str]:
    if source == "auto":
        return list(auto_order)
    return {
        "verified": ["verified"],
        "keras": ["keras-cache", "keras-download"],
        "package": ["package"],
    }[source]


def _run_stages(
    spec: DatasetSpec,
    source: str,
    stages: Mapping[str, Callable[[_Trail], T | None]],
    allowed: Sequence[str] = SOURCES,
) -> T:
    """Try each stage of ``source``'s order; the first non-None result wins."""
    _check_source(source, allowed)
    trail = _Trail()
    for stage in _stages_for(source, spec.auto_order):
        fn = stages.get(stage)
        if fn is None:
            trail.add(_STAGE_LABELS[stage], "there is none for this dataset")
            continue
        result = fn(trail)
        if result is not None:
            return result
    raise DatasetUnavailable(spec.name, trail.places, spec.how_to_fix)


def _verified_files(trail: _Trail, data: Path | None, rels: Sequence[str]) -> list[Path] | None:
    """The verified files ``rels`` in ``data``, or None (recording why) if any is missing."""
    if data is None:
        trail.add(
            "verified copy",
            f"no data directory (data_dir=None, {DATA_DIR_ENV} unset, and "
            f"{_repo_root().parent / 'shared' / 'datasets'} does not exist)",
        )
        return None
    if not data.is_dir():
        trail.add(f"verified copy in {data}", "the data directory does not exist")
        return None
    paths = [data / rel for rel in rels]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        trail.add(f"verified copy {', '.join(missing)}", "missing")
        return None
    return paths


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]


def _network_reachable(url: str, timeout: float) -> tuple[bool, str]:
    """Can we open a TCP connection to ``url``'s host within ``timeout`` seconds?

    Runs in a daemon thread so that a hanging DNS lookup (not covered by socket timeouts) cannot
    stall the build: offline machines fail here in seconds instead of inside Keras's urlretrieve.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    result: dict[str, str] = {}

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = ""
        except OSError as exc:
            result["error"] = _one_line(exc)

    thread = threading.Thread(target=attempt, name="nnx-network-probe", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if "ok" in result:
        return True, ""
    return False, result.get("error", f"no answer from {host} within {timeout:g} s")


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Keras's urlretrieve has no timeout; a stalled transfer would hang the recipe forever."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _keras_download(trail: _Trail, url: str, call: Callable[[Any], T]) -> T | None:
    """Run a real Keras download (``call(keras)``), turning every failure into a trail entry."""
    where = f"Keras download from {url}"
    if _offline():
        trail.add(where, f"skipped because {OFFLINE_ENV}=1")
        return None
    try:
        timeout = float(os.environ.get(DOWNLOAD_TIMEOUT_ENV, "5"))
    except ValueError:
        timeout = 5.0
    ok, why = _network_reachable(url, timeout)
    if not ok:
        trail.add(where, f"no network ({why})")
        return None
    try:
        import keras  # heavy: imported only when a download is really needed
    except Exception as exc:  # ImportError, or TensorFlow failing to initialise
        trail.add(where, f"Keras cannot be imported ({_one_line(exc)})")
        return None
    log.info("downloading %s with Keras", url)
    try:
        with _socket_timeout(60.0):
            return call(keras)
    except Exception as exc:  # urllib, HTTP, hash mismatch, extraction: all become one line
        log.debug("Keras download from %s failed", url, exc_info=True)
        trail.add(where, f"failed ({_one_line(exc)})")
        return None


def _keras_hash_note(path: Path) -> str:
    expected = _KERAS_SHA256.get(path.name)
    if expected is None:
        return ""
    if sha256_file(path) == expected:
        return "The cached file is byte-identical to Keras's published archive."
    return "The cached file loads correctly but is not byte-identical to Keras's archive."


def _check_limit(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int | np.integer) or value < 0):
        raise ConfigError(f"{name} must be None or a non-negative integer, got {value!r}")


def _load_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Read the named arrays (no pickles); any failure names the file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise DatasetCorrupt(str(path), f"missing arrays {missing} (has {npz.files})")
            return {k: np.asarray(npz[k]) for k in keys}
    except DatasetCorrupt:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DatasetCorrupt(str(path), f"cannot be read as .npz ({_one_line(exc)})") from None


def _expect_shape(path: str, label: str, array: np.ndarray, shape: tuple[int | None, ...]) -> None:
    ok = array.ndim == len(shape) and all(
        want is None or got == want for got, want in zip(array.shape, shape, strict=False)
    )
    if not ok:
        want = tuple("N" if s is None else s for s in shape)
        raise DatasetCorrupt(path, f"{label} has shape {array.shape}, expected {want}")


def _interleave_by_class(labels: np.ndarray) -> np.ndarray:
    """Indices that visit classes round-robin (1st of each class, then 2nd, ...), stably.

    Used for sources stored sorted by class, so that "the first N" and Keras's
    ``validation_split`` (which takes the end) both see every class.
    """
    labels = np.asarray(labels).reshape(-1)
    rank = np.empty(len(labels), dtype=np.int64)
    for value in np.unique(labels):
        where = np.flatnonzero(labels == value)
        rank[where] = np.arange(len(where))
    return np.lexsort((labels, rank))


# --------------------------------------------------------------------------------------------
# Boston Housing
# --------------------------------------------------------------------------------------------


def _boston_split(
    x: np.ndarray, y: np.ndarray, test_split: float, seed: int
) -> tuple[ArrayPair, ArrayPair]:
    """Keras's own split code (keras.datasets.boston_housing.load_data), line for line."""
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x))
    rng.shuffle(indices)
    x = x[indices]
    y = y[indices]
    n_train = int(len(x) * (1 - test_split))
    return (np.array(x[:n_train]), np.array(y[:n_train])), (
        np.array(x[n_train:]),
        np.array(y[n_train:]),
    )


def _read_boston_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if path.suffix == ".npz":
        arrays = _load_npz(path, ["x", "y"])
        x, y = arrays["x"], arrays["y"]
    else:
        skip = 2 if path.name == "boston_house_prices.csv" else 0  # sklearn's two header lines
        try:
            table = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float64)
        except (OSError, ValueError) as exc:
            raise DatasetCorrupt(str(path), f"cannot be parsed as CSV ({_one_line(exc)})") from None
        _expect_shape(str(path), "the table", table, (506, 14))
        x, y = table[:, :13].copy(), table[:, 13].copy()
    _expect_shape(str(path), "x", x, (506, 13))
    _expect_shape(str(path), "y", y, (506,))
    return x.astype(np.float64, copy=False), y.astype(np.float64, copy=False)


def load_boston_housing(
    data_dir: str | os.PathLike[str] | None = None,
    source: str = "auto",
    test_split: float = 0.2,
    seed: int = 113,
) -> tuple[ArrayPair, ArrayPair, DataSource]:
    """Boston Housing as ``keras.datasets.boston_housing.load_data(test_split, seed)`` gives it.

    All sources hold the 506 rows in the original StatLib order, and the Keras shuffle/split is
    applied here, so the arrays are identical whichever source is used (with the defaults:
    404 train / 102 test, ``y_test[0] == 7.2``).
    """
    if not (0 <= test_split < 1):
        raise ConfigError(f"test_split must be in [0, 1), got {test_split!r}")
    spec = _spec("boston_housing")
    data = _resolve_data_dir(data_dir)
    pct = f"{(1 - test_split) * 100:g}/{test_split * 100:g}"

    def finish(
        x: np.ndarray, y: np.ndarray, origin: str, location: str, what: str, note: str = ""
    ) -> tuple[ArrayPair, ArrayPair, DataSource]:
        train, test = _boston_split(x, y, test_split, seed)
        desc = (
            f"Boston Housing, {what}, Keras split (seed {seed}, {pct}): "
            f"{len(train[0])} train / {len(test[0])} test"
        )
        src = DataSource(
            "boston_housing", origin, location, desc, len(train[0]), len(test[0]), False, note
        )
        log.info("%s", desc)
        return train, test, src

    def verified(trail: _Trail):
        if data is None or not data.is_dir():
            return _verified_files(trail, data, [spec.verified[0][0]])
        for (rel,) in spec.verified:
            if (data / rel).is_file():
                x, y = _read_boston_file(data / rel)
                loc = _display(data / rel)
                what = f"verified copy of the UCI data from {loc}"
                return finish(x, y, "verified-copy", loc, what)
        trail.add(f"verified copy {', '.join(str(data / r) for (r,) in spec.verified)}", "missing")
        return None

    def keras_cache(trail: _Trail):
        path = _keras_cache_root() / "datasets" / "boston_housing.npz"
        if not path.is_file():
            trail.add(f"Keras cache {path}", "missing")
            return None
        try:
            x, y = _read_boston_file(path)
        except DatasetCorrupt as exc:
            trail.add(f"Keras cache {path}", f"present but not loadable ({exc.problem})")
            return None
        loc = _display(path)
        what = f"the Keras cache file {loc}"
        return finish(x, y, "keras-cache", loc, what, _keras_hash_note(path))

    def keras_download(trail: _Trail):
        def call(keras):
            return keras.datasets.boston_housing.load_data(test_split=test_split, seed=seed)

        got = _keras_download(trail, spec.keras_url, call)
        if got is None:
            return None
        (x_train, y_train), (x_test, y_test) = got
        desc = (
            f"Boston Housing, downloaded by Keras from {spec.keras_url}, Keras split "
            f"(seed {seed}, {pct}): {len(x_train)} train / {len(x_test)} test"
        )
        src = DataSource(
            "boston_housing",
            "keras-download",
            spec.keras_url,
            desc,
            len(x_train),
            len(x_test),
            False,
        )
        return (x_train, y_train), (x_test, y_test), src

    def package(trail: _Trail):
        try:
            from mlxtend.data import boston_housing_data
        except ImportError as exc:
            trail.add(f"package copy {spec.package_call}", f"not installed ({_one_line(exc)})")
            return None
        x, y = boston_housing_data()
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        _expect_shape(spec.package_call, "x", x, (506, 13))
        return finish(
            x,
            y,
            "package-copy",
            "mlxtend",
            f"the copy shipped in mlxtend ({spec.package_call}, same row order)",
        )

    return _run_stages(
        spec,
        source,
        {
            "verified": verified,
            "keras-cache": keras_cache,
            "keras-download": keras_download,
            "package": package,
        },
    )


# --------------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------------

_IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
_MNIST_OTHER_FILES = (
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _gunzip(paths: Sequence[Path], label: str) -> bytes:
    """Concatenate ``paths`` (split parts) in memory and gunzip; failures name the file."""
    try:
        blob = b"".join(p.read_bytes() for p in paths)
    except OSError as exc:
        raise DatasetCorrupt(label, f"cannot be read ({_one_line(exc)})") from None
    try:
        return gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DatasetCorrupt(label, f"is not a complete gzip stream ({_one_line(exc)})") from None


def _parse_idx(raw: bytes, label: str, magic: int, tail: tuple[int, ...]) -> np.ndarray:
    """Parse an IDX file (LeCun's format) after checking its magic number and size."""
    if len(raw) < 8:
        raise DatasetCorrupt(label, f"is {len(raw)} bytes long, too short for an IDX header")
    (got_magic,) = struct.unpack(">I", raw[:4])
    if got_magic != magic:
        raise DatasetCorrupt(
            label, f"has IDX magic number 0x{got_magic:08x}, expected 0x{magic:08x}"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetCorrupt(label, "ends inside the IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if tuple(dims[1:]) != tail:
        raise DatasetCorrupt(label, f"has IDX dimensions {dims}, expected (N, {tail})")
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise DatasetCorrupt(
            label,
            f"holds {len(raw):,} bytes after decompression but its IDX header {dims} needs "
            f"{expected:,} (truncated or padded)",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _train_image_parts(mnist_dir: Path) -> tuple[list[Path], str]:
    """The train-images file: split parts (.part-00, -01, ...) if present, else the whole .gz."""
    parts = sorted(mnist_dir.glob(_MNIST_TRAIN_PARTS))
    if not parts:
        whole = mnist_dir / "train-images-idx3-ubyte.gz"
        return ([whole] if whole.is_file() else []), str(whole)
    label = f"{mnist_dir / 'train-images-idx3-ubyte.gz'}.part-* ({len(parts)} parts)"
    numbers = []
    for p in parts:
        suffix = p.name.rsplit("part-", 1)[-1]
        if not suffix.isdigit():
            raise DatasetCorrupt(str(p), "has an unexpected part suffix (expected .part-NN)")
        numbers.append(int(suffix))
    if numbers != list(range(len(parts))):
        raise DatasetCorrupt(label, f"parts are not numbered 00..{len(parts) - 1:02d}: {numbers}")
    return parts, label


def _read_mnist_idx(mnist_dir: Path) -> tuple[ArrayPair, ArrayPair]:
    parts, parts_label = _train_image_parts(mnist_dir)
    x_train = _parse_idx(_gunzip(parts, parts_label), parts_label, _IDX_IMAGES_MAGIC, (28, 28))
    out = {}
    for key, fname, magic, tail in (
        ("y_train", "train-labels-idx1-ubyte.gz", _IDX_LABELS_MAGIC, ()),
        ("x_test", "t10k-images-idx3-ubyte.gz", _IDX_IMAGES_MAGIC, (28, 28)),
        ("y_test", "t10k-labels-idx1-ubyte.gz", _IDX_LABELS_MAGIC, ()),
    ):
        path = mnist_dir / fname
        out[key] = _parse_idx(_gunzip([path], str(path)), str(path), magic, tail)
    if len(out["y_train"]) != len(x_train):
        raise DatasetCorrupt(
            str(mnist_dir / "train-labels-idx1-ubyte.gz"),
            f"has {len(out['y_train'])} labels for {len(x_train)} images",
        )
    if len(out["y_test"]) != len(out["x_test"]):
        raise DatasetCorrupt(
            str(mnist_dir / "t10k-labels-idx1-ubyte.gz"),
            f"has {len(out['y_test'])} labels for {len(out['x_test'])} images",
        )
    for key, fname in (
        ("y_train", "train-labels-idx1-ubyte.gz"),
        ("y_test", "t10k-labels-idx1-ubyte.gz"),
    ):
        if out[key].size and int(out[key].max()) > 9:
            raise DatasetCorrupt(str(mnist_dir / fname), "holds labels outside 0..9")
    return (x_train, out["y_train"]), (out["x_test"], out["y_test"])


def _mnist_result(
    train: ArrayPair,
    test: ArrayPair,
    *,
    origin: str,
    location: str,
    what: str,
    full: tuple[int, int],
    limit_train: int | None,
    limit_test: int | None,
    note: str = "",
    always_subset: bool = False,
) -> tuple[ArrayPair, ArrayPair, DataSource]:
    """Apply the limits (first N, in order), copy to writable uint8 arrays, describe."""
    x_train, y_train = train
    x_test, y_test = test
    x_train = np.array(x_train[:limit_train], dtype=np.uint8)
    y_train = np.array(y_train[:limit_train], dtype=np.uint8).reshape(-1)
    x_test = np.array(x_test[:limit_test], dtype=np.uint8)
    y_test = np.array(y_test[:limit_test], dtype=np.uint8).reshape(-1)
    n_train, n_test = len(x_train), len(x_test)
    subset = always_subset or n_train < full[0] or n_test < full[1]
    desc = f"MNIST, {what}: {n_train:,} train / {n_test:,} test"
    used = []
    if n_train < full[0]:
        used.append(f"the first {n_train:,} of {full[0]:,} train")
    if n_test < full[1]:
        used.append(f"the first {n_test:,} of {full[1]:,} test")
    if used:
        desc += f" ({' and '.join(used)} images used)"
    log.info("%s", desc)
    src = DataSource("mnist", origin, location, desc, n_train, n_test, subset, note)
    return (x_train, y_train), (x_test, y_test), src


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    source: str = "auto",
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> tuple[ArrayPair, ArrayPair, DataSource]:
    """MNIST as uint8 arrays ``(N, 28, 28)`` with uint8 labels, like ``keras.datasets.mnist``.

    The verified copy is the original LeCun IDX files (train images stored as split ``.part-NN``
    gzip pieces, joined in memory). ``limit_train``/``limit_test`` keep the first N examples in
    the original order (quick profiles) and mark the source as a subset. The package fallback is
    mlxtend's 5,000 real training digits (500 per class): every fifth digit of each class goes to
    a 1,000-digit test set, and both parts are interleaved class by class.
    """
    _check_limit("limit_train", limit_train)
    _check_limit("limit_test", limit_test)
    spec = _spec("mnist")
    data = _resolve_data_dir(data_dir)
    common: dict[str, Any] = {"limit_train": limit_train, "limit_test": limit_test}

    def verified(trail: _Trail):
        if _verified_files(trail, data, []) is None:
            return None
        assert data is not None
        mnist_dir = data / "mnist"
        parts, _ = _train_image_parts(mnist_dir)
        if not parts:
            trail.add(
                f"verified copy {mnist_dir / 'train-images-idx3-ubyte.gz'} (or its .part-NN "
                "pieces)",
                "missing",
            )
        others = _verified_files(trail, data, [f"mnist/{n}" for n in _MNIST_OTHER_FILES])
        if not parts or others is None:
            return None
        train, test = _read_mnist_idx(mnist_dir)
        loc = _display(mnist_dir)
        return _mnist_result(
            train,
            test,
            origin="verified-copy",
            location=loc,
            what=f"verified copy of the original LeCun IDX files from {loc}",
            full=(60000, 10000),
            **common,
        )

    def keras_cache(trail: _Trail):
        path = _keras_cache_root() / "datasets" / "mnist.npz"
        if not path.is_file():
            trail.add(f"Keras cache {path}", "missing")
            return None
        try:
            arrays = _load_npz(path, ["x_train", "y_train", "x_test", "y_test"])
            _expect_shape(str(path), "x_train", arrays["x_train"], (None, 28, 28))
            _expect_shape(str(path), "x_test", arrays["x_test"], (None, 28, 28))
        except DatasetCorrupt as exc:
            trail.add(f"Keras cache {path}", f"present but not loadable ({exc.problem})")
            return None
        loc = _display(path)
        return _mnist_result(
            (arrays["x_train"], arrays["y_train"]),
            (arrays["x_test"], arrays["y_test"]),
            origin="keras-cache",
            location=loc,
            what=f"the Keras cache file {loc}",
            full=(60000, 10000),
            note=_keras_hash_note(path),
            **common,
        )

    def keras_download(trail: _Trail):
        got = _keras_download(trail, spec.keras_url, lambda keras: keras.datasets.mnist.load_data())
        if got is None:
            return None
        train, test = got
        return _mnist_result(
            train,
            test,
            origin="keras-download",
            location=spec.keras_url,
            what=f"downloaded by Keras from {spec.keras_url}",
            full=(60000, 10000),
            **common,
        )

    def package(trail: _Trail):
        try:
            from mlxtend.data import mnist_data
        except ImportError as exc:
            trail.add(f"package copy {spec.package_call}", f"not installed ({_one_line(exc)})")
            return None
        x, y = mnist_data()
        x = np.asarray(x).reshape(-1, 28, 28).astype(np.uint8)
        y = np.asarray(y).astype(np.uint8)
        rank = np.empty(len(y), dtype=np.int64)
        for value in np.unique(y):
            where = np.flatnonzero(y == value)
            rank[where] = np.arange(len(where))
        is_test = rank % 5 == 4
        train_idx = np.flatnonzero(~is_test)
        test_idx = np.flatnonzero(is_test)
        train_idx = train_idx[_interleave_by_class(y[train_idx])]
        test_idx = test_idx[_interleave_by_class(y[test_idx])]
        return _mnist_result(
            (x[train_idx], y[train_idx]),
            (x[test_idx], y[test_idx]),
            origin="package-copy",
            location="mlxtend",
            what=(
                f"the 5,000 real training digits shipped in mlxtend ({spec.package_call}); "
                "every fifth digit of each class is held out as the test set"
            ),
            full=(len(train_idx), len(test_idx)),
            always_subset=True,
            note="Not the official MNIST test set: both parts come from MNIST's training images.",
            **common,
        )

    return _run_stages(
        spec,
        source,
        {
            "verified": verified,
            "keras-cache": keras_cache,
            "keras-download": keras_download,
            "package": package,
        },
    )


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------

_ALLOWED_PICKLE_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)


class _RestrictedUnpickler(pickle.Unpickler):
    """Only numpy array reconstruction: a tampered cache file cannot run code (as in Keras)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            batch = _RestrictedUnpickler(fh, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.uint8)
        x = data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1)
    except Exception as exc:  # pickle, key and shape errors all mean "not a CIFAR batch"
        raise DatasetCorrupt(str(path), f"is not a CIFAR-10 batch ({_one_line(exc)})") from None
    return x, labels


def _cifar_result(
    train: ArrayPair,
    test: ArrayPair,
    *,
    origin: str,
    location: str,
    what: str,
    limit_train: int | None,
    limit_test: int | None,
    always_subset: bool,
    note: str = "",
) -> tuple[ArrayPair, ArrayPair, DataSource]:
    x_train = np.array(train[0][:limit_train], dtype=np.uint8)
    y_train = np.array(train[1][:limit_train], dtype=np.uint8).reshape(-1, 1)
    x_test = np.array(test[0][:limit_test], dtype=np.uint8)
    y_test = np.array(test[1][:limit_test], dtype=np.uint8).reshape(-1, 1)
    n_train, n_test = len(x_train), len(x_test)
    limited = n_train < len(train[0]) or n_test < len(test[0])
    desc = f"CIFAR-10, {what}: {n_train:,} train / {n_test:,} test"
    if limited:
        desc += " (the first images in order)"
    log.info("%s", desc)
    src = DataSource(
        "cifar10",
        origin,
        location,
        desc,
        n_train,
        n_test,
        always_subset or limited or n_train < 50000 or n_test < 10000,
        note,
    )
    return (x_train, y_train), (x_test, y_test), src


def _read_cifar_exact(path: Path) -> tuple[ArrayPair, ArrayPair]:
    arrays = _load_npz(path, ["x_train", "y_train", "x_test", "y_test"])
    for key in ("x_train", "x_test"):
        _expect_shape(str(path), key, arrays[key], (None, 32, 32, 3))
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_cifar10(
    data_dir: str | os.PathLike[str] | None = None,
    source: str = "auto",
    prefer: Literal["exact", "jpeg_pool"] = "exact",
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> tuple[ArrayPair, ArrayPair, DataSource]:
    """CIFAR-10 in Keras's layout: uint8 ``(N, 32, 32, 3)`` images and uint8 ``(N, 1)`` labels.

    The verified copy holds only subsets of the real data, so what it gives depends on
    ``prefer``:

    * ``"exact"``: 200 lossless train images (``data_batch_1[0:200]``) and the lossless test
      images 0-19 (``cifar10/cifar10_exact_subset.npz``); always marked as a subset.
    * ``"jpeg_pool"``: :func:`load_cifar10_offline_pool` with its defaults (9,000 train / 1,000
      test images from the JPEG copy of the test set), for recipes that need more images.

    The Keras cache and the Keras download give the full 50,000 / 10,000 images. There is no
    package copy. ``limit_*`` keep the first N examples in order.
    """
    if prefer not in ("exact", "jpeg_pool"):
        hint = did_you_mean(prefer, ["exact", "jpeg_pool"])
        raise ConfigError(f"prefer={prefer!r} is not valid.{hint} Use 'exact' or 'jpeg_pool'.")
    _check_limit("limit_train", limit_train)
    _check_limit("limit_test", limit_test)
    spec = _spec("cifar10")
    data = _resolve_data_dir(data_dir)
    common: dict[str, Any] = {"limit_train": limit_train, "limit_test": limit_test}

    def verified(trail: _Trail):
        if prefer == "jpeg_pool":
            zips = [f"{_CIFAR_JPEG_DIR}/{c}.zip" for c in CIFAR10_CLASSES]
            if _verified_files(trail, data, [_CIFAR_EXACT, *zips]) is None:
                return None
            train, test, pool_src = load_cifar10_offline_pool(data)
            if limit_train is None and limit_test is None:
                return train, test, pool_src
            return _cifar_result(
                train,
                test,
                origin="verified-copy",
                location=pool_src.location,
                what=pool_src.description.removeprefix("CIFAR-10, "),
                always_subset=True,
                note=pool_src.note,
                **common,
            )
        files = _verified_files(trail, data, [_CIFAR_EXACT])
        if files is None:
            return None
        train, test = _read_cifar_exact(files[0])
        loc = _display(files[0])
        return _cifar_result(
            train,
            test,
            origin="verified-copy",
            location=loc,
            what=(
                f"verified exact subset from {loc} (lossless: train = data_batch_1 images "
                "0-199, test = test images 0-19)"
            ),
            always_subset=True,
            **common,
        )

    def keras_cache(trail: _Trail):
        root = _keras_cache_root()
        for group in spec.keras_cache:
            folder = root / Path(group[0]).parent
            files = [folder / f"data_batch_{i}" for i in range(1, 6)] + [folder / "test_batch"]
            if not all(f.is_file() for f in files):
                trail.add(f"Keras cache {folder}", "missing or incomplete")
                continue
            try:
                batches = [_read_cifar_batch(f) for f in files]
            except DatasetCorrupt as exc:
                trail.add(f"Keras cache {exc.path}", f"present but not loadable ({exc.problem})")
                continue
            x_train = np.concatenate([b[0] for b in batches[:5]])
            y_train = np.concatenate([b[1] for b in batches[:5]])
            loc = _display(folder)
            return _cifar_result(
                (x_train, y_train),
                batches[5],
                origin="keras-cache",
                location=loc,
                what=f"the Keras cache folder {loc}",
                always_subset=False,
                **common,
            )
        return None

    def keras_download(trail: _Trail):
        got = _keras_download(
            trail, spec.keras_url, lambda keras: keras.datasets.cifar10.load_data()
        )
        if got is None:
            return None
        (x_train, y_train), (x_test, y_test) = got
        if x_train.ndim == 4 and x_train.shape[1] == 3:  # channels_first Keras config
            x_train, x_test = x_train.transpose(0, 2, 3, 1), x_test.transpose(0, 2, 3, 1)
        return _cifar_result(
            (x_train, y_train),
            (x_test, y_test),
            origin="keras-download",
            location=spec.keras_url,
            what=f"downloaded by Keras from {spec.keras_url}",
            always_subset=False,
            **common,
        )

    return _run_stages(
        spec,
        source,
        {"verified": verified, "keras-cache": keras_cache, "keras-download": keras_download},
    )


def _decode_rgb(blob: bytes, label: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(blob)) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetCorrupt(label, f"is not a readable image ({_one_line(exc)})") from None


def _ranks_text(lo: int, hi: int) -> str:
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def load_cifar10_offline_pool(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    train_per_class: int = 900,
    test_per_class: int = 100,
    exact_test: bool = True,
    source: str = "auto",
) -> tuple[ArrayPair, ArrayPair, DataSource]:
    """More CIFAR-10 images offline than the 200-image exact subset: a split of the JPEG test set.

    The verified data holds the whole official test set (1,000 images per class) as lossy JPEG,
    ``cifar10/yoongikim_test_jpeg/<class>.zip`` with members ``<class>/NNNN.jpg`` where NNNN is
    the image's rank within its class in the official test order. The split is deterministic and
    depends only on these ranks:

    * test: per class, ranks ``0 .. h-1`` where ``h = max(test_per_class, k)`` and ``k`` is how
      many of the official test images 0-19 have that class (so their JPEG twins never leak into
      train). With ``exact_test`` (default) those 20 are replaced by the exact lossless images
      from ``cifar10_exact_subset.npz`` and come first, in official order, so
      ``x_test[:20]`` are test images 0-19; the other held-out images follow as JPEG.
    * train: per class, the next ``train_per_class`` ranks (``h .. h+train_per_class-1``).

    Both parts are ordered rank by rank, cycling through the classes (rank 0 of airplane,
    automobile, ..., truck, then rank 1, ...), so any prefix and Keras's ``validation_split``
    see every class. Labels are uint8 ``(N, 1)`` as in Keras. Accuracy measured this way is not
    comparable with published CIFAR-10 results: both parts come from the official test set, and
    JPEG pixels differ from the originals by about 6/255 on average.
    """
    _check_source(source, ("auto", "verified"))
    for name, value in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if not isinstance(value, int | np.integer) or value < 0:
            raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
    data = _resolve_data_dir(data_dir)
    trail = _Trail()
    zips = [f"{_CIFAR_JPEG_DIR}/{c}.zip" for c in CIFAR10_CLASSES]
    needed = ([_CIFAR_EXACT] if exact_test else []) + zips
    files = _verified_files(trail, data, needed)
    if files is None:
        raise DatasetUnavailable(
            "cifar10",
            trail.places,
            f"put {_CIFAR_JPEG_DIR}/<class>.zip (and {_CIFAR_EXACT}) in the data directory "
            f"({_FIX_DATA_DIR}); there is no other source of this JPEG pool. "
            "Or use load_cifar10(source='keras') with internet.",
        )
    assert data is not None  # _verified_files checked it

    exact_x = exact_y = None
    n_exact = np.zeros(10, dtype=np.int64)
    if exact_test:
        _, (exact_x, exact_y) = _read_cifar_exact(data / _CIFAR_EXACT)
        exact_y = exact_y.reshape(-1).astype(np.uint8)
        n_exact = np.bincount(exact_y, minlength=10)
    held = np.maximum(test_per_class, n_exact)
    too_many = [c for c in range(10) if held[c] + train_per_class > 1000]
    if too_many:
        raise ConfigError(
            f"train_per_class={train_per_class} plus test_per_class={test_per_class} is more "
            f"than the 1,000 images per class in the JPEG test set (class "
            f"{CIFAR10_CLASSES[too_many[0]]!r}); lower one of them."
        )

    # (rank, class) pairs, ordered rank-major so classes are interleaved.
    test_pairs = sorted((r, c) for c in range(10) for r in range(int(n_exact[c]), int(held[c])))
    train_pairs = sorted(
        (r, c) for c in range(10) for r in range(int(held[c]), int(held[c]) + train_per_class)
    )
    wanted: dict[int, set[int]] = {c: set() for c in range(10)}
    for r, c in test_pairs + train_pairs:
        wanted[c].add(r)
    images: dict[tuple[int, int], np.ndarray] = {}
    for c, cls in enumerate(CIFAR10_CLASSES):
        zpath = data / _CIFAR_JPEG_DIR / f"{cls}.zip"
        try:
            with zipfile.ZipFile(zpath) as zf:
                for r in sorted(wanted[c]):
                    member = f"{cls}/{r:04d}.jpg"
                    try:
                        blob = zf.read(member)
                    except KeyError:
                        raise DatasetCorrupt(str(zpath), f"has no member {member}") from None
                    img = _decode_rgb(blob, f"{zpath}:{member}")
                    if img.shape != (32, 32, 3):
                        raise DatasetCorrupt(f"{zpath}:{member}", f"has shape {img.shape}")
                    images[(r, c)] = img
        except (zipfile.BadZipFile, OSError, zlib.error) as exc:
            raise DatasetCorrupt(str(zpath), f"is not a readable zip ({_one_line(exc)})") from None

    def stack(pairs: list[tuple[int, int]]) -> ArrayPair:
        if not pairs:
            return np.zeros((0, 32, 32, 3), np.uint8), np.zeros((0, 1), np.uint8)
        x = np.stack([images[p] for p in pairs])
        y = np.array([c for _, c in pairs], dtype=np.uint8).reshape(-1, 1)
        return x, y

    x_train, y_train = stack(train_pairs)
    x_test, y_test = stack(test_pairs)
    n_exact_total = 0
    if exact_test and exact_x is not None and exact_y is not None:
        n_exact_total = len(exact_x)
        x_test = np.concatenate([exact_x.astype(np.uint8), x_test])
        y_test = np.concatenate([exact_y.reshape(-1, 1), y_test])

    loc = _display(data / _CIFAR_JPEG_DIR)
    h_lo, h_hi = int(held.min()), int(held.max())
    held_text = (
        f"ranks 0-{h_lo - 1}"
        if h_lo == h_hi and h_lo > 0
        else "none"
        if h_hi == 0
        else f"the first {h_lo}-{h_hi} ranks (enough to include the exact images)"
    )
    train_text = (
        f"ranks {_ranks_text(h_lo, h_lo + train_per_class - 1)}"
        if h_lo == h_hi
        else f"the {train_per_class} ranks after the held-out ones"
    )
    n_jpeg_test = len(x_test) - n_exact_total
    test_desc = f"test = {len(x_test):,} images (per class, within-class {held_text}"
    if exact_test:
        test_desc += (
            f"), of which the {n_exact_total} official test images 0-19 are exact lossless PNGs "
            f"and {n_jpeg_test:,} are JPEG"
        )
    else:
        test_desc += ", all JPEG)"
    desc = (
        f"CIFAR-10 offline pool, verified copy of the 10,000 official test images stored as "
        f"lossy JPEG ({loc}): train = {len(x_train):,} JPEG images ({train_per_class} per class, "
        f"within-class {train_text}); {test_desc}"
    )
    note = (
        "Lossy JPEG: pixels differ from the original CIFAR-10 images by about 6/255 on average. "
        "None of the 50,000 CIFAR-10 training images is used: train and test both come from the "
        "official test set, so accuracy is not comparable with published CIFAR-10 results."
    )
    log.info("%s", desc)
    src = DataSource("cifar10", "verified-copy", loc, desc, len(x_train), len(x_test), True, note)
    return (x_train, y_train), (x_test, y_test), src


_CIFAR_TRAIN_JPEG_DIR = "cifar10/yoongikim_train_jpeg"


def _read_class_tar(path: Path, cls: str, ranks: int) -> list[np.ndarray]:
    """The first ``ranks`` images ``<cls>/0000.jpg ...`` of one class archive (tar + xz)."""
    import lzma
    import tarfile

    wanted = {f"{cls}/{r:04d}.jpg": r for r in range(ranks)}
    found: dict[int, np.ndarray] = {}
    try:
        with tarfile.open(path, "r:xz") as tf:
            for member in tf:
                r = wanted.get(member.name)
                if r is None or not member.isfile():
                    continue
                blob = tf.extractfile(member).read()  # type: ignore[union-attr]
                img = _decode_rgb(blob, f"{path}:{member.name}")
                if img.shape != (32, 32, 3):
                    raise DatasetCorrupt(f"{path}:{member.name}", f"has shape {img.shape}")
                found[r] = img
                if len(found) == ranks:
                    break
    except (tarfile.TarError, lzma.LZMAError, OSError, EOFError) as exc:
        raise DatasetCorrupt(str(path), f"is not a readable tar.xz archive ({_one_line(exc)})") from None
    if len(found) < ranks:
        missing = min(set(range(ranks)) - set(found))
        raise DatasetCorrupt(str(path), f"has no member {cls}/{missing:04d}.jpg ({len(found)} of "
                             f"the {ranks} images asked for)")
    return [found[r] for r in range(ranks)]


def load_cifar10_jpeg_full(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    train_per_class: int = 5000,
    test_per_class: int = 1000,
) -> tuple[ArrayPair, ArrayPair, DataSource]:
    """All of CIFAR-10 offline: the 50,000 training and 10,000 test images as JPEG.

    Why: the article trains on the official training set; offline, the verified copy holds it as
    lossy JPEG (``cifar10/yoongikim_train_jpeg/<class>.tar.xz``, members ``<class>/NNNN.jpg``,
    NNNN = rank within the class in the official order) next to the JPEG test set
    (``yoongikim_test_jpeg/<class>.zip``). Train and test are the official split, so accuracy is
    comparable with published numbers up to the JPEG loss (about 6/255 per pixel).

    Order: rank-major, cycling through the classes (as :func:`load_cifar10_offline_pool`). The
    official test images 0-19 are replaced by their exact lossless originals and come first, so
    ``x_test[:20]`` are test images 0-19 as everywhere else in the project. ``*_per_class``
    keep the first ranks of each class (a small slice for tests); the defaults are everything.
    Labels are uint8 ``(N, 1)``.
    """
    for name, value, top in (("train_per_class", train_per_class, 5000),
                             ("test_per_class", test_per_class, 1000)):
        if not isinstance(value, int | np.integer) or not 0 < value <= top:
            raise ConfigError(f"{name} must be an integer from 1 to {top}, got {value!r}")
    data = _resolve_data_dir(data_dir)
    trail = _Trail()
    tars = [f"{_CIFAR_TRAIN_JPEG_DIR}/{c}.tar.xz" for c in CIFAR10_CLASSES]
    zips = [f"{_CIFAR_JPEG_DIR}/{c}.zip" for c in CIFAR10_CLASSES]
    if _verified_files(trail, data, [_CIFAR_EXACT, *tars, *zips]) is None:
        raise DatasetUnavailable(
            "cifar10",
            trail.places,
            f"put {_CIFAR_TRAIN_JPEG_DIR}/<class>.tar.xz, {_CIFAR_JPEG_DIR}/<class>.zip and "
            f"{_CIFAR_EXACT} in the data directory ({_FIX_DATA_DIR}), or use "
            "load_cifar10(source='keras') with internet.",
        )
    assert data is not None  # _verified_files checked it
    from concurrent.futures import ThreadPoolExecutor

    # One thread per class archive: xz decompression and JPEG decoding release the GIL.
    with ThreadPoolExecutor(max_workers=min(10, os.cpu_count() or 1)) as pool:
        train_by_class = list(pool.map(
            lambda cls: _read_class_tar(
                data / _CIFAR_TRAIN_JPEG_DIR / f"{cls}.tar.xz", cls, int(train_per_class)
            ),
            CIFAR10_CLASSES,
        ))
    x_train = np.stack([train_by_class[c][r] for r in range(train_per_class) for c in range(10)])
    y_train = np.tile(np.arange(10, dtype=np.uint8), train_per_class).reshape(-1, 1)

    _, (exact_x, exact_y) = _read_cifar_exact(data / _CIFAR_EXACT)
    exact_y = exact_y.reshape(-1).astype(np.uint8)
    n_exact = np.bincount(exact_y, minlength=10)
    pairs = sorted((r, c) for c in range(10) for r in range(int(n_exact[c]), test_per_class))
    images: dict[tuple[int, int], np.ndarray] = {}
    for c, cls in enumerate(CIFAR10_CLASSES):
        zpath = data / _CIFAR_JPEG_DIR / f"{cls}.zip"
        try:
            with zipfile.ZipFile(zpath) as zf:
                for r in range(int(n_exact[c]), test_per_class):
                    member = f"{cls}/{r:04d}.jpg"
                    try:
                        blob = zf.read(member)
                    except KeyError:
                        raise DatasetCorrupt(str(zpath), f"has no member {member}") from None
                    images[(r, c)] = _decode_rgb(blob, f"{zpath}:{member}")
        except (zipfile.BadZipFile, OSError, zlib.error) as exc:
            raise DatasetCorrupt(str(zpath), f"is not a readable zip ({_one_line(exc)})") from None
    jpeg_x = [images[p] for p in pairs]
    x_test = np.concatenate([exact_x.astype(np.uint8), np.stack(jpeg_x)]) if jpeg_x else exact_x
    y_test = np.concatenate([exact_y, np.array([c for _, c in pairs], np.uint8)]).reshape(-1, 1)

    loc = _display(data / _CIFAR_TRAIN_JPEG_DIR)
    complete = train_per_class == 5000 and test_per_class == 1000
    desc = (
        f"CIFAR-10 as JPEG, verified copy ({loc} and {_display(data / _CIFAR_JPEG_DIR)}): "
        f"train = {len(x_train):,} official training images ({train_per_class} per class), "
        f"test = {len(x_test):,} official test images, of which test images 0-19 are exact "
        f"lossless PNGs and {len(jpeg_x):,} are JPEG"
    )
    note = ("Lossy JPEG: pixels differ from the original CIFAR-10 images by about 6/255 on "
            "average; the train/test split is the official one.")
    log.info("%s", desc)
    src = DataSource("cifar10", "verified-copy", loc, desc, len(x_train), len(x_test),
                     not complete, note)
    return (x_train, y_train), (x_test, y_test), src


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


def load_cat_photo(
    data_dir: str | os.PathLike[str] | None = None, source: str = "auto"
) -> tuple[np.ndarray, DataSource]:
    """Chelsea the cat, uint8 ``(300, 451, 3)``: scikit-image's copy first, then the data dir.

    scikit-image's wheel ships the file (no download), and the verified ``images/chelsea.png``
    has the same bytes, so the order only matters when scikit-image is missing.
    """
    spec = _spec("cat_photo")
    data = _resolve_data_dir(data_dir)

    def package(trail: _Trail):
        try:
            from skimage import data as skdata

            img = np.asarray(skdata.chelsea(), dtype=np.uint8)
        except Exception as exc:  # not installed, or an install that wants to download
            trail.add(f"package copy {spec.package_call}", f"not usable ({_one_line(exc)})")
            return None
        desc = (
            f"Chelsea the cat, the {img.shape[1]}x{img.shape[0]} photo shipped in scikit-image "
            f"({spec.package_call}, CC0)"
        )
        return img, DataSource("cat_photo", "package-copy", "scikit-image", desc, None, None, False)

    def verified(trail: _Trail):
        files = _verified_files(trail, data, ["images/chelsea.png"])
        if files is None:
            return None
        img = _decode_rgb(files[0].read_bytes(), str(files[0]))
        loc = _display(files[0])
        desc = (
            f"Chelsea the cat, the {img.shape[1]}x{img.shape[0]} scikit-image photo, verified "
            f"copy from {loc} (CC0)"
        )
        return img, DataSource("cat_photo", "verified-copy", loc, desc, None, None, False)

    return _run_stages(spec, source, {"package": package, "verified": verified})


_IMAGENET_SAMPLE_RE = re.compile(r"^imagenet_(\d+)_(\d+)\.jpg$")


def load_imagenet_samples(
    data_dir: str | os.PathLike[str] | None = None, source: str = "auto"
) -> tuple[list[tuple[int, np.ndarray, str]], DataSource]:
    """The 20 ImageNet photos foolbox ships, as ``(imagenet_class_id, uint8 RGB, filename)``.

    Files are named ``imagenet_<index>_<class id>.jpg``; they are returned in index order. Sizes
    vary, so resizing for a model is the recipe's job.
    """
    spec = _spec("imagenet_samples")
    data = _resolve_data_dir(data_dir)

    def verified(trail: _Trail):
        folder_rel = "images/foolbox_imagenet_samples"
        if _verified_files(trail, data, []) is None:
            return None
        assert data is not None
        folder = data / folder_rel
        found = []
        for path in folder.glob("imagenet_*.jpg") if folder.is_dir() else []:
            match = _IMAGENET_SAMPLE_RE.match(path.name)
            if match:
                found.append((int(match.group(1)), int(match.group(2)), path))
        if not found:
            trail.add(f"verified copy {folder}/imagenet_<index>_<class>.jpg", "missing")
            return None
        found.sort()
        samples = [(cls, _decode_rgb(p.read_bytes(), str(p)), p.name) for _, cls, p in found]
        loc = _display(folder)
        desc = (
            f"ImageNet sample photos, the {len(samples)} samples shipped with foolbox 3.3.4, "
            f"verified copy from {loc}"
        )
        src = DataSource(
            "imagenet_samples",
            "verified-copy",
            loc,
            desc,
            None,
            len(samples),
            True,
            "A handful of ImageNet-class photos, not the ImageNet test set.",
        )
        return samples, src

    return _run_stages(spec, source, {"verified": verified})


# --------------------------------------------------------------------------------------------
# Pretrained weights
# --------------------------------------------------------------------------------------------


def _is_hdf5(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == _HDF5_MAGIC
    except OSError:
        return False


def install_mobilenet_weights(
    data_dir: str | os.PathLike[str] | None = None, source: str = "auto"
) -> DataSource:
    """Make ``keras.applications.MobileNet(alpha=0.25, input_shape=(128, 128, 3),
    weights="imagenet")`` work offline.

    Keras loads these weights from ``$KERAS_HOME/models/mobilenet_2_5_128_tf.h5`` with no hash
    check, so the verified copy is placed there (atomically) when the cache lacks a valid HDF5
    file. ``source="verified"`` also replaces a cached file whose bytes differ, so the build
    uses exactly the verified weights. Call it before constructing the model.
    """
    spec = _spec("imagenet_mobilenet")
    data = _resolve_data_dir(data_dir)
    target = _keras_cache_root() / "models" / _MOBILENET_FILE
    title = "MobileNet v1 ImageNet weights (alpha 0.25, 128x128 input, with top)"

    def verified_copy() -> Path | None:
        copy = data / spec.verified[0][0] if data is not None else None
        return copy if copy is not None and copy.is_file() else None

    def same_bytes(a: Path, b: Path) -> bool:
        return a.stat().st_size == b.stat().st_size and sha256_file(a) == sha256_file(b)

    def installed(copy: Path) -> DataSource:
        # Same wording whether this call copied the file or an earlier build did, so the page
        # does not change with the state of the Keras cache.
        loc = _display(copy)
        return DataSource(
            "imagenet_mobilenet",
            "verified-copy",
            loc,
            f"{title}, verified copy from {loc}, installed in the Keras cache ({_display(target)})",
            None,
            None,
            False,
            "Keras-applications weights (Apache-2.0); about 41.5% top-1 on ImageNet.",
        )

    def keras_cache(trail: _Trail):
        if not target.is_file():
            trail.add(f"Keras cache {target}", "missing")
            return None
        if not _is_hdf5(target):
            trail.add(f"Keras cache {target}", "present but not an HDF5 file")
            return None
        copy = verified_copy()
        if copy is not None and same_bytes(target, copy):
            return installed(copy)
        loc = _display(target)
        return DataSource(
            "imagenet_mobilenet",
            "keras-cache",
            loc,
            f"{title}, already in the Keras cache ({loc})",
            None,
            None,
            False,
        )

    def verified(trail: _Trail):
        files = _verified_files(trail, data, [spec.verified[0][0]])
        if files is None:
            return None
        copy = files[0]
        if not _is_hdf5(copy):
            raise DatasetCorrupt(str(copy), "is not an HDF5 file")
        if not (target.is_file() and same_bytes(target, copy)):
            try:
                atomic.copy_file(copy, target)
            except OSError as exc:
                trail.add(f"copy to {target}", f"failed ({_one_line(exc)})")
                return None
            log.info("installed %s into %s", copy.name, target.parent)
        return installed(copy)

    def keras_download(trail: _Trail):
        def call(keras):
            return keras.utils.get_file(_MOBILENET_FILE, spec.keras_url, cache_subdir="models")

        got = _keras_download(trail, spec.keras_url, call)
        if got is None:
            return None
        return DataSource(
            "imagenet_mobilenet",
            "keras-download",
            spec.keras_url,
            f"{title}, downloaded by Keras from {spec.keras_url}",
            None,
            None,
            False,
        )

    stages: dict[str, Callable[[_Trail], DataSource | None]] = {
        "keras-cache": keras_cache,
        "verified": verified,
        "keras-download": keras_download,
    }
    return _run_stages(spec, source, stages)


def vgg16_weights_available(include_top: bool = True) -> bool:
    """Whether Keras can build VGG16 with ImageNet weights offline (528 MB; never shipped here)."""
    name = _VGG16_FILE if include_top else _VGG16_NOTOP_FILE
    return _is_hdf5(_keras_cache_root() / "models" / name)


# --------------------------------------------------------------------------------------------
# Generated data
# --------------------------------------------------------------------------------------------


def load_moons(
    n_samples: int = 500, noise: float = 0.1, random_state: int | None = 0
) -> tuple[np.ndarray, np.ndarray, DataSource]:
    """Two interleaving half-moons from ``sklearn.datasets.make_moons`` (always offline).

    The arguments are part of the description so the page states exactly how the data was made.
    """
    try:
        from sklearn.datasets import make_moons
    except ImportError as exc:
        raise DatasetUnavailable(
            "moons",
            [f"scikit-learn: not installed ({_one_line(exc)})"],
            DATASETS["moons"].how_to_fix,
        ) from None
    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=random_state)
    call = f"make_moons(n_samples={n_samples}, noise={noise}, random_state={random_state})"
    desc = f"Two moons, {len(x):,} points generated by scikit-learn {call}"
    src = DataSource("moons", "generated", "sklearn.datasets.make_moons", desc, len(x), None, False)
    return x, y, src


def load_dataset(name: str, **kwargs: Any) -> Any:
    """Call the loader registered for ``name`` (``DATASETS[name].loader``) with ``kwargs``."""
    return globals()[_spec(name).loader](**kwargs)


__all__ = [
    "CIFAR10_CLASSES",
    "DATASETS",
    "DataSource",
    "DatasetCorrupt",
    "DatasetSpec",
    "ORIGINS",
    "SOURCES",
    "dataset_files",
    "default_data_dir",
    "install_mobilenet_weights",
    "keras_home",
    "load_boston_housing",
    "load_cat_photo",
    "load_cifar10",
    "load_cifar10_offline_pool",
    "load_dataset",
    "load_imagenet_samples",
    "load_mnist",
    "load_moons",
    "vgg16_weights_available",
]
