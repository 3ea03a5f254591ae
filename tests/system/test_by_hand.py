"""Running a recipe by hand never resumes a checkpoint made from other code or parameters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.library import runtime
from pipeline.library.runtime import Explainer
from tests.conftest import REPO_ROOT

SCRIPT = """
from pipeline.library.runtime import Explainer
learning_rate = {lr}
ex = Explainer(asset_dir="_assets", sizes={{"epochs": {epochs}}})
print(ex.checkpoint_path("replay.h5").parent)
"""


def _checkpoint_folder(folder: Path, lr: float, epochs: int = 5) -> Path:
    script = folder / "by-hand.recipe.py"
    script.write_text(SCRIPT.format(lr=lr, epochs=epochs))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    out = subprocess.run([sys.executable, script.name], cwd=folder, env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return Path(out.strip().splitlines()[-1])


def test_script_checkpoints_are_keyed_on_code_and_parameters(tmp_path) -> None:
    first = _checkpoint_folder(tmp_path, 0.1)
    assert first.parent == (tmp_path / "_checkpoints").resolve()
    assert _checkpoint_folder(tmp_path, 0.1) == first  # same code: may resume
    assert _checkpoint_folder(tmp_path, 0.5) != first  # the learning rate changed
    assert _checkpoint_folder(tmp_path, 0.1, epochs=6) != first  # the sizes changed


def test_notebook_history_is_the_code_when_there_is_no_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "_running_source", lambda: "x = 1\nfit(lr=0.1)")
    a = Explainer(asset_dir=tmp_path / "_assets").checkpoint_dir
    monkeypatch.setattr(runtime, "_running_source", lambda: "x = 1\nfit(lr=0.5)")
    b = Explainer(asset_dir=tmp_path / "_assets").checkpoint_dir
    assert a != b and a.parent == b.parent == (tmp_path / "_checkpoints").resolve()


def test_unknown_code_never_resumes(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "_running_source", lambda: None)
    a = Explainer(asset_dir=tmp_path / "_assets").checkpoint_dir
    b = Explainer(asset_dir=tmp_path / "_assets").checkpoint_dir
    assert a != b


def test_the_build_injected_folder_is_used_as_given(tmp_path) -> None:
    ex = Explainer(asset_dir=tmp_path / "a", checkpoint_dir=tmp_path / "ckpt")
    assert ex.checkpoint_dir == (tmp_path / "ckpt").resolve()
