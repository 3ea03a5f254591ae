"""Cache keys: deterministic, blind to the order data files are listed in, and sensitive to every
input that can change a result (recipe, profile, seed, sizes, data, versions, and what the last
run recorded: library modules, data files, packages)."""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.builder import cache
from pipeline.builder.cache import (
    FileHasher,
    changes,
    compute_key,
    library_sources,
)
from pipeline.builder.depfiles import InstalledVersions, hash_record

VERSIONS = {"tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.0.0", "matplotlib": "3.9.0"}

names = st.text("abcdefghij_", min_size=1, max_size=8)
sizes_st = st.dictionaries(names, st.one_of(st.integers(-5, 10**6), st.text(max_size=6),
                                            st.floats(allow_nan=False, allow_infinity=False)),
                           max_size=4)
data_st = st.dictionaries(names, st.binary(max_size=64), min_size=0, max_size=4)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("keys")


class Inputs:
    """Everything compute_key reads, laid out in a fresh folder."""

    def __init__(self, root: Path, recipe: bytes, data: dict[str, bytes]) -> None:
        self.root = Path(tempfile.mkdtemp(dir=root))
        self.recipe = self.root / "x.recipe.py"
        self.recipe.write_bytes(recipe)
        self.package = self.root / "pipeline"
        (self.package / "library" / "replay").mkdir(parents=True)
        (self.package / "builder").mkdir()
        (self.package / "library" / "runtime.py").write_text("A = 1\n")
        (self.package / "library" / "replay" / "panels.py").write_text("B = 2\n")
        (self.package / "builder" / "cli.py").write_text("# the build tool: not part of the key\n")
        self.roots = {"data": self.root / "data"}
        self.data: list[Path] = []
        for i, (name, content) in enumerate(sorted(data.items())):
            path = self.root / "data" / f"set{i % 2}" / f"{name}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            self.data.append(path)

    def key(self, profile: str = "quick", seed: int = 0, sizes: dict | None = None,
            data: list[Path] | None = None, versions: dict | None = None,
            record: dict | None = None) -> str:
        """The key with the recorded dependencies ``record`` (default: both library modules)."""
        record = record if record is not None else {
            "modules": ["pipeline/library/runtime.py", "pipeline/library/replay/panels.py"]}
        deps = hash_record(record, self.root, self.roots, FileHasher(), InstalledVersions())
        return compute_key(self.recipe, profile, seed, sizes or {}, self.data if data is None else data,
                           hasher=FileHasher(), versions=versions or VERSIONS, deps=deps).digest


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recipe=st.binary(max_size=200), profile=st.sampled_from(["quick", "full"]),
       seed=st.integers(0, 2**31), sizes=sizes_st, data=data_st, order=st.randoms())
def test_key_is_deterministic_and_ignores_data_order(workspace, recipe, profile, seed, sizes,
                                                      data, order) -> None:
    inputs = Inputs(workspace, recipe, data)
    first = inputs.key(profile, seed, sizes)
    shuffled = list(inputs.data)
    order.shuffle(shuffled)
    assert inputs.key(profile, seed, dict(reversed(list(sizes.items()))), data=shuffled) == first
    assert inputs.key(profile, seed, sizes, data=shuffled + shuffled[:1]) == first  # duplicates
    # A second, independent computation (fresh hasher, same inputs) agrees.
    assert inputs.key(profile, seed, sizes) == first


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(recipe=st.binary(max_size=200), seed=st.integers(0, 2**31), sizes=sizes_st,
       data=data_st.filter(bool), which=st.integers(0, 100), extra=st.binary(min_size=1, max_size=8))
def test_key_changes_when_any_input_changes(workspace, recipe, seed, sizes, data, which,
                                             extra) -> None:
    inputs = Inputs(workspace, recipe, data)
    base = inputs.key("quick", seed, sizes)
    changed = {
        "profile": inputs.key("full", seed, sizes),
        "seed": inputs.key("quick", seed + 1, sizes),
        "sizes": inputs.key("quick", seed, {**sizes, "__new": 1}),
        "versions": inputs.key("quick", seed, sizes, versions={**VERSIONS, "keras": "3.99"}),
        "data dropped": inputs.key("quick", seed, sizes, data=inputs.data[1:]),
    }
    inputs.recipe.write_bytes(recipe + extra)
    changed["recipe"] = inputs.key("quick", seed, sizes)
    inputs.recipe.write_bytes(recipe)
    target = inputs.data[which % len(inputs.data)]
    original = target.read_bytes()
    target.write_bytes(original + extra)
    changed["data content"] = inputs.key("quick", seed, sizes)
    target.unlink()
    changed["data missing"] = inputs.key("quick", seed, sizes)
    target.write_bytes(original)
    lib = inputs.package / "library" / "replay" / "panels.py"
    lib.write_text(lib.read_text() + "# a helper changed\n")
    changed["library"] = inputs.key("quick", seed, sizes)
    lib.write_text("B = 2\n")
    assert inputs.key("quick", seed, sizes) == base  # everything restored
    assert {name for name, key in changed.items() if key == base} == set()


def test_build_tool_modules_and_prose_do_not_change_the_key(tmp_path) -> None:
    inputs = Inputs(tmp_path, b"x = 1\n", {"a": b"1"})
    base = inputs.key()
    (inputs.package / "builder" / "cli.py").write_text("# refactored\n")
    (inputs.root / "x.md").write_text("prose edits never retrain\n")
    assert inputs.key() == base
    assert [p.name for p in library_sources(inputs.package)] == ["panels.py", "runtime.py"]


def test_only_recorded_modules_data_and_packages_count(tmp_path) -> None:
    """A key covers the modules, data files and packages the last run recorded, and no others."""
    inputs = Inputs(tmp_path, b"x = 1\n", {})
    data_file = inputs.root / "data" / "extra.csv"
    data_file.parent.mkdir(parents=True, exist_ok=True)
    data_file.write_text("1,2\n")
    record = {"modules": ["pipeline/library/runtime.py"], "data": ["data:extra.csv"],
              "packages": ["numpy"]}
    base = inputs.key(record=record)
    panels = inputs.package / "library" / "replay" / "panels.py"
    panels.write_text("B = 3\n")  # not imported by this run
    assert inputs.key(record=record) == base
    (inputs.package / "library" / "runtime.py").write_text("A = 2\n")  # imported
    assert inputs.key(record=record) != base
    (inputs.package / "library" / "runtime.py").write_text("A = 1\n")
    data_file.write_text("1,3\n")
    assert inputs.key(record=record) != base
    data_file.write_text("1,2\n")
    assert inputs.key(record=record) == base
    assert inputs.key(record={**record, "packages": ["numpy", "pillow"]}) != base
    assert inputs.key(record={**record, "modules": []}) != base


def test_reasons_name_the_changed_input(tmp_path) -> None:
    before_parts = {"schema": 2, "recipe": "r1", "profile": "quick", "seed": 0, "sizes": {},
                    "data": {}, "versions": {"keras": "3.10"}, "python": "3.11.7", "deps": "d"}
    deps = {"modules": {"pipeline/library/explainers/cifar_views.py": "a",
                        "pipeline/library/runtime.py": "b"},
            "data": {"data:mnist/x.npz": "c"}, "packages": {"numpy": "2.0"}}
    before = {"key_parts": before_parts, "deps": deps}
    assert changes(None, before_parts, deps) == ["never built"]
    assert changes(before, before_parts, deps) == []
    now_deps = {"modules": {**deps["modules"], "pipeline/library/explainers/cifar_views.py": "z"},
                "data": {"data:mnist/x.npz": "missing"}, "packages": {"numpy": "2.1"}}
    now_parts = {**before_parts, "recipe": "r2", "profile": "full",
                 "versions": {"keras": "3.11"}}
    assert changes(before, now_parts, now_deps) == [
        "profile changed (quick -> full)", "recipe text changed", "package keras 3.10 -> 3.11",
        "pipeline/library/explainers/cifar_views.py changed", "data file data:mnist/x.npz removed",
        "package numpy 2.0 -> 2.1"]
    assert changes({"key_parts": before_parts}, before_parts, None) == [
        "no record of what it used (built before depfiles)"]


def test_installed_versions_agree_with_importlib() -> None:
    from importlib import metadata

    versions = InstalledVersions()
    for dist in ("numpy", "matplotlib", "PyYAML", "typing_extensions"):
        assert versions.version(dist) == metadata.version(dist)
    assert versions.version("surely-not-installed-dist") == "absent"


def test_same_named_files_in_two_places_both_count(tmp_path) -> None:
    """Two data files with the same folder and file name (say a verified copy and the Keras
    cache) used to collide on one label, so a change to one of them was missed."""
    inputs = Inputs(tmp_path, b"x", {})
    a = tmp_path / "one" / "mnist" / "x.npz"
    b = tmp_path / "two" / "mnist" / "x.npz"
    for path, content in ((a, b"A"), (b, b"B")):
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
    keys = {inputs.key(data=list(pair)) for pair in itertools.permutations([a, b])}
    assert len(keys) == 1
    base = keys.pop()
    a.write_bytes(b"A2")
    assert inputs.key(data=[a, b]) != base
    a.write_bytes(b"A")
    b.write_bytes(b"B2")
    assert inputs.key(data=[a, b]) != base


def test_hash_memo_skips_rehashing_old_files_but_not_fresh_ones(tmp_path, monkeypatch) -> None:
    calls = []
    real = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda p: calls.append(p) or real(p))
    old = tmp_path / "old.bin"
    old.write_bytes(b"0" * 100)
    past = time.time_ns() - 3600 * 10**9
    os.utime(old, ns=(past, past))
    memo = tmp_path / "memo.json"
    hasher = FileHasher(memo)
    digest = hasher.hash(old)
    hasher.save()
    assert FileHasher(memo).hash(old) == digest and len(calls) == 1  # served from the memo

    fresh = tmp_path / "fresh.bin"  # written just now: a same-size rewrite within one
    fresh.write_bytes(b"a" * 100)   # timestamp tick would keep (size, mtime) unchanged
    stamp = fresh.stat().st_mtime_ns
    first = hasher.hash(fresh)
    fresh.write_bytes(b"b" * 100)
    os.utime(fresh, ns=(stamp, stamp))
    assert hasher.hash(fresh) != first


def test_unreadable_memo_is_ignored(tmp_path) -> None:
    memo = tmp_path / "memo.json"
    memo.write_text("{garbage")
    f = tmp_path / "f"
    f.write_bytes(b"x")
    assert FileHasher(memo).hash(f) == cache.sha256_file(f)
    memo.write_text(json.dumps({str(f.resolve()): "not a list"}))
    assert FileHasher(memo).hash(f) == cache.sha256_file(f)


@pytest.mark.parametrize(("backend", "onednn", "expected"), [
    ("tensorflow", None, "on"), ("tensorflow", "1", "on"), ("tensorflow", "0", "off"),
    ("jax", "0", None)])
def test_tensorflow_onednn_setting_is_part_of_the_key(monkeypatch, backend, onednn,
                                                      expected) -> None:
    """oneDNN and plain CPU kernels differ in the last bits: a result of one is not the other's."""
    monkeypatch.setenv("KERAS_BACKEND", backend)
    if onednn is None:
        monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    else:
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", onednn)
    assert cache.package_versions().get("tensorflow_onednn") == expected
