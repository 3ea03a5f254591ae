"""How fast a build stops: Ctrl-C with two busy workers, and a recipe past its timeout.

These were wall-clock bounds inside correctness tests (``tests/system/test_faults.py`` waited
at most 15 s for a build to stop after Ctrl-C, 60 s for a timed-out recipe;
``tests/unit/builder/test_executor.py`` 60 s and 30 s). On a shared 2-core machine such a bound
either fails at random or is so loose it says nothing, so the tests now check *that* a build
stops cleanly, and this benchmark says *how fast*, next to its targets:

* ``ctrl_c_s``: SIGINT to the build's process group (what a terminal's Ctrl-C sends) while both
  ``--jobs 2`` workers run a sleeping recipe, until the build has exited (target: 15 s);
* ``timeout_overshoot_s``: a recipe with ``timeout: 4`` that sleeps for 600 s; the build's
  wall time minus those 4 s (target: 60 s). The timeout counts from the start of the recipe's
  kernel, so this is an upper bound: it includes the build's own start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CTRL_C_TARGET_S = 15.0
TIMEOUT_OVERSHOOT_TARGET_S = 60.0

RECIPE = """# ---
# explainer:
#   title: {title}
#   description: A recipe that waits, for the stop benchmark.
#   datasets: []
{extra}#   profiles:
#     quick: {{n: 1}}
#     full: {{n: 1}}
# ---

# %% tags=["parameters"]
profile = "quick"
seed = 0
asset_dir = "_assets"
data_dir = None
sizes = {{}}

# %%
import time
from pathlib import Path
from pipeline.library.runtime import Explainer
ex = Explainer(asset_dir=asset_dir, profile=profile, seed=seed, data_dir=data_dir, sizes=sizes)
Path({marker!r}).write_text("running")
time.sleep({sleep})

# %%
ex.finish()
"""


def _project(root: Path, recipes: dict[str, tuple[float, str]]) -> Path:
    content = root / "content" / "demo"
    content.mkdir(parents=True)
    for slug, (sleep, extra) in recipes.items():
        (content / f"{slug}.recipe.py").write_text(RECIPE.format(
            title=slug.title(), extra=extra, marker=str(root / f"{slug}.started"), sleep=sleep))
        (content / f"{slug}.md").write_text(f"# {slug}\n")
    return root / "content"


def _build(root: Path, content: Path, *args: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "pipeline", "--content-dir", str(content), "--build-dir",
           str(root / "build"), "build", "--data-dir", str(root), *args]
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:  # a background shell ignores SIGINT; its children would too
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_for(paths: list[Path], proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the build never started {', '.join(p.name for p in paths)}")
        time.sleep(0.02)


def ctrl_c_seconds() -> float:
    """Seconds from SIGINT to the exit of a ``--jobs 2`` build whose two recipes both run."""
    with tempfile.TemporaryDirectory(prefix="nnx-bench-stops-") as tmp:
        root = Path(tmp)
        content = _project(root, {"alpha": (300, ""), "beta": (300, "")})
        proc = _build(root, content, "--jobs", "2")
        try:
            _wait_for([root / "alpha.started", root / "beta.started"], proc)
            os.killpg(proc.pid, signal.SIGINT)
            start = time.perf_counter()
            rc = proc.wait(300)
            seconds = time.perf_counter() - start
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        if rc != 130:
            raise RuntimeError(f"the interrupted build exited with {rc}, not 130")
        return seconds


def timeout_overshoot_seconds(timeout: int = 4) -> float:
    """Seconds a one-recipe build runs past the recipe's ``timeout`` (from the build's start)."""
    with tempfile.TemporaryDirectory(prefix="nnx-bench-stops-") as tmp:
        root = Path(tmp)
        content = _project(root, {"alpha": (600, f"#   timeout: {timeout}\n")})
        start = time.perf_counter()
        proc = _build(root, content)
        try:
            rc = proc.wait(600)
            seconds = time.perf_counter() - start
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        if rc != 1:
            raise RuntimeError(f"the build with a timed-out recipe exited with {rc}, not 1")
        return max(0.0, seconds - timeout)


def bench_stops() -> dict[str, Any]:
    """Both measurements, with their targets."""
    ctrl_c = ctrl_c_seconds()
    overshoot = timeout_overshoot_seconds()
    return {"ctrl_c_s": round(ctrl_c, 2), "ctrl_c_target_s": CTRL_C_TARGET_S,
            "timeout_overshoot_s": round(overshoot, 2),
            "timeout_overshoot_target_s": TIMEOUT_OVERSHOOT_TARGET_S}
