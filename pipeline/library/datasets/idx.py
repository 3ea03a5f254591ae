"""LeCun's IDX format (MNIST's files): gunzip split parts in memory, check the header, parse."""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.library.datasets.files import DatasetCorrupt, one_line

IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


def gunzip(paths: Sequence[Path], label: str) -> bytes:
    """Concatenate ``paths`` (split parts) in memory and gunzip; failures name the file."""
    try:
        blob = b"".join(p.read_bytes() for p in paths)
    except OSError as exc:
        raise DatasetCorrupt(label, f"cannot be read ({one_line(exc)})") from None
    try:
        return gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DatasetCorrupt(label, f"is not a complete gzip stream ({one_line(exc)})") from None


def parse_idx(raw: bytes, label: str, magic: int, tail: tuple[int, ...]) -> np.ndarray:
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
