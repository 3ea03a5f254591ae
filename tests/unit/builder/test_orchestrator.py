"""End-to-end builds of tiny recipes: caching, failures, atomic publishing, CLI errors."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import need_data, tiny_recipe

FAILING_BODY = """
# %%
values = [1, 2, 3]

# %%
raise ValueError("the recipe's own bug")
"""


def test_build_then_cache_then_prose_edit(mini) -> None:
    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build") == 0
    assert mini.statuses() == {"alpha": "ran"}
    entry, manifest = mini.current("alpha")
    assert manifest["metrics"] == {"n": 3} and manifest["profile"] == "quick"
    assert (entry / "assets" / "line.png").stat().st_size > 1000
    assert (entry / "notebook" / "alpha.ipynb").exists()
    assert "line.png" in manifest["files"]["assets/line.png"]["sha256"] or manifest["files"]

    assert mini.cli("build") == 0
    assert mini.statuses() == {"alpha": "cached"}

    page = mini.content / "demo" / "alpha.md"
    page.write_text(page.read_text() + "\nMore prose that changes nothing computed.\n")
    assert mini.cli("build") == 0
    assert mini.statuses() == {"alpha": "cached"}


def test_recipe_edit_and_profile_change_rerun(mini) -> None:
    recipe = mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build") == 0
    recipe.write_text(recipe.read_text().replace("** 2", "** 3"))
    assert mini.cli("build") == 0
    assert mini.statuses() == {"alpha": "ran"}
    assert mini.cli("build", "--profile", "full") == 0
    assert mini.current("alpha")[1]["metrics"] == {"n": 6}


def test_data_change_reruns(mini) -> None:
    src = need_data("boston_housing", "boston_housing.npz")
    (mini.data_dir / "boston_housing").mkdir()
    copy = mini.data_dir / "boston_housing" / "boston_housing.npz"
    shutil.copy(src, copy)
    mini.add("alpha", tiny_recipe("Alpha", datasets="[boston_housing]"))
    assert mini.cli("build") == 0
    assert mini.cli("build") == 0
    assert mini.statuses() == {"alpha": "cached"}
    copy.write_bytes(copy.read_bytes() + b"\0")  # the data changed
    assert mini.cli("build") == 0
    assert mini.statuses() == {"alpha": "ran"}


def test_failing_recipe_reports_cell_and_keeps_last_good(mini, capsys) -> None:
    mini.add("alpha", tiny_recipe("Alpha"))
    beta = mini.add("beta", tiny_recipe("Beta"))
    assert mini.cli("build") == 0
    good_entry, good_manifest = mini.current("beta")

    beta.write_text(tiny_recipe("Beta", body=FAILING_BODY))
    mini.add("gamma", tiny_recipe("Gamma"))
    assert mini.cli("build") == 1
    assert mini.statuses() == {"alpha": "cached", "beta": "failed", "gamma": "ran"}

    failure = mini.state("beta")["last_attempt"]["failure"]
    assert failure["ename"] == "ValueError" and "the recipe's own bug" in failure["evalue"]
    assert failure["source"].strip() == 'raise ValueError("the recipe\'s own bug")'
    assert failure["line"] == beta.read_text().splitlines().index(failure["source"].strip()) + 1
    assert "Cell In[" in failure["traceback"] and "pipeline/builder/executor.py" not in failure["traceback"]
    assert "\x1b[" not in failure["traceback"]
    err = capsys.readouterr().err
    assert "demo/beta.recipe.py" in err and "the recipe's own bug" in err

    entry, manifest = mini.current("beta")  # last good result still served
    assert entry == good_entry and manifest["key"] == good_manifest["key"]
    assert (entry / "assets" / "line.png").exists()
    assert not any((mini.build_dir / "staging").iterdir())


def test_header_error_does_not_stop_others(mini) -> None:
    mini.add("alpha", tiny_recipe("Alpha"))
    (mini.content / "demo" / "broken.recipe.py").write_text("# no header\n")
    assert mini.cli("build") == 1
    assert mini.statuses() == {"alpha": "ran"}
    assert "no header found" in mini.report()["header_errors"][0]


def test_asset_escape_is_refused_and_nothing_written(mini) -> None:
    body = '\n# %%\nex.asset_path("../../escaped.txt").write_text("x")\n'
    mini.add("alpha", tiny_recipe("Alpha", body=body))
    assert mini.cli("build") == 1
    failure = mini.state("alpha")["last_attempt"]["failure"]
    assert failure["ename"] == "AssetPathError"
    assert not list(mini.root.rglob("escaped.txt"))
    assert mini.current("alpha") is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("build", "--profile", "fulll"), "Did you mean 'full'"),
        (("build", "--only", "alpah"), "Did you mean 'alpha'"),
        (("build", "--jobs", "0"), "--jobs must be at least 1"),
    ],
)
def test_cli_errors(mini, capsys, args, message) -> None:
    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli(*args) == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert not (mini.build_dir / "store").exists()


def test_unknown_command_exits_2(mini) -> None:
    with pytest.raises(SystemExit) as info:
        mini.cli("bulid")
    assert info.value.code == 2


def test_list_and_clean(mini, capsys) -> None:
    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build") == 0
    assert mini.cli("list") == 0
    assert "alpha" in capsys.readouterr().out
    assert mini.cli("clean") == 0
    assert not (mini.build_dir / "store").exists()


def test_manifest_lists_outputs_versions_and_data(mini) -> None:
    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build") == 0
    _, m = mini.current("alpha")
    assert m["outputs"] == [{"alt": "a parabola drawn from the sizes", "kind": "image", "name": "line.png",
                             "extra": {"dark": "line.dark.png"}}]  # the dark-palette version
    assert "assets/line.dark.png" in m["files"]
    assert set(m["versions"]) >= {"tensorflow", "keras", "numpy", "matplotlib", "python"}
    assert m["timings"]["execute"] > 0 and "total" in m["timings"]
    assert json.loads((mini.build_dir / "reports" / "last-build.json").read_text())["profile"] == "quick"


def test_switching_profiles_keeps_the_other_profiles_result(mini) -> None:
    """quick -> full -> quick re-executes nothing the third time; each profile keeps one entry."""
    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build", "--profile", "quick") == 0
    quick_key = mini.current("alpha")[1]["key"]
    assert mini.cli("build", "--profile", "full") == 0
    full_key = mini.current("alpha")[1]["key"]
    assert full_key != quick_key
    entries = {p.name for p in (mini.build_dir / "store" / "alpha").iterdir()}
    assert entries == {quick_key[:16], full_key[:16]}
    assert mini.cli("build", "--profile", "quick") == 0
    assert mini.state("alpha")["last_attempt"]["status"] == "cached"
    assert mini.current("alpha")[1]["key"] == quick_key
    # a new quick result replaces the old quick one and keeps the full one
    page = mini.content / "demo" / "alpha.recipe.py"
    page.write_text(page.read_text().replace("figsize=(3, 2)", "figsize=(3, 2.5)"))
    assert mini.cli("build", "--profile", "quick") == 0
    new_quick = mini.current("alpha")[1]["key"]
    entries = {p.name for p in (mini.build_dir / "store" / "alpha").iterdir()}
    assert entries == {new_quick[:16], full_key[:16]}


def test_the_thread_plan_uses_times_of_the_build_profile_only(mini) -> None:
    from pipeline.builder.jobs import BuildOptions
    from pipeline.builder.orchestrator import plan
    from pipeline.builder.parallel import expected_seconds, expected_times
    from pipeline.builder.recipes import discover_all
    from pipeline.builder.store import BuildDir

    mini.add("alpha", tiny_recipe("Alpha"))
    mini.add("beta", tiny_recipe("Beta", extra_header="timeout: 7200"))
    assert mini.cli("build", "--profile", "quick") == 0
    recipes, _ = discover_all(mini.content)

    def options(profile: str) -> BuildOptions:
        return BuildOptions(repo_root=mini.root, content_root=mini.content,
                            build_root=mini.build_dir, data_dir=mini.data_dir, profile=profile)

    quick_jobs = plan(recipes, options("quick"), BuildDir(mini.build_dir))
    assert all(0 < expected_seconds(j, options("quick")) < 60 for j in quick_jobs)
    full_jobs = plan(recipes, options("full"), BuildDir(mini.build_dir))
    # never built in full: the quick times say nothing, the authors' timeouts are compared
    assert expected_times(full_jobs, options("full")) == {"alpha": 1800.0, "beta": 7200.0}
