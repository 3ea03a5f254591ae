"""The build tool's side of depfiles: read what a run recorded, and hash it again now.

A recipe's kernel records what it used (:mod:`pipeline.library.deps`: library modules, data
files as ``ROOT:relative/path`` tokens, package versions) and writes ``deps.json`` next to
``outputs.json``. This module reads that record back, resolves its data tokens to files under
the same roots (:func:`pipeline.library.deps.data_roots`, shared by both sides so a token means
the same file), and states each entry as it is *now*: module and data hashes, package versions.
The cache (:mod:`pipeline.builder.cache`) keys the next build on exactly that.

Kept apart from the recorder because they run in different processes for different reasons:
the recorder is library code (in every recipe's key), the reader is the build tool's (in no key).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from pipeline.library.deps import NOT_KEYED, canonical_name

log = logging.getLogger(__name__)


class Hasher(Protocol):
    """What :func:`hash_record` needs of a file hasher (``pipeline.builder.cache.FileHasher``)."""

    def hash(self, path: Path) -> str: ...


def resolve_token(token: str, roots: Mapping[str, Path]) -> Path | None:
    """The file a ``ROOT:relative/path`` token names under ``roots`` (None: unknown root)."""
    root, sep, rel = token.partition(":")
    if not sep or root not in roots or not rel or ".." in rel.split("/"):
        return None
    return roots[root] / rel


def read_depfile(path: Path) -> dict[str, Any] | None:
    """The record a run wrote at ``path``, which is then deleted (it goes into the manifest, not
    into the assets). None, with a warning, when it is missing or unreadable: the next build
    then runs the recipe again, as for one never built."""
    if not path.is_file():
        log.warning("%s is missing: the next build cannot tell what this run used", path)
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s): the next build cannot tell what this run used",
                    path, exc)
        record = None
    path.unlink(missing_ok=True)
    return record if isinstance(record, dict) else None


class InstalledVersions:
    """Installed distributions' versions, looked up once per build without importing them.

    ``importlib.metadata.version`` searches ``sys.path`` on every call (about 2 ms each); a
    recipe imports some 50 distributions, so the build lists the ``*.dist-info`` folders once.
    """

    def __init__(self) -> None:
        self._found: dict[str, str] | None = None

    def _scan(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for entry in sys.path:
            with contextlib.suppress(OSError):
                for name in sorted(os.listdir(entry or ".")):
                    if name.endswith(".dist-info"):
                        dist, _, version = name[: -len(".dist-info")].partition("-")
                        found.setdefault(canonical_name(dist), version)
        return found

    def version(self, distribution: str) -> str:
        if self._found is None:
            self._found = self._scan()
        name = canonical_name(distribution)
        if name not in self._found:  # egg-info, editable installs: ask importlib (slow, rare)
            try:
                self._found[name] = metadata.version(distribution)
            except metadata.PackageNotFoundError:
                self._found[name] = "absent"
        return self._found[name]


def hash_record(record: Mapping[str, Any], repo_root: Path, roots: Mapping[str, Path],
                hasher: Hasher, versions: InstalledVersions,
                snapshot: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A depfile's entries with their state now: module and data hashes, package versions.

    ``record`` is a depfile (lists of modules and data tokens) or an earlier result of this
    function (the same names as dict keys). ``snapshot``: module hashes taken before the run
    (``pipeline.builder.cache.snapshot_sources``), used instead of hashing the files now.
    Modules of the rooms no key covers (:data:`pipeline.library.deps.NOT_KEYED`) are dropped,
    should an older record list one.
    """
    snapshot = snapshot or {}

    def file_hash(path: Path | None) -> str:
        return hasher.hash(path) if path is not None and path.is_file() else "missing"

    modules = {rel: snapshot.get(rel) or file_hash(_inside(repo_root, rel))
               for rel in sorted(record.get("modules", ())) if not rel.startswith(NOT_KEYED)}
    data = {token: file_hash(resolve_token(token, roots))
            for token in sorted(record.get("data", ()))}
    packages = {name: versions.version(name) for name in sorted(record.get("packages", ()))}
    hashed: dict[str, Any] = {"modules": modules, "data": data, "packages": packages}
    if "threads" in record:  # the kernel's thread count (pipeline.builder.resources): as used
        hashed["threads"] = str(record["threads"])
    return hashed


def _inside(root: Path, rel: str) -> Path | None:
    """``root / rel`` for a relative path that stays inside ``root`` (a record is data)."""
    if rel.startswith("/") or ".." in rel.split("/"):
        return None
    return root / rel
