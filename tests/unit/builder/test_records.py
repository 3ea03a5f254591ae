"""Typed build records (pipeline.builder.records): read and written in one place each."""

from __future__ import annotations

import json
import pickle

import pytest

from pipeline.builder.jobs import Outcome
from pipeline.builder.records import (
    Attempt,
    Failure,
    FailureKind,
    Manifest,
    OutcomeStatus,
    RecipeState,
    ResultState,
    ResultStatus,
    read_state,
)
from pipeline.builder.store import BuildDir, seal_manifest

KEY = "ab" * 32
FAILURE = {"recipe": "s/a.recipe.py", "cell_index": 4, "line": 2, "source": "x = 1/0",
           "ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": "tb",
           "kind": "error", "summary": "s/a.recipe.py, cell 4 (line 2): ZeroDivisionError: ..."}


def test_statuses_are_enums_that_read_and_write_as_the_old_strings() -> None:
    assert OutcomeStatus("ran") is OutcomeStatus.RAN and OutcomeStatus.FAILED == "failed"
    assert json.dumps({"s": OutcomeStatus.CACHED}) == '{"s": "cached"}'
    assert FailureKind("kernel-died") is FailureKind.KERNEL_DIED
    assert ResultStatus.from_dict({"state": "diverged"}).state is ResultState.DIVERGED
    assert ResultStatus.from_dict({}).state is ResultState.OK


def test_failure_round_trips_the_executor_dict() -> None:
    from pipeline.builder.executor import CellFailure

    cell = CellFailure("s/a.recipe.py", 4, 2, "x = 1/0", "ZeroDivisionError", "division by zero",
                       "Traceback ...", kind="timeout")
    failure = Failure.from_dict(cell.to_dict())
    assert failure.kind is FailureKind.TIMEOUT and failure.summary == cell.summary()
    assert failure.to_dict() == cell.to_dict()
    assert failure.report() == cell.report()


def test_garbled_failure_fields_are_dropped_not_trusted() -> None:
    failure = Failure.from_dict({"cell_index": "4", "kind": "volcano", "summary": 7, "line": True})
    assert failure == Failure()
    assert Failure.from_dict("not a dict") == Failure()


def test_state_round_trip_keeps_the_json_format() -> None:
    data = {"current": KEY, "last_attempt": {"key": KEY, "status": "failed", "at": "2026-01-01",
                                             "seconds": 1.5, "failure": FAILURE}}
    state = RecipeState.from_dict(data)
    assert state.current == KEY and state.stale
    assert state.last_attempt is not None and state.last_attempt.status is OutcomeStatus.FAILED
    assert state.last_attempt.failure == Failure.from_dict(FAILURE)
    assert state.to_dict() == data
    assert read_state(data) == state and read_state(state) is state and read_state(None) == RecipeState()


@pytest.mark.parametrize("data", [
    [1, 2], "text", {"current": "../../etc"}, {"current": 42},
    {"current": KEY, "last_attempt": "yesterday"}, {"last_attempt": {"failure": ["x"]}},
])
def test_bad_state_values_are_dropped_with_a_warning(data, caplog) -> None:
    state = RecipeState.from_dict(data, where="state/alpha.json")
    assert state.current in (None, KEY) and state.last_attempt is None
    assert "state/alpha.json" in caplog.text


def test_attempt_without_a_known_status_is_not_stale() -> None:
    assert not RecipeState(last_attempt=Attempt.from_dict({"status": "exploded"})).stale
    assert Attempt.from_dict({"status": "ran", "seconds": "3"}).seconds is None


def _manifest_dict() -> dict:
    return {"slug": "alpha", "recipe": "s/alpha.recipe.py", "page": "s/alpha.md", "title": "Alpha",
            "description": "d", "section": "s", "seed_article": "001", "order": 3,
            "thumbnail": "t.png", "datasets": ["mnist"], "key": KEY, "key_parts": {"x": 1},
            "profile": "quick", "seed": 0, "sizes": {"epochs": 2},
            "outputs": [{"name": "t.png", "kind": "image", "alt": "a picture"}],
            "metrics": {"loss": 0.5}, "timings": {"execute": 3.0}, "data": [{"dataset": "mnist"}],
            "notes": ["n"], "status": {"state": "diverged", "epoch": 3, "message": "boom"},
            "hardware": {"cpu": "x"}, "resources": {}, "versions": {"python": "3.11"},
            "built_at": "2026-01-01", "notebook": "notebook/alpha.md",
            "files": {"assets/t.png": {"bytes": 1, "sha256": "0"}}, "deps": {"new": "field"}}


def test_manifest_reads_every_field_and_keeps_the_sealed_json() -> None:
    raw = seal_manifest(_manifest_dict())
    m = Manifest.from_dict(raw)
    assert (m.slug, m.title, m.order, m.datasets, m.profile, m.seed) == (
        "alpha", "Alpha", 3, ("mnist",), "quick", 0)
    assert m.diverged and m.status.epoch == 3 and m.status.message == "boom"
    assert m.output("t.png") == {"name": "t.png", "kind": "image", "alt": "a picture"}
    assert m.output("missing.png") is None and m.has_file("assets/t.png")
    assert m.to_dict() == raw  # unknown fields (a newer build's "deps") survive untouched
    assert Manifest.read(raw) == m and Manifest.read(m) is m and Manifest.read(None) is None


def test_partial_or_garbled_manifests_read_as_defaults() -> None:
    m = Manifest.from_dict({"outputs": ["junk", {"name": "a"}], "order": "3", "status": "ok",
                            "timings": None})
    assert m.outputs == [{"name": "a"}] and m.order is None and not m.diverged
    assert m.timings == {} and m.built_at is None and m.key == ""


def test_the_store_writes_and_reads_state_through_the_record(tmp_path) -> None:
    bdir = BuildDir(tmp_path / "build")
    state = RecipeState(KEY, Attempt(status=OutcomeStatus.RAN, key=KEY, at="now", seconds=2.0))
    bdir.write_state("alpha", state)
    assert bdir.read_state("alpha") == state
    on_disk = json.loads((bdir.state_dir / "alpha.json").read_text())
    assert on_disk == {"current": KEY, "last_attempt": {"key": KEY, "status": "ran", "at": "now",
                                                        "seconds": 2.0}}


def test_outcome_pickles_and_reports_as_before() -> None:
    outcome = Outcome("alpha", OutcomeStatus.FAILED, 1.23456, KEY,
                      failure=Failure.from_dict(FAILURE))
    back = pickle.loads(pickle.dumps(outcome))
    assert back == outcome and back.status is OutcomeStatus.FAILED
    assert back.to_dict() == {"slug": "alpha", "status": "failed", "seconds": 1.235,
                              "failure": Failure.from_dict(FAILURE).to_dict()}
    assert Outcome("b", OutcomeStatus.RAN, 0.0, KEY).to_dict()["failure"] is None


def test_recipe_header_from_the_last_good_manifest() -> None:
    from pipeline.builder.recipes import RecipeHeader

    header = RecipeHeader.from_manifest(Manifest.from_dict(_manifest_dict()), "alpha", "dir")
    assert (header.title, header.section, header.order, header.thumbnail, header.datasets) == (
        "Alpha", "s", 3, "t.png", ("mnist",))
    bare = RecipeHeader.from_manifest(Manifest(), "alpha", "dir")
    assert (bare.title, bare.section, bare.order) == ("alpha", "dir", 100)
