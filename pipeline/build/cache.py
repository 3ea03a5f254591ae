"""Cache keys: one hash over everything that can change a recipe's results.

Covered: the recipe's bytes, the source of the pipeline modules a recipe can import, the
parameters (profile, seed, the profile's sizes), the hashes of the data files the recipe declares,
and the versions of TensorFlow, Keras, NumPy and Matplotlib. Not covered, on purpose: the page's
prose (``<slug>.md``) and the build tool's own orchestration modules, which cannot change what
a recipe computes. Editing prose therefore never retrains.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.library import atomic
from pipeline.library.files import sha256_file

log = logging.getLogger(__name__)

VERSIONED_PACKAGES = (
    ("tensorflow", ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly")),
    ("keras", ("keras",)),
    ("numpy", ("numpy",)),
    ("matplotlib", ("matplotlib",)),
)

KEY_SCHEMA = 1  # bump when the meaning of a key changes


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that change results (no imports: metadata only)."""
    versions: dict[str, str] = {}
    for label, dists in VERSIONED_PACKAGES:
        for dist in dists:
            try:
                versions[label] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
        else:
            versions[label] = "absent"
    # Another Keras backend computes with other kernels: its results get their own keys. (The
    # default, TensorFlow, adds nothing, so existing keys stay valid.)
    backend = os.environ.get("KERAS_BACKEND", "tensorflow").strip() or "tensorflow"
    if backend != "tensorflow":
        versions["keras_backend"] = backend
        try:
            versions[backend] = metadata.version(backend)
        except metadata.PackageNotFoundError:
            versions[backend] = "absent"
    return versions


#: A file modified this recently (seconds) is hashed but not memoised: a rewrite of the same
#: size within one file-system timestamp tick would keep (size, mtime) and hide the change
#: (git's "racily clean" problem).
RACY_WINDOW_S = 2.0


class FileHasher:
    """sha256 of files, memoised by (size, mtime) in a small JSON file so warm builds are fast."""

    def __init__(self, memo_path: Path | None = None) -> None:
        self.memo_path = memo_path
        self._memo: dict[str, list[Any]] = {}
        self._dirty = False
        if memo_path and memo_path.exists():
            try:
                loaded = json.loads(memo_path.read_text())
                if isinstance(loaded, dict):
                    self._memo = loaded
            except (OSError, ValueError):
                log.warning("ignoring unreadable hash memo %s", memo_path)

    def hash(self, path: Path) -> str:
        st = path.stat()
        key = str(path.resolve())
        stamp = [st.st_size, st.st_mtime_ns]
        hit = self._memo.get(key)
        if isinstance(hit, list) and len(hit) == 3 and hit[:2] == stamp and isinstance(hit[2], str):
            return hit[2]
        digest = sha256_file(path)
        if time.time_ns() - st.st_mtime_ns > RACY_WINDOW_S * 1e9:
            self._memo[key] = [*stamp, digest]
            self._dirty = True
        else:
            self._memo.pop(key, None)
        return digest

    def save(self) -> None:
        if self.memo_path and self._dirty:
            atomic.write_json(self.memo_path, self._memo)
            self._dirty = False


def library_sources(package_dir: Path) -> list[Path]:
    """The explainer library's modules (``pipeline/library/``): the code a recipe runs.

    The build tool (``pipeline/build/``) and the site (``pipeline/site/``) never change a result,
    so they are not part of any key.
    """
    return sorted((package_dir / "library").rglob("*.py"))


@dataclass(frozen=True)
class CacheKey:
    """The key and the parts it was computed from (kept in the manifest for debugging)."""

    digest: str
    parts: dict[str, Any]

    @property
    def short(self) -> str:
        return self.digest[:16]


def compute_key(
    recipe_path: Path,
    profile: str,
    seed: int,
    sizes: dict[str, Any],
    data_files: list[Path],
    package_dir: Path,
    hasher: FileHasher | None = None,
    versions: dict[str, str] | None = None,
    open_data: dict[str, str] | None = None,
) -> CacheKey:
    """Hash everything that changes a recipe's results into one hex digest.

    ``open_data`` maps each other data source (header ``data:``, or a registered set made by a
    package) to its file hash or its provider's version; left out of the parts when empty, so
    recipes without such data keep their keys.
    """
    hasher = hasher or FileHasher()
    lib = hashlib.sha256()
    for src in library_sources(package_dir):
        lib.update(src.relative_to(package_dir).as_posix().encode())
        lib.update(b"\0")
        lib.update(src.read_bytes())
        lib.update(b"\0")
    by_label: dict[str, list[str]] = {}
    for f in sorted(set(data_files)):
        by_label.setdefault(_data_label(f), []).append(hasher.hash(f) if f.exists() else "missing")
    # Two files can share a label (same folder and file name in two places): keep every hash,
    # in an order that does not depend on where the files are.
    data_hashes: dict[str, Any] = {
        label: hashes[0] if len(hashes) == 1 else sorted(hashes) for label, hashes in by_label.items()
    }
    parts: dict[str, Any] = {
        "schema": KEY_SCHEMA,
        "recipe": hashlib.sha256(recipe_path.read_bytes()).hexdigest(),
        "library": lib.hexdigest(),
        "profile": profile,
        "seed": seed,
        "sizes": sizes,
        "data": data_hashes,
        "versions": versions if versions is not None else package_versions(),
    }
    if open_data:
        parts["open_data"] = dict(sorted(open_data.items()))
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return CacheKey(hashlib.sha256(blob).hexdigest(), parts)


def _data_label(path: Path) -> str:
    """A machine-independent label for a data file: its last two path components."""
    return "/".join(path.parts[-2:])


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
