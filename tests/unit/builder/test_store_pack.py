"""Packing a build (e.g. the GPU's full profile) and unpacking it where CI publishes it."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from pipeline.builder import store_pack
from pipeline.builder.cli import main
from pipeline.builder.store import MANIFEST, BuildDir, file_table, seal_manifest
from pipeline.site import plugin as mkdocs_hook

KEY_A = "ab" * 32
KEY_B = "cd" * 32


def _result(bdir: BuildDir, slug: str, key: str, text: str, device: str = "NVIDIA H200") -> None:
    staged = bdir.new_staging(slug)
    (staged / "assets").mkdir()
    (staged / "assets" / "loss.svg").write_text(text)
    (staged / "notebook").mkdir()
    (staged / "notebook" / f"{slug}.md").write_text("# nb\n")
    manifest = {"slug": slug, "key": key, "profile": "full", "metrics": {"acc": 0.81},
                "hardware": {"keras_backend": "jax", "gpus": [device]},
                "files": file_table(staged)}
    (staged / MANIFEST).write_text(json.dumps(seal_manifest(manifest)))
    bdir.publish(slug, key, staged)
    bdir.write_state(slug, {"current": key})


@pytest.fixture
def packed(tmp_path) -> tuple[Path, BuildDir]:
    gpu = BuildDir(tmp_path / "gpu-build")
    _result(gpu, "alpha", KEY_A, "<svg>alpha</svg>")
    _result(gpu, "beta", KEY_B, "<svg>beta</svg>")
    out = tmp_path / "full.nnxpack"
    index = store_pack.pack_build(gpu, out)
    assert set(index["entries"]) == {"alpha", "beta"}
    assert index["entries"]["alpha"]["device"] == "NVIDIA H200"
    assert index["entries"]["alpha"]["backend"] == "jax"
    return out, gpu


def test_round_trip_installs_the_same_verified_results(packed, tmp_path) -> None:
    out, gpu = packed
    ci = BuildDir(tmp_path / "ci-build")
    store_pack.unpack_build(out, ci)
    for slug, key in (("alpha", KEY_A), ("beta", KEY_B)):
        entry, manifest = ci.current_entry(slug)
        assert manifest == gpu.verify_entry(gpu.entry_dir(slug, key), key)
        assert (entry / "assets" / "loss.svg").read_text() == f"<svg>{slug}</svg>"
    assert not [p for p in ci.root.iterdir() if p.name.startswith("unpack.")]  # scratch removed


def test_the_site_serves_unpacked_results(packed, tmp_path) -> None:
    """CI's path: unpack, then mkdocs reads the unpacked entries (no `pipeline build` runs)."""
    out, _ = packed
    ci = BuildDir(tmp_path / "ci-build")
    assert main(["--build-dir", str(ci.root), "unpack", str(out)]) == 0
    result = mkdocs_hook._current_result(ci, "alpha")
    assert result["problem"] is None and result["manifest"].hardware["gpus"] == ["NVIDIA H200"]


def _rewrite(src: Path, dst: Path, change) -> None:
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dst, "w:gz") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read() if m.isfile() else None
            m, data = change(m, data)
            tout.addfile(m, io.BytesIO(data) if data is not None else None)


def test_a_corrupted_file_is_refused_and_nothing_is_installed(packed, tmp_path) -> None:
    out, _ = packed
    bad = tmp_path / "bad.nnxpack"

    def flip(m, data):
        if m.name.endswith("beta/" + KEY_B[:16] + "/assets/loss.svg"):
            data = data.replace(b"beta", b"bet4")
        return m, data

    _rewrite(out, bad, flip)
    ci = BuildDir(tmp_path / "ci-build")
    _result(ci, "alpha", "ef" * 32, "<svg>older</svg>", device="CPU")  # what CI had before
    with pytest.raises(store_pack.PackError, match=r"beta: .*loss.svg differs from the manifest"):
        store_pack.unpack_build(bad, ci)
    entry, manifest = ci.current_entry("alpha")  # unchanged: alpha (valid in the pack) too
    assert manifest["key"] == "ef" * 32 and ci.current_entry("beta") is None
    assert main(["--build-dir", str(ci.root), "unpack", str(bad)]) == 1


def test_paths_outside_the_build_and_links_are_refused(packed, tmp_path) -> None:
    out, _ = packed
    evil = tmp_path / "evil.nnxpack"

    def escape(m, data):
        if m.name.endswith("loss.svg"):
            m.name = "../../escaped.svg"
        return m, data

    _rewrite(out, evil, escape)
    with pytest.raises(store_pack.PackError, match="outside the build folder"):
        store_pack.unpack_build(evil, BuildDir(tmp_path / "ci"))
    assert not (tmp_path / "escaped.svg").exists()
    truncated = tmp_path / "cut.nnxpack"
    truncated.write_bytes(out.read_bytes()[:200])
    with pytest.raises(store_pack.PackError, match="cut.nnxpack"):
        store_pack.unpack_build(truncated, BuildDir(tmp_path / "ci2"))


def test_packing_nothing_is_an_error(tmp_path) -> None:
    with pytest.raises(store_pack.PackError, match="no verified results"):
        store_pack.pack_build(BuildDir(tmp_path / "empty"), tmp_path / "x.nnxpack")
