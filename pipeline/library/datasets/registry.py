"""The dataset registry: every dataset name, where each may come from, and which local files a
loader would read (:func:`dataset_files`, for the build's cache key).

TensorFlow-free and cheap (standard library only): the build tool imports it to validate recipe
headers and to key builds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pipeline.library.datasets.places import (
    DATA_DIR_ENV,
    OFFLINE_ENV,
    keras_cache_root,
    package_dir,
    resolve_data_dir,
)
from pipeline.library.errors import ConfigError, PipelineError
from pipeline.library.suggest import did_you_mean

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

_KERAS_DATASETS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MOBILENET_FILE = "mobilenet_2_5_128_tf.h5"

MOBILENET_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/" + MOBILENET_FILE
)

MNIST_TRAIN_PARTS = "train-images-idx3-ubyte.gz.part-*"
CIFAR_JPEG_DIR = "cifar10/yoongikim_test_jpeg"
CIFAR_EXACT = "cifar10/cifar10_exact_subset.npz"
_DEFAULT_AUTO_ORDER = ("verified", "keras-cache", "keras-download", "package")


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


FIX_DATA_DIR = (
    f"pass --data-dir (or data_dir=...), set {DATA_DIR_ENV}, or set data_dir of the "
    "nn-explainers plugin in mkdocs.yml, to a folder of verified copies (layout: "
    "pipeline.library.datasets.registry)"
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
                f"put boston_housing/boston_housing.npz in the data directory ({FIX_DATA_DIR}), "
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
                    "mnist/" + MNIST_TRAIN_PARTS,
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
                f"put the four MNIST IDX .gz files in <data dir>/mnist/ ({FIX_DATA_DIR}), or "
                f"`pip install mlxtend` (5,000 digits only), or allow the Keras download (unset "
                f"{OFFLINE_ENV} and connect to the internet)."
            ),
        ),
        DatasetSpec(
            name="cifar10",
            title="CIFAR-10",
            loader="load_cifar10",
            verified=(
                (CIFAR_EXACT, CIFAR_JPEG_DIR + "/*.zip"),
                (CIFAR_EXACT,),
                (CIFAR_JPEG_DIR + "/*.zip",),
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
                f"put {CIFAR_EXACT} (and {CIFAR_JPEG_DIR}/*.zip for more images) in the data "
                f"directory ({FIX_DATA_DIR}), or allow the Keras download (unset {OFFLINE_ENV} "
                "and connect to the internet; 170 MB)."
            ),
        ),
        DatasetSpec(
            name="imagenet_mobilenet",
            title="MobileNet v1 (alpha 0.25, 128 px) ImageNet weights",
            loader="install_mobilenet_weights",
            verified=(("imagenet_cnn/" + MOBILENET_FILE,),),
            keras_cache=(("models/" + MOBILENET_FILE,),),
            keras_url=MOBILENET_URL,
            # Keras loads whatever valid file its cache holds, so that is checked (and reported)
            # first; the verified copy is installed only when the cache lacks one.
            auto_order=("keras-cache", "verified", "keras-download", "package"),
            how_to_fix=(
                f"put imagenet_cnn/{MOBILENET_FILE} in the data directory ({FIX_DATA_DIR}), or "
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
                f"images/chelsea.png in the data directory ({FIX_DATA_DIR})."
            ),
        ),
        DatasetSpec(
            name="imagenet_samples",
            title="ImageNet sample photos (foolbox)",
            loader="load_imagenet_samples",
            verified=(("images/foolbox_imagenet_samples/imagenet_*.jpg",),),
            how_to_fix=(
                "put the foolbox sample photos in images/foolbox_imagenet_samples/ in the data "
                f"directory ({FIX_DATA_DIR})."
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


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        hint = did_you_mean(name, DATASETS, n=3, cutoff=0.5)
        raise PipelineError(
            f"unknown dataset {name!r}.{hint} Valid names: {', '.join(sorted(DATASETS))}."
        ) from None


def check_source(source: str, allowed: Sequence[str] = SOURCES) -> None:
    if source not in allowed:
        hint = did_you_mean(source, allowed, cutoff=0.5)
        raise ConfigError(
            f"source={source!r} is not valid.{hint} Use one of: {', '.join(allowed)}."
        )


def stages_for(source: str, auto_order: Sequence[str]) -> list[str]:
    if source == "auto":
        return list(auto_order)
    return {
        "verified": ["verified"],
        "keras": ["keras-cache", "keras-download"],
        "package": ["package"],
    }[source]


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
    spec = dataset_spec(name)
    check_source(source)
    data = resolve_data_dir(data_dir)
    for stage in stages_for(source, spec.auto_order):
        if stage == "verified":
            files = _first_group(data, spec.verified)
        elif stage == "keras-cache":
            files = _first_group(keras_cache_root(), spec.keras_cache)
        elif stage == "package":
            files = []
            for import_name, rel in spec.package_files:
                pkg = package_dir(import_name)
                if pkg is not None and (pkg / rel).is_file():
                    files.append(pkg / rel)
        else:
            files = []
        if files:
            return files
    return []
