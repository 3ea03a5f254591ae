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


def test_a_new_failure_words_its_summary_and_report() -> None:
    failure = Failure("s/a.recipe.py", 4, 2, "x = 1/0\n", "ZeroDivisionError", "division by zero",
                      "Traceback ...\n  line 1\n", kind=FailureKind.TIMEOUT)
    assert failure.summary == "s/a.recipe.py, cell 4 (line 2): ZeroDivisionError: division by zero"
    assert failure.report() == "\n".join([
        failure.summary, "", "Cell source:", "    x = 1/0", "",
        "Traceback (from the recipe's kernel):", "    Traceback ...", "      line 1"])
    outside = Failure("s/a.recipe.py", ename="MissingOutputs", evalue="no finish()",
                      kind=FailureKind.SETUP)
    assert outside.summary == "s/a.recipe.py, setup: MissingOutputs: no finish()"
    assert outside.report() == outside.summary and Failure().summary == ""


def test_failure_round_trips_through_its_dict_and_pickle() -> None:
    failure = Failure("s/a.recipe.py", 4, 2, "x = 1/0", "ZeroDivisionError", "division by zero",
                      "Traceback ...", kind=FailureKind.TIMEOUT)
    data = failure.to_dict()
    assert data["kind"] == "timeout" and data["summary"] == failure.summary
    assert json.loads(json.dumps(data)) == data
    back = Failure.from_dict(data)
    assert back == failure and back.kind is FailureKind.TIMEOUT and back.report() == failure.report()
    assert pickle.loads(pickle.dumps(failure)) == failure
    assert Failure.read(failure) is failure


def test_a_recipe_failed_record_of_another_type_is_read_through_its_dict() -> None:
    """RecipeFailed types its record as a protocol; anything fitting it becomes a Failure."""
    failure = Failure("s/a.recipe.py", ename="MissingOutputs", evalue="no finish()",
                      kind=FailureKind.SETUP)

    class Foreign:
        summary = failure.summary

        def to_dict(self) -> dict:
            return failure.to_dict()

    assert Failure.read(Foreign()) == failure


def test_a_state_file_written_before_the_records_were_merged_still_loads() -> None:
    """The dict shape ``CellFailure.to_dict`` wrote into ``state/<slug>.json`` until now."""
    written = {"recipe": "basics/b.recipe.py", "cell_index": 7, "line": 31,
               "source": "model.fit(x, y)", "ename": "TrainingDiverged",
               "evalue": "training diverged at epoch 2", "traceback": "TrainingDiverged: ...",
               "kind": "diverged",
               "summary": "basics/b.recipe.py, cell 7 (line 31): TrainingDiverged: training "
                          "diverged at epoch 2"}
    state = RecipeState.from_dict({"current": KEY, "last_attempt": {
        "key": KEY, "status": "failed", "at": "2026-11-30T10:00:00+0000", "seconds": 12.5,
        "failure": written}})
    assert state.last_attempt is not None and state.last_attempt.failure is not None
    failure = state.last_attempt.failure
    assert failure.kind is FailureKind.DIVERGED and (failure.cell_index, failure.line) == (7, 31)
    assert failure == Failure("basics/b.recipe.py", 7, 31, "model.fit(x, y)", "TrainingDiverged",
                              "training diverged at epoch 2", "TrainingDiverged: ...",
                              kind=FailureKind.DIVERGED)
    assert failure.to_dict() == written


def test_a_summary_read_back_is_kept_as_written() -> None:
    """A state file's summary line is shown as written, even if the fields would word it apart."""
    assert Failure.from_dict(FAILURE).summary == FAILURE["summary"]
    assert Failure.from_dict(FAILURE).to_dict() == FAILURE
    assert Failure.from_dict({"summary": "only this"}).summary == "only this"


def test_garbled_failure_fields_are_dropped_not_trusted() -> None:
    failure = Failure.from_dict({"cell_index": "4", "kind": "volcano", "summary": 7, "line": True})
    assert failure == Failure() and failure.kind is FailureKind.ERROR
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
