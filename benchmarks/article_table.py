"""The README's "ours against the articles" table, from the pages' claims and a full-profile record.

The claims are the ``article_comparison`` front matter of each explainer page (what the article
says, which metric of ours, why they differ; :mod:`pipeline.site.article_comparison`); our values
come from ``benchmarks/results/full-profile-cpu.json``, written by ``python -m benchmarks
full-profile`` from a real build. So the README shows exactly what the site's build report
shows for a full build, and neither is typed by hand.

``python -m benchmarks.article_table`` prints the table; ``--update README.md`` replaces the
lines between ``<!-- articles:start -->`` and ``<!-- articles:end -->``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.full_profile import DEFAULT_OUT, REPO_ROOT

START, END = "<!-- articles:start -->", "<!-- articles:end -->"


def table(record: dict[str, Any], content_dir: Path) -> str:
    """Markdown: one row per claim, explainers in the site's order."""
    from pipeline.builder.recipes import discover_all
    from pipeline.builder.records import Manifest
    from pipeline.site.article_comparison import parse_claims, read_page_meta, rows_for

    recipes, _ = discover_all(content_dir)
    lines = ["| Explainer | Quantity | The article | Full profile, built here | Why they differ |",
             "|---|---|---|---|---|"]
    for recipe in recipes:
        if recipe.page is None:
            continue
        claims = parse_claims(read_page_meta(recipe.page),
                              recipe.page.relative_to(content_dir).as_posix())
        measured = record.get("recipes", {}).get(recipe.slug) or {}
        manifest = (Manifest.from_dict({"profile": record.get("profile"),
                                        "metrics": measured.get("metrics", {})})
                    if measured.get("metrics") else None)
        for i, row in enumerate(rows_for(claims, manifest)):
            name = recipe.header.title if i == 0 else ""
            cells = [name, row.what, row.article, row.ours, row.why]
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def update(readme: Path, text: str) -> None:
    source = readme.read_text(encoding="utf-8")
    if START not in source or END not in source:
        raise SystemExit(f"{readme}: add the markers {START} and {END} where the table goes")
    head, rest = source.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{text}{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.article_table",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--record", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--content-dir", type=Path, default=REPO_ROOT / "content")
    parser.add_argument("--update", type=Path, default=None, metavar="README",
                        help="replace the table between the markers in this file")
    args = parser.parse_args(argv)
    text = table(json.loads(args.record.read_text()), args.content_dir)
    if args.update:
        update(args.update, text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
