"""The build directory: immutable result entries, per-recipe state, staging and recovery.

Layout (all under ``build/``)::

    store/<slug>/<key16>/        one complete result: manifest.json, assets/, notebook/
    state/<slug>.json            which store entry is current (last good) + the last attempt
    staging/<slug>.<random>/     a run in progress; renamed into store/ only when complete
    checkpoints/<slug>/<key16>/  a recipe's own checkpoints for one key: survives a killed or
                                 failed run (so a re-run can resume), deleted once published
    reports/last-build.json      the summary of the last build

A store entry appears only by renaming a finished staging directory, so a killed build can never
leave a truncated entry behind; its ``manifest.json`` carries the size and sha256 of every file and
a hash of itself, so a corrupted or hand-edited entry is detected and rebuilt, never served.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.builder.errors import CorruptEntry as CorruptEntry  # also importable from here
from pipeline.builder.records import RecipeState, read_state
from pipeline.library import atomic
from pipeline.library.files import sha256_file

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = 1


def _integrity(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "integrity"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def seal_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return the manifest with its self-hash, so any later edit is detectable."""
    sealed = dict(manifest)
    sealed["schema"] = MANIFEST_SCHEMA
    sealed["integrity"] = _integrity(sealed)
    return sealed


def file_table(root: Path, exclude: tuple[str, ...] = (MANIFEST,)) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every file under ``root`` (relative posix paths)."""
    table = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel in exclude:
            continue
        table[rel] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return table


def file_table_names(root: Path) -> list[str]:
    """Relative posix paths of every file (or link) under ``root``."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() or p.is_symlink())


def _safe_rel(rel: Any) -> bool:
    if not isinstance(rel, str) or not rel or rel.startswith("/") or "\\" in rel:
        return False
    return all(part not in ("", ".", "..") for part in rel.split("/"))


@dataclass(frozen=True)
class BuildDir:
    """Paths and operations on one build directory."""

    root: Path

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    @property
    def hash_memo(self) -> Path:
        return self.root / ".hashes.json"

    def entry_dir(self, slug: str, key: str) -> Path:
        return self.store / slug / key[:16]

    def checkpoint_dir(self, slug: str, key: str) -> Path:
        """Where a run of ``slug`` with cache key ``key`` keeps checkpoints it can resume from."""
        return self.checkpoints / slug / key[:16]

    def drop_checkpoints(self, slug: str, key: str) -> None:
        """Delete the checkpoints of one key (its result is published, or --force was given)."""
        self.discard(self.checkpoint_dir(slug, key))
        with contextlib.suppress(OSError):
            (self.checkpoints / slug).rmdir()  # only if empty

    # -- state ----------------------------------------------------------------------------
    def read_state(self, slug: str) -> RecipeState:
        """The state of ``slug``; fields that are missing, garbled or hand-edited are dropped.

        State is only a pointer into the store plus the last attempt: losing it costs nothing
        (the next build finds the entry for the current key and rewrites it), while trusting a
        bad value could point the site at a path outside the store (see
        :meth:`RecipeState.from_dict`).
        """
        path = self.state_dir / f"{slug}.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return RecipeState()
        except (OSError, ValueError):
            log.warning("state file %s is unreadable; treating %s as never built", path, slug)
            return RecipeState()
        return RecipeState.from_dict(data, where=path)

    def write_state(self, slug: str, state: RecipeState | dict[str, Any]) -> None:
        """Write ``slug``'s state (a dict is checked as :meth:`read_state` would read it)."""
        atomic.write_json(self.state_dir / f"{slug}.json", read_state(state).to_dict())

    # -- entries --------------------------------------------------------------------------
    def verify_entry(self, entry: Path, expected_key: str | None = None) -> dict[str, Any]:
        """Load and check a store entry's manifest and files; raise :class:`CorruptEntry`."""
        mpath = entry / MANIFEST
        try:
            manifest = json.loads(mpath.read_text())
        except FileNotFoundError:
            raise CorruptEntry(f"{mpath} is missing") from None
        except (OSError, ValueError) as exc:
            raise CorruptEntry(f"{mpath} is not valid JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
            raise CorruptEntry(f"{mpath} has an unknown schema")
        if manifest.get("integrity") != _integrity(manifest):
            raise CorruptEntry(f"{mpath} was modified after it was written (integrity hash differs)")
        if expected_key and manifest.get("key") != expected_key:
            raise CorruptEntry(f"{mpath} belongs to key {manifest.get('key')}, not {expected_key}")
        files = manifest.get("files")
        if not isinstance(files, dict):
            raise CorruptEntry(f"{mpath} has no file table")
        for rel, facts in files.items():
            if not _safe_rel(rel) or not isinstance(facts, dict):
                raise CorruptEntry(f"{mpath} lists an invalid file entry {rel!r}")
            path = entry / rel
            if path.is_symlink() or not path.is_file():
                raise CorruptEntry(f"{path} listed in the manifest is missing")
            if path.stat().st_size != facts.get("bytes") or sha256_file(path) != facts.get("sha256"):
                raise CorruptEntry(f"{path} differs from the manifest (truncated or edited)")
        extra = sorted(set(file_table_names(entry)) - set(files) - {MANIFEST})
        if extra:
            raise CorruptEntry(f"{entry / extra[0]} is not listed in the manifest (added by hand?)")
        return manifest

    def current_entry(self, slug: str) -> tuple[Path, dict[str, Any]] | None:
        """The last good entry of ``slug`` if it verifies, else None."""
        key = self.read_state(slug).current
        if not key:
            return None
        entry = self.entry_dir(slug, key)
        try:
            return entry, self.verify_entry(entry, key)
        except CorruptEntry as exc:
            log.warning("ignoring corrupt entry for %s: %s", slug, exc)
            return None

    def new_staging(self, slug: str) -> Path:
        self.staging.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{slug}.", dir=self.staging))

    def publish(self, slug: str, key: str, staged: Path) -> Path:
        """Move a finished staging directory into the store (atomic rename)."""
        target = self.entry_dir(slug, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            self.discard(target)
        os.rename(staged, target)
        return target

    def discard(self, path: Path) -> None:
        """Remove a directory by first renaming it aside, so it never looks half-deleted."""
        if not path.exists():
            return
        trash = self.root / "trash"
        trash.mkdir(parents=True, exist_ok=True)
        aside = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=trash))
        os.replace(path, aside / "x")
        shutil.rmtree(aside, ignore_errors=True)

    def prune(self, slug: str, keep: set[str]) -> None:
        """Delete store entries of ``slug`` other than the given keys (16-char prefixes)."""
        folder = self.store / slug
        if not folder.is_dir():
            return
        for entry in folder.iterdir():
            if entry.name not in {k[:16] for k in keep}:
                self.discard(entry)

    def recover(self) -> list[str]:
        """Clean what an interrupted build left behind: staging dirs and the trash."""
        removed = []
        for folder in (self.staging, self.root / "trash"):
            if folder.is_dir():
                for leftover in folder.iterdir():
                    shutil.rmtree(leftover, ignore_errors=True)
                    with contextlib.suppress(OSError):
                        leftover.unlink()
                    removed.append(leftover.name)
        if removed:
            log.info("removed %d leftovers of an interrupted build", len(removed))
        return removed

    def write_report(self, report: dict[str, Any]) -> None:
        report = dict(report, written_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        atomic.write_json(self.reports / "last-build.json", report)
