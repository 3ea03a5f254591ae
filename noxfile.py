"""Developer sessions. Run `nox -l` to list them.

Virtual environments are reused, and a session skips `pip install` when pyproject.toml has not
changed since the last install (a second `nox -s tests` starts testing within seconds).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]
# uv when it is installed (`pip install "nox[uv]"`, as .ci/run does): it creates and fills the
# tests venv (TensorFlow, JAX, Chromium's driver ...) in about 10 s where pip takes 2-3 minutes;
# plain venv + pip otherwise.
nox.options.default_venv_backend = "uv|venv"

ROOT = Path(__file__).parent
PYTHON = "3.11"
# TF_ENABLE_ONEDNN_OPTS: pipeline.library.precision.ONEDNN_DEFAULT (the sessions' own processes
# import TensorFlow too, e.g. the bench; the recipe kernels get it from kernel_env)
QUIET_TF = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "1",
            "NO_MKDOCS_2_WARNING": "1", "PYTHONUNBUFFERED": "1"}
#: `nox -s tests` (CI) fails, rather than skips, a test whose TensorFlow, offline data or
#: Chromium is missing (tests/conftest.py, `need_module` / `need_data`); `nox -s unit` skips.
REQUIRE_TEST_DEPS = {"NNX_REQUIRE_TEST_DEPS": "1"}
#: Full site builds demand every recipe: an unbuilt one fails --strict instead of showing the
#: "not built yet" placeholder an author working on one recipe gets.
REQUIRE_ALL = {**QUIET_TF, "NNX_REQUIRE_ALL": "1"}


def _backend_extra() -> str:
    """The pyproject extra for KERAS_BACKEND on this machine: the GPU build when nvidia-smi
    lists a GPU or NNX_ACCELERATOR=gpu, else the CPU build (pipeline/builder/accelerator.py)."""
    sys.path.insert(0, str(ROOT))
    try:
        from pipeline.builder.accelerator import choose
    finally:
        sys.path.remove(str(ROOT))
    return choose().extra


def _install(session: nox.Session, extras: str) -> None:
    """Install the project with ``extras`` unless this venv already has this exact install."""
    extras = extras.replace("BACKEND", _backend_extra())
    stamp_text = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = Path(session.virtualenv.location) / ".nnx-installed"
    if stamp.exists() and stamp.read_text() == stamp_text:
        session.log("dependencies unchanged since the last install; skipping pip")
        return
    # uv, unlike pip, leaves the bytecode to the first import; with PYTHONDONTWRITEBYTECODE set
    # (as on the developers' machines) nothing is ever cached, and every recipe kernel compiles
    # TensorFlow's 1,800 modules again (CI: the kernel-starting tests ran 2x slower).
    session.install("-e", f".[{extras}]", env={"UV_COMPILE_BYTECODE": "1"})
    stamp.write_text(stamp_text)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite: unit tests, quick-profile end-to-end builds, Chromium browser tests.

    Extra arguments go to pytest, e.g. `nox -s tests -- -m "not browser" -x`.
    """
    _install(session, "BACKEND,jax,test,dist")
    if not session.posargs:
        # Build the real site first (quick profile; cached recipes are not re-run) so the
        # end-to-end and browser tests check what `nox -s build` produces. Failures here are
        # reported by those tests, so the unit tests still run.
        session.run("python", "-m", "pipeline", "build", "--profile", "quick", env=QUIET_TF,
                    success_codes=[0, 1])
        session.run("mkdocs", "build", "--strict", env=REQUIRE_ALL, success_codes=[0, 1])
    # One pytest worker per core (at most 4: each runs Keras kernels), whole files per worker so
    # module fixtures (the Chromium browser, the fixture site) are made once.
    workers = str(max(1, min(4, os.cpu_count() or 1)))
    args = session.posargs or ["-m", "slow or browser or not slow", "-p", "no:cacheprovider",
                               "--durations=15", "-n", workers, "--dist", "loadfile"]
    # The recipe tests reuse the store just built (cache hits) instead of training again.
    env = {**QUIET_TF, **REQUIRE_TEST_DEPS}
    if not session.posargs:
        env["NNX_TEST_BUILD_DIR"] = str(ROOT / "build")
    session.run("python", "-m", "pytest", *args, env=env)
    if not session.posargs:
        # The library is backend-neutral: the replay and attribution tests run again on JAX
        # (the whole set per backend: `nox -s tests_jax`, `nox -s tests_torch`).
        session.run("python", "-m", "pytest", "tests/unit/library/replay/test_recorder.py",
                    "tests/unit/library/test_attribution.py", "-p", "no:cacheprovider",
                    env={**QUIET_TF, **REQUIRE_TEST_DEPS, "KERAS_BACKEND": "jax",
                         "JAX_PLATFORMS": "cpu"})


@nox.session(python=PYTHON)
def unit(session: nox.Session) -> None:
    """Only the fast unit tests (what plain `pytest` runs)."""
    _install(session, "BACKEND,jax,test,dist")
    session.run("python", "-m", "pytest", *session.posargs, env=QUIET_TF)


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build every explainer's assets (quick profile unless NNX_PROFILE=full) and the site.

    `nox -s build -- --profile full --jobs 2` passes options to `python -m pipeline build`.
    """
    _install(session, "BACKEND")
    session.run("python", "-m", "pipeline", "build", *session.posargs, env=QUIET_TF)
    session.run("mkdocs", "build", "--strict", env=REQUIRE_ALL)


@nox.session(python=PYTHON)
def serve(session: nox.Session) -> None:
    """Live preview at http://127.0.0.1:8000/: a saved recipe is re-executed, its page reloads.

    Runs `python -m pipeline serve` (mkdocs serve + a recipe watcher); prose edits only reload.
    Extra arguments go to it, e.g. `nox -s serve -- --profile quick --dev-addr 0.0.0.0:8000`.
    """
    _install(session, "BACKEND")
    session.run("python", "-m", "pipeline", "serve", *session.posargs, env=QUIET_TF)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff on the code, then mypy on the package (strict on the build tool and the site).

    Installs the project without TensorFlow: mypy needs the typed dependencies (NumPy,
    matplotlib, mkdocs, nbclient, dask ...); TensorFlow, Keras, JAX and PyTorch are read as Any
    (pyproject.toml [tool.mypy]), so the result does not depend on which backend is installed.
    """
    _install(session, "lint,dist")
    session.run("ruff", "check", "pipeline", "tests", "benchmarks", "noxfile.py", "scripts")
    session.run("mypy", "pipeline")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks measured side by side in one run; prints ratios and writes build/bench.json."""
    _install(session, "BACKEND,dist")
    session.run("python", "-m", "benchmarks", *session.posargs, env=QUIET_TF)


@nox.session(python=PYTHON)
def deploy(session: nox.Session) -> None:
    """Build the full profile (cached recipes do not re-run), then publish site/ to the
    gh-pages branch with `mkdocs gh-deploy`.

    NNX_PROFILE=quick publishes the quick profile instead. Set SITE_URL and REPO_URL for your
    fork; see README.
    """
    _install(session, "BACKEND")
    profile = os.environ.get("NNX_PROFILE", "full")
    session.run("python", "-m", "pipeline", "build", "--profile", profile, env=QUIET_TF)
    session.run("mkdocs", "gh-deploy", "--strict", "--force", *session.posargs,
                env={**REQUIRE_ALL, **{k: v for k, v in os.environ.items() if k in ("SITE_URL", "REPO_URL")}})


@nox.session(python=PYTHON)
def tests_jax(session: nox.Session) -> None:
    """The backend-neutral library on JAX: replay, attribution, training and backend tests.

    Runs with KERAS_BACKEND=jax (TensorFlow is installed too: the reference numbers of
    tests/unit/library/test_backends.py come from a TensorFlow subprocess).
    """
    _install(session, "cpu,jax,test")
    files = session.posargs or ["tests/unit/library/test_backends.py", "tests/unit/library/replay/test_recorder.py",
                                "tests/unit/library/test_attribution.py", "tests/unit/library/test_training.py"]
    session.run("python", "-m", "pytest", *files, env={**QUIET_TF, "KERAS_BACKEND": "jax"})


@nox.session(python=PYTHON)
def tests_torch(session: nox.Session) -> None:
    """The same on PyTorch (not run by CI: the PyPI torch wheel is a multi-GB CUDA build)."""
    _install(session, "cpu,torch,test")
    files = session.posargs or ["tests/unit/library/test_backends.py", "tests/unit/library/replay/test_recorder.py",
                                "tests/unit/library/test_attribution.py", "tests/unit/library/test_training.py"]
    session.run("python", "-m", "pytest", *files, env={**QUIET_TF, "KERAS_BACKEND": "torch"})


@nox.session(python=PYTHON)
def doctor(session: nox.Session) -> None:
    """What a build on this machine will use (backend, GPU, data, Chromium) and what to fix."""
    _install(session, "BACKEND")
    session.run("python", "-m", "pipeline", "doctor", *session.posargs, env=QUIET_TF)


@nox.session(python=PYTHON, name="gpu_check")
def gpu_check(session: nox.Session) -> None:
    """Full profile of every recipe on the GPU, timed, plus one recipe GPU vs CPU: build/gpu_check.json.

    KERAS_BACKEND picks the framework. Without nox (an offline GPU host):
    `sh .gpu-carry/run.sh` from `python scripts/prepare_gpu_carry.py`, see docs/gpu.md.
    """
    _install(session, "BACKEND")
    session.run("python", "-m", "benchmarks.gpu_check", *session.posargs, env=QUIET_TF)
