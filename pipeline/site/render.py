"""The site's HTML and Markdown fragments, rendered from Jinja templates in ``templates/``.

Why templates: the shortcodes, banners, provenance box, gallery cards and build report were
f-strings with ``html.escape`` called by hand in each place (and forgotten in some). Here every
value is escaped unless a template says otherwise, and the markup reads as markup, next to the
theme's own Jinja in ``site_overrides/``.

Two kinds of template:

- ``*.html``: fragments inlined into a page's Markdown. Markdown ends a raw-HTML block at a
  blank line and turns indented lines into code, so the loader joins each template's lines
  (indentation and line breaks dropped): write one element per line and keep every tag,
  attributes included, on its line.
- ``*.md``: Markdown (admonitions, tables, the notebook page), rendered as written. Values are
  HTML-escaped too (Markdown passes HTML through); text that Markdown shows verbatim (a code
  span or a fenced block) goes through the ``md_code``/``md_fence`` filters, which must not
  escape it, since Markdown would then show the entities themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup


class _FragmentLoader(PackageLoader):
    """``pipeline/site/templates``; ``*.html`` templates come back as one line (see above)."""

    def get_source(self, environment: Environment, template: str
                   ) -> tuple[str, str, Callable[[], bool] | None]:
        source, filename, uptodate = super().get_source(environment, template)
        if template.endswith(".html"):
            source = "".join(line.lstrip() for line in source.splitlines())
        return source, filename, uptodate


def md_code(text: Any) -> Markup:
    """``text`` as a Markdown code span; backticks are dropped (they would end the span)."""
    return Markup("`{}`").format(Markup(str(text).replace("`", "")))


def md_fence(text: Any, indent: str = "    ") -> Markup:
    """``text`` as a fenced block inside an admonition (safe for any characters)."""
    text = str(text)
    fence = "~~~~" if "```" in text else "```"
    lines = [f"{indent}{fence}text"] + [f"{indent}{ln}" for ln in text.rstrip().splitlines()]
    return Markup("\n".join([*lines, f"{indent}{fence}"]) + "\n\n")


def md_cell(text: Any) -> Markup:
    """Already-rendered Markdown for a table cell: a ``|`` would start a new cell."""
    return Markup(str(text).replace("|", "/"))


def yaml_str(text: Any) -> Markup:
    """``text`` as a single-quoted YAML scalar (for a page's front matter)."""
    return Markup("'{}'".format(str(text).replace("'", "''")))


def seconds(value: Any) -> str:
    """``12.3 s`` or, from two minutes on, ``2.5 min`` (``?`` when not a number)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "?"
    return f"{v:.1f} s" if v < 120 else f"{v / 60:.1f} min"


@functools.cache
def environment() -> Environment:
    """The one Jinja environment of the site (cached: templates compile once per process)."""
    env = Environment(
        loader=_FragmentLoader("pipeline.site", "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt variable fails loudly instead of rendering ""
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(md_code=md_code, md_fence=md_fence, md_cell=md_cell, yaml_str=yaml_str,
                       seconds=seconds)
    return env


def render(template: str, **values: Any) -> str:
    """Render ``templates/<template>`` with ``values`` (escaped unless the template says not)."""
    return str(environment().get_template(template).render(**values))
