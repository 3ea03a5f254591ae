"""Command line: ``python -m pipeline build | list | clean``.

Exit codes: 0 success, 1 some recipe failed, 2 bad arguments or input, 3 build locked,
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import logging
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from pipeline.errors import BuildLocked, ConfigError, PipelineError

log = logging.getLogger("pipeline")

REPO_ROOT = Path(__file__).resolve().parent.parent


class _Parser(argparse.ArgumentParser):
    """argparse that exits with 2 and a one-line hint (its default), kept for clarity."""


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--content-dir", type=Path, default=REPO_ROOT / "content",
                        help="folder with pages and recipes (default: content/)")
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build",
                        help="where results are stored (default: build/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="execute changed recipes and store their assets")
    b.add_argument("--profile", default=os.environ.get("NNX_PROFILE", "quick"),
                   help="quick (minutes on a CPU) or full (the articles' sizes; for a GPU)")
    b.add_argument("--only", action="append", default=[], metavar="SLUG",
                   help="build only this recipe (repeatable)")
    b.add_argument("--force", action="store_true", help="ignore the cache and re-execute")
    b.add_argument("--jobs", "-j", type=int, default=1, help="recipes run at once (default 1)")
    b.add_argument("--executor", default=None,
                   help="'local' (default) or 'dask://HOST:PORT' for a dask.distributed cluster")
    b.add_argument("--data-dir", type=Path, default=None,
                   help="offline datasets folder (default: $NNX_DATA_DIR or ../shared/datasets)")
    b.add_argument("--lock-timeout", type=float, default=600.0,
                   help="seconds to wait for another build on the same folder (default 600)")

    sub.add_parser("list", help="list recipes and the state of their last build")
    c = sub.add_parser("clean", help="delete the build folder")
    c.add_argument("--lock-timeout", type=float, default=0.0)
    d = sub.add_parser("doctor", help="what a build will use (backend, GPU, data) and what to fix")
    d.add_argument("--data-dir", type=Path, default=None, help="offline datasets folder to check")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    pk = sub.add_parser("pack", help="pack the current results into one verified file")
    pk.add_argument("file", type=Path)
    pk.add_argument("--only", action="append", default=[], metavar="SLUG")
    up = sub.add_parser("unpack", help="install a packed build after checking every file's hash")
    up.add_argument("file", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        if args.command == "build":
            with _terminate_as_interrupt():
                return cmd_build(args)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "clean":
            return cmd_clean(args)
        if args.command == "doctor":
            from pipeline import doctor

            return doctor.run(args.data_dir, as_json=args.json)
        if args.command in ("pack", "unpack"):
            from pipeline import store_pack
            from pipeline.store import BuildDir

            try:
                if args.command == "pack":
                    store_pack.pack_build(BuildDir(args.build_dir), args.file, args.only or None)
                else:
                    store_pack.unpack_build(args.file, BuildDir(args.build_dir))
            except store_pack.PackError as exc:
                log.error("%s", exc)
                return 1
            return 0
    except BuildLocked as exc:
        log.error("%s", exc)
        return 3
    except PipelineError as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted: the running kernels were shut down and no partial result was "
                  "published; results finished before the interrupt are kept")
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Treat SIGTERM (``kill``, a CI runner cancelling a job) like Ctrl-C: clean stop, exit 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _configure_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_path=False, show_time=False, markup=False,
                              console=_stderr_console())],
        force=True,
    )
    for noisy in ("traitlets", "nbclient", "asyncio", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def _validated_dirs(args: argparse.Namespace) -> tuple[Path, Path]:
    content = args.content_dir.resolve()
    if not content.is_dir():
        raise ConfigError(f"content folder {content} does not exist (--content-dir)")
    build_root = args.build_dir.resolve()
    if build_root.exists() and not build_root.is_dir():
        raise ConfigError(f"--build-dir {build_root} exists and is not a folder")
    if build_root == content or content.is_relative_to(build_root):
        raise ConfigError(f"--build-dir {build_root} would contain the content folder {content}; "
                          "choose a separate folder")
    if build_root.is_relative_to(content):
        raise ConfigError(f"--build-dir {build_root} is inside the content folder {content}; "
                          "mkdocs would publish the raw build store. Choose a folder outside it")
    return content, build_root


def _data_dir(arg: Path | None) -> Path | None:
    if arg is not None:
        if not arg.is_dir():
            raise ConfigError(f"--data-dir {arg} is not a folder")
        return arg.resolve()
    from pipeline.datasets import default_data_dir

    found = default_data_dir()
    return Path(found).resolve() if found else None


def _select(recipes, only: list[str]):
    if not only:
        return recipes
    slugs = [r.slug for r in recipes]
    for slug in only:
        if slug not in slugs:
            close = difflib.get_close_matches(slug, slugs, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"--only {slug!r}: no such recipe.{hint} Known: {', '.join(slugs)}")
    return [r for r in recipes if r.slug in only]


def cmd_build(args: argparse.Namespace) -> int:
    from pipeline.build import BuildOptions, execute_jobs, plan
    from pipeline.locking import build_lock
    from pipeline.progress import BuildDisplay
    from pipeline.recipes import PROFILES, discover_all
    from pipeline.store import BuildDir

    if args.profile not in PROFILES:
        close = difflib.get_close_matches(args.profile, PROFILES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"--profile {args.profile!r} is not a profile.{hint} Choose one of: "
                          f"{', '.join(PROFILES)}")
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    if args.lock_timeout < 0:
        raise ConfigError(f"--lock-timeout must be 0 or more seconds, got {args.lock_timeout}")
    executor = None if args.executor in (None, "local") else args.executor
    if executor is not None and not executor.startswith("dask://"):
        raise ConfigError(f"unknown executor {executor!r}: use 'local' or 'dask://HOST:PORT'")
    content, build_root = _validated_dirs(args)
    recipes, header_errors = discover_all(content)
    recipes = _select(recipes, args.only)
    options = BuildOptions(
        repo_root=REPO_ROOT, content_root=content, build_root=build_root,
        data_dir=_data_dir(args.data_dir), profile=args.profile, force=args.force,
        jobs=args.jobs, only=tuple(args.only), executor=executor,
    )
    bdir = BuildDir(build_root)
    start = time.perf_counter()
    with build_lock(bdir, args.lock_timeout):
        bdir.recover()
        jobs = plan(recipes, options, bdir)
        display = BuildDisplay([j.slug for j in jobs])
        try:
            with display:
                outcomes = execute_jobs(jobs, options, bdir, display.on_event)
        except KeyboardInterrupt:
            # Every runner has stopped its kernels by now; drop whatever is still staged
            # (a run that finished but could not be published) while we hold the lock.
            bdir.recover()
            raise
        total = time.perf_counter() - start
        display.summary(outcomes, total)
        bdir.write_report({
            "profile": options.profile, "seconds": round(total, 3),
            "outcomes": [{"slug": o.slug, "status": o.status, "seconds": round(o.seconds, 3),
                          "failure": o.failure} for o in outcomes],
            "header_errors": [str(e) for e in header_errors],
        })
    for err in header_errors:
        log.error("%s", err)
    failed = [o.slug for o in outcomes if o.status == "failed"]
    if failed or header_errors:
        log.error("%d recipe(s) failed: %s", len(failed) + len(header_errors),
                  ", ".join(failed + [getattr(e, "path", "?") for e in header_errors]))
        return 1
    ran = sum(o.status == "ran" for o in outcomes)
    log.info("built %d recipe(s), %d from cache, in %.1f s", ran, len(outcomes) - ran, total)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from pipeline.recipes import discover_all
    from pipeline.store import BuildDir

    content, build_root = _validated_dirs(args)
    recipes, errors = discover_all(content)
    bdir = BuildDir(build_root)
    table = Table(title=f"Recipes in {content}")
    for col in ("slug", "section", "title", "last build", "current"):
        table.add_column(col)
    for r in recipes:
        state = bdir.read_state(r.slug)
        attempt = state.get("last_attempt", {})
        table.add_row(r.slug, r.section, r.header.title, attempt.get("status", "never"),
                      (state.get("current") or "-")[:12])
    Console().print(table)
    for err in errors:
        log.error("%s", err)
    return 1 if errors else 0


def cmd_clean(args: argparse.Namespace) -> int:
    from pipeline.locking import build_lock
    from pipeline.store import BuildDir

    _, build_root = _validated_dirs(args)
    bdir = BuildDir(build_root)
    if not build_root.exists():
        log.info("nothing to clean: %s does not exist", build_root)
        return 0
    with build_lock(bdir, args.lock_timeout):
        for child in build_root.iterdir():
            if child.name == ".lock":
                continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    log.info("removed %s", build_root)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
