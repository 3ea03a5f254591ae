"""File facts shared by the build tool and the library: the one SHA-256 of a file.

Standard library only, so the build tool (store manifests, cache keys) and the library (data
copies, downloads) hash files with the same function and agree on every digest.
"""

from __future__ import annotations

import hashlib
import os

#: Bytes read at a time: large data files are hashed without being loaded into memory.
CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str], chunk: int = CHUNK) -> str:
    """The hex SHA-256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
