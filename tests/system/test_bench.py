"""The benchmark plumbing (``python -m benchmarks``): ratios, comparisons, the JSON report.

The builds here use micro recipes (no TensorFlow, ~1 s per kernel), so the numbers mean
nothing; what is checked is that the report is complete and its ratios follow from its times.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from PIL import Image

from benchmarks import bench_build, suite
from benchmarks.bench_build import (
    BenchError,
    compare_images,
    select_recipes,
    speedup_bound,
)
from tests.conftest import REPO_ROOT
from tests.system.test_faults import add_micro


def _png(path, array) -> None:
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def test_compare_images_tolerance(tmp_path) -> None:
    base = np.full((100, 100, 3), 200, dtype=np.uint8)
    _png(tmp_path / "a.png", base)
    _png(tmp_path / "same.png", base)
    assert compare_images(tmp_path / "a.png", tmp_path / "same.png") == {
        "same": True, "max_abs": 0, "differing_pixels": 0, "fraction": 0.0, "frames": 1}

    tiny = base.copy()
    tiny[0, :5] += 2  # 5 pixels (0.05 %) off by 2/255: an anti-aliasing step
    result = compare_images(tmp_path / "a.png", _save(tmp_path / "tiny.png", tiny))
    assert result["same"] and result["max_abs"] == 2 and result["differing_pixels"] == 5

    many = base.copy()
    many[:2, :] += 1  # 200 pixels (2 %) off by 1: too many
    assert not compare_images(tmp_path / "a.png", _save(tmp_path / "many.png", many))["same"]

    far = base.copy()
    far[0, 0] = 0  # one pixel, but far off: a real change
    result = compare_images(tmp_path / "a.png", _save(tmp_path / "far.png", far))
    assert not result["same"] and result["max_abs"] == 200

    assert not compare_images(tmp_path / "a.png",
                              _save(tmp_path / "small.png", base[:50]))["same"]


def _save(path, array):
    _png(path, array)
    return path


def test_speedup_bound() -> None:
    assert speedup_bound([10, 10, 10], 2) == pytest.approx(1.5)   # three equal runs on two workers
    assert speedup_bound([16, 13, 7], 2) == pytest.approx(36 / 20)   # 16 alone; 13 + 7
    assert speedup_bound([30, 2, 2], 2) == pytest.approx(34 / 30)   # the longest runs alone
    assert speedup_bound([], 2) == 1.0


def test_select_recipes() -> None:
    available = ["what-an-autoencoder-keeps", "training-at-a-glance", "zeta", "alpha"]
    assert select_recipes(available) == ["training-at-a-glance", "what-an-autoencoder-keeps",
                                         "zeta"]
    assert select_recipes(available, count=1) == ["training-at-a-glance"]
    assert select_recipes(available, ["alpha", "zeta", "alpha"]) == ["alpha", "zeta"]
    with pytest.raises(BenchError, match="did you mean 'alpha'"):
        select_recipes(available, ["alpah"])


def test_parse_sections() -> None:
    assert suite.parse_sections("a, d,training") == ["build", "jobs", "training"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown section"):
        suite.parse_sections("build,nope")


def test_summary_ratios_and_targets() -> None:
    results = {
        "build": {"warm_over_cold": 0.02, "prose_over_cold": 0.035, "warm_s": 0.8,
                  "prose_s": 1.4, "cold_s": 40.0, "prose_reexecuted": 0, "warm_reexecuted": 0},
        "jobs": {"jobs": 2, "speedup": 1.37, "serial_s": 38.4, "parallel_s": 28.0,
                 "speedup_bound": 1.84, "same_assets": True},
    }
    results["threads"] = {**results["jobs"], "speedup": 1.71, "serial_s": 36.6, "parallel_s": 21.4,
                          "same_assets_as_default_threads": False,
                          "default_threads_comparison": {"recipes": {"cnn": {"same": False},
                                                                     "dense": {"same": True}}}}
    results["site"] = {"wall_s": 0.8, "exit_code": 0, "pages": 7}
    results["training"] = {"seed000": {"speedup": 13.2, "plain_fit_s": 17.3, "fit_fast_s": 1.3,
                                       "epochs": 200, "plain_final_loss": 0.0063,
                                       "fast_final_loss": 0.0063}}
    results["rendering"] = {"speedup_vs_full_redraw": 12.0, "blit_fps": 81.6,
                            "full_redraw_fps": 6.8, "inplace_full_draw_fps": 13.0}
    results["recording"] = {"overhead_wall": 0.14, "fit_fast_s": 1.3,
                            "fit_fast_with_recorder_s": 1.48, "epochs": 200,
                            "replay_file_mb": 5.8}
    rows = {r["name"]: r for r in suite.summarize(results)}
    assert rows["warm no-change rebuild / cold build"]["ok"] is True
    assert rows["recipes re-executed after a prose edit"]["ok"] is True
    assert rows["--jobs 2 speedup over --jobs 1 (default threads)"]["ok"] is False
    assert rows["--jobs 2 assets same as --jobs 1 (default threads)"]["ok"] is True
    assert rows["prose-only rebuild / cold build"]["ok"] is None  # no target
    assert rows["--jobs 2 speedup over --jobs 1 (NNX_KERNEL_THREADS=1)"]["ok"] is True
    assert rows["NNX_KERNEL_THREADS=1 assets same as default threads"]["note"] == "differ: cnn"
    assert rows["fit_fast speedup over model.fit (seed000)"]["value"] == 13.2
    assert rows["fit_fast speedup over model.fit (seed000)"]["ok"] is True  # >= 5x
    assert rows["blitted in-place rendering / full redraw (fps)"]["value"] == 12.0
    assert rows["blitted in-place rendering / full redraw (fps)"]["ok"] is True  # >= 3x
    assert rows["replay recorder overhead on training (seed 000)"]["ok"] is True  # <= 20 %
    results["recording"]["overhead_wall"] = 0.31
    results["palettes"] = {"explainer_ratio": 1.08, "train_s": 3.0, "render_single_s": 20.0,
                           "render_both_s": 23.0, "epochs": 200}
    rows = {r["name"]: r for r in suite.summarize(results)}
    assert rows["replay recorder overhead on training (seed 000)"]["ok"] is False
    assert rows["seed-000 explainer, light + dark / one palette"]["ok"] is True  # <= 1.2x
    results["palettes"]["explainer_ratio"] = 1.72
    rows = {r["name"]: r for r in suite.summarize(results)}
    assert rows["seed-000 explainer, light + dark / one palette"]["ok"] is False


def test_bench_report_on_a_mini_project(mini, tmp_path, monkeypatch) -> None:
    """The build sections end to end on two micro recipes: schema, statuses, ratios, JSON."""
    add_micro(mini, "alpha")
    add_micro(mini, "beta", n=2)
    out = tmp_path / "out" / "bench.json"
    monkeypatch.setenv("NNX_KERNEL_THREADS", "3")  # the bench's default runs must not see it
    code = suite.main(["--quick", "--content-dir", str(mini.content), "--data-dir",
                       str(mini.data_dir), "--skip",
                       "training,c,site,recording,render,palettes,pageweight,scrubfps",
                       "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert list((out.parent / "bench-history").glob("*.json"))
    assert report["schema"] == suite.SCHEMA and report["errors"] == {}
    assert set(report["git"]) >= {"commit", "dirty"} and report["date"]
    machine = report["machine"]
    assert machine["cpu_count"] >= 1 and machine["cpu"] and isinstance(machine["gpus"], list)
    assert {"tensorflow", "keras", "numpy", "mkdocs"} <= set(report["versions"])
    assert report["options"]["recipes"] == ["alpha", "beta"]
    assert report["options"]["sections"] == ["build", "jobs", "incremental", "stops"]  # no threads

    build = report["results"]["build"]
    assert build["cold"]["statuses"] == {"alpha": "ran", "beta": "ran"}
    assert all(set(r["statuses"].values()) == {"cached"} for r in build["warm"] + build["prose"])
    assert build["prose_reexecuted"] == 0 and build["warm_reexecuted"] == 0
    assert build["warm_over_cold"] == pytest.approx(build["warm_s"] / build["cold_s"], abs=1e-3)
    assert build["prose_over_cold"] == pytest.approx(build["prose_s"] / build["cold_s"], abs=1e-3)
    assert build["prose_page_edited"] == "demo/alpha.md"
    assert build["key_changes"] == {}

    jobs = report["results"]["jobs"]
    assert jobs["serial"]["label"] == build["cold"]["label"] == "cold-jobs1"
    assert jobs["parallel"]["jobs"] == 2 and jobs["parallel"]["ran"] == 2
    assert jobs["speedup"] == pytest.approx(jobs["serial_s"] / jobs["parallel_s"], abs=1e-3)
    assert jobs["same_assets"] is True
    # --jobs 1 gives each kernel every core, --jobs 2 shares them: the thread count is part of
    # the key (pipeline.builder.resources), so the keys differ exactly when the counts do
    from pipeline.library.cores import usable_cores

    cores = usable_cores()
    assert jobs["comparison"]["recipes"]["alpha"]["same_key"] is (cores == 1)
    incremental = report["results"]["incremental"]  # neither recipe imports cifar_views
    assert incremental["library"]["reexecuted"] == [] == incremental["build_tool"]["reexecuted"]
    assert incremental["library"]["run"]["statuses"] == {"alpha": "cached", "beta": "cached"}
    names = {r["name"] for r in report["summary"]}
    assert "warm no-change rebuild / cold build" in names
    assert "rebuild after editing a library module / cold build" in names
    assert "--jobs 2 speedup over --jobs 1 (default threads)" in names


def test_compare_builds_reports_a_changed_metric(make_mini) -> None:
    slugs = ["gamma"]
    minis = []
    for name, n in (("one", 1), ("two", 2)):
        m = make_mini(name)
        add_micro(m, "gamma", n=n)
        assert m.cli("build") == 0
        minis.append(m)
    result = bench_build.compare_builds(minis[0].build_dir, minis[1].build_dir, slugs)
    gamma = result["recipes"]["gamma"]
    assert not result["same"] and gamma["metric_differences"] == {"n": [1, 2]}
    assert gamma["bytes_differ"] == ["note.txt"] and not gamma["same_key"]


def test_unknown_recipe_is_an_error_in_the_report(mini, tmp_path) -> None:
    add_micro(mini, "alpha")
    out = tmp_path / "bench.json"
    code = suite.main(["--quick", "--content-dir", str(mini.content), "--recipes", "alpah",
                       "--skip", "training,rendering,pageweight,scrubfps", "--out", str(out)])
    assert code == 1
    errors = json.loads(out.read_text())["errors"]
    assert set(errors) == {"build", "jobs", "site", "incremental"} and "did you mean 'alpha'" in errors["build"]


def test_first_build_section_on_a_mini_project(mini, tmp_path) -> None:
    """``firstbuild``: before (serial, cold) / warm / after (auto --jobs) builds, side by side."""
    add_micro(mini, "alpha")
    add_micro(mini, "beta", n=2)
    add_micro(mini, "gamma", n=4)
    out = tmp_path / "out" / "bench.json"
    skip = ",".join(s for s in suite.SECTIONS if s != "firstbuild")
    code = suite.main(["--content-dir", str(mini.content), "--data-dir", str(mini.data_dir),
                       "--skip", skip, "--out", str(out), "--no-issue-day",
                       "--warm-pair-recipes", "alpha,gamma"])
    assert code == 0
    first = json.loads(out.read_text())["results"]["firstbuild"]
    assert set(first["runs"]) == {"before", "cold_pinned", "warm", "after", "fresh_caches"}
    assert "speedup_vs_issue_day" not in first
    assert first["runs"]["before"]["ran"] == first["runs"]["after"]["ran"] == 3
    assert first["runs"]["cold_pinned"]["ran"] == first["runs"]["warm"]["ran"] == 2
    assert first["warm_pair_recipes"] == ["alpha", "gamma"]
    assert first["runs"]["before"]["env"] == {"NNX_KERNEL_THREADS": "default"}
    assert first["speedup"] == pytest.approx(first["before_s"] / first["after_s"], abs=1e-2)
    assert first["peak_rss_mb"] and first["peak_rss_mb"] > 10  # python + kernels
    assert set(first["per_recipe_s"]) == {"alpha", "beta", "gamma"}
    assert first["after_same_assets_as_jobs1"] is True
    saving = first["runs"]["cold_pinned"]["wall_s"] - first["runs"]["warm"]["wall_s"]
    assert first["warm_kernel_saving_s"] == pytest.approx(saving, abs=0.02)
    # forked kernels (the default) against spawned ones, same assets; how each kernel started
    fork = first["fork_kernels"]
    assert first["after_kernels"] == fork["kernels_forked_run"] == {"forked": 3}
    assert fork["kernels_spawned_run"].get("forked", 0) == 0
    assert sum(fork["kernels_spawned_run"].values()) == 3
    assert fork["runs"]["spawned"][0]["env"] == {"NNX_FORK_KERNELS": "0"}
    assert fork["same_assets"] is True
    assert fork["speedup"] == pytest.approx(fork["spawned_median_s"] / fork["forked_median_s"],
                                            abs=1e-2)
    fresh = first["runs"]["fresh_caches"]
    assert fresh["ran"] == 3 and set(fresh["env"]) == {"MPLCONFIGDIR", "IPYTHONDIR",
                                                      "KERAS_HOME", "XDG_CACHE_HOME"}
    rows = {r["name"]: r for r in suite.summarize({"firstbuild": first})}
    assert rows["cold quick build, all recipes (s)"]["target"] == "<= 75"
    assert rows["forked kernels' assets same as spawned"]["ok"] is True


def test_issue_day_commit_extracts_with_its_own_build_tool_and_recipes(tmp_path) -> None:
    """The ``issue_day`` baseline builds the project as it was: that commit's CLI and recipes."""
    from benchmarks import bench_firstbuild as fb

    src = fb.extract_commit(fb.ISSUE_DAY_COMMIT, tmp_path / "day")
    assert (src / "pipeline" / "build.py").is_file()  # the serial build tool of that day
    assert not (src / "pipeline" / "builder").exists()
    recipes = fb.available_recipes(src / "content")
    assert len(recipes) == 7 and "inside-an-all-convolutional-net" in recipes
    assert "train_per_class: 400" in next((src / "content").rglob("inside-an-all-*.recipe.py")).read_text()


def test_issue_day_commit_missing_is_a_clear_error(tmp_path) -> None:
    from benchmarks import bench_firstbuild as fb

    with pytest.raises(fb.BenchError, match="cannot extract commit 0000000.*--no-issue-day"):
        fb.extract_commit("0000000", tmp_path / "day")


def test_training_and_recording_sections_measure_the_same_training() -> None:
    """The ``training`` / ``recording`` sections (where the fit_fast >= 5x and recorder <= 20 %
    targets live, not in timed tests): both runs train the same model to the same loss."""
    from benchmarks.bench_replay import bench_recording, bench_training

    training = bench_training(epochs=3)
    assert training["fast_eval_loss"] == pytest.approx(training["plain_eval_loss"], abs=2e-3)
    assert training["plain_fit_s"] > 0 and training["fit_fast_s"] > 0
    recording = bench_recording(epochs=3, repeats=1)
    assert recording["fit_fast_s"] > 0 and np.isfinite(recording["overhead_recorder_time"])


def test_explainer_startup_and_cpu_floor_come_from_the_executed_notebook(tmp_path) -> None:
    """``explainer``: the kernel's start is the run minus the cells' span; the import cell is the
    first that imports; the CPU floor row says why a target is out of reach on these cores."""
    from benchmarks import bench_firstbuild as fb

    def cell(source, sent, done):
        return {"cell_type": "code", "source": source, "metadata": {"execution": {
            "iopub.execute_input": f"2026-12-01T10:00:{sent:06.3f}Z",
            "shell.execute_reply": f"2026-12-01T10:00:{done:06.3f}Z"}}}

    notebook = tmp_path / "run.ipynb"
    notebook.write_text(json.dumps({"cells": [
        cell("profile = 'full'", 1.0, 1.01),
        {"cell_type": "markdown", "source": "# prose", "metadata": {}},
        cell(["import keras\n", "x = 1"], 1.02, 6.52),
        cell("train()", 6.6, 20.0),
    ]}))
    assert fb.cell_seconds(notebook) == {"span_s": 19.0, "import_cell_s": 5.5}
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "x",
                                                "metadata": {}}]}))
    with pytest.raises(RuntimeError, match="no cell timings"):
        fb.cell_seconds(notebook)

    explainer = {"kernel_to_last_asset_s": 47.3,
                 "cpu_floor_s": 32.5, "build_cpu_s": 65.0, "cores": 2, "kernel_start_s": 1.7,
                 "import_cell_s": 4.9}
    rows = {r["name"]: r for r in suite.summarize({"explainer": explainer})}
    floor = rows["seed-000 full: CPU s / cores, the fastest any schedule could be (s)"]
    assert floor["target"] == ""  # no DeepReplay measured in this run: no stored number either
    assert "section deepreplay" in rows["seed-000 full: kernel start to last asset (s)"]["note"]
    measured = {"deepreplay_s": 142.0, "ratio_kernel_to_last_file": 3.0, "ok": False,
                "ours_kernel_to_last_file_s": 47.3, "ours_build_s": 50.1, "ratio_build": 2.8}
    rows = {r["name"]: r for r in suite.summarize({"explainer": explainer,
                                                   "deepreplay": measured})}
    floor = rows["seed-000 full: CPU s / cores, the fastest any schedule could be (s)"]
    assert floor["value"] == 32.5 and floor["target"] == "< 14.2"
    assert "65.0 CPU s on 2 cores" in floor["note"] and "import cell 4.9 s" in floor["note"]


def test_live_replay_rows_and_the_side_by_side_output() -> None:
    """``pageweight``, ``scrubfps`` and ``deepreplay`` rows; side_by_side.sh's lines parsed."""
    from benchmarks import bench_live

    out = "dr_train 24.1 7000000\ndr_replay 137.2 7220000\nnnx_full 14.9 990000\nDeepReplay ..."
    assert bench_live._rows(out) == {"dr_train": (24.1, 7000000), "dr_replay": (137.2, 7220000),
                                     "nnx_full": (14.9, 990000)}
    results = {
        "pageweight": {"heaviest": {"page": "replay/a/", "viewport": "2560x1440", "bytes": 900_000,
                                    "served_bytes": 420_000},
                       "ok": True, "replay_data": {"a/replay.json": {"index_bytes": 14_000,
                                                                     "binary_bytes": 46_000}}},
        "scrubfps": {"fps": 59.8, "ok": True, "points": 2000, "epochs": 201, "frames": 400,
                     "draw_ms_mean": 3.1, "draw_ms_p95": 4.0},
        "deepreplay": {"ratio_kernel_to_last_file": 11.2, "ok": True, "deepreplay_s": 161.3,
                       "ours_kernel_to_last_file_s": 14.4, "ours_build_s": 17.0,
                       "ratio_build": 9.5},
    }
    rows = {r["name"]: r for r in suite.summarize(results)}
    weight = rows["heaviest live replay page, first load (bytes)"]
    assert weight["value"] == 900_000 and weight["ok"] is True and "2560x1440" in weight["note"]
    assert rows["scrubbing the seed-000 replay (fps, Chromium)"]["target"] == ">= 50"
    dr = rows["seed-000 full: DeepReplay / ours, kernel start to last file (x)"]
    assert dr["value"] == 11.2 and dr["ok"] is True and "161.3 s" in dr["note"]
    assert bench_live.replay_slugs(REPO_ROOT / "content") == [
        "replaying-training", "watching-the-boundary-move"]


def test_the_readme_article_table_comes_from_the_record_and_the_pages(tmp_path) -> None:
    from benchmarks.article_table import END, START, table, update
    from tests.conftest import REPO_ROOT

    record = {"profile": "full", "recipes": {"inside-an-all-convolutional-net": {
        "metrics": {"test_accuracy_first_50": 0.82, "test_accuracy": 0.8011, "n_train": 50000}}}}
    text = table(record, REPO_ROOT / "content")
    row = next(line for line in text.splitlines() if "article's 50 test images" in line)
    assert "| 81 % (50 test images, as the article says) | 82.0 % |" in row
    assert "| 80.1 % |" in text and "| 50,000 |" in text
    assert "not built yet" in text  # recipes the record lacks are said, not left blank
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{START}\nold\n{END}\n\nafter\n")
    update(readme, text)
    out = readme.read_text()
    assert "old" not in out and out.endswith(f"{END}\n\nafter\n") and "| 82.0 % |" in out
