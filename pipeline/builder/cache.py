"""Cache keys: one hash over everything that can change a recipe's results.

Declared, known before a run: the recipe's bytes, the parameters (profile, seed, the profile's
sizes), the hashes of the data files its header declares, the versions of TensorFlow, Keras,
NumPy and Matplotlib, and Python's version. Recorded, like a compiler's depfile
(:mod:`pipeline.library.deps` records, :mod:`pipeline.builder.depfiles` reads): the library modules the last run imported, the data files it
read and the versions of the packages it imported; the next build hashes exactly those again.
So editing a library module re-executes only the recipes that imported it, and a recipe edited
to import something new runs because its text changed. Not covered, on purpose: the page's
prose (``<slug>.md``) and the rooms listed in :data:`pipeline.library.deps.NOT_KEYED` (the build
tool, the site, and their errors), which cannot change what a recipe computes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.builder.depfiles import InstalledVersions, hash_record, read_depfile
from pipeline.library import atomic
from pipeline.library.deps import NOT_KEYED
from pipeline.library.files import sha256_file
from pipeline.library.precision import onednn_requested

log = logging.getLogger(__name__)

VERSIONED_PACKAGES = (
    ("tensorflow", ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly")),
    ("keras", ("keras",)),
    ("numpy", ("numpy",)),
    ("matplotlib", ("matplotlib",)),
)

KEY_SCHEMA = 2  # bump when the meaning of a key changes


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
    # Another Keras backend computes with other kernels: its results get their own keys; on
    # TensorFlow, the oneDNN setting does (below).
    backend = os.environ.get("KERAS_BACKEND", "tensorflow").strip() or "tensorflow"
    if backend == "tensorflow":
        # TensorFlow's oneDNN and plain CPU kernels differ in the last bits (and only oneDNN
        # trains in bfloat16), so the setting the kernels get is part of the key.
        versions["tensorflow_onednn"] = "on" if onednn_requested() else "off"
    else:
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
    """The modules a recipe's kernel can import: ``pipeline/`` minus what no key covers
    (:data:`pipeline.library.deps.NOT_KEYED`: the build tool, the site).

    Only for :func:`snapshot_sources` (hashes taken before a run); a key covers just the ones
    the recipe imported.
    """
    repo_root = package_dir.parent
    return sorted(p for p in package_dir.rglob("*.py")
                  if "__pycache__" not in p.parts
                  and not p.relative_to(repo_root).as_posix().startswith(NOT_KEYED))


def snapshot_sources(repo_root: Path, hasher: FileHasher) -> dict[str, str]:
    """``{repo-relative path: sha256}`` of every module a recipe could import, taken at planning.

    A run keys its result on these hashes of the modules it then imports, not on hashes taken
    after it finished: a module edited while its recipe runs is then seen as changed next time.
    """
    return {src.relative_to(repo_root).as_posix(): hasher.hash(src)
            for src in library_sources(repo_root / "pipeline")}


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
    hasher: FileHasher | None = None,
    versions: dict[str, str] | None = None,
    open_data: dict[str, str] | None = None,
    deps: dict[str, Any] | None = None,
) -> CacheKey:
    """Hash everything that changes a recipe's results into one hex digest.

    The declared inputs (recipe text, parameters, the header's data, the main packages'
    versions, Python's version) are known before a run. ``deps`` is what a run recorded
    (:func:`hash_record`): the library modules it imported, the data files it read and the
    packages it imported, with their hashes and versions now. ``None`` means no run has been
    recorded yet (the key of a first run, used for its checkpoints only).

    ``open_data`` maps each other data source (header ``data:``, or a registered set made by a
    package) to its file hash or its provider's version; left out of the parts when empty.
    """
    hasher = hasher or FileHasher()
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
        "profile": profile,
        "seed": seed,
        "sizes": sizes,
        "data": data_hashes,
        "versions": versions if versions is not None else package_versions(),
        "python": platform.python_version(),
    }
    if open_data:
        parts["open_data"] = dict(sorted(open_data.items()))
    return with_deps(parts, deps)


def with_deps(declared: dict[str, Any], deps: dict[str, Any] | None) -> CacheKey:
    """The key of ``declared`` parts plus a recorded run's hashed dependencies."""
    parts = {k: v for k, v in declared.items() if k != "deps"}
    parts["deps"] = _digest(deps) if deps is not None else "unrecorded"
    return CacheKey(_digest(parts), parts)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def key_after_run(declared: dict[str, Any], depfile: Path, repo_root: Path,
                  roots: dict[str, Path], sources: dict[str, str],
                  hasher: FileHasher | None = None,
                  threads: str | None = None) -> tuple[CacheKey, dict[str, Any] | None]:
    """The key of a finished run: its declared parts plus what its depfile recorded.

    Reads and deletes ``depfile`` (it goes into the manifest, not into the assets). Module
    hashes come from ``sources``, the snapshot taken when the build was planned. ``threads``:
    the thread count the build gave the kernel (a count or "default"), recorded with the rest
    of what the run used, because it changes the last bits of its numbers.
    """
    record = read_depfile(depfile)
    if record is None:
        return with_deps(declared, None), None
    if threads is not None:
        record["threads"] = threads
    deps = hash_record(record, repo_root, roots, hasher or FileHasher(), InstalledVersions(),
                       sources)
    return with_deps(declared, deps), deps


def changes(before: dict[str, Any] | None, after_parts: dict[str, Any],
            after_deps: dict[str, Any] | None) -> list[str]:
    """Why a recipe must run: the inputs that differ from its last published result.

    ``before`` is that result's manifest (None: never built). Each reason names the input, as
    ``--dry-run`` prints it: ``pipeline/library/x.py changed``, ``package keras 3.10 -> 3.11``.
    """
    if before is None:
        return ["never built"]
    reasons: list[str] = []
    old = before.get("key_parts") or {}
    for name in sorted(set(old) | set(after_parts)):
        if name == "deps":
            continue
        a, b = old.get(name), after_parts.get(name)
        if a == b:
            continue
        if name == "recipe":
            reasons.append("recipe text changed")
        elif name in ("profile", "seed", "python"):
            reasons.append(f"{name} changed ({a} -> {b})")
        elif name == "sizes":
            reasons.append("profile sizes changed")
        elif name == "schema":
            reasons.append("cache key format changed")
        elif name in ("data", "open_data") and isinstance(a, dict) and isinstance(b, dict):
            reasons += [f"data {label} changed" for label in sorted(set(a) | set(b))
                        if a.get(label) != b.get(label)]
        elif name == "versions" and isinstance(a, dict) and isinstance(b, dict):
            reasons += [f"package {label} {a.get(label, 'absent')} -> {b.get(label, 'absent')}"
                        for label in sorted(set(a) | set(b)) if a.get(label) != b.get(label)]
        else:
            reasons.append(f"{name} changed")
    recorded = before.get("deps")
    if not isinstance(recorded, dict) or after_deps is None:
        reasons.append("no record of what it used (built before depfiles)")
        return reasons
    for kind in ("modules", "data", "packages"):
        a, b = recorded.get(kind) or {}, after_deps.get(kind) or {}
        for name in sorted(set(a) | set(b)):
            if a.get(name) == b.get(name):
                continue
            if kind == "packages":
                reasons.append(f"package {name} {a.get(name)} -> {b.get(name)}")
            elif b.get(name) == "missing":
                reasons.append(f"{'data file ' if kind == 'data' else ''}{name} removed")
            else:
                reasons.append(f"{'data file ' if kind == 'data' else ''}{name} changed")
    return reasons


def _data_label(path: Path) -> str:
    """A machine-independent label for a data file: its last two path components."""
    return "/".join(path.parts[-2:])


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
