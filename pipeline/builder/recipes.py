"""Recipe discovery and header validation.

A recipe is ``content/<section>/<slug>.recipe.py``: a jupytext percent notebook whose first lines
are a YAML header in comments (``# ---`` ... ``# ---``) with an ``explainer:`` mapping. We parse
that header ourselves (rather than through jupytext) so every error can name the file, the field
and, for typos, the field the author probably meant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.builder.records import Manifest
from pipeline.library.errors import HeaderError
from pipeline.library.open_data import DataDecl, check_files_exist, parse_data_field
from pipeline.library.suggest import did_you_mean

log = logging.getLogger(__name__)

RECIPE_SUFFIX = ".recipe.py"
PROFILES = ("quick", "full")
DEFAULT_TIMEOUT_S = 1800

#: field name -> (required, human description). The single source of truth for the schema.
HEADER_FIELDS: dict[str, tuple[bool, str]] = {
    "title": (True, "page and gallery title (text)"),
    "description": (True, "one line for the gallery card (text)"),
    "datasets": (True, "list of dataset names from pipeline.library.datasets.DATASETS (may be [])"),
    "data": (False, "list of other data: '- sklearn: load_wine', '- file: x.csv' (beside the "
                    "recipe) or '- url: ...' with 'sha256: ...' (see pipeline/library/open_data.py)"),
    "profiles": (True, "mapping with 'quick' and 'full', each a mapping of sizes"),
    "section": (False, "navigation section (defaults to the recipe's folder name)"),
    "seed_article": (False, "which seed article(s) the explainer comes from (text)"),
    "seed": (False, "integer random seed for the build (default 0)"),
    "timeout": (False, "per-recipe time limit in seconds (default 1800)"),
    "order": (False, "position in the gallery (integer, default 100)"),
    "thumbnail": (False, "asset name used as the gallery card's picture"),
}


@dataclass(frozen=True)
class RecipeHeader:
    """The validated ``explainer:`` header of one recipe."""

    title: str
    description: str
    datasets: tuple[str, ...]
    profiles: dict[str, dict[str, Any]]
    section: str
    seed_article: str = ""
    seed: int = 0
    timeout: int = DEFAULT_TIMEOUT_S
    order: int = 100
    thumbnail: str | None = None
    data: tuple[DataDecl, ...] = ()

    def sizes(self, profile: str) -> dict[str, Any]:
        """The sizes of ``profile`` (validated to exist at parse time)."""
        return dict(self.profiles[profile])

    @classmethod
    def from_manifest(cls, manifest: Manifest, slug: str, section: str) -> RecipeHeader:
        """The header as the last good build recorded it (for a recipe whose header broke).

        Lets the site keep the page and its last good result online until the header is fixed;
        ``slug`` and ``section`` stand in where the manifest lacks a title or a section.
        """
        return cls(
            title=manifest.title or slug, description=manifest.description,
            datasets=manifest.datasets, profiles={}, section=manifest.section or section,
            seed_article=manifest.seed_article,
            order=manifest.order or 100,
            thumbnail=manifest.thumbnail,
        )


@dataclass(frozen=True)
class Recipe:
    """One recipe file and what we know about it without executing it."""

    slug: str
    path: Path
    page: Path | None
    header: RecipeHeader
    content_root: Path = field(repr=False)

    @property
    def section(self) -> str:
        return self.header.section

    @property
    def rel_path(self) -> str:
        """Path relative to the content root, with forward slashes (stable across machines)."""
        return self.path.relative_to(self.content_root).as_posix()


def extract_header_text(source: str, path: str) -> str:
    """Return the YAML text between the leading ``# ---`` comment fences."""
    lines = source.splitlines()
    idx = 0
    while idx < len(lines) and (not lines[idx].strip() or lines[idx].startswith("#!")):
        idx += 1
    if idx >= len(lines) or lines[idx].strip() != "# ---":
        raise HeaderError(
            path,
            "no header found. A recipe must start with a YAML header in comments:\n"
            "# ---\n# explainer:\n#   title: ...\n#   description: ...\n"
            "#   datasets: []\n#   profiles: {quick: {}, full: {}}\n# ---",
        )
    body: list[str] = []
    for line in lines[idx + 1 :]:
        if line.strip() == "# ---":
            return "\n".join(body)
        if not line.startswith("#"):
            raise HeaderError(path, f"header line {line!r} is not a comment; close it with '# ---'")
        body.append(line[2:] if line.startswith("# ") else line[1:])
    raise HeaderError(path, "the header is never closed: add a line '# ---' after it")


def parse_header(source: str, path: str, default_section: str = "explainers") -> RecipeHeader:
    """Parse and validate a recipe header; raise :class:`HeaderError` naming the field."""
    text = extract_header_text(source, path)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise HeaderError(path, f"the header is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or "explainer" not in data:
        keys = list(data) if isinstance(data, dict) else []
        hint = did_you_mean(str(keys[0]), ["explainer"]) if keys else ""
        raise HeaderError(path, f"the header needs an 'explainer:' mapping.{hint}")
    extra_top = [k for k in data if k not in ("explainer", "jupyter", "jupytext")]
    if extra_top:
        raise HeaderError(path, f"unknown top-level header key {extra_top[0]!r}; put fields under 'explainer:'")
    fields = data["explainer"]
    if not isinstance(fields, dict):
        raise HeaderError(path, "'explainer' must be a mapping of fields")

    for key in fields:
        if key not in HEADER_FIELDS:
            raise HeaderError(
                path,
                f"unknown field 'explainer.{key}'.{did_you_mean(str(key), list(HEADER_FIELDS))}"
                f" Known fields: {', '.join(HEADER_FIELDS)}",
            )
    for key, (required, what) in HEADER_FIELDS.items():
        if required and key not in fields:
            raise HeaderError(path, f"missing required field 'explainer.{key}': {what}")

    def text_field(key: str, default: str | None = None) -> str | None:
        value = fields.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool) or not str(value).strip():
            raise HeaderError(path, f"field 'explainer.{key}' must be non-empty text, got {value!r}")
        return str(value).strip()

    def int_field(key: str, default: int, minimum: int) -> int:
        value = fields.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise HeaderError(path, f"field 'explainer.{key}' must be an integer >= {minimum}, got {value!r}")
        return value

    datasets = fields["datasets"]
    if datasets is None:
        datasets = []
    if not isinstance(datasets, list) or not all(isinstance(d, str) and d for d in datasets):
        raise HeaderError(path, f"field 'explainer.datasets' must be a list of names, got {datasets!r}")
    _check_dataset_names(path, datasets)

    profiles = fields["profiles"]
    if not isinstance(profiles, dict):
        raise HeaderError(path, "field 'explainer.profiles' must map 'quick' and 'full' to sizes")
    for name in profiles:
        if name not in PROFILES:
            raise HeaderError(
                path,
                f"unknown profile 'explainer.profiles.{name}'.{did_you_mean(str(name), list(PROFILES))}"
                f" Profiles are: {', '.join(PROFILES)}",
            )
    for name in PROFILES:
        if name not in profiles:
            raise HeaderError(path, f"missing profile 'explainer.profiles.{name}' (sizes for the {name} build)")
        sizes = profiles[name] if profiles[name] is not None else {}
        if not isinstance(sizes, dict) or not all(isinstance(k, str) for k in sizes):
            raise HeaderError(path, f"'explainer.profiles.{name}' must be a mapping of size names to values")
        profiles[name] = sizes

    thumbnail = text_field("thumbnail")
    data = parse_data_field(fields.get("data"), path)
    return RecipeHeader(
        title=text_field("title") or "",
        description=text_field("description") or "",
        datasets=tuple(datasets),
        profiles={k: dict(v) for k, v in profiles.items()},
        section=text_field("section", default_section) or default_section,
        seed_article=text_field("seed_article") or "",
        seed=int_field("seed", 0, 0),
        timeout=int_field("timeout", DEFAULT_TIMEOUT_S, 1),
        order=int_field("order", 100, 0),
        thumbnail=thumbnail,
        data=data,
    )


def _check_dataset_names(path: str, names: list[str]) -> None:
    """Reject dataset names the loaders do not know, with a did-you-mean."""
    try:
        from pipeline.library.datasets import DATASETS
    except ImportError:  # pragma: no cover - datasets module always ships
        return
    for name in names:
        if name not in DATASETS:
            raise HeaderError(
                path,
                f"unknown dataset {name!r} in 'explainer.datasets'."
                f"{did_you_mean(name, list(DATASETS))} Known datasets: {', '.join(sorted(DATASETS))}",
            )


def load_recipe(path: Path, content_root: Path) -> Recipe:
    """Read one recipe file and validate its header."""
    path = path.resolve()
    content_root = content_root.resolve()
    if not path.is_relative_to(content_root):
        raise HeaderError(str(path), f"recipes must live inside the content folder {content_root}")
    if not path.name.endswith(RECIPE_SUFFIX):
        raise HeaderError(str(path), f"recipe file names end with {RECIPE_SUFFIX!r}")
    slug = path.name[: -len(RECIPE_SUFFIX)]
    rel = path.relative_to(content_root)
    default_section = rel.parts[0] if len(rel.parts) > 1 else "explainers"
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise HeaderError(str(rel), "the file is not UTF-8 text") from None
    header = parse_header(source, str(rel), default_section=default_section)
    check_files_exist(header.data, path.parent, str(rel))
    page = path.with_name(slug + ".md")
    return Recipe(slug=slug, path=path, page=page if page.exists() else None, header=header,
                  content_root=content_root)


def discover(content_root: Path) -> list[Recipe]:
    """All recipes under ``content_root``, sorted by (order, slug); slugs must be unique.

    Raises the first header error; callers that want to keep going use :func:`discover_all`.
    """
    recipes, errors = discover_all(content_root)
    if errors:
        raise errors[0]
    return recipes


def discover_all(content_root: Path) -> tuple[list[Recipe], list[HeaderError]]:
    """All valid recipes plus the header errors of the invalid ones (so a build can go on)."""
    recipes: list[Recipe] = []
    errors: list[HeaderError] = []
    seen: dict[str, Path] = {}
    for path in sorted(content_root.rglob("*" + RECIPE_SUFFIX)):
        try:
            recipe = load_recipe(path, content_root)
        except HeaderError as exc:
            errors.append(exc)
            continue
        if recipe.slug in seen:
            errors.append(HeaderError(recipe.rel_path, f"slug {recipe.slug!r} is already used by "
                                      f"{seen[recipe.slug].relative_to(content_root)}; rename one"))
            continue
        seen[recipe.slug] = path
        recipes.append(recipe)
    recipes.sort(key=lambda r: (r.header.order, r.slug))
    return recipes, errors
