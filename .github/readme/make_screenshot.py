"""Make the README's screenshot from a built site: the gallery beside an explainer page.

Run after `nox -s build` (it serves ``site/`` locally, so nothing leaves the machine):

    python .github/readme/make_screenshot.py [--site site] [--out .github/readme/screenshot.png]

Uses Playwright with Debian's Chromium (``/usr/bin/chromium``), like the browser tests.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.browser_support import StaticServer  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def shoot(site: Path, out: Path, explainer: str = "replay/replaying-training/") -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with StaticServer(site) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        shots = []
        for path, scroll_to in (("", None), (explainer, "figure.nnx-video")):
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.goto(server.base + path, wait_until="networkidle")
            if scroll_to:
                page.locator(scroll_to).first.scroll_into_view_if_needed()
                page.wait_for_timeout(800)
            shots.append(Image.open(io.BytesIO(page.screenshot())).convert("RGB"))
            page.close()
        browser.close()
    gap = 16
    width = sum(s.width for s in shots) + gap * (len(shots) - 1)
    canvas = Image.new("RGB", (width, max(s.height for s in shots)), (220, 220, 228))
    x = 0
    for s in shots:
        canvas.paste(s, (x, 0))
        x += s.width + gap
    canvas = canvas.resize((canvas.width * 3 // 5, canvas.height * 3 // 5), Image.LANCZOS)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB, {canvas.width}x{canvas.height})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("screenshot.png"))
    args = parser.parse_args()
    if not (args.site / "index.html").is_file():
        sys.exit(f"{args.site}/index.html not found: build the site first (nox -s build)")
    shoot(args.site, args.out)


if __name__ == "__main__":
    main()
