"""The build directory: sealed manifests, verification, atomic publishing, state, recovery."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.builder.records import Attempt, OutcomeStatus, RecipeState
from pipeline.builder.store import MANIFEST, BuildDir, CorruptEntry, file_table, seal_manifest

KEY = "ab" * 32
OTHER = "cd" * 32


def _stage(bdir: BuildDir, slug: str = "alpha", key: str = KEY, text: str = "hello") -> Path:
    staged = bdir.new_staging(slug)
    (staged / "assets").mkdir()
    (staged / "assets" / "note.txt").write_text(text)
    (staged / "notebook").mkdir()
    (staged / "notebook" / f"{slug}.md").write_text("# nb\n")
    manifest = {"slug": slug, "key": key, "metrics": {"n": 1}, "files": file_table(staged)}
    (staged / MANIFEST).write_text(json.dumps(seal_manifest(manifest)))
    return staged


@pytest.fixture
def bdir(tmp_path) -> BuildDir:
    return BuildDir(tmp_path / "build")


def test_publish_moves_a_complete_staging_dir_and_verifies(bdir) -> None:
    staged = _stage(bdir)
    entry = bdir.publish("alpha", KEY, staged)
    assert entry == bdir.entry_dir("alpha", KEY) and not staged.exists()
    manifest = bdir.verify_entry(entry, KEY)
    assert manifest["metrics"] == {"n": 1} and set(manifest["files"]) == {
        "assets/note.txt", "notebook/alpha.md"}


def test_publish_replaces_an_existing_entry_of_the_same_key(bdir) -> None:
    bdir.publish("alpha", KEY, _stage(bdir, text="old"))
    entry = bdir.publish("alpha", KEY, _stage(bdir, text="new"))
    assert (entry / "assets" / "note.txt").read_text() == "new"
    assert not any((bdir.root / "trash").iterdir())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda e: (e / "assets" / "note.txt").write_text("hel"), "differs from the manifest"),
        (lambda e: (e / "assets" / "note.txt").write_text("HELLO"), "differs from the manifest"),
        (lambda e: (e / "assets" / "note.txt").unlink(), "is missing"),
        (lambda e: (e / "assets" / "new.js").write_text("x"), "not listed in the manifest"),
        (lambda e: (e / MANIFEST).unlink(), "is missing"),
        (lambda e: (e / MANIFEST).write_text("{"), "not valid JSON"),
        (lambda e: (e / MANIFEST).write_text("[]"), "unknown schema"),
        (lambda e: _edit_manifest(e, metrics={"n": 2}), "modified after it was written"),
        (lambda e: _symlink_asset(e), "is missing"),
    ],
)
def test_any_damage_is_detected(bdir, damage, message) -> None:
    entry = bdir.publish("alpha", KEY, _stage(bdir))
    bdir.write_state("alpha", {"current": KEY})
    damage(entry)
    with pytest.raises(CorruptEntry, match=message):
        bdir.verify_entry(entry, KEY)
    assert bdir.current_entry("alpha") is None


def _edit_manifest(entry: Path, **changes) -> None:
    data = json.loads((entry / MANIFEST).read_text())
    data.update(changes)
    (entry / MANIFEST).write_text(json.dumps(data))


def _symlink_asset(entry: Path) -> None:
    target = entry / "assets" / "note.txt"
    outside = entry.parent / "outside.txt"
    outside.write_text(target.read_text())
    target.unlink()
    target.symlink_to(outside)


def test_a_resealed_manifest_cannot_point_outside_the_entry(bdir) -> None:
    entry = bdir.publish("alpha", KEY, _stage(bdir))
    data = json.loads((entry / MANIFEST).read_text())
    data.pop("integrity")
    data["files"]["../../secret"] = {"bytes": 1, "sha256": "0"}
    (entry / MANIFEST).write_text(json.dumps(seal_manifest(data)))
    with pytest.raises(CorruptEntry, match="invalid file entry"):
        bdir.verify_entry(entry, KEY)


def test_wrong_key_is_detected(bdir) -> None:
    staged = _stage(bdir, key=OTHER)
    entry = bdir.publish("alpha", KEY, staged)
    with pytest.raises(CorruptEntry, match="belongs to key"):
        bdir.verify_entry(entry, KEY)


@pytest.mark.parametrize(
    "text",
    ["{garbage", "[1, 2]", '"text"', json.dumps({"current": "../../etc"}),
     json.dumps({"current": 42}), json.dumps({"current": KEY, "last_attempt": "yesterday"}),
     json.dumps({"last_attempt": {"failure": ["x"]}})],
)
def test_bad_state_files_are_read_safely(bdir, text) -> None:
    bdir.state_dir.mkdir(parents=True)
    (bdir.state_dir / "alpha.json").write_text(text)
    state = bdir.read_state("alpha")
    assert isinstance(state, RecipeState)
    assert state.current in (None, KEY)
    assert state.last_attempt is None or state.last_attempt.failure is None
    bdir.current_entry("alpha")  # never raises


def test_state_round_trip_and_missing_state(bdir) -> None:
    assert bdir.read_state("nobody") == RecipeState()
    bdir.write_state("alpha", {"current": KEY, "last_attempt": {"status": "ran"}})
    state = bdir.read_state("alpha")
    assert state == RecipeState(KEY, Attempt(status=OutcomeStatus.RAN))
    assert state.to_dict() == {"current": KEY, "last_attempt": {"status": "ran"}}
    bdir.write_state("alpha", state)
    assert json.loads((bdir.state_dir / "alpha.json").read_text()) == state.to_dict()


def test_prune_keeps_only_the_given_keys(bdir) -> None:
    bdir.publish("alpha", KEY, _stage(bdir))
    bdir.publish("alpha", OTHER, _stage(bdir, key=OTHER))
    bdir.prune("alpha", keep={OTHER})
    assert [p.name for p in (bdir.store / "alpha").iterdir()] == [OTHER[:16]]


def test_recover_removes_staging_and_trash_but_keeps_checkpoints(bdir) -> None:
    _stage(bdir)
    (bdir.root / "trash" / "x").mkdir(parents=True)
    ckpt = bdir.checkpoint_dir("alpha", KEY)
    ckpt.mkdir(parents=True)
    (ckpt / "epoch-3.h5").write_text("weights")
    removed = bdir.recover()
    assert len(removed) == 2
    assert not any(bdir.staging.iterdir()) and not any((bdir.root / "trash").iterdir())
    assert (ckpt / "epoch-3.h5").read_text() == "weights"


def test_checkpoints_are_per_key_and_dropped_alone(bdir) -> None:
    a, b = bdir.checkpoint_dir("alpha", KEY), bdir.checkpoint_dir("alpha", OTHER)
    assert a != b and a.parent == b.parent == bdir.root / "checkpoints" / "alpha"
    for d in (a, b):
        d.mkdir(parents=True)
        (d / "state").write_text("x")
    bdir.drop_checkpoints("alpha", KEY)
    assert not a.exists() and (b / "state").exists()
    bdir.drop_checkpoints("alpha", OTHER)
    assert not (bdir.root / "checkpoints" / "alpha").exists()


def test_discard_renames_aside_first(bdir, monkeypatch) -> None:
    entry = bdir.publish("alpha", KEY, _stage(bdir))
    moves = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: moves.append((a, b)) or real(a, b))
    bdir.discard(entry)
    assert not entry.exists() and moves and Path(moves[0][1]).parent.parent == bdir.root / "trash"


def test_report_is_written_atomically(bdir) -> None:
    bdir.write_report({"outcomes": []})
    report = json.loads((bdir.reports / "last-build.json").read_text())
    assert report["outcomes"] == [] and "written_at" in report
    assert [p.name for p in bdir.reports.iterdir()] == ["last-build.json"]
