"""Fault injection: failing, hanging, diverging and malicious recipes, corrupted stores, killed
and interrupted builds, two builds at once. The build must never lose the last good result,
never serve a damaged one, and always say what went wrong.

Most tests use "micro" recipes (no matplotlib, no TensorFlow) so a kernel run costs about a
second; the ones that kill or interrupt a build run ``python -m pipeline build`` as a subprocess
and wait for a marker file the recipe writes at the moment of interest.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pipeline.builder.store import MANIFEST, BuildDir, CorruptEntry
from tests.conftest import REPO_ROOT, MiniProject, recipe_header, tiny_recipe

pytestmark = pytest.mark.faults

MICRO_PAGE = '# {title}\n\nProse.\n\nn = {{{{ metric("n") }}}}\n'


def micro_recipe(title: str = "Micro", body: str = "", n: int = 1, extra_header: str = "",
                 datasets: str = "[]") -> str:
    """A recipe that writes one text asset and one metric (no matplotlib: ~1 s per run)."""
    header = recipe_header(title, "A micro recipe for fault tests.", datasets, n, n + 1,
                           extra_header)
    return header + textwrap.dedent("""
        # %% tags=["parameters"]
        profile = "quick"
        seed = 0
        asset_dir = "_assets"
        data_dir = None
        sizes = {"n": 1}
        checkpoint_dir = None

        # %%
        from pathlib import Path
        from pipeline.library.runtime import Explainer
        ex = Explainer(asset_dir=asset_dir, profile=profile, seed=seed, data_dir=data_dir,
                       sizes=sizes, checkpoint_dir=checkpoint_dir)
        ex.save_text("note.txt", "hello " * sizes["n"])
        ex.metric("n", sizes["n"])
        """) + textwrap.dedent(body) + "\n# %%\nex.finish()\n"


def add_micro(mini: MiniProject, slug: str, body: str = "", **kwargs) -> Path:
    return mini.add(slug, micro_recipe(slug.title(), body, **kwargs),
                    page=MICRO_PAGE.format(title=slug))


# -- helpers: subprocess builds, processes, store checks ----------------------------------------

@contextlib.contextmanager
def ctrl_c_enabled_for_children() -> Iterator[None]:
    """Let processes started inside receive SIGINT, as a terminal's foreground job does.

    A process inherits an *ignored* SIGINT across ``exec``, and a shell without job control
    starts background commands with SIGINT ignored (``nox ... &`` in a script, many CI
    runners). The whole test session then ignores SIGINT, every build it starts does too, and
    a Ctrl-C test waits 30 s for a build that never saw its signal. A handled signal is reset
    to the default by ``exec``, so installing Python's handler here for the moment of the
    ``fork`` gives the child the terminal's default.
    """
    if signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def ignores_sigint(pid: int) -> bool:
    """Whether the process ignores SIGINT (Linux: its ``SigIgn`` mask; False elsewhere)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next((line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")),
                "0")
    return bool(int(mask, 16) & (1 << (signal.SIGINT - 1)))


class BuildProcess:
    """``python -m pipeline build`` in its own session (like a terminal job), output to a file."""

    def __init__(self, mini: MiniProject, *args: str, name: str = "build") -> None:
        self.log_path = mini.root / f"{name}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in wait()
        cmd = [sys.executable, "-m", "pipeline", "--content-dir", str(mini.content),
               "--build-dir", str(mini.build_dir), "build", "--data-dir", str(mini.data_dir), *args]
        env = dict(os.environ, COLUMNS="200")
        with ctrl_c_enabled_for_children():
            self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=self._log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return " ".join(self.log_path.read_text().split())

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is not None:
                self._log.close()

    def wait_for(self, marker: Path, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if self.proc.poll() is not None:
                pytest.fail(f"build exited with {self.proc.returncode} before {marker.name} "
                            f"appeared:\n{self.log_path.read_text()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"{marker.name} never appeared:\n{self.log_path.read_text()}")
            time.sleep(0.05)

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
        self.wait(30)


def still_running(procs: list[psutil.Process], timeout: float) -> list[str]:
    """The processes still alive (zombies count as gone) after waiting up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for p in procs:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
            except psutil.NoSuchProcess:
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def kernels_of(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The kernels among ``procs``: started as ``python -m ipykernel_launcher``, or forked by a
    kernel zygote (pipeline/builder/kernel_zygote.py; such a kernel keeps the zygote's command
    line, and its parent is the zygote)."""
    out = []
    for p in procs:
        try:
            cmd = " ".join(p.cmdline())
            parent = p.parent()
            forked = "kernel_zygote" in cmd and parent is not None and \
                "kernel_zygote" in " ".join(parent.cmdline())
            if "ipykernel" in cmd or forked:
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


def my_kernels() -> list[psutil.Process]:
    return kernels_of(psutil.Process().children(recursive=True))


def assert_store_sound(build_dir: Path) -> None:
    """Every store entry verifies completely; state, report and memo files are valid JSON."""
    bdir = BuildDir(build_dir)
    if bdir.store.exists():
        for slug_dir in bdir.store.iterdir():
            for entry in slug_dir.iterdir():
                manifest = bdir.verify_entry(entry)  # raises CorruptEntry on any damage
                assert manifest["slug"] == slug_dir.name
    for path in [*bdir.state_dir.glob("*.json"), bdir.hash_memo,
                 bdir.reports / "last-build.json"]:
        if path.exists():
            json.loads(path.read_text())
    for folder in (bdir.store, bdir.state_dir, bdir.reports):
        if folder.exists():
            leftovers = [p for p in folder.rglob(".*") if p.is_file()]
            assert leftovers == [], f"temporary files left behind: {leftovers}"


def staging_leftovers(build_dir: Path) -> list[str]:
    staging = build_dir / "staging"
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


# -- 1. a recipe raising in cell N ------------------------------------------------------------

def test_failing_cell_is_reported_others_build_last_good_kept(mini, capsys) -> None:
    from pipeline.site.pages import stale_banner

    add_micro(mini, "alpha")
    beta = add_micro(mini, "beta")
    assert mini.cli("build") == 0
    good_entry, good = mini.current("beta")

    beta.write_text(micro_recipe("Beta", body="""
        # %%
        values = [1, 2, 3]

        # %%
        total = sum(values)
        raise ValueError(f"bad total {total}")
        """))
    add_micro(mini, "gamma")
    capsys.readouterr()
    assert mini.cli("build") == 1
    assert mini.statuses() == {"alpha": "cached", "beta": "failed", "gamma": "ran"}

    failure = mini.state("beta")["last_attempt"]["failure"]
    lines = beta.read_text().splitlines()
    assert failure["source"] == 'total = sum(values)\nraise ValueError(f"bad total {total}")'
    assert failure["line"] == lines.index('raise ValueError(f"bad total {total}")') + 1  # the raising line
    assert failure["kind"] == "error" and failure["ename"] == "ValueError"
    report = " ".join(capsys.readouterr().err.split())
    assert (f"demo/beta.recipe.py, cell {failure['cell_index']} (line {failure['line']}): "
            "ValueError: bad total 6") in report
    assert "Cell source: total = sum(values)" in report
    assert "Traceback (from the recipe's kernel):" in report and "Cell In[" in report
    assert "beta" in report.split("recipe(s) failed:")[-1]

    entry, manifest = mini.current("beta")  # the last good result is still the current one
    assert entry == good_entry and manifest["key"] == good["key"]
    assert (entry / "assets" / "note.txt").read_text() == "hello "
    banner = stale_banner(mini.state("beta"), manifest)
    assert "Stale: the latest build failed" in banner and "bad total 6" in banner
    assert staging_leftovers(mini.build_dir) == []
    assert_store_sound(mini.build_dir)


# -- 2. SIGKILL mid-write -----------------------------------------------------------------------

RESUMABLE_BODY = """
# %%
import time
from pipeline.library import atomic
FLAG, MARKER = Path({flag!r}), Path({marker!r})
slow = FLAG.exists()
ckpt = ex.checkpoint_path("progress.txt")
start = int(ckpt.read_text()) if ckpt.exists() else 0
ex.metric("resumed_from", start)
if slow and {phase!r} == "execute":
    atomic.write_text(ckpt, "7")
    MARKER.write_text("executing")
    time.sleep(120)

# %%
with open(ex.asset_path("big.bin"), "wb") as fh:  # a big asset written slowly, not atomically
    for i in range(start, 40):
        fh.write(bytes(256 * 1024))
        fh.flush()
        atomic.write_text(ckpt, str(i + 1))
        if slow and i == 3:  # stop mid-file, so the kill finds a half-written asset
            MARKER.write_text("rendering")
            time.sleep(120)
ex.add_output("big.bin", kind="data")
"""


def _resumable(mini: MiniProject, phase: str, version: int) -> str:
    body = RESUMABLE_BODY.format(flag=str(mini.root / "slow"), marker=str(mini.root / "marker"),
                                 phase=phase)
    return micro_recipe("Beta", body + f"\n# recipe version {version}\n")


@pytest.mark.parametrize("phase", ["execute", "render"])
def test_sigkill_mid_run_leaves_no_damage_and_resumes(mini, phase: str) -> None:
    add_micro(mini, "alpha")
    beta = mini.add("beta", _resumable(mini, phase, 1), page=MICRO_PAGE.format(title="beta"))
    assert mini.cli("build") == 0
    old_entry, old = mini.current("beta")

    beta.write_text(_resumable(mini, phase, 2))  # a new key: beta must run again
    add_micro(mini, "gamma")  # never built: it comes after beta
    (mini.root / "slow").touch()
    build = BuildProcess(mini, "--jobs", "1")
    build.wait_for(mini.root / "marker")
    children = build.descendants()
    assert kernels_of(children), "the recipe's kernel should be running"
    os.kill(build.pid, signal.SIGKILL)
    assert build.wait(10) == -signal.SIGKILL
    assert still_running(children, 10) == [], "kernels must not outlive a killed build"

    # Nothing damaged is visible: beta still serves its previous good entry, gamma has none.
    assert_store_sound(mini.build_dir)
    entry, manifest = mini.current("beta")
    assert entry == old_entry and manifest["key"] == old["key"]
    assert mini.current("gamma") is None
    bdir = BuildDir(mini.build_dir)
    new_key = next(d for d in (bdir.checkpoints / "beta").iterdir())
    assert (new_key / "progress.txt").read_text() in {"4", "5", "6", "7"}  # work saved so far

    (mini.root / "slow").unlink()
    assert mini.cli("build") == 0
    assert mini.statuses() == {"alpha": "cached", "beta": "ran", "gamma": "ran"}
    _, manifest = mini.current("beta")
    assert manifest["metrics"]["resumed_from"] >= 4, "the re-run continues from the checkpoint"
    # the manifest says so by itself (the full-profile benchmark reports it per recipe)
    assert manifest["resumed_from"] == ["progress.txt"] and old["resumed_from"] == []
    assert not (bdir.checkpoints / "beta").exists(), "checkpoints go once the result is published"
    assert staging_leftovers(mini.build_dir) == []
    assert_store_sound(mini.build_dir)


def test_store_entries_appear_only_by_renaming_complete_staging_dirs(mini, monkeypatch) -> None:
    """Watch the store while a build runs: every entry ever seen is complete and verifies."""
    import threading

    import pipeline.builder.store as store

    for slug in ("alpha", "beta"):
        add_micro(mini, slug)
    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def spy(src, dst, *args, **kwargs):
        renames.append((str(src), str(dst)))
        return real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(store.os, "rename", spy)
    seen: dict[str, str] = {}
    stop = threading.Event()
    bdir = BuildDir(mini.build_dir)

    def watch() -> None:
        while not stop.is_set():
            for entry in bdir.store.glob("*/*") if bdir.store.exists() else []:
                if str(entry) not in seen:
                    try:
                        bdir.verify_entry(entry)
                        seen[str(entry)] = "ok"
                    except CorruptEntry as exc:
                        seen[str(entry)] = f"corrupt: {exc}"
                    except FileNotFoundError:
                        pass  # being discarded
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert mini.cli("build") == 0
    finally:
        stop.set()
        watcher.join()
    entries = sorted(str(p) for p in bdir.store.glob("*/*"))
    assert len(entries) == 2 and set(seen.values()) == {"ok"}
    published = {dst: src for src, dst in renames}
    for entry in entries:
        assert Path(published[entry]).parent == bdir.staging


# -- 3. corrupted or hand-edited entries and state -----------------------------------------------

def _truncate(entry: Path) -> None:
    path = entry / "assets" / "note.txt"
    path.write_bytes(path.read_bytes()[:3])


def _edit_metric(entry: Path) -> None:
    path = entry / MANIFEST
    data = json.loads(path.read_text())
    data["metrics"]["n"] = 99
    path.write_text(json.dumps(data))


def _delete(entry: Path) -> None:
    (entry / "assets" / "note.txt").unlink()


def _add_file(entry: Path) -> None:
    (entry / "assets" / "extra.html").write_text("<script>alert(1)</script>")


def _garbage_manifest(entry: Path) -> None:
    (entry / MANIFEST).write_text("{not json")


CORRUPTIONS = {
    "trunc": _truncate, "metric": _edit_metric, "deleted": _delete, "added": _add_file,
    "garbage": _garbage_manifest,
}


def test_corrupted_entries_and_state_are_detected_never_served_and_rebuilt(mini) -> None:
    from pipeline.site.plugin import ExplainersPlugin

    slugs = [*CORRUPTIONS, "state", "badkey"]
    for slug in slugs:
        add_micro(mini, slug)
    assert mini.cli("build") == 0
    bdir = BuildDir(mini.build_dir)
    for slug, damage in CORRUPTIONS.items():
        damage(mini.current(slug)[0])
    (bdir.state_dir / "state.json").write_text("{garbage")
    (bdir.state_dir / "badkey.json").write_text(json.dumps({"current": "../../../etc",
                                                            "last_attempt": "x"}))

    for slug in CORRUPTIONS:
        assert mini.current(slug) is None, f"{slug}: a damaged entry must not be served"
    plugin = ExplainersPlugin()
    assert plugin.load_config({"build_dir": str(mini.build_dir)}) == ([], [])
    plugin.on_config({"docs_dir": str(mini.content), "watch": None})  # what `mkdocs build` sees
    results = plugin.results
    for slug in CORRUPTIONS:
        assert results[slug]["entry"] is None and results[slug]["problem"], slug
    assert results["state"]["entry"] is None and results["badkey"]["entry"] is None

    assert mini.cli("build") == 0
    statuses = mini.statuses()
    assert {s: statuses[s] for s in CORRUPTIONS} == dict.fromkeys(CORRUPTIONS, "ran")
    # The state files only pointed at good entries: they are rewritten, nothing re-executes.
    assert statuses["state"] == "cached" and statuses["badkey"] == "cached"
    for slug in slugs:
        entry, manifest = mini.current(slug)
        assert manifest["metrics"]["n"] == 1
        assert (entry / "assets" / "note.txt").read_text() == "hello "
    assert_store_sound(mini.build_dir)


@pytest.mark.slow
def test_site_never_serves_a_truncated_asset(mini) -> None:
    from tests.sitebuild import build_site

    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build") == 0
    png = mini.current("alpha")[0] / "assets" / "line.png"
    png.write_bytes(png.read_bytes()[:100])
    site = mini.root / "site"
    strict = build_site(mini.content, mini.build_dir, site)
    assert strict.returncode != 0 and "not serving the stored result of 'alpha'" in strict.stderr
    result = build_site(mini.content, mini.build_dir, site, strict=False)
    assert result.returncode == 0, result.stderr
    assert not (site / "assets" / "alpha" / "line.png").exists()
    page = (site / "demo" / "alpha" / "index.html").read_text()
    assert "The stored result of this explainer is damaged" in page
    assert "line.png" in page and "pipeline build --only alpha" in page


# -- 4. divergence ------------------------------------------------------------------------------

DIVERGE_BODY = """
# %%
from pipeline.library.errors import TrainingDiverged
try:
    raise TrainingDiverged(epoch=3, learning_rate=10.0, loss=float("nan"))
except TrainingDiverged as exc:
    ex.diverged(exc)

# %%
if not ex.is_diverged:
    ex.save_text("weights.txt", "trained")
"""

DIVERGE_PAGE = """# Diverging

{{ figure("weights.png") }}

Final loss {{ metric("final_loss", ".3f") }}.
"""


def test_diverged_training_is_published_and_explained(mini, capsys) -> None:
    from pipeline.site.pages import (
        PageContext,
        divergence_notice,
        expand_shortcodes,
        gallery_html,
    )

    mini.add("diverging", micro_recipe("Diverging", DIVERGE_BODY), page=DIVERGE_PAGE)
    assert mini.cli("build") == 0  # a diverged run is a valid result: the page explains it
    err = " ".join(capsys.readouterr().err.split())
    assert "diverging: training diverged at epoch 3" in err and "learning rate 10" in err
    _, manifest = mini.current("diverging")
    status = manifest["status"]
    assert status["state"] == "diverged" and status["epoch"] == 3
    assert status["learning_rate"] == 10.0 and status["loss"] == "nan"
    notice = divergence_notice(manifest)
    assert 'Training diverged at epoch 3 (learning rate 10)' in notice
    ctx = PageContext(slug="diverging", manifest=manifest, state={}, url_for=lambda name: None)
    page = expand_shortcodes(DIVERGE_PAGE, ctx)
    assert ctx.warnings == []  # no "missing asset" error: the page says why there is no figure
    assert "Not drawn: training diverged" in page and "n/a (training diverged)" in page
    card = gallery_html([{"slug": "diverging", "title": "D", "profile": "quick", "diverged": True}],
                        {"diverging": "d/"}, {})
    assert "training diverged" in card


def test_uncaught_divergence_fails_with_epoch_and_rate(mini) -> None:
    body = '\n# %%\nfrom pipeline.library.errors import TrainingDiverged\nraise TrainingDiverged(5, 0.5, float("inf"))\n'
    add_micro(mini, "alpha", body=body)
    assert mini.cli("build") == 1
    failure = mini.state("alpha")["last_attempt"]["failure"]
    assert failure["kind"] == "diverged" and failure["ename"] == "TrainingDiverged"
    assert "epoch 5" in failure["evalue"] and "learning rate 0.5" in failure["evalue"]


KERAS_DIVERGE_BODY = """
# %%
import numpy as np
import keras
from pipeline.library.errors import TrainingDiverged
from pipeline.library.training import DivergenceGuard
ex.seed_everything()
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32") * 100
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e4), loss="mse")
try:
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0, callbacks=[DivergenceGuard()])
except TrainingDiverged as exc:
    ex.diverged(exc)
ex.metric("epochs_run", len(model.history.epoch))

# %%
if not ex.is_diverged:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot(history.history["loss"])
    ex.save_figure(fig, "loss.png", alt="loss curve")
"""


@pytest.mark.slow
def test_keras_model_with_huge_learning_rate_diverges_cleanly(mini) -> None:
    from tests.sitebuild import build_site

    page = '# Diverging\n\n{{ figure("loss.png") }}\n\nEpochs: {{ metric("epochs_run") }}\n'
    mini.add("keras-diverge", micro_recipe("Keras diverge", KERAS_DIVERGE_BODY), page=page)
    assert mini.cli("build") == 0
    _, manifest = mini.current("keras-diverge")
    status = manifest["status"]
    assert status["state"] == "diverged" and status["learning_rate"] == pytest.approx(1e4)
    assert manifest["metrics"]["epochs_run"] == status["epoch"] < 30  # stopped early
    site = mini.root / "site"
    result = build_site(mini.content, mini.build_dir, site)
    assert result.returncode == 0, result.stderr
    html = (site / "demo" / "keras-diverge" / "index.html").read_text()
    assert f"Training diverged at epoch {status['epoch']} (learning rate 10000)" in html
    assert "<img" not in html.split("Training diverged", 1)[1].split("How this page was built")[0]


# -- 5. missing data offline ------------------------------------------------------------------

def test_missing_dataset_names_places_and_fix_without_library_frames(mini, monkeypatch, capsys) -> None:
    monkeypatch.setenv("KERAS_HOME", str(mini.root / "empty-keras"))
    monkeypatch.setenv("NNX_OFFLINE", "1")
    body = "\n# %%\nfrom pipeline.library.datasets import load_cifar10\ndata = load_cifar10(data_dir)\n"
    add_micro(mini, "alpha", body=body, datasets="[cifar10]")
    add_micro(mini, "beta")
    assert mini.cli("build") == 1
    assert mini.statuses() == {"alpha": "failed", "beta": "ran"}
    failure = mini.state("alpha")["last_attempt"]["failure"]
    assert failure["ename"] == "DatasetUnavailable"
    assert "dataset 'cifar10' is not available offline" in failure["evalue"]
    assert str(mini.data_dir) in failure["evalue"] and "Keras cache" in failure["evalue"]
    assert "To fix:" in failure["evalue"]
    tb = failure["traceback"]
    assert "Cell In[" in tb and "data = load_cifar10(data_dir)" in tb
    assert "frame(s) inside the library hidden" in tb
    assert "File " not in tb.replace("raised at File", "") and "_run_stages(" not in tb.split("hidden")[0]
    err = " ".join(capsys.readouterr().err.split())
    assert "dataset 'cifar10' is not available offline" in err


# -- 6. bad input: clear errors, nothing written -------------------------------------------------

@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("build", "--profile", "nope"), "--profile 'nope' is not a profile"),
        (("build", "--only", "alpah"), "Did you mean 'alpha'"),
        (("build", "--jobs", "-3"), "--jobs must be at least 1"),
        (("build", "--lock-timeout", "-1"), "--lock-timeout must be 0 or more"),
        (("build", "--data-dir", "/nonexistent/data"), "--data-dir /nonexistent/data is not a folder"),
        (("build", "--executor", "ray://x"), "unknown executor"),
    ],
)
def test_bad_arguments_write_nothing(mini, capsys, args, message) -> None:
    add_micro(mini, "alpha")
    assert mini.cli(*args) == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert not (mini.build_dir / "store").exists() and not (mini.build_dir / "state").exists()


@pytest.mark.parametrize("args", [("build", "--jobs", "two"), ("build", "--bogus"), ("bulid",)])
def test_unparsable_arguments_exit_2_and_write_nothing(mini, capsys, args) -> None:
    add_micro(mini, "alpha")
    with pytest.raises(SystemExit) as info:
        mini.cli(*args)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err
    assert not mini.build_dir.exists()


@pytest.mark.parametrize("where", ["file", "inside-content", "missing-content"])
def test_bad_folders_are_refused(mini, capsys, where) -> None:
    from pipeline.builder.cli import main

    add_micro(mini, "alpha")
    content, build = mini.content, mini.build_dir
    if where == "file":
        build.write_text("not a folder")
    elif where == "inside-content":
        build = content / "build"
    else:
        content = mini.root / "nope"
    assert main(["--content-dir", str(content), "--build-dir", str(build), "build"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert {"file": "is not a folder", "inside-content": "is inside the content folder",
            "missing-content": "does not exist"}[where] in err
    assert not (content / "build").exists() and not (mini.build_dir / "store").exists()


def test_malformed_header_and_outside_recipe_fail_alone(mini, tmp_path) -> None:
    add_micro(mini, "alpha")
    (mini.content / "demo" / "broken.recipe.py").write_text(
        micro_recipe("Broken").replace("#   title: Broken", "#   titel: Broken"))
    outside = tmp_path / "elsewhere" / "evil.recipe.py"
    outside.parent.mkdir()
    outside.write_text(micro_recipe("Evil"))
    (mini.content / "demo" / "evil.recipe.py").symlink_to(outside)
    assert mini.cli("build") == 1
    assert mini.statuses() == {"alpha": "ran"}
    errors = " ".join(mini.report()["header_errors"])
    assert "demo/broken.recipe.py: unknown field 'explainer.titel'. Did you mean 'title'?" in errors
    assert "recipes must live inside the content folder" in errors
    assert sorted(p.name for p in (mini.build_dir / "store").iterdir()) == ["alpha"]
    assert sorted(p.name for p in (mini.build_dir / "state").iterdir()) == ["alpha.json"]


@pytest.mark.slow
def test_broken_header_keeps_the_last_good_page_marked_stale(mini) -> None:
    from tests.sitebuild import build_site

    mini.add("alpha", tiny_recipe("Alpha"), page=MICRO_PAGE.format(title="alpha"))
    (mini.content / "index.md").write_text("# Home\n\n{{ gallery() }}\n")
    assert mini.cli("build") == 0
    recipe = mini.content / "demo" / "alpha.recipe.py"
    recipe.write_text(recipe.read_text().replace("#   title: Alpha", "#   titel: Alpha"))
    assert mini.cli("build") == 1  # the header error fails the build, nothing is touched
    site = mini.root / "site"
    result = build_site(mini.content, mini.build_dir, site, strict=False)
    assert result.returncode == 0, result.stderr
    page = (site / "demo" / "alpha" / "index.html").read_text()
    assert "Stale: the recipe header is invalid" in page and "titel" in page
    assert (site / "assets" / "alpha" / "line.png").is_file()  # the last good result is served
    home = (site / "index.html").read_text()
    assert "Alpha" in home and "assets/_gallery/alpha.webp" in home  # still in the gallery


@pytest.mark.parametrize(
    "statement",
    [
        # (names with "..", absolute names etc. are refused by safe_asset_name: tests/unit/library/test_runtime.py)
        'ex.save_text("/tmp/escaped.txt", "x")',
        # a link inside the asset dir that points outside it
        'import os; os.symlink(Path(asset_dir).parent.parent.parent, Path(asset_dir) / "up"); '
        'ex.asset_path("up/escaped.txt").write_text("x")',
        # the same link left behind while the recipe carries on: refused at publish time
        'import os; os.symlink("/etc/hostname", Path(asset_dir) / "hostname.txt")',
    ],
)
def test_asset_escapes_are_refused_and_nothing_published(mini, statement) -> None:
    add_micro(mini, "alpha", body=f"\n# %%\n{statement}\n")
    assert mini.cli("build") == 1
    failure = mini.state("alpha")["last_attempt"]["failure"]
    assert failure["ename"] == "AssetPathError"
    assert not list(mini.root.rglob("escaped.txt")) and not Path("/tmp/escaped.txt").exists()
    assert mini.current("alpha") is None and not (mini.build_dir / "store").exists()
    assert staging_leftovers(mini.build_dir) == []


# -- 7. two builds at once ----------------------------------------------------------------------

WAIT_FOR_RELEASE = """
# %%
import time
MARKER, RELEASE = Path({marker!r}), Path({release!r})
MARKER.write_text("running")
for _ in range(600):
    if RELEASE.exists():
        break
    time.sleep(0.1)
"""


def test_second_build_refuses_or_waits(mini) -> None:
    marker, release = mini.root / "marker", mini.root / "release"
    add_micro(mini, "alpha", body=WAIT_FOR_RELEASE.format(marker=str(marker), release=str(release)))
    add_micro(mini, "beta")
    first = BuildProcess(mini, name="first")
    try:
        first.wait_for(marker)
        refused = BuildProcess(mini, "--lock-timeout", "0", name="refused")
        assert refused.wait(60) == 3
        assert "another build is running on" in refused.output()
        waiting = BuildProcess(mini, "--lock-timeout", "120", name="waiting")
        deadline = time.monotonic() + 60
        while "waiting up to 120 s" not in waiting.output():
            assert waiting.proc.poll() is None, waiting.output()
            assert time.monotonic() < deadline, waiting.output()
            time.sleep(0.1)
        assert first.proc.poll() is None and staging_leftovers(mini.build_dir)  # first still runs
        release.touch()
        assert first.wait(60) == 0, first.output()
        assert waiting.wait(60) == 0, waiting.output()
    finally:
        release.touch()
        first.kill()
    # The waiting build started after the first had published: it found everything cached.
    assert mini.statuses() == {"alpha": "cached", "beta": "cached"}
    assert staging_leftovers(mini.build_dir) == []
    assert_store_sound(mini.build_dir)


# -- 8. a recipe that hangs -----------------------------------------------------------------

def test_hanging_recipe_times_out_and_kernel_is_killed(mini) -> None:
    """How soon after its timeout it is killed is timed by `python -m benchmarks` (stops)."""
    add_micro(mini, "alpha", body="\n# %%\nimport time\ntime.sleep(600)\n", extra_header="timeout: 4")
    add_micro(mini, "beta")
    assert mini.cli("build") == 1
    assert mini.statuses() == {"alpha": "failed", "beta": "ran"}
    failure = mini.state("alpha")["last_attempt"]["failure"]
    assert failure["kind"] == "timeout" and failure["ename"] == "TimeoutError"
    assert "exceeded its timeout of 4 s" in failure["evalue"]
    assert "time.sleep(600)" in failure["source"]
    assert still_running(my_kernels(), 10) == []
    assert staging_leftovers(mini.build_dir) == []


# -- 9. Ctrl-C ------------------------------------------------------------------------------

SLEEPER = """
# %%
import time
Path({marker!r}).write_text("running")
time.sleep(300)
"""


def _interrupt(mini: MiniProject, jobs: str) -> None:
    """How fast it stops is timed by `python -m benchmarks` (stops); here: that it stops, with
    exit code 130, and leaves nothing behind."""
    marker, second = mini.root / "marker", mini.root / "second"
    add_micro(mini, "alpha")
    assert mini.cli("build") == 0
    alpha_entry = mini.current("alpha")[0]
    (mini.content / "demo" / "alpha.recipe.py").write_text(micro_recipe("Alpha", n=2))
    add_micro(mini, "beta", body=SLEEPER.format(marker=str(marker)))
    add_micro(mini, "gamma", body=SLEEPER.format(marker=str(second)))
    build = BuildProcess(mini, "--jobs", jobs)
    try:
        build.wait_for(marker)
        if jobs == "2":
            build.wait_for(second)  # the second worker is busy too (alpha took a moment)
        children = build.descendants()
        assert kernels_of(children)
        assert not ignores_sigint(build.pid), "the build must start with Ctrl-C enabled"
        os.killpg(build.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        rc = build.wait(120)  # a hang guard; the seconds it takes are the benchmark's
    finally:
        build.kill()
    assert rc == 130, build.output()
    assert "interrupted" in build.output()
    assert still_running(children, 5) == [], "no kernel or worker may outlive the build"
    assert staging_leftovers(mini.build_dir) == []
    assert_store_sound(mini.build_dir)
    assert mini.current("beta") is None and mini.current("gamma") is None
    if jobs == "1":  # alpha (first in order) finished before the interrupt and was kept
        entry, manifest = mini.current("alpha")
        assert manifest["metrics"]["n"] == 2 and entry != alpha_entry
    else:
        assert mini.current("alpha") is not None


def test_builds_get_ctrl_c_even_when_the_test_session_ignores_it() -> None:
    """The cause of Ctrl-C tests that timed out in a full-suite run started in the background:
    an ignored SIGINT is inherited, so the build never saw the signal."""
    probe = [sys.executable, "-c",
             "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"]
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under `nox ... &` in a script
    try:
        inherited = subprocess.run(probe, capture_output=True, text=True, check=True).stdout
        with ctrl_c_enabled_for_children():
            started = subprocess.run(probe, capture_output=True, text=True, check=True).stdout
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN, "the session's own is kept"
    finally:
        signal.signal(signal.SIGINT, previous)
    assert inherited.strip() == "False", "an ignored SIGINT is inherited across exec"
    assert started.strip() == "True"


#: ``NNX_CTRL_C_REPEAT=20``: each Ctrl-C test runs 20 times in a row (pytest-repeat) wherever it
#: falls in a larger run, e.g. ``NNX_CTRL_C_REPEAT=20 pytest tests/system/test_faults.py
#: tests/unit/builder/test_parallel.py -m "slow or not slow"``; the other tests run once.
CTRL_C_REPEAT = int(os.environ.get("NNX_CTRL_C_REPEAT", "1"))


@pytest.mark.repeat(CTRL_C_REPEAT)
def test_ctrl_c_stops_cleanly_jobs_1(mini) -> None:
    _interrupt(mini, "1")


@pytest.mark.repeat(CTRL_C_REPEAT)
def test_ctrl_c_stops_cleanly_jobs_2(mini) -> None:
    _interrupt(mini, "2")


@pytest.mark.slow
def test_sigkill_with_jobs_2_leaves_no_orphans(mini) -> None:
    marker, second = mini.root / "marker", mini.root / "second"
    add_micro(mini, "alpha", body=SLEEPER.format(marker=str(marker)))
    add_micro(mini, "beta", body=SLEEPER.format(marker=str(second)))
    build = BuildProcess(mini, "--jobs", "2")
    build.wait_for(marker)
    build.wait_for(second)  # both workers and both kernels exist
    children = build.descendants()
    os.kill(build.pid, signal.SIGKILL)
    build.wait(10)
    assert still_running(children, 15) == [], "workers and kernels must die with the build"
    add_micro(mini, "alpha")
    add_micro(mini, "beta")
    assert mini.cli("build") == 0
    assert staging_leftovers(mini.build_dir) == []
    assert_store_sound(mini.build_dir)


def test_sigterm_is_a_clean_interrupt(mini) -> None:
    marker = mini.root / "marker"
    add_micro(mini, "alpha", body=SLEEPER.format(marker=str(marker)))
    build = BuildProcess(mini)
    try:
        build.wait_for(marker)
        children = build.descendants()
        build.proc.terminate()
        rc = build.wait(30)
    finally:
        build.kill()
    assert rc == 130, build.output()
    assert still_running(children, 5) == []
    assert staging_leftovers(mini.build_dir) == []
