"""``python -m pipeline serve``: live preview while writing an explainer.

Two parts, each doing what it is good at. ``mkdocs serve`` (a child process) rebuilds the site
and reloads the browser whenever a page changes or a build publishes a result (the site plugin
adds ``build/state/`` to its watched paths). A :class:`RecipeWatcher` thread here notices a saved
``*.recipe.py`` and re-executes only that recipe, through the normal build
(``python -m pipeline build --only SLUG``): same cache, lock and failure handling as any build,
so a broken save keeps the last good result online and the page says why. Prose (``.md``) edits
only reload; they never re-execute anything.

Why polling mtimes rather than file-system events: editors save in many ways (rename over the
file, write in place, delete and recreate); comparing ``(mtime_ns, size)`` every quarter second
catches them all on every platform, and a content folder holds only a few dozen recipes.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.builder.recipes import RECIPE_SUFFIX
from pipeline.library.errors import ConfigError

log = logging.getLogger(__name__)

POLL_S = 0.25


def _snapshot(content_root: Path) -> dict[Path, tuple[int, int]]:
    """``(mtime_ns, size)`` of every recipe file under ``content_root``."""
    found: dict[Path, tuple[int, int]] = {}
    for path in content_root.rglob("*" + RECIPE_SUFFIX):
        try:
            st = path.stat()
        except OSError:  # deleted between listing and stat
            continue
        found[path] = (st.st_mtime_ns, st.st_size)
    return found


def slug_of(path: Path) -> str:
    return path.name[: -len(RECIPE_SUFFIX)]


class RecipeWatcher(threading.Thread):
    """Calls ``rebuild(slug)`` after a recipe file was saved (created or changed), one at a time.

    Saves that arrive while a rebuild runs are collected and rebuilt afterwards, each slug once.
    """

    def __init__(self, content_root: Path, rebuild: Callable[[str], object],
                 poll_s: float = POLL_S) -> None:
        super().__init__(name="nnx-recipe-watcher", daemon=True)
        self.content_root = content_root
        self.rebuild = rebuild
        self.poll_s = poll_s
        self.stop_event = threading.Event()
        self._seen = _snapshot(content_root)

    def changed(self) -> list[str]:
        """Slugs of recipes saved since the last call (sorted)."""
        now = _snapshot(self.content_root)
        slugs = {slug_of(p) for p, sig in now.items() if self._seen.get(p) != sig}
        self._seen = now
        return sorted(slugs)

    def run(self) -> None:
        while not self.stop_event.wait(self.poll_s):
            for slug in self.changed():
                log.info("%s saved: re-executing it", slug)
                try:
                    self.rebuild(slug)
                except Exception:  # keep watching whatever one rebuild did
                    log.exception("%s: rebuild failed to start", slug)

    def stop(self) -> None:
        self.stop_event.set()


def build_command(slug: str, content_root: Path, build_root: Path, profile: str,
                  data_dir: Path | None) -> list[str]:
    """The normal build of one recipe, as a command line (the watcher runs it as a child)."""
    cmd = [sys.executable, "-m", "pipeline", "--content-dir", str(content_root),
           "--build-dir", str(build_root), "build", "--only", slug, "--profile", profile]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    return cmd


def rebuild_one(slug: str, content_root: Path, build_root: Path, profile: str,
                data_dir: Path | None, env: dict[str, str]) -> int:
    """Build ``slug``; its result (or failure banner) reaches the page when mkdocs reloads."""
    start = time.perf_counter()
    result = subprocess.run(build_command(slug, content_root, build_root, profile, data_dir),
                            env=env, check=False)
    log.info("%s: build finished with exit code %d in %.1f s", slug, result.returncode,
             time.perf_counter() - start)
    return result.returncode


def mkdocs_command(config_file: Path, dev_addr: str) -> list[str]:
    return [sys.executable, "-m", "mkdocs", "serve", "-f", str(config_file), "-a", dev_addr,
            "--livereload"]


def cmd_serve(args: argparse.Namespace, content: Path, build_root: Path, data_dir: Path | None,
              default_config: Path) -> int:
    """Run mkdocs serve and the recipe watcher until Ctrl-C.

    The command line's folders come checked by the CLI (``content``, ``build_root``,
    ``data_dir``); ``default_config`` is the site's ``mkdocs.yml`` the CLI read them from.
    """
    from pipeline.builder.recipes import PROFILES
    from pipeline.builder.store import BuildDir

    if args.profile not in PROFILES:
        raise ConfigError(f"--profile {args.profile!r} is not a profile; choose one of "
                          f"{', '.join(PROFILES)}")
    config_file = Path(getattr(args, "config_file", None) or default_config)
    if not config_file.is_file():
        raise ConfigError(f"mkdocs config {config_file} not found (--config-file)")
    # mkdocs watches build/state only if it exists when the site is first built.
    BuildDir(build_root).state_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NNX_BUILD_DIR=str(build_root))
    env.pop("NNX_REQUIRE_ALL", None)  # a working copy: unbuilt pages are placeholders
    env.setdefault("NO_MKDOCS_2_WARNING", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    watcher = RecipeWatcher(content, lambda slug: rebuild_one(slug, content, build_root,
                                                              args.profile, data_dir, env))
    server = subprocess.Popen(mkdocs_command(config_file, args.dev_addr), env=env)
    watcher.start()
    log.info("serving http://%s/ ; saving a recipe in %s re-executes it (Ctrl-C stops)",
             args.dev_addr, content)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        watcher.stop()
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
