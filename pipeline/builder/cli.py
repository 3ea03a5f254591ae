"""Command line: ``python -m pipeline build | new | init | serve | list | clean | ...``.

Run it in a site's folder: the pages folder (``docs_dir``) and the build store (the
``nn-explainers`` plugin's ``build_dir``) come from ``./mkdocs.yml`` or ``--config-file``
(:mod:`pipeline.builder.site_config`); ``--content-dir`` and ``--build-dir`` override them for
one run. ``init DIR`` makes a new site.

Exit codes: 0 success, 1 some recipe failed, 2 bad arguments or input, 3 build locked,
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pipeline
from pipeline.builder.errors import BuildLocked
from pipeline.library.errors import ConfigError, PipelineError
from pipeline.library.suggest import did_you_mean

if TYPE_CHECKING:
    from rich.console import Console

    from pipeline.builder.jobs import BuildOptions
    from pipeline.builder.recipes import Recipe
    from pipeline.builder.site_config import SiteConfig
    from pipeline.builder.store import BuildDir
    from pipeline.library.errors import HeaderError

log = logging.getLogger("pipeline")

#: The folder that holds the ``pipeline`` package: the checkout, or site-packages when the
#: package is installed. Recipe kernels import the library from it, and the cache keys name
#: library modules relative to it; it is never where pages, results or data are looked for.
PACKAGE_PARENT = Path(pipeline.__file__).resolve().parent.parent


class _Parser(argparse.ArgumentParser):
    """argparse that exits with 2 and a one-line hint (its default), kept for clarity."""


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", "-f", type=Path, default=None,
                        help="the site's mkdocs.yml (default: ./mkdocs.yml)")
    parser.add_argument("--content-dir", type=Path, default=None,
                        help="folder with pages and recipes (default: docs_dir of mkdocs.yml)")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where results are stored (default: build_dir of the nn-explainers "
                             "plugin in mkdocs.yml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="execute changed recipes and store their assets")
    b.add_argument("--profile", default=os.environ.get("NNX_PROFILE", "quick"),
                   help="quick (minutes on a CPU) or full (the articles' sizes; for a GPU)")
    b.add_argument("--only", action="append", default=[], metavar="SLUG",
                   help="build only this recipe (repeatable)")
    b.add_argument("--force", action="store_true", help="ignore the cache and re-execute")
    b.add_argument("--jobs", "-j", type=_jobs_arg, default=None,
                   help="recipes run at once (default: from the machine's cores, memory, GPUs)")
    b.add_argument("--no-warm-kernels", dest="warm_kernels", action="store_false",
                   default=_warm_default(),
                   help="start each recipe's kernel only when it runs (default: the next one "
                        "starts, imports done, while the previous recipe runs; $NNX_WARM_KERNELS)")
    b.add_argument("--executor", default=None,
                   help="'local' (default) or 'dask://HOST:PORT' for a dask.distributed cluster")
    b.add_argument("--data-dir", type=Path, default=None,
                   help="offline datasets folder (default: $NNX_DATA_DIR, else data_dir of the "
                        "nn-explainers plugin in mkdocs.yml)")
    b.add_argument("--dry-run", action="store_true",
                   help="list every recipe as 'would run' (and which input changed) or 'cached'; "
                        "runs nothing, writes nothing")
    b.add_argument("--lock-timeout", type=float, default=600.0,
                   help="seconds to wait for another build on the same folder (default 600)")

    n = sub.add_parser("new", help="start an explainer: content/SECTION/SLUG.recipe.py + .md")
    n.add_argument("slug", help="lowercase-words-with-hyphens; names the page and its results")
    n.add_argument("--section", required=True, help="content folder (navigation section)")
    n.add_argument("--template", default="blank",
                   help="blank (no data, no training: the smallest page), replay (an MLP with "
                        "replay panels), cnn (an image classifier: feature maps, Grad-CAM, "
                        "replay) or keras-fit (your own model.fit script)")
    n.add_argument("--title", default=None, help="page title (default: from the slug)")
    n.add_argument("--description", default=None, help="one line for the gallery card")

    sv = sub.add_parser("serve", help="live preview: rebuild a saved recipe, reload its page")
    sv.add_argument("--profile", default=os.environ.get("NNX_PROFILE", "quick"))
    sv.add_argument("--dev-addr", default="127.0.0.1:8000", help="address for mkdocs serve")
    sv.add_argument("--data-dir", type=Path, default=None)
    sv.add_argument("--config-file", "-f", type=Path, default=argparse.SUPPRESS,
                    help="the site's mkdocs.yml (default: ./mkdocs.yml)")

    i = sub.add_parser("init", help="start a new site in DIR: mkdocs.yml, content/ with one "
                                    "example per template, noxfile.py, Pages workflow")
    i.add_argument("dir", type=Path, help="the new site's folder (created if absent)")
    i.add_argument("--force", action="store_true",
                   help="write into a folder that is not empty (existing files are never "
                        "overwritten)")
    i.add_argument("--site-name", default=None, help="the site's title (default: from DIR)")

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


def _jobs_arg(text: str) -> int | None:
    """``--jobs N`` or ``--jobs auto`` (None: chosen from the machine, pipeline.builder.resources)."""
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number of recipes or 'auto'") from None


def _warm_default() -> bool:
    from pipeline.builder.warm_kernels import warm_kernels_enabled

    return warm_kernels_enabled()


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        if args.command == "build":
            with _terminate_as_interrupt():
                return cmd_build(args)
        if args.command == "new":
            return cmd_new(args)
        if args.command == "init":
            return cmd_init(args)
        if args.command == "serve":
            from pipeline.builder.serve import cmd_serve

            site = _site(args, required=True)
            assert site is not None  # required=True raises instead
            # SIGTERM stops the watcher and the mkdocs child too, never orphaning the server
            content, build_root = _validated_dirs(args, site)
            with _terminate_as_interrupt():
                return cmd_serve(args, content, build_root, _data_dir(args.data_dir, site),
                                 site.config_file)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "clean":
            return cmd_clean(args)
        if args.command == "doctor":
            from pipeline.builder import doctor

            # a --data-dir that does not exist is one of the problems doctor reports
            data = (args.data_dir if args.data_dir is not None
                    else _data_dir(None, _site(args, required=False)))
            return doctor.run(data, as_json=args.json)
        if args.command in ("pack", "unpack"):
            from pipeline.builder import store_pack
            from pipeline.builder.store import BuildDir

            build_root = _build_root(args, _site(args, required=args.build_dir is None))
            try:
                if args.command == "pack":
                    store_pack.pack_build(BuildDir(build_root), args.file, args.only or None)
                else:
                    store_pack.unpack_build(args.file, BuildDir(build_root))
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
def _terminate_as_interrupt() -> Iterator[None]:
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


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _site(args: argparse.Namespace, *, required: bool) -> SiteConfig | None:
    """The site's ``mkdocs.yml`` (``--config-file``, else ``./mkdocs.yml``).

    ``required=False``: None when neither exists (the command line names every folder it needs).
    """
    from pipeline.builder import site_config

    site = site_config.find(args.config_file)
    if site is None and required:
        raise ConfigError(f"no {site_config.DEFAULT_CONFIG} in {Path.cwd()}: run this in a site's "
                          "folder (`python -m pipeline init DIR` makes one), pass --config-file, "
                          "or name the folders with --content-dir and --build-dir")
    return site


def _content_root(args: argparse.Namespace, site: SiteConfig | None) -> Path:
    if args.content_dir is not None:
        return Path(args.content_dir).resolve()
    assert site is not None  # _site(required=True) when --content-dir is absent
    return site.docs_dir


def _build_root(args: argparse.Namespace, site: SiteConfig | None) -> Path:
    if args.build_dir is not None:
        return Path(args.build_dir).resolve()
    assert site is not None  # _site(required=True) when --build-dir is absent
    return site.build_dir


def _validated_dirs(args: argparse.Namespace, site: SiteConfig | None = None
                    ) -> tuple[Path, Path]:
    """``(content, build store)``: the command line's folders, else ``mkdocs.yml``'s, checked."""
    if site is None:
        site = _site(args, required=args.content_dir is None or args.build_dir is None)
    content = _content_root(args, site)
    if not content.is_dir():
        where = ("--content-dir" if args.content_dir is not None
                 else f"docs_dir in {site.config_file}" if site is not None else "--content-dir")
        raise ConfigError(f"content folder {content} does not exist ({where})")
    build_root = _build_root(args, site)
    if build_root.exists() and not build_root.is_dir():
        raise ConfigError(f"--build-dir {build_root} exists and is not a folder")
    if build_root == content or content.is_relative_to(build_root):
        raise ConfigError(f"--build-dir {build_root} would contain the content folder {content}; "
                          "choose a separate folder")
    if build_root.is_relative_to(content):
        raise ConfigError(f"--build-dir {build_root} is inside the content folder {content}; "
                          "mkdocs would publish the raw build store. Choose a folder outside it")
    return content, build_root


def _data_dir(arg: Path | None, site: SiteConfig | None = None) -> Path | None:
    """``--data-dir``, else ``$NNX_DATA_DIR``, else the plugin's ``data_dir`` (site_config)."""
    from pipeline.builder import site_config

    return site_config.data_dir(arg, site)


def _select(recipes: list[Recipe], only: list[str],
            header_errors: Iterable[HeaderError] = ()) -> list[Recipe]:
    """The recipes named by ``--only``; a named recipe whose header is broken raises that error."""
    if not only:
        return recipes
    slugs = [r.slug for r in recipes]
    from pipeline.builder.recipes import RECIPE_SUFFIX

    broken = {Path(e.path).name[: -len(RECIPE_SUFFIX)]: e for e in header_errors
              if Path(e.path).name.endswith(RECIPE_SUFFIX)}
    for slug in only:
        if slug not in slugs and slug in broken:
            raise broken[slug]  # the header's own message, not "no such recipe"
        if slug not in slugs:
            hint = did_you_mean(slug, slugs)
            raise ConfigError(f"--only {slug!r}: no such recipe.{hint} Known: {', '.join(slugs)}")
    return [r for r in recipes if r.slug in only]


def cmd_build(args: argparse.Namespace) -> int:
    from pipeline.builder.jobs import BuildOptions
    from pipeline.builder.locking import build_lock
    from pipeline.builder.orchestrator import execute_jobs, plan
    from pipeline.builder.progress import BuildDisplay
    from pipeline.builder.recipes import PROFILES, discover_all
    from pipeline.builder.records import OutcomeStatus
    from pipeline.builder.store import BuildDir

    if args.profile not in PROFILES:
        hint = did_you_mean(args.profile, PROFILES)
        raise ConfigError(f"--profile {args.profile!r} is not a profile.{hint} Choose one of: "
                          f"{', '.join(PROFILES)}")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    if args.lock_timeout < 0:
        raise ConfigError(f"--lock-timeout must be 0 or more seconds, got {args.lock_timeout}")
    executor = None if args.executor in (None, "local") else args.executor
    if executor is not None and not executor.startswith("dask://"):
        raise ConfigError(f"unknown executor {executor!r}: use 'local' or 'dask://HOST:PORT'")
    site = _site(args, required=args.content_dir is None or args.build_dir is None)
    content, build_root = _validated_dirs(args, site)
    recipes, header_errors = discover_all(content)
    recipes = _select(recipes, args.only, header_errors)
    if args.only:  # other recipes' broken headers do not fail a build that skips them
        for err in header_errors:
            log.warning("(not built) %s", err)
        header_errors = []
    options = BuildOptions(
        repo_root=PACKAGE_PARENT, content_root=content, build_root=build_root,
        data_dir=_data_dir(args.data_dir, site), profile=args.profile, force=args.force,
        jobs=args.jobs or _auto_jobs(len(recipes)), only=tuple(args.only), executor=executor,
        warm_kernels=args.warm_kernels,
    )
    bdir = BuildDir(build_root)
    if args.dry_run:
        return dry_run(recipes, options, bdir, header_errors)
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
            "profile": options.profile, "seconds": round(total, 3), "jobs": options.jobs,
            "outcomes": [o.to_dict() for o in outcomes],
            "header_errors": [str(e) for e in header_errors],
        })
    for err in header_errors:
        log.error("%s", err)
    failed = [o.slug for o in outcomes if o.status is OutcomeStatus.FAILED]
    if failed or header_errors:
        log.error("%d recipe(s) failed: %s", len(failed) + len(header_errors),
                  ", ".join(failed + [getattr(e, "path", "?") for e in header_errors]))
        return 1
    ran = sum(o.status is OutcomeStatus.RAN for o in outcomes)
    log.info("built %d recipe(s), %d from cache, in %.1f s", ran, len(outcomes) - ran, total)
    return 0


def dry_run(recipes: list[Recipe], options: BuildOptions, bdir: BuildDir,
            header_errors: Sequence[PipelineError] = ()) -> int:
    """``build --dry-run``: what a build would run and why, on stdout; no lock, no writes.

    Reads the store without the build lock (a build running at the same time may change what
    is cached, as it would for a build started after it).
    """
    from pipeline.builder.orchestrator import decide

    decisions = decide(recipes, options, bdir, save_memo=False)
    width = max((len(d.job.slug) for d in decisions), default=0)
    for d in decisions:
        if d.job.cached:
            print(f"cached     {d.job.slug}")
        else:
            print(f"would run  {d.job.slug:<{width}}  {'; '.join(d.reasons)}")
    for err in header_errors:
        print(f"broken     {err}")
    to_run = sum(not d.job.cached for d in decisions)
    print(f"{to_run} of {len(decisions)} recipe(s) would run ({options.profile} profile)")
    return 1 if header_errors else 0


def cmd_new(args: argparse.Namespace) -> int:
    """Write a recipe and its page from a template (``pipeline/builder/scaffold/``); never overwrites."""
    from pipeline.builder.scaffolding import create

    content = _content_root(args, _site(args, required=args.content_dir is None))
    if not content.is_dir():
        raise ConfigError(f"content folder {content} does not exist (--content-dir, or docs_dir "
                          "in mkdocs.yml)")
    made = create(content, args.slug, args.section, template=args.template, title=args.title,
                  description=args.description)
    log.info("next: python -m pipeline build --only %s   (or: python -m pipeline serve)", args.slug)
    log.info("recipe %s, page %s", made.recipe.relative_to(content), made.page.relative_to(content))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Write a new site into ``args.dir`` (:mod:`pipeline.builder.init_site`); never overwrites."""
    from pipeline.builder.init_site import init_site

    made = init_site(args.dir, force=args.force, site_name=args.site_name)
    log.info("wrote %d files into %s", len(made.files), made.root)
    log.info("next: cd %s && nox -s build && nox -s serve   (or: python -m pipeline build && "
             "python -m pipeline serve)", args.dir)
    return 0


def _auto_jobs(recipes: int) -> int:
    from pipeline.builder.resources import auto_jobs, this_machine

    machine = this_machine()
    jobs = auto_jobs(recipes, machine)
    log.info("--jobs %d (automatic, from %s)", jobs, machine.to_dict())
    return jobs


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from pipeline.builder.recipes import discover_all
    from pipeline.builder.store import BuildDir

    content, build_root = _validated_dirs(args)
    recipes, errors = discover_all(content)
    bdir = BuildDir(build_root)
    table = Table(title=f"Recipes in {content}")
    for col in ("slug", "section", "title", "last build", "current"):
        table.add_column(col)
    for r in recipes:
        state = bdir.read_state(r.slug)
        status = state.last_attempt.status if state.last_attempt else None
        table.add_row(r.slug, r.section, r.header.title, str(status or "never"),
                      (state.current or "-")[:12])
    Console().print(table)
    for err in errors:
        log.error("%s", err)
    return 1 if errors else 0


def cmd_clean(args: argparse.Namespace) -> int:
    from pipeline.builder.locking import build_lock
    from pipeline.builder.store import BuildDir

    build_root = _build_root(args, _site(args, required=args.build_dir is None))
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
