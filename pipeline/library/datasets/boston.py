"""Boston Housing, split exactly as ``keras.datasets.boston_housing.load_data`` splits it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from pipeline.library.datasets import network
from pipeline.library.datasets.files import (
    ArrayPair,
    DatasetCorrupt,
    expect_shape,
    keras_hash_note,
    load_npz,
    one_line,
)
from pipeline.library.datasets.places import display_path, keras_cache_root, resolve_data_dir
from pipeline.library.datasets.registry import DataSource, dataset_spec
from pipeline.library.datasets.sources import Trail, run_stages, verified_files
from pipeline.library.errors import ConfigError

log = logging.getLogger(__name__)


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
        arrays = load_npz(path, ["x", "y"])
        x, y = arrays["x"], arrays["y"]
    else:
        skip = 2 if path.name == "boston_house_prices.csv" else 0  # sklearn's two header lines
        try:
            table = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float64)
        except (OSError, ValueError) as exc:
            raise DatasetCorrupt(str(path), f"cannot be parsed as CSV ({one_line(exc)})") from None
        expect_shape(str(path), "the table", table, (506, 14))
        x, y = table[:, :13].copy(), table[:, 13].copy()
    expect_shape(str(path), "x", x, (506, 13))
    expect_shape(str(path), "y", y, (506,))
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
    spec = dataset_spec("boston_housing")
    data = resolve_data_dir(data_dir)
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

    def verified(trail: Trail):
        if data is None or not data.is_dir():
            return verified_files(trail, data, [spec.verified[0][0]])
        for (rel,) in spec.verified:
            if (data / rel).is_file():
                x, y = _read_boston_file(data / rel)
                loc = display_path(data / rel)
                what = f"verified copy of the UCI data from {loc}"
                return finish(x, y, "verified-copy", loc, what)
        trail.add(f"verified copy {', '.join(str(data / r) for (r,) in spec.verified)}", "missing")
        return None

    def keras_cache(trail: Trail):
        path = keras_cache_root() / "datasets" / "boston_housing.npz"
        if not path.is_file():
            trail.add(f"Keras cache {path}", "missing")
            return None
        try:
            x, y = _read_boston_file(path)
        except DatasetCorrupt as exc:
            trail.add(f"Keras cache {path}", f"present but not loadable ({exc.problem})")
            return None
        loc = display_path(path)
        what = f"the Keras cache file {loc}"
        return finish(x, y, "keras-cache", loc, what, keras_hash_note(path))

    def keras_download(trail: Trail):
        def call(keras):
            return keras.datasets.boston_housing.load_data(test_split=test_split, seed=seed)

        got = network.keras_download(trail, spec.keras_url, call)
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

    def package(trail: Trail):
        try:
            from mlxtend.data import boston_housing_data
        except ImportError as exc:
            trail.add(f"package copy {spec.package_call}", f"not installed ({one_line(exc)})")
            return None
        x, y = boston_housing_data()
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        expect_shape(spec.package_call, "x", x, (506, 13))
        return finish(
            x,
            y,
            "package-copy",
            "mlxtend",
            f"the copy shipped in mlxtend ({spec.package_call}, same row order)",
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
