"""This site's sessions: `nox -s build`, `nox -s serve`, `nox -s tests` (`nox -l` lists them).

By default they run in the Python environment nox itself runs in: the one you installed
nn-explainers and nox into (`pip install nn-explainers nox`), so nothing is downloaded and they
work offline. `nox --force-venv-backend uv -s build` (or `venv`) instead builds in a fresh
environment that installs requirements.txt, as the Pages workflow does.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import nox

nox.options.default_venv_backend = "none"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["build"]

#: Quiet TensorFlow; the oneDNN kernels on (faster on CPUs, and builds and tests agree on it).
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "1", "NO_MKDOCS_2_WARNING": "1",
       "PYTHONUNBUFFERED": "1"}
#: Full builds demand every page's recipe: an unbuilt one fails `mkdocs build --strict`.
REQUIRE_ALL = {**ENV, "NNX_REQUIRE_ALL": "1"}


def _python(session: nox.Session) -> str:
    """The interpreter to run the tool with, after installing it into a fresh environment."""
    if session.venv_backend == "none":
        if importlib.util.find_spec("pipeline") is None:
            session.error("nn-explainers is not installed in the environment nox runs in "
                          f"({sys.executable}): `pip install nn-explainers nox` there, or run "
                          "`nox --force-venv-backend venv -s ...` to install requirements.txt")
        return sys.executable
    session.install("-r", "requirements.txt")
    return "python"


@nox.session
def build(session: nox.Session) -> None:
    """Train every changed recipe (quick profile unless NNX_PROFILE=full), then build site/.

    `nox -s build -- --profile full` passes options to `python -m pipeline build`.
    """
    python = _python(session)
    session.run(python, "-m", "pipeline", "build", *session.posargs, env=ENV, external=True)
    session.run(python, "-m", "mkdocs", "build", "--strict", env=REQUIRE_ALL, external=True)


@nox.session
def serve(session: nox.Session) -> None:
    """Live preview at http://127.0.0.1:8000/: a saved recipe is re-executed, its page reloads."""
    python = _python(session)
    session.run(python, "-m", "pipeline", "serve", *session.posargs, env=ENV, external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """Every recipe builds in the quick profile and every page passes `mkdocs build --strict`;
    then pytest, when there is a tests/ folder."""
    python = _python(session)
    session.run(python, "-m", "pipeline", "build", "--profile", "quick", env=ENV, external=True)
    session.run(python, "-m", "mkdocs", "build", "--strict", env=REQUIRE_ALL, external=True)
    if os.path.isdir("tests"):
        session.run(python, "-m", "pytest", "tests", *session.posargs, env=ENV, external=True)
