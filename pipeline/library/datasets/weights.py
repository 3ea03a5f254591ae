"""Pretrained weights: place the verified MobileNet file where Keras looks, so
``weights="imagenet"`` works offline; say whether VGG16's (never shipped) are cached.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from pipeline.library import atomic
from pipeline.library.datasets import network
from pipeline.library.datasets.files import DatasetCorrupt, one_line
from pipeline.library.datasets.places import display_path, keras_cache_root, resolve_data_dir
from pipeline.library.datasets.registry import MOBILENET_FILE, DataSource, dataset_spec
from pipeline.library.datasets.sources import Trail, run_stages, verified_files
from pipeline.library.files import sha256_file

log = logging.getLogger(__name__)

_VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
_VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


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
    spec = dataset_spec("imagenet_mobilenet")
    data = resolve_data_dir(data_dir)
    target = keras_cache_root() / "models" / MOBILENET_FILE
    title = "MobileNet v1 ImageNet weights (alpha 0.25, 128x128 input, with top)"

    def verified_copy() -> Path | None:
        copy = data / spec.verified[0][0] if data is not None else None
        return copy if copy is not None and copy.is_file() else None

    def same_bytes(a: Path, b: Path) -> bool:
        return a.stat().st_size == b.stat().st_size and sha256_file(a) == sha256_file(b)

    def installed(copy: Path) -> DataSource:
        # Same wording whether this call copied the file or an earlier build did, so the page
        # does not change with the state of the Keras cache.
        loc = display_path(copy)
        return DataSource(
            "imagenet_mobilenet",
            "verified-copy",
            loc,
            f"{title}, verified copy from {loc}, installed in the Keras cache ({display_path(target)})",
            None,
            None,
            False,
            "Keras-applications weights (Apache-2.0); about 41.5% top-1 on ImageNet.",
        )

    def keras_cache(trail: Trail):
        if not target.is_file():
            trail.add(f"Keras cache {target}", "missing")
            return None
        if not _is_hdf5(target):
            trail.add(f"Keras cache {target}", "present but not an HDF5 file")
            return None
        copy = verified_copy()
        if copy is not None and same_bytes(target, copy):
            return installed(copy)
        loc = display_path(target)
        return DataSource(
            "imagenet_mobilenet",
            "keras-cache",
            loc,
            f"{title}, already in the Keras cache ({loc})",
            None,
            None,
            False,
        )

    def verified(trail: Trail):
        files = verified_files(trail, data, [spec.verified[0][0]])
        if files is None:
            return None
        copy = files[0]
        if not _is_hdf5(copy):
            raise DatasetCorrupt(str(copy), "is not an HDF5 file")
        if not (target.is_file() and same_bytes(target, copy)):
            try:
                atomic.copy_file(copy, target)
            except OSError as exc:
                trail.add(f"copy to {target}", f"failed ({one_line(exc)})")
                return None
            log.info("installed %s into %s", copy.name, target.parent)
        return installed(copy)

    def keras_download(trail: Trail):
        def call(keras):
            return keras.utils.get_file(MOBILENET_FILE, spec.keras_url, cache_subdir="models")

        got = network.keras_download(trail, spec.keras_url, call)
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

    stages: dict[str, Callable[[Trail], DataSource | None]] = {
        "keras-cache": keras_cache,
        "verified": verified,
        "keras-download": keras_download,
    }
    return run_stages(spec, source, stages)


def vgg16_weights_available(include_top: bool = True) -> bool:
    """Whether Keras can build VGG16 with ImageNet weights offline (528 MB; never shipped here)."""
    name = _VGG16_FILE if include_top else _VGG16_NOTOP_FILE
    return _is_hdf5(keras_cache_root() / "models" / name)
