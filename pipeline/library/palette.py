"""Light and dark versions of every generated picture, from one place.

The site follows Material's palette toggle (``data-md-color-scheme="default"|"slate"`` on
``<body>``), so each figure, frame, poster and video exists twice: drawn on white for the light
palette and on the dark palette's background for the dark one. Both versions come from the same
figure and the same data: a figure is drawn once, saved, then *restyled* in place
(:func:`restyle_figure`) and saved again. Restyling changes only theme colours (backgrounds,
text, axes, ticks, legend frames, and neutral greys drawn on them); colours that carry meaning
(colormaps, class colours, the colour cycle) stay exactly as they are, and axes that show an
image keep their background, because a translucent colormap over a dark background would show
other colours than the same map over white.

Why restyle rather than draw twice under an rc context: a recipe's figure is already drawn by the
time it reaches :meth:`pipeline.library.runtime.Explainer.save_figure`, and drawing the replay's panels
again would double their (data) preparation. Restyling costs one ``savefig`` per figure.

Names: the light version keeps the recipe's name, the dark one inserts ``.dark`` before the
suffix (``loss.png`` -> ``loss.dark.png``); a frames folder gets a ``.dark`` sibling
(``frames/index.json`` -> ``frames.dark/index.json``). :func:`variant_name` is the one rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

PALETTES = ("light", "dark")
"""The site's palettes: Material's ``default`` scheme is "light", ``slate`` is "dark"."""

MATERIAL_SCHEMES = {"light": "default", "dark": "slate"}

#: Theme colours per palette. The dark background is Material's slate
#: ``hsl(232, 15%, 14%)``; its text is slate's foreground without transparency.
THEME: dict[str, dict[str, str]] = {
    "light": {"background": "#ffffff", "foreground": "#000000"},
    "dark": {"background": "#1e2029", "foreground": "#e3e5ec"},
}

#: Colours whose channels differ by less than this are neutral greys: theme colours.
_NEUTRAL_SPREAD = 0.06


def check_palette(palette: str) -> str:
    if palette not in PALETTES:
        raise ValueError(f"unknown palette {palette!r}; use one of {', '.join(PALETTES)}")
    return palette


def variant_name(name: str, palette: str) -> str:
    """The asset name of ``name``'s version for ``palette`` (light: ``name`` itself)."""
    if check_palette(palette) == "light":
        return name
    path = PurePosixPath(name)
    if path.name == "index.json" and len(path.parts) > 1:  # a frames folder
        folder = path.parent
        return (folder.parent / f"{folder.name}.dark" / path.name).as_posix()
    return (path.parent / f"{path.stem}.dark{path.suffix}").as_posix()


#: The neutral roles :func:`neutral` knows, and the matplotlib setting each one reads.
NEUTRAL_ROLES: dict[str, RcKeyType] = {"ink": "axes.edgecolor", "face": "axes.facecolor",
                                       "grid": "grid.color"}


def neutral(role: str) -> Any:
    """A neutral colour of the palette being drawn: ``"ink"``, ``"face"`` or ``"grid"``.

    Read from the active matplotlib style (``rcParams``) when called, never hard-coded, so a
    panel or figure that takes its lines (``ink``: axes edges, reference marks), its
    background (``face``: to blend a light image into) or its grid from here stays legible in
    the dark palette too. Call it while drawing (in a panel's ``draw``), not at import.
    """
    import matplotlib

    if role not in NEUTRAL_ROLES:
        raise ValueError(f"unknown neutral colour {role!r}; use one of {', '.join(NEUTRAL_ROLES)}")
    return matplotlib.rcParams[NEUTRAL_ROLES[role]]


def rc_params(palette: str) -> dict[RcKeyType, Any]:
    """matplotlib rc settings for drawing new figures in ``palette`` (see :func:`rc_context`)."""
    theme = THEME[check_palette(palette)]
    bg, fg = theme["background"], theme["foreground"]
    return {
        "figure.facecolor": bg, "savefig.facecolor": bg, "axes.facecolor": bg,
        "axes.edgecolor": fg, "axes.labelcolor": fg, "axes.titlecolor": fg, "text.color": fg,
        "xtick.color": fg, "ytick.color": fg, "xtick.labelcolor": fg, "ytick.labelcolor": fg,
        "legend.facecolor": bg, "legend.edgecolor": map_color("0.8", palette),
        "legend.labelcolor": fg, "grid.color": map_color("#b0b0b0", palette),
    }


@contextmanager
def rc_context(palette: str) -> Iterator[None]:
    """Draw new figures in ``palette`` (a local rc context: no global change)."""
    import matplotlib

    with matplotlib.rc_context(rc_params(palette)):
        yield


def _rgb(hex_color: str) -> np.ndarray:
    from matplotlib.colors import to_rgb

    return np.asarray(to_rgb(hex_color), dtype=float)


def map_color(color: Any, palette: str) -> tuple[float, float, float, float]:
    """The colour to use in ``palette`` for a colour drawn for the light palette.

    Neutral greys are theme colours: white maps to the palette's background, black to its
    foreground and greys in between linearly, so contrast against the background is kept.
    Anything with a hue is data and is returned unchanged; so is full transparency.
    """
    from matplotlib.colors import to_rgba

    r, g, b, a = to_rgba(color)
    if check_palette(palette) == "light" or a == 0:
        return (r, g, b, a)
    rgb = np.array([r, g, b])
    if rgb.max() - rgb.min() > _NEUTRAL_SPREAD:
        return (r, g, b, a)
    light = float(rgb.mean())  # 1 = white (background), 0 = black (foreground)
    theme = THEME[palette]
    out = _rgb(theme["foreground"]) + light * (_rgb(theme["background"]) - _rgb(theme["foreground"]))
    return (float(out[0]), float(out[1]), float(out[2]), a)


def _map_array(colors: Any, palette: str) -> Any:
    arr = np.asarray(colors)
    if arr.ndim != 2 or arr.shape[0] == 0:
        return colors
    return np.array([map_color(tuple(c), palette) for c in arr])


def _has_image(ax: Any) -> bool:
    from matplotlib.image import AxesImage

    return any(isinstance(c, AxesImage) for c in ax.get_children())


def restyle_figure(fig: Any, palette: str, *, source: str = "light") -> None:
    """Recolour ``fig`` (drawn for ``source``) for ``palette``, in place; data colours stay.

    Walks every artist once: the figure and axes backgrounds, text, spines, ticks, grid lines,
    legend frames, and lines, patches and collections drawn in neutral greys. Artists coloured
    through a colormap (images, scalar-mapped collections) and anything with a hue are left
    alone. Axes that contain an image keep their background and the lines and points drawn on
    it (see the module docstring).
    Restyling back to ``"light"`` needs ``source="dark"`` and is not supported: save the light
    version first.
    """
    from matplotlib.axes import Axes
    from matplotlib.collections import Collection
    from matplotlib.image import AxesImage, FigureImage
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.text import Text

    check_palette(palette)
    if source != "light":
        raise ValueError("restyle_figure draws the dark version from the light one; "
                         "save the light version first")
    if palette == "light":
        return
    from matplotlib.spines import Spine

    # Inside an axes that shows an image everything is drawn on that image, not on the theme
    # background: its background, lines and markers keep their colours (and their contrast).
    keep = {id(c) for ax in fig.axes if _has_image(ax)
            for c in [ax.patch, *ax.get_children()]
            if isinstance(c, (Patch, Line2D, Collection)) and not isinstance(c, Spine)}
    seen: set[int] = set()
    for artist in fig.findobj():
        if id(artist) in seen:
            continue
        seen.add(id(artist))
        if isinstance(artist, (AxesImage, FigureImage, Axes)) or id(artist) in keep:
            continue
        if isinstance(artist, Text):
            artist.set_color(map_color(artist.get_color(), palette))
            bbox = artist.get_bbox_patch()
            if bbox is not None:
                bbox.set_facecolor(map_color(bbox.get_facecolor(), palette))
                bbox.set_edgecolor(map_color(bbox.get_edgecolor(), palette))
        elif isinstance(artist, Line2D):
            artist.set_color(map_color(artist.get_color(), palette))
            for getter, setter in (("get_markerfacecolor", "set_markerfacecolor"),
                                   ("get_markeredgecolor", "set_markeredgecolor")):
                value = getattr(artist, getter)()
                if not (isinstance(value, str) and value in ("none", "auto")):
                    getattr(artist, setter)(map_color(value, palette))
        elif isinstance(artist, Patch):
            artist.set_facecolor(map_color(artist.get_facecolor(), palette))
            artist.set_edgecolor(map_color(artist.get_edgecolor(), palette))
        elif isinstance(artist, Collection):
            if artist.get_array() is not None:  # coloured through a colormap: data
                continue
            artist.set_facecolor(_map_array(artist.get_facecolor(), palette))
            artist.set_edgecolor(_map_array(artist.get_edgecolor(), palette))
    fig.patch.set_facecolor(THEME[palette]["background"])


def savefig_kwargs(palette: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``savefig`` arguments for ``palette``: a recipe's explicit white facecolor follows too."""
    out = dict(kwargs)
    if "facecolor" in out and palette != "light":
        out["facecolor"] = map_color(out["facecolor"], palette)
    return out


def render_palettes(target: Any, render: Any, *, parallel: bool | None = None) -> dict[str, float]:
    """Render ``target`` (a :class:`~pipeline.library.replay.Composition`) in both palettes.

    ``render(target, palette)`` writes one palette's files (use :func:`variant_name` for their
    names). The light version is drawn here; the dark one is drawn after
    ``target.set_palette("dark")``, by default in a forked child process at the same time, so
    the second palette costs wall time only when there is no free core. The child inherits the
    composition with everything its panels computed (nothing is recomputed or pickled), touches
    nothing but matplotlib, Pillow and ffmpeg, and leaves with ``os._exit``. Without ``fork``
    (or with ``parallel=False``, or one core) the two are drawn one after the other; a dark pass
    that fails in the child is drawn again in this process (a warning says why), so an error in
    ``render`` itself is raised from here with its own traceback.

    ``target`` may also be a list of compositions (runs side by side): each is switched.

    Returns the seconds each palette took (wall time of the whole call under ``"total"``).
    """
    if isinstance(target, (list, tuple)):
        target = _Group(list(target))
    import time

    from pipeline.library.cores import usable_cores
    from pipeline.library.forked import can_fork, fork_call

    start = time.perf_counter()
    use_fork = (parallel if parallel is not None else usable_cores() > 1) and can_fork()

    def draw(palette: str) -> float:
        t = time.perf_counter()
        if palette == "dark":
            target.set_palette("dark")
        render(target, palette)
        return time.perf_counter() - t

    seconds: dict[str, float] = {}
    if not use_fork:
        seconds["light"] = draw("light")
        seconds["dark"] = draw("dark")
        seconds["total"] = time.perf_counter() - start
        return seconds
    child = fork_call(lambda: draw("dark"))
    try:
        seconds["light"] = draw("light")
    finally:
        dark_seconds, failure = child.wait()
    if failure is not None:
        # A forked matplotlib can trip over state it shares with its parent (FreeType fonts):
        # never lose the dark version for it. Draw it here, after the light one.
        import logging

        logging.getLogger(__name__).warning(
            "rendering the dark palette in a forked process failed (%s); drawing it again in "
            "this process", failure)
        seconds["dark"] = draw("dark")
        seconds["fallback"] = 1.0
    else:
        seconds["dark"] = float(dark_seconds)
    seconds["total"] = time.perf_counter() - start
    return seconds


class _Group(list[Any]):
    """Several compositions switched to a palette together (see :func:`render_palettes`)."""

    def set_palette(self, palette: str) -> None:
        for item in self:
            item.set_palette(palette)
