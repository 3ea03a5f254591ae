"""Depfiles: what a recipe used is recorded in its kernel, and the next build keys on exactly that.

The end-to-end check (a real build in a throwaway checkout) is tests/system/test_incremental.py.
"""

from __future__ import annotations

import os

from pipeline.library import deps

# -- the recorder, in this process --------------------------------------------------------------


def test_recorder_notes_reads_below_the_roots_only(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(deps, "_recorder", None)
    data, recipe_dir, assets, elsewhere = (tmp_path / n for n in ("data", "rc", "assets", "x"))
    for folder in (data / "mnist", recipe_dir, assets, elsewhere):
        folder.mkdir(parents=True)
    (data / "mnist" / "train.npz").write_bytes(b"1")
    (recipe_dir / "wine.csv").write_text("1\n")
    (assets / "mine.png").write_bytes(b"2")
    (elsewhere / "other.txt").write_text("3\n")
    deps.start_recording(data, recipe_dir, exclude=(assets,))
    try:
        (data / "mnist" / "train.npz").read_bytes()
        with open(recipe_dir / "wine.csv") as fh:
            fh.read()
        (assets / "mine.png").read_bytes()             # its own output: not data
        (elsewhere / "other.txt").read_text()          # not below a data root
        (data / "written.bin").write_bytes(b"w")       # written, not read
        fd = os.open(data / "mnist" / "train.npz", os.O_RDONLY)
        os.close(fd)
        deps.record_data_file(data / "mnist" / "by_hand.h5")
        record = deps.collect()
    finally:
        deps._recorder = None
    assert record["data"] == ["data:mnist/by_hand.h5", "data:mnist/train.npz", "recipe:wine.csv"]
    assert record["schema"] == deps.DEPS_SCHEMA


def test_recorded_modules_are_library_code_and_packages_are_third_party() -> None:
    import numpy  # noqa: F401  (imported: recorded)

    import pipeline.builder.cache  # noqa: F401  (build tool: never recorded)

    modules = deps.recorded_modules()
    assert "pipeline/library/deps.py" in modules
    assert not [m for m in modules if m.startswith(("pipeline/builder/", "pipeline/site/"))]
    packages = deps.recorded_packages()
    assert packages["numpy"] == numpy.__version__
    assert "json" not in packages and "os" not in packages
    assert not set(packages) & deps.KERNEL_DISTRIBUTIONS


# -- end to end, in a temporary checkout ----------------------------------------------------------
