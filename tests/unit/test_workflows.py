"""The publishing workflow: secure by zizmor's audits, valid by the workflow schema, and doing
what the README says (full profile from a cached store, quick for pull requests)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
# workflow templates that `pipeline init` writes into new sites, wherever the package keeps them
TEMPLATES = sorted(p for p in (REPO_ROOT / "pipeline").rglob("*.yml")
                   if "workflows" in p.parts or p.parent.name == "workflows")
PAGES = REPO_ROOT / ".github" / "workflows" / "pages.yml"


def _tool(name: str) -> str:
    """The tool from this interpreter's environment (the test extra installs it)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: `pip install -e '.[test]'` (nox -s tests does)")
    return found


@pytest.mark.parametrize("path", WORKFLOWS + TEMPLATES, ids=lambda p: p.name)
def test_zizmor_finds_nothing(path: Path) -> None:
    # --offline: no GitHub API (the audits that need it are skipped); pedantic: every audit
    result = subprocess.run([_tool("zizmor"), "--offline", "--persona=pedantic", "--no-progress",
                             str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS + TEMPLATES, ids=lambda p: p.name)
def test_the_workflow_schema_accepts_it(path: Path) -> None:
    result = subprocess.run([_tool("check-jsonschema"), "--builtin-schema",
                             "vendor.github-workflows", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _pages() -> dict:
    data = yaml.safe_load(PAGES.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_profiles_pull_requests_quick_pushes_full_dispatch_chooses() -> None:
    wf = _pages()
    profile = wf["env"]["NNX_PROFILE"]
    assert "github.event_name == 'pull_request' && 'quick'" in profile
    assert profile.rstrip(" }").endswith("'full'")
    choice = wf["on"]["workflow_dispatch"]["inputs"]["profile"]
    assert choice["options"] == ["full", "quick"] and choice["default"] == "full"
    steps = {s.get("name") or s.get("uses"): s for s in wf["jobs"]["build"]["steps"]}
    assert '--profile "$NNX_PROFILE"' in steps["Build the explainers"]["run"]
    # a pull request uploads nothing and deploys nothing
    assert steps["Upload the site"]["if"] == "github.event_name != 'pull_request'"
    assert wf["jobs"]["deploy"]["if"] == "github.event_name != 'pull_request'"


def test_the_store_is_cached_per_profile_and_saved_even_when_the_build_stops() -> None:
    steps = {s.get("name"): s for s in _pages()["jobs"]["build"]["steps"]}
    restore, save = steps["Restore the build store"], steps["Save the build store"]
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@") and save["if"].startswith("always()")
    for step in (restore, save):
        assert step["with"]["path"] == "build/"
        assert "${{ env.NNX_PROFILE }}" in step["with"]["key"]
    assert "nnx-build-${{ env.NNX_PROFILE }}-" in restore["with"]["restore-keys"]
    # the build step stops before the job does, so the save step still runs
    build = _pages()["jobs"]["build"]
    assert steps["Build the explainers"]["timeout-minutes"] < build["timeout-minutes"]


def test_only_the_deploy_job_may_write_pages_or_mint_a_token() -> None:
    wf = _pages()
    assert wf["permissions"] == {}
    assert wf["jobs"]["build"]["permissions"] == {"contents": "read", "pages": "read"}
    assert wf["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}


def test_the_build_step_has_time_for_a_cold_full_build_in_float32() -> None:
    """The timeout follows the float32 measurement in the committed full-profile record: the
    CIFAR-10 training in float32 plus everything else the full build did, with room to spare
    for a slower hosted CPU (at least twice that)."""
    import json

    record = json.loads((REPO_ROOT / "benchmarks" / "results" / "full-profile-cpu.json").read_text())
    float32_training_min = record["training_speed"]["float32"]["seven_epochs_min"]
    cifar = record["recipes"]["inside-an-all-convolutional-net"]
    rest_min = (record["build"]["wall_s"] - cifar["timings"]["train"]) / 60
    needed = float32_training_min + rest_min
    steps = {s.get("name"): s for s in _pages()["jobs"]["build"]["steps"]}
    assert steps["Build the explainers"]["timeout-minutes"] >= 2 * needed, needed
