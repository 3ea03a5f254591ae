"""CIFAR-10: the lossless exact subset, the JPEG copies of the official sets, the Keras cache
(pickled batches, read without running code) and the Keras download.
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipeline.library.datasets import network
from pipeline.library.datasets.files import (
    ArrayPair,
    DatasetCorrupt,
    check_limit,
    decode_rgb,
    expect_shape,
    load_npz,
    one_line,
)
from pipeline.library.datasets.places import display_path, keras_cache_root, resolve_data_dir
from pipeline.library.datasets.registry import (
    CIFAR10_CLASSES,
    CIFAR_EXACT,
    CIFAR_JPEG_DIR,
    FIX_DATA_DIR,
    DataSource,
    check_source,
    dataset_spec,
)
from pipeline.library.datasets.sources import Trail, run_stages, verified_files
from pipeline.library.errors import ConfigError, DatasetUnavailable
from pipeline.library.suggest import did_you_mean

log = logging.getLogger(__name__)

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
        raise DatasetCorrupt(str(path), f"is not a CIFAR-10 batch ({one_line(exc)})") from None
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
    arrays = load_npz(path, ["x_train", "y_train", "x_test", "y_test"])
    for key in ("x_train", "x_test"):
        expect_shape(str(path), key, arrays[key], (None, 32, 32, 3))
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
    check_limit("limit_train", limit_train)
    check_limit("limit_test", limit_test)
    spec = dataset_spec("cifar10")
    data = resolve_data_dir(data_dir)
    common: dict[str, Any] = {"limit_train": limit_train, "limit_test": limit_test}

    def verified(trail: Trail):
        if prefer == "jpeg_pool":
            zips = [f"{CIFAR_JPEG_DIR}/{c}.zip" for c in CIFAR10_CLASSES]
            if verified_files(trail, data, [CIFAR_EXACT, *zips]) is None:
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
        files = verified_files(trail, data, [CIFAR_EXACT])
        if files is None:
            return None
        train, test = _read_cifar_exact(files[0])
        loc = display_path(files[0])
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

    def keras_cache(trail: Trail):
        root = keras_cache_root()
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
            loc = display_path(folder)
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

    def keras_download(trail: Trail):
        got = network.keras_download(
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

    return run_stages(
        spec,
        source,
        {"verified": verified, "keras-cache": keras_cache, "keras-download": keras_download},
    )


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
    check_source(source, ("auto", "verified"))
    for name, value in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if not isinstance(value, int | np.integer) or value < 0:
            raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
    data = resolve_data_dir(data_dir)
    trail = Trail()
    zips = [f"{CIFAR_JPEG_DIR}/{c}.zip" for c in CIFAR10_CLASSES]
    needed = ([CIFAR_EXACT] if exact_test else []) + zips
    files = verified_files(trail, data, needed)
    if files is None:
        raise DatasetUnavailable(
            "cifar10",
            trail.places,
            f"put {CIFAR_JPEG_DIR}/<class>.zip (and {CIFAR_EXACT}) in the data directory "
            f"({FIX_DATA_DIR}); there is no other source of this JPEG pool. "
            "Or use load_cifar10(source='keras') with internet.",
        )
    assert data is not None  # verified_files checked it

    exact_x = exact_y = None
    n_exact = np.zeros(10, dtype=np.int64)
    if exact_test:
        _, (exact_x, exact_y) = _read_cifar_exact(data / CIFAR_EXACT)
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
        zpath = data / CIFAR_JPEG_DIR / f"{cls}.zip"
        try:
            with zipfile.ZipFile(zpath) as zf:
                for r in sorted(wanted[c]):
                    member = f"{cls}/{r:04d}.jpg"
                    try:
                        blob = zf.read(member)
                    except KeyError:
                        raise DatasetCorrupt(str(zpath), f"has no member {member}") from None
                    img = decode_rgb(blob, f"{zpath}:{member}")
                    if img.shape != (32, 32, 3):
                        raise DatasetCorrupt(f"{zpath}:{member}", f"has shape {img.shape}")
                    images[(r, c)] = img
        except (zipfile.BadZipFile, OSError, zlib.error) as exc:
            raise DatasetCorrupt(str(zpath), f"is not a readable zip ({one_line(exc)})") from None

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

    loc = display_path(data / CIFAR_JPEG_DIR)
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
                img = decode_rgb(blob, f"{path}:{member.name}")
                if img.shape != (32, 32, 3):
                    raise DatasetCorrupt(f"{path}:{member.name}", f"has shape {img.shape}")
                found[r] = img
                if len(found) == ranks:
                    break
    except (tarfile.TarError, lzma.LZMAError, OSError, EOFError) as exc:
        raise DatasetCorrupt(str(path), f"is not a readable tar.xz archive ({one_line(exc)})") from None
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
    data = resolve_data_dir(data_dir)
    trail = Trail()
    tars = [f"{_CIFAR_TRAIN_JPEG_DIR}/{c}.tar.xz" for c in CIFAR10_CLASSES]
    zips = [f"{CIFAR_JPEG_DIR}/{c}.zip" for c in CIFAR10_CLASSES]
    if verified_files(trail, data, [CIFAR_EXACT, *tars, *zips]) is None:
        raise DatasetUnavailable(
            "cifar10",
            trail.places,
            f"put {_CIFAR_TRAIN_JPEG_DIR}/<class>.tar.xz, {CIFAR_JPEG_DIR}/<class>.zip and "
            f"{CIFAR_EXACT} in the data directory ({FIX_DATA_DIR}), or use "
            "load_cifar10(source='keras') with internet.",
        )
    assert data is not None  # verified_files checked it
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

    _, (exact_x, exact_y) = _read_cifar_exact(data / CIFAR_EXACT)
    exact_y = exact_y.reshape(-1).astype(np.uint8)
    n_exact = np.bincount(exact_y, minlength=10)
    pairs = sorted((r, c) for c in range(10) for r in range(int(n_exact[c]), test_per_class))
    images: dict[tuple[int, int], np.ndarray] = {}
    for c, cls in enumerate(CIFAR10_CLASSES):
        zpath = data / CIFAR_JPEG_DIR / f"{cls}.zip"
        try:
            with zipfile.ZipFile(zpath) as zf:
                for r in range(int(n_exact[c]), test_per_class):
                    member = f"{cls}/{r:04d}.jpg"
                    try:
                        blob = zf.read(member)
                    except KeyError:
                        raise DatasetCorrupt(str(zpath), f"has no member {member}") from None
                    images[(r, c)] = decode_rgb(blob, f"{zpath}:{member}")
        except (zipfile.BadZipFile, OSError, zlib.error) as exc:
            raise DatasetCorrupt(str(zpath), f"is not a readable zip ({one_line(exc)})") from None
    jpeg_x = [images[p] for p in pairs]
    x_test = np.concatenate([exact_x.astype(np.uint8), np.stack(jpeg_x)]) if jpeg_x else exact_x
    y_test = np.concatenate([exact_y, np.array([c for _, c in pairs], np.uint8)]).reshape(-1, 1)

    loc = display_path(data / _CIFAR_TRAIN_JPEG_DIR)
    complete = train_per_class == 5000 and test_per_class == 1000
    desc = (
        f"CIFAR-10 as JPEG, verified copy ({loc} and {display_path(data / CIFAR_JPEG_DIR)}): "
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
