"""Learning-path navigation, the build report page and GitHub Pages' limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.site.build_report import report_html, report_page, row_for, totals
from pipeline.site.hosting_limits import (
    HostingLimitError,
    check_hard_limits,
    first_load_refs,
    page_first_load_bytes,
    pages_over_budget,
)
from pipeline.site.nav import NavPage, learning_path_nav, parse_learning_path
from tests.conftest import tiny_recipe
from tests.sitebuild import build_site, write_config

PATH = [("basics", "Basics"), ("replay", "Replay"), ("inside", "Inside"), ("cifar", "CIFAR-10")]


def test_nav_follows_the_learning_path_not_the_alphabet() -> None:
    pages = [NavPage("cifar", 1, "Cifar page", "cifar/c.md"),
             NavPage("replay", 20, "Boundary", "replay/b.md"),
             NavPage("replay", 10, "Replaying", "replay/a.md"),
             NavPage("basics", 1, "Glance", "basics/g.md"),
             NavPage("inside", 5, "Autoencoder", "inside/ae.md"),
             NavPage("zoo", 1, "Unlisted", "zoo/z.md")]
    nav = learning_path_nav(pages, PATH, extra_pages=["inside/extra.md", "about.md"])
    assert [next(iter(e)) if isinstance(e, dict) else e for e in nav] == [
        "Explainers", "Basics", "Replay", "Inside", "CIFAR-10", "Zoo", "about.md",
        "How this site was built"]
    assert nav[2] == {"Replay": [{"Replaying": "replay/a.md"}, {"Boundary": "replay/b.md"}]}
    assert nav[3]["Inside"][-1] == {"extra": "inside/extra.md"}
    assert not any("notebooks" in str(e) for e in nav)


def test_learning_path_errors_name_the_entry() -> None:
    assert parse_learning_path([{"section": "basics", "title": "B"}]) == [("basics", "B")]
    with pytest.raises(ValueError, match=r"learning_path\[1\]"):
        parse_learning_path([{"section": "a", "title": "A"}, {"title": "no section"}])
    with pytest.raises(ValueError, match="must be a list"):
        parse_learning_path("basics")


def _manifest(train: float, render: float, execute: float, peak: float, gpu: bool = False) -> dict:
    return {"profile": "quick", "timings": {"train": train, "render": render, "execute": execute},
            "hardware": {"cpu": "Test CPU", "cpu_count": 2, "gpus": ["H200"] if gpu else []},
            "resources": {"peak_rss_mb": peak}, "built_at": "2026-12-01T12:00:00+0000",
            "data": [{"dataset": "moons", "subset": False}, {"dataset": "cifar10", "subset": True}]}


def test_build_report_rows_totals_and_table() -> None:
    rows = [row_for("a", "Alpha", "../a/", _manifest(10, 2, 15, 800), {"last_attempt": {"status": "ran"}}),
            row_for("b", "Beta", "../b/", _manifest(1, 0.5, 3, 1200, gpu=True),
                    {"last_attempt": {"status": "cached"}}),
            row_for("c", "Gamma", None, None, {})]
    assert rows[0].device == "CPU Test CPU (2 cores)" and rows[1].device == "GPU H200"
    assert rows[0].data == "moons; cifar10 (subset)"
    assert [r.cache for r in rows] == ["executed", "from cache", "not built"]
    t = totals(rows)
    assert (t["train_s"], t["render_s"], t["total_s"], t["peak_mb"]) == (11, 2.5, 18, 1200)
    assert (t["executed"], t["cached"], t["recipes"]) == (1, 1, 3)
    table = report_html(rows)
    # slowest first without JavaScript; sortable headings are buttons; totals in <tfoot>
    assert table.index('data-slug="a"') < table.index('data-slug="b"') < table.index('data-slug="c"')
    assert table.count('<button type="button" class="nnx-sort">') == 10  # the device differs
    assert '<th scope="row" role="rowheader">Total (3 explainers)</th>' in table
    assert "18.0" in table and "1,200 (largest)" in table and "1 executed, 1 from cache" in table
    assert '<td role="cell" data-label="Device" data-nnx-key="GPU H200">GPU H200</td>' in table
    assert 'data-nnx-key="2026-12-01T12:00:00+0000">2026-12-01 12:00</td>' in table
    page = report_page(rows, "2026-12-01 12:00 UTC")
    # the title once, as the page's one heading: front matter is mkdocs', never in this text
    assert page.startswith("# How this site was built\n") and "title:" not in page
    assert page.count("\n# ") == 0 and "\n## What each explainer cost\n" in page
    assert "**18.0 s**" in page and "**11.0 s** training" in page
    assert "Every explainer was built on" not in page  # two devices: a column says which


def test_a_device_shared_by_every_row_is_said_once_above_the_table() -> None:
    from pipeline.site.build_report import ReportSection

    rows = [row_for(s, s.title(), None, _manifest(1, 1, 2, 100), {}) for s in ("a", "b")]
    rows.append(row_for("c", "C", None, None, {}))  # never built: no device to compare
    table = report_html(rows)
    assert "Device" not in table and "Test CPU" not in table
    assert table.count('<button type="button" class="nnx-sort">') == 9
    page = report_page(rows, "now", [ReportSection("Another section", "Its *text*.")])
    assert page.count("Test CPU") == 1
    assert "Every explainer was built on **CPU Test CPU (2 cores)**." in page
    # further sections follow the cost table, each a ## heading of the page
    assert page.index("## What each explainer cost") < page.index("## Another section")
    assert page.rstrip().endswith("Its *text*.")


def test_hard_limits_fail_with_the_file_named(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "big.mp4").write_bytes(b"x" * 3000)
    (tmp_path / "index.html").write_text("<p>hi</p>")
    assert check_hard_limits(tmp_path, max_file=5000, max_site=10_000).total == 3009
    with pytest.raises(HostingLimitError, match=r"assets/big.mp4 is 0.0 MB; GitHub Pages refuses"):
        check_hard_limits(tmp_path, max_file=2000, max_site=10_000)
    with pytest.raises(HostingLimitError, match=r"the site is 0.0 MB.*Largest files: assets/big.mp4"):
        check_hard_limits(tmp_path, max_file=5000, max_site=3000)


def test_first_load_counts_eager_files_only(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for name, n in (("style.css", 100), ("app.js", 200), ("eager.png", 400), ("lazy.png", 800),
                    ("poster.png", 1600), ("video.mp4", 3200), ("dark.png", 6400)):
        (tmp_path / name).write_bytes(b"x" * n)
    html = ('<link rel="stylesheet" href="../style.css"><script src="../app.js"></script>'
            '<img src="../eager.png" alt=""><img src="../lazy.png" loading="lazy" alt="">'
            '<img data-nnx-light="../lazy.png" data-nnx-dark="../dark.png" alt="">'
            '<video preload="metadata" poster="../poster.png"><source src="../video.mp4"></video>'
            '<img src="https://example.com/x.png" alt="">')
    assert first_load_refs(html) == ["../style.css", "../app.js", "../eager.png", "../poster.png"]
    page = tmp_path / "a" / "index.html"
    page.write_text(html)
    expected = len(html) + 100 + 200 + 400 + 1600
    assert page_first_load_bytes(tmp_path, page) == expected
    assert pages_over_budget(tmp_path, budget_mb=expected / 1e6 - 1e-6) == [("a/index.html", expected)]
    assert pages_over_budget(tmp_path, budget_mb=expected / 1e6) == []


def test_first_load_counts_the_data_a_live_replay_fetches(tmp_path: Path) -> None:
    """A replay drawn by the page fetches its index and the binary file the index names at once:
    both count, each once, even when two figures share a run; a frames index counts too."""
    assets = tmp_path / "assets" / "r"
    assets.mkdir(parents=True)
    (assets / "run.json").write_text('{"bin": "run.bin", "epochs": 3}')
    (assets / "run.bin").write_bytes(b"x" * 5000)
    (assets / "other.json").write_text('{"bin": "https://example.com/x.bin"}')  # not local
    (assets / "frames.json").write_text('{"epochs": [0], "files": ["f0.webp"]}')
    html = ('<div class="nnx-replay-run" data-nnx-replay="../assets/r/run.json"></div>'
            '<div class="nnx-replay-run" data-nnx-replay="../assets/r/run.json"></div>'
            '<div data-nnx-replay="../assets/r/other.json"></div>'
            '<figure class="nnx-video" data-nnx-frames="../assets/r/frames.json"></figure>'
            '<img data-nnx-src="../assets/r/run.bin" alt="">')  # not a src: not fetched
    assert first_load_refs(html) == ["../assets/r/run.json", "../assets/r/run.json",
                                     "../assets/r/other.json", "../assets/r/frames.json"]
    page = tmp_path / "p" / "index.html"
    page.parent.mkdir()
    page.write_text(html)
    sizes = {name: (assets / name).stat().st_size for name in
             ("run.json", "run.bin", "other.json", "frames.json")}
    assert page_first_load_bytes(tmp_path, page) == len(html) + sum(sizes.values())


def test_site_nav_report_page_and_limits_in_a_real_build(mini, tmp_path: Path) -> None:
    mini.add("alpha", tiny_recipe("Alpha"), section="basics")
    mini.add("beta", tiny_recipe("Beta", extra_header="order: 1"), section="replay")
    assert mini.cli("build") == 0, mini.report()
    site = tmp_path / "site"
    result = build_site(mini.content, mini.build_dir, site)
    assert result.returncode == 0, result.stderr
    home = (site / "basics" / "alpha" / "index.html").read_text()
    nav = home[home.index('md-nav--primary'):home.index('md-sidebar--secondary')]
    assert nav.index("Basics: training at a glance") < nav.index("Replay: watching training")
    assert "How this site was built" in nav and "Notebook:" not in nav
    assert 'href="../../notebooks/alpha/"' in home  # the explainer links its notebook
    report = (site / "build-report" / "index.html").read_text()
    assert 'data-slug="alpha"' in report and 'data-slug="beta"' in report
    assert "executed" in report and "Total (2 explainers)" in report
    assert "nnx-sort.js" in report
    # a file over the configured per-file limit stops the build with the file named
    cfg = write_config(mini.content, site, tmp_path / "strict.yml")
    cfg.write_text(cfg.read_text().replace("max_file_mb: 100", "max_file_mb: 0.001"))
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-f", str(cfg)],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[3],
                         env=dict(os.environ, NNX_BUILD_DIR=str(mini.build_dir)), timeout=300)
    assert out.returncode != 0
    said = out.stdout + out.stderr
    assert "does not fit GitHub Pages" in said and "refuses files over" in said, said
