"""Reading and checking local data files: every failure becomes :class:`DatasetCorrupt`
naming the file, never a numpy or zlib traceback.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.library.errors import ConfigError
from pipeline.library.errors import DatasetCorrupt as DatasetCorrupt  # raised by every loader
from pipeline.library.files import sha256_file

ArrayPair = tuple[np.ndarray, np.ndarray]


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]


# SHA-256 of Keras's own archives (from keras/src/datasets/*.py). Only used to annotate the page:
# a cached file that differs is still real data if it loads with the right shapes.
_KERAS_SHA256 = {
    "boston_housing.npz": "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
    "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
}


def keras_hash_note(path: Path) -> str:
    expected = _KERAS_SHA256.get(path.name)
    if expected is None:
        return ""
    if sha256_file(path) == expected:
        return "The cached file is byte-identical to Keras's published archive."
    return "The cached file loads correctly but is not byte-identical to Keras's archive."


def check_limit(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int | np.integer) or value < 0):
        raise ConfigError(f"{name} must be None or a non-negative integer, got {value!r}")


def load_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
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
        raise DatasetCorrupt(str(path), f"cannot be read as .npz ({one_line(exc)})") from None


def expect_shape(path: str, label: str, array: np.ndarray, shape: tuple[int | None, ...]) -> None:
    ok = array.ndim == len(shape) and all(
        want is None or got == want for got, want in zip(array.shape, shape, strict=False)
    )
    if not ok:
        want = tuple("N" if s is None else s for s in shape)
        raise DatasetCorrupt(path, f"{label} has shape {array.shape}, expected {want}")


def interleave_by_class(labels: np.ndarray) -> np.ndarray:
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


def decode_rgb(blob: bytes, label: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(blob)) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetCorrupt(label, f"is not a readable image ({one_line(exc)})") from None
