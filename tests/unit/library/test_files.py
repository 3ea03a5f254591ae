"""The shared file helpers: one sha256 (pipeline.library.files), one atomic copy (atomic)."""

from __future__ import annotations

import hashlib
import io
import stat

import pytest

from pipeline.library import atomic
from pipeline.library.errors import PipelineError
from pipeline.library.files import sha256_file


def test_sha256_file_matches_hashlib_across_chunks(tmp_path) -> None:
    path = tmp_path / "data.bin"
    data = bytes(range(256)) * 5000  # several chunks of the small size below
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(path, chunk=1000) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_the_build_tool_and_the_library_share_one_sha256() -> None:
    from pipeline.builder import cache, store

    assert cache.sha256_file is sha256_file and store.sha256_file is sha256_file


def test_copy_file_is_complete_readable_and_leaves_no_temporary(tmp_path) -> None:
    src = tmp_path / "src.h5"
    src.write_bytes(b"x" * 3_000_000)
    target = tmp_path / "deep" / "dir" / "w.h5"
    atomic.copy_file(src, target)
    assert target.read_bytes() == src.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["w.h5"]


def test_a_failed_verify_keeps_nothing_and_the_old_file(tmp_path) -> None:
    target = tmp_path / "file.zip"
    target.write_bytes(b"old")

    def reject(tmp) -> None:
        assert tmp.read_bytes() == b"new bytes"  # the complete copy is what gets checked
        raise PipelineError("hash differs")

    with pytest.raises(PipelineError, match="hash differs"):
        atomic.copy_stream(io.BytesIO(b"new bytes"), target, verify=reject)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.zip"]
