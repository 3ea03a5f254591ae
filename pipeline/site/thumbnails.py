"""Small gallery thumbnails made from each explainer's thumbnail asset.

Why: the gallery shows every explainer's poster frame at card size (about 360 px wide), but the
assets are full-size figures (150-320 kB each); loading seven of them made the home page the
heaviest first load of the site. A 480 px WebP keeps the cards sharp on high-density screens at
a tenth of the bytes. Made from the verified asset at site-build time, so they are never stale.
"""

from __future__ import annotations

import io
from pathlib import Path

#: Site folder of the thumbnails (``assets/_gallery/<slug>.webp``), apart from recipe assets.
THUMBNAIL_DIR = "assets/_gallery"
MAX_WIDTH = 480


def thumbnail_path(slug: str) -> str:
    """Where the site serves ``slug``'s gallery thumbnail."""
    return f"{THUMBNAIL_DIR}/{slug}.webp"


def make_thumbnail(source: Path, max_width: int = MAX_WIDTH, quality: int = 80) -> bytes:
    """WebP bytes of ``source`` scaled down to at most ``max_width`` pixels wide."""
    from PIL import Image

    with Image.open(source) as img:
        img.load()
        frame = img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB")
    if frame.width > max_width:
        height = max(1, round(frame.height * max_width / frame.width))
        frame = frame.resize((max_width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    frame.save(out, format="WEBP", quality=quality, method=4)
    return out.getvalue()
