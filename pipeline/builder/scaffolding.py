"""``python -m pipeline new``: start an explainer from a template that builds as it is.

Templates live in ``pipeline/builder/scaffold/`` as pairs ``<name>.recipe.py`` + ``<name>.md`` with
:class:`string.Template` placeholders ``${title}``, ``${slug}``, ``${section}`` and
``${description}``. Why plain files and ``string.Template``: an author can read a template as the
recipe it will become, and ``$`` placeholders never clash with the ``{{ shortcode() }}`` braces
of the page or with Python's own braces.
"""

from __future__ import annotations

import json
import logging
import re
import string
from dataclasses import dataclass
from pathlib import Path

from pipeline.builder.recipes import RECIPE_SUFFIX, parse_header
from pipeline.library.errors import ConfigError, HeaderError
from pipeline.library.suggest import did_you_mean

log = logging.getLogger(__name__)

SCAFFOLD_DIR = Path(__file__).resolve().parent / "scaffold"
#: lowercase words joined by single hyphens: safe as a file name and as a URL
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class NewRecipe:
    """The two files :func:`create` wrote."""

    recipe: Path
    page: Path


def templates(scaffold_dir: Path = SCAFFOLD_DIR) -> list[str]:
    """Names of the templates that have both a recipe and a page file."""
    names = [p.name[: -len(RECIPE_SUFFIX)] for p in scaffold_dir.glob("*" + RECIPE_SUFFIX)]
    return sorted(n for n in names if (scaffold_dir / f"{n}.md").is_file())


def check_slug(value: str, what: str = "slug") -> str:
    """Refuse names that would make awkward files or URLs, saying what a good one looks like."""
    if not SLUG_RE.match(value or ""):
        suggestion = re.sub(r"[^a-z0-9]+", "-", (value or "").lower()).strip("-")
        hint = f" Try {suggestion!r}." if suggestion and SLUG_RE.match(suggestion) else ""
        raise ConfigError(f"{what} {value!r} must be lowercase letters and digits joined by single "
                          f"hyphens (e.g. 'my-first-explainer').{hint}")
    return value


def _check_text(value: str, field: str) -> str:
    if not value.strip() or any(ch in value for ch in "\n\r"):
        raise ConfigError(f"--{field} must be one line of text, got {value!r}")
    return value.strip()


def default_title(slug: str) -> str:
    """``my-first-net`` -> ``My first net``."""
    words = slug.replace("-", " ")
    return words[:1].upper() + words[1:]


def create(content_root: Path, slug: str, section: str, template: str = "blank",
           title: str | None = None, description: str | None = None,
           scaffold_dir: Path = SCAFFOLD_DIR) -> NewRecipe:
    """Write ``content/<section>/<slug>.recipe.py`` and ``<slug>.md`` from ``template``.

    Refuses to overwrite anything, and refuses a slug another recipe already uses (slugs name
    the build's results and URLs, so they are unique across sections). The written header is
    parsed before anything is written, so a title that breaks the YAML is reported up front.
    """
    check_slug(slug)
    check_slug(section, "section")
    available = templates(scaffold_dir)
    if template not in available:
        hint = did_you_mean(template, available)
        raise ConfigError(f"unknown template {template!r}.{hint} Available: "
                          f"{', '.join(available) or 'none'} (files in {scaffold_dir})")
    values = {
        "slug": slug,
        "section": section,
        "title": _check_text(title if title is not None else default_title(slug), "title"),
        "description": _check_text(description if description is not None
                                   else f"{default_title(slug)} (describe it in one line)",
                                   "description"),
    }
    folder = content_root / section
    recipe_path = folder / f"{slug}{RECIPE_SUFFIX}"
    page_path = folder / f"{slug}.md"
    for existing in (recipe_path, page_path):
        if existing.exists():
            raise ConfigError(f"{existing} already exists; `new` never overwrites. Pick another "
                              "slug or delete the file first")
    clash = next(iter(content_root.rglob(f"{slug}{RECIPE_SUFFIX}")), None)
    if clash is not None:
        raise ConfigError(f"slug {slug!r} is already used by {clash}; slugs are unique across "
                          "sections")
    recipe_text = _fill(scaffold_dir / f"{template}{RECIPE_SUFFIX}", values)
    page_text = _fill(scaffold_dir / f"{template}.md", values)
    try:
        parse_header(recipe_text, str(recipe_path), default_section=section)
    except HeaderError as exc:  # a template or a value that breaks the YAML header
        raise ConfigError(f"template {template!r} gives an invalid header with these values: "
                          f"{exc.detail}") from None
    folder.mkdir(parents=True, exist_ok=True)
    # "x" mode: a file created meanwhile by someone else is still never overwritten.
    with open(recipe_path, "x", encoding="utf-8") as fh:
        fh.write(recipe_text)
    try:
        with open(page_path, "x", encoding="utf-8") as fh:
            fh.write(page_text)
    except FileExistsError:
        recipe_path.unlink()
        raise ConfigError(f"{page_path} appeared while writing; nothing was created") from None
    log.info("wrote %s and %s", recipe_path, page_path)
    return NewRecipe(recipe_path, page_path)


def _fill(path: Path, values: dict[str, str]) -> str:
    """Substitute the placeholders; a placeholder the template misspelt is an error.

    In a recipe's YAML header every value goes in as a double-quoted YAML string (JSON's
    quoting), whether or not the template quoted the placeholder, so a title such as
    ``Wine: 13 features`` or one with quotes never breaks the header.
    """
    text = path.read_text(encoding="utf-8")
    try:
        if path.name.endswith(RECIPE_SUFFIX):
            header, body = _split_header(text)
            quoted = {k: json.dumps(v, ensure_ascii=False) for k, v in values.items()}
            header = re.sub(r'"(\$\{\w+\})"', r"\1", header)  # the template's own quotes
            return string.Template(header).substitute(quoted) + string.Template(body).substitute(values)
        return string.Template(text).substitute(values)
    except KeyError as exc:
        raise ConfigError(f"template {path} uses unknown placeholder ${{{exc.args[0]}}}; known: "
                          f"{', '.join('${' + k + '}' for k in values)}") from None
    except ValueError as exc:
        raise ConfigError(f"template {path}: {exc} (write a literal $ as $$)") from None


def _split_header(text: str) -> tuple[str, str]:
    """(the leading ``# ---`` ... ``# ---`` block, the rest); ("", text) when there is none."""
    lines = text.splitlines(keepends=True)
    fences = [i for i, line in enumerate(lines) if line.strip() == "# ---"]
    if len(fences) < 2 or any(line.strip() for line in lines[: fences[0]]):
        return "", text
    end = fences[1] + 1
    return "".join(lines[:end]), "".join(lines[end:])
