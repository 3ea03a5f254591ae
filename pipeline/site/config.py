"""The site plugin's options (``plugins: - nn-explainers: ...`` in ``mkdocs.yml``), validated.

Why a typed config: these settings used to sit under ``extra:`` (read back with ``.get`` and a
default in each place) and in environment variables read deep inside the old hook script. Here
mkdocs checks them when it loads ``mkdocs.yml`` and names the option in every error, e.g.
``Plugin 'nn-explainers' option 'hosting': Sub-option 'max_file_mb': ...``, before any page is
built. Pure declarations and validators: no mkdocs event runs here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mkdocs.config import config_options as c
from mkdocs.config.base import Config, ValidationError

from pipeline.site.hosting_limits import DEFAULT_PAGE_BUDGET_MB, MAX_FILE_BYTES, MAX_SITE_BYTES, MB
from pipeline.site.nav import parse_learning_path

#: The options that lived under ``extra:`` before the plugin had a config of its own.
MOVED_FROM_EXTRA = {"learning_path": "learning_path", "hosting": "hosting",
                    "nnx_require_all": "require_all"}

_TRUE_WORDS = ("1", "true", "yes", "on")
_FALSE_WORDS = ("", "0", "false", "no", "off")


class LearningPath(c.OptionallyRequired[list[tuple[str, str]]]):
    """The navigation's sections in reading order: ``[{section: ..., title: ...}, ...]``.

    Not ``ListOfItems(SubConfig(...))``: its errors do not say which entry is wrong, and a
    learning path of a dozen sections needs the index in the message.
    """

    def run_validation(self, value: object) -> list[tuple[str, str]]:
        try:
            return parse_learning_path(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class Megabytes(c.OptionallyRequired[float]):
    """A positive size in MB (10**6 bytes); a bool or a string is refused, not guessed at."""

    def run_validation(self, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValidationError(f"expected a positive number of MB, got {value!r}")
        return float(value)


class Flag(c.OptionallyRequired[bool]):
    """A yes/no option that may come from an environment variable through ``!ENV``.

    ``!ENV [NNX_REQUIRE_ALL, false]`` hands over the variable parsed as YAML (``1`` is an int,
    an empty value is None), so the words the build tool's flags accept are accepted here too.
    """

    def run_validation(self, value: object) -> bool:
        if isinstance(value, bool):
            return value
        word = "" if value is None else str(value).strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise ValidationError(f"expected true or false (or 1/0, yes/no, on/off), got {value!r}")


class HostingConfig(Config):
    """GitHub Pages' limits: over a hard limit the build fails; over the budget, a warning."""

    page_budget_mb = Megabytes(default=DEFAULT_PAGE_BUDGET_MB)
    max_file_mb = Megabytes(default=MAX_FILE_BYTES / MB)
    max_site_mb = Megabytes(default=MAX_SITE_BYTES / MB)


class ExplainersConfig(Config):
    """Options of the ``nn-explainers`` mkdocs plugin (see CONTRIBUTING.md, "The site plugin")."""

    #: The build store the site reads (``python -m pipeline build`` writes it); relative to
    #: ``mkdocs.yml``. The repository's ``mkdocs.yml`` sets ``!ENV [NNX_BUILD_DIR, build]``.
    build_dir = c.Dir(exists=False, default="build")
    #: Offline data copies the recipes read, relative to ``mkdocs.yml``. Read by the build tool
    #: (:mod:`pipeline.builder.site_config`), after ``--data-dir`` and ``$NNX_DATA_DIR``; the
    #: site itself never reads data. Not set: no offline copies (Keras cache, downloads, the
    #: copies packages ship).
    data_dir = c.Optional(c.Type(str))
    #: Every recipe must have a result: an unbuilt one fails ``--strict`` instead of showing the
    #: "not built yet" placeholder (full builds set ``NNX_REQUIRE_ALL=1``).
    require_all = Flag(default=False)
    #: Section order and titles of the navigation (empty: mkdocs' alphabetical navigation).
    learning_path = LearningPath(default=[])
    hosting = c.SubConfig(HostingConfig)


def moved_extra_options(extra: Mapping[str, Any] | None) -> list[str]:
    """Messages for settings still under ``extra:`` that the plugin's config now holds.

    Why an error and not silence: an old ``extra.learning_path`` left behind would quietly
    give the site mkdocs' alphabetical navigation, and an old ``extra.hosting`` would quietly
    publish under the default limits.
    """
    return [f"extra.{old} in mkdocs.yml is now the option '{new}' of the nn-explainers plugin: "
            f"move it under `plugins: - nn-explainers: {new}: ...`"
            for old, new in MOVED_FROM_EXTRA.items() if old in (extra or {})]
