"""Pack a build's published results into one file, and unpack them elsewhere, verified.

Why: CI runners have no GPU, so the full profile is built on a GPU machine and CI must publish
that result without retraining it (it could not reproduce the cache key anyway: the backend and
package versions differ). ``pack`` writes every recipe's current store entry (manifest with its
self-hash and file table, assets, notebook) and its state pointer into one tar file, with an
index naming the profile, backend and device of each. ``unpack`` extracts into a scratch folder
first, checks every entry against its own manifest (``BuildDir.verify_entry``: integrity hash,
size and sha256 of every file, nothing extra), refuses links and paths that leave the folder,
and only then moves the entries into the build store and points the state at them. One bad file
refuses the whole pack, and the existing build is left as it was. ``mkdocs build`` then renders
the unpacked results; nothing is executed.
"""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.builder.errors import CorruptEntry
from pipeline.builder.errors import PackError as PackError  # also importable from here
from pipeline.builder.records import Manifest
from pipeline.builder.store import BuildDir

log = logging.getLogger(__name__)

INDEX = "nnx-pack.json"
PACK_FORMAT = 1


def pack_build(bdir: BuildDir, out: Path, slugs: list[str] | None = None) -> dict[str, Any]:
    """Write the current, verified entries of ``slugs`` (default: all) to the tar ``out``."""
    names = slugs or sorted(p.stem for p in bdir.state_dir.glob("*.json"))
    index: dict[str, Any] = {"format": PACK_FORMAT, "entries": {}}
    found = []
    for slug in names:
        current = bdir.current_entry(slug)
        if current is None:
            log.warning("pack: %s has no verified current result; left out", slug)
            continue
        entry, raw = current
        manifest = Manifest.from_dict(raw)
        hw = manifest.hardware
        index["entries"][slug] = {
            "key": manifest.key, "dir": entry.relative_to(bdir.root).as_posix(),
            "profile": manifest.profile,
            "backend": hw.get("keras_backend", "tensorflow"),
            "device": (hw.get("gpus") or [hw.get("accelerator", "?")])[0],
        }
        found.append((slug, entry))
    if not found:
        raise PackError(f"{bdir.root}: no verified results to pack (build first)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    with tarfile.open(tmp, "w:gz") as tar:
        blob = json.dumps(index, indent=2).encode()
        info = tarfile.TarInfo(INDEX)
        info.size = len(blob)
        import io

        tar.addfile(info, io.BytesIO(blob))
        for slug, entry in found:
            tar.add(entry, arcname=entry.relative_to(bdir.root).as_posix())
            state = bdir.state_dir / f"{slug}.json"
            tar.add(state, arcname=state.relative_to(bdir.root).as_posix())
    tmp.replace(out)
    log.info("packed %d result(s) into %s", len(found), out)
    return index


def _safe_members(tar: tarfile.TarFile, source: Path) -> list[tarfile.TarInfo]:
    members = []
    for m in tar.getmembers():
        parts = Path(m.name).parts
        if m.name.startswith("/") or ".." in parts:
            raise PackError(f"{source}: member {m.name!r} points outside the build folder")
        if not (m.isfile() or m.isdir()):
            raise PackError(f"{source}: member {m.name!r} is a link or device, not a file")
        members.append(m)
    return members


def unpack_build(source: Path, bdir: BuildDir) -> dict[str, Any]:
    """Verify every entry of the pack ``source``, then install them all into ``bdir``."""
    try:
        tar = tarfile.open(source, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise PackError(f"{source}: not a readable pack ({exc})") from None
    bdir.root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="unpack.", dir=bdir.root))
    try:
        with tar:
            try:
                members = _safe_members(tar, source)
                tar.extractall(scratch, members=members)  # noqa: S202 (members checked above)
            except (OSError, tarfile.TarError, EOFError) as exc:
                raise PackError(f"{source}: truncated or damaged ({exc})") from None
        try:
            index: dict[str, Any] = json.loads((scratch / INDEX).read_text())
        except (OSError, ValueError) as exc:
            raise PackError(f"{source}: no readable {INDEX} ({exc})") from None
        if index.get("format") != PACK_FORMAT or not isinstance(index.get("entries"), dict):
            raise PackError(f"{source}: {INDEX} has an unknown format")
        staged = BuildDir(scratch)
        for slug, facts in index["entries"].items():
            entry = scratch / str(facts.get("dir", ""))
            try:
                staged.verify_entry(entry, facts.get("key"))
            except CorruptEntry as exc:
                raise PackError(f"{source}: {slug}: {exc}; nothing was unpacked") from None
            if staged.read_state(slug).current != facts.get("key"):
                raise PackError(f"{source}: {slug}: its state does not point at the packed result")
        for slug, facts in index["entries"].items():  # all verified: install
            key = facts["key"]
            bdir.publish(slug, key, scratch / facts["dir"])
            bdir.write_state(slug, replace(bdir.read_state(slug), current=key))
        log.info("unpacked %d verified result(s) from %s", len(index["entries"]), source)
        return index
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
