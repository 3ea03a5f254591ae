"""The build tool's depfile reader: tokens resolve only inside their roots, a missing or garbled
record means "run again", and the rooms no key covers are dropped from a record."""

from __future__ import annotations

import json

from pipeline.builder.depfiles import InstalledVersions, hash_record, read_depfile, resolve_token
from pipeline.library.deps import NOT_KEYED


class _Hasher:
    def hash(self, path):
        return "h:" + path.read_text()


def test_resolve_token_refuses_escapes(tmp_path) -> None:
    roots = {"data": tmp_path}
    assert resolve_token("data:a/b.npz", roots) == tmp_path / "a" / "b.npz"
    assert resolve_token("data:../etc/passwd", roots) is None
    assert resolve_token("keras:x", roots) is None
    assert resolve_token("no-root", roots) is None


def test_read_depfile_reads_then_deletes_and_refuses_garbage(tmp_path) -> None:
    path = tmp_path / "deps.json"
    path.write_text(json.dumps({"modules": ["pipeline/library/runtime.py"]}))
    assert read_depfile(path) == {"modules": ["pipeline/library/runtime.py"]}
    assert not path.exists()  # it goes into the manifest, not into the assets
    assert read_depfile(path) is None  # missing: the next build runs the recipe again
    path.write_text("{not json")
    assert read_depfile(path) is None and not path.exists()
    path.write_text("[1, 2]")
    assert read_depfile(path) is None


def test_hash_record_drops_what_no_key_covers(tmp_path) -> None:
    (tmp_path / "pipeline" / "library").mkdir(parents=True)
    (tmp_path / "pipeline" / "library" / "x.py").write_text("X")
    unkeyed = [prefix + "y.py" if prefix.endswith("/") else prefix for prefix in NOT_KEYED]
    record = {"modules": ["pipeline/library/x.py", *unkeyed, "../outside.py"]}
    hashed = hash_record(record, tmp_path, {}, _Hasher(), InstalledVersions())
    assert hashed["modules"] == {"pipeline/library/x.py": "h:X", "../outside.py": "missing"}
