"""``python -m pipeline init DIR``: a new site that builds, serves and publishes as it is.

What it writes (files in ``pipeline/builder/site_template/``, plus one explainer per template
from ``pipeline/builder/scaffold/`` through :func:`pipeline.builder.scaffolding.create`):

- ``mkdocs.yml``: Material with the nn-explainers plugin, ``font: false`` and no ``repo_url``,
  so the pages make no request to another host; ``docs_dir: content``, ``build_dir: build``;
- ``content/index.md`` (the gallery) and ``content/examples/``: one example per template;
- ``noxfile.py`` (build, serve, tests), ``README.md`` with the two commands, ``requirements.txt``
  (this nn-explainers), ``.gitignore`` and ``.github/workflows/pages.yml``.

Why it refuses a folder that is not empty (unless ``--force``) and never overwrites even then:
``init`` is run once, often in the wrong folder; a site's files are the author's work.
The template folder holds ``gitignore`` and ``github/`` without their dots (package data
globs skip hidden names); they are written as ``.gitignore`` and ``.github/``.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.builder.scaffolding import SCAFFOLD_DIR, create, default_title
from pipeline.library.errors import ConfigError

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parent / "site_template"
DISTRIBUTION = "nn-explainers"
#: The examples ``init`` writes: (template, slug, title, description), in gallery order.
EXAMPLES: tuple[tuple[str, str, str, str], ...] = (
    ("blank", "a-first-page", "A first page",
     "The smallest page that builds: a least-squares line, no data, no training."),
    ("replay", "replay-an-mlp", "Replaying an MLP",
     "A small network on two half-moons, replayed epoch by epoch."),
    ("cnn", "inside-a-cnn", "Inside a CNN",
     "A digit classifier: feature maps, Grad-CAM and a replay of its last hidden layer."),
    ("keras-fit", "your-model-fit", "Your model.fit, replayed",
     "A plain Keras training script with a recorder callback and one publish_replay call."),
)
EXAMPLES_SECTION = "examples"
#: Template files whose ``${...}`` placeholders are filled (the others are copied as they are:
#: the Pages workflow's ``${{ ... }}`` belongs to GitHub).
_FILLED = {"mkdocs.yml", "README.md", "requirements.txt", "content/index.md"}
_RENAMED = {"gitignore": ".gitignore", "github": ".github"}


@dataclass
class NewSite:
    """What :func:`init_site` wrote."""

    root: Path
    files: list[Path] = field(default_factory=list)


def requirement() -> str:
    """The requirement that installs this nn-explainers (for requirements.txt and CI).

    Installed from a git repository or an archive URL (PEP 610's ``direct_url.json``): that
    URL, so the Pages workflow installs the same code; otherwise ``name==version``.
    """
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # running from a checkout, not installed
        from pipeline import __version__

        return f"{DISTRIBUTION}[cpu]=={__version__}"
    text = dist.read_text("direct_url.json")
    if text:
        try:
            info = json.loads(text)
        except ValueError:
            info = {}
        url = str(info.get("url", ""))
        vcs = info.get("vcs_info") or {}
        if vcs.get("vcs") == "git" and url and not url.startswith("file:"):
            commit = vcs.get("commit_id", "")
            return f"{DISTRIBUTION}[cpu] @ git+{url}" + (f"@{commit}" if commit else "")
        if url.startswith(("https://", "http://")) and "archive_info" in info:
            return f"{DISTRIBUTION}[cpu] @ {url}"
    return f"{DISTRIBUTION}[cpu]=={dist.version}"


def _site_name(root: Path, site_name: str | None) -> str:
    name = site_name if site_name is not None else default_title(
        re.sub(r"[^a-z0-9]+", "-", root.name.lower()).strip("-") or "explainers")
    if not name.strip() or any(ch in name for ch in "\n\r\"\\"):
        raise ConfigError(f"--site-name must be one line without quotes or backslashes, got "
                          f"{name!r}")
    return name.strip()


def _template_files() -> list[tuple[Path, str]]:
    """``(source file, destination relative path)`` for every file of the site template."""
    out: list[tuple[Path, str]] = []
    for src in sorted(TEMPLATE_DIR.rglob("*")):
        if not src.is_file() or "__pycache__" in src.parts:
            continue
        rel = src.relative_to(TEMPLATE_DIR).parts
        dest = "/".join([_RENAMED.get(rel[0], rel[0]), *rel[1:]])
        out.append((src, dest))
    return out


def _fill(src: Path, values: dict[str, str]) -> str:
    text = src.read_text(encoding="utf-8")
    try:
        return string.Template(text).substitute(values)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"site template {src}: {exc!r} (known placeholders: "
                          f"{', '.join('${' + k + '}' for k in values)})") from None


def init_site(root: Path, *, force: bool = False, site_name: str | None = None) -> NewSite:
    """Write a new site into ``root`` (created when absent); never overwrite a file.

    A folder with anything in it is refused unless ``force``; with ``force`` a file that is
    already there is kept (and listed in a log line), everything else is written.
    """
    root = root.expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} exists and is not a folder")
    if root.exists() and any(root.iterdir()) and not force:
        raise ConfigError(f"{root} is not empty: `init` writes a new site into an empty folder. "
                          "Pass --force to add the site's files to it (existing files are kept, "
                          "never overwritten)")
    values = {"site_name": _site_name(root, site_name), "requirement": requirement()}
    made = NewSite(root)
    kept: list[str] = []
    for src, dest in _template_files():
        target = root / dest
        text = _fill(src, values) if dest in _FILLED else src.read_text(encoding="utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "x", encoding="utf-8") as fh:  # "x": never overwrite
                fh.write(text)
        except FileExistsError:
            kept.append(dest)
            continue
        made.files.append(target)
    content = root / "content"
    for template, slug, title, description in EXAMPLES:
        if not (SCAFFOLD_DIR / f"{template}.recipe.py").is_file():
            raise ConfigError(f"template {template!r} is missing from {SCAFFOLD_DIR}: the "
                              "installation is incomplete; reinstall nn-explainers")
        try:
            example = create(content, slug, EXAMPLES_SECTION, template=template, title=title,
                             description=description)
        except ConfigError as exc:
            if "already" not in str(exc):
                raise
            kept.append(f"content/{EXAMPLES_SECTION}/{slug}.*")
            continue
        made.files += [example.recipe, example.page]
    if kept:
        log.warning("kept %d existing file(s) in %s (never overwritten): %s", len(kept), root,
                    ", ".join(kept))
    return made
