"""A dark twin for every matplotlib figure a notebook shows inline (``plt.show()``, ``display``).

Figures saved with ``Explainer.save_figure`` already get ``name.dark.png``; the figures a cell
merely shows would otherwise appear only in their light version on the executed-notebook page.
:func:`install` (called by ``Explainer.__init__`` inside the kernel) registers one more IPython
display formatter: for a matplotlib ``Figure`` it draws a copy restyled with
:func:`pipeline.library.palette.restyle_figure` (theme colours change, data colours stay) and adds
it to the same display output under :data:`DARK_PNG_MIME`, as base64 PNG. The light ``image/png``
is untouched, so the notebook, the ``.ipynb`` download and nbconvert's Markdown stay as they
were; the site's notebook page (``pipeline/site/notebook_page.py``) writes the twin next to the
light file (``x.png`` -> ``x.dark.png``) and pairs them.

A PNG shown from a file (``display(Image(filename="x.png"))``) gets ``x.dark.png`` as its twin
when that file exists (a recipe's asset drawn in both palettes).

Importing this module is cheap (no matplotlib, no IPython): the build tool reads the constant.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

DARK_PNG_MIME = "image/x-nnx-dark-png"
"""The mimetype of the dark twin in a display output (base64 PNG, like ``image/png``)."""

_skip_depth = 0


@contextlib.contextmanager
def skip_dark() -> Iterator[None]:
    """Show figures without an inline dark twin (``save_figure`` saves its own dark asset)."""
    global _skip_depth
    _skip_depth += 1
    try:
        yield
    finally:
        _skip_depth -= 1


def dark_png(fig: Any) -> bytes | None:
    """The dark version of ``fig`` as PNG bytes, drawn from a copy (``fig`` is not changed).

    Drawn like IPython's inline PNG (``bbox_inches="tight"``, the figure's dpi). None when the
    figure cannot be copied (an artist that does not pickle): the page then shows the light
    version in both palettes, and the log says why.
    """
    import pickle

    import matplotlib.pyplot as plt

    from pipeline.library import palette

    try:
        copy = pickle.loads(pickle.dumps(fig))
    except Exception as exc:  # noqa: BLE001 - an unpicklable artist: no twin, not a failed cell
        log.warning("no dark version of an inline figure: it cannot be copied (%s)", exc)
        return None
    try:
        palette.restyle_figure(copy, "dark")
        buf = io.BytesIO()
        copy.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight",
                     facecolor=copy.get_facecolor(), edgecolor=copy.get_edgecolor())
        return buf.getvalue()
    finally:
        with contextlib.suppress(Exception):
            plt.close(copy)  # an unpickled pyplot figure re-registers itself: do not show it


def _format(fig: Any) -> str | None:
    if _skip_depth:
        return None
    data = dark_png(fig)
    return base64.b64encode(data).decode("ascii") if data is not None else None


def install(shell: Any = None) -> bool:
    """Register the dark-twin formatter in the running IPython shell (False outside IPython)."""
    try:
        from IPython.core.formatters import BaseFormatter
        from IPython.core.getipython import get_ipython
        from traitlets import ObjectName, Unicode
    except ImportError:
        return False
    shell = shell or get_ipython()
    if shell is None:
        return False
    formatters = shell.display_formatter.formatters
    if DARK_PNG_MIME in formatters:
        return True

    class DarkPNGFormatter(BaseFormatter):
        """Matplotlib figures only, recognised by class rather than ``for_type``: the inline
        backend, when it starts, removes every formatter's ``Figure`` registration
        (``matplotlib_inline``'s ``select_figure_formats``)."""

        format_type = Unicode(DARK_PNG_MIME)
        print_method = ObjectName("_repr_nnx_dark_png_")
        _return_type = str

        def __call__(self, obj: Any) -> str | None:
            if not self.enabled:
                return None
            try:
                if _is_figure(obj):
                    return _format(obj)
                return _asset_twin(obj)
            except Exception as exc:  # noqa: BLE001 - never fail the cell for its dark twin
                log.warning("no dark version of an inline figure (%s: %s)",
                            type(exc).__name__, exc)
                return None

    formatters[DARK_PNG_MIME] = DarkPNGFormatter(parent=shell.display_formatter)
    return True


def _asset_twin(obj: Any) -> str | None:
    """A PNG shown from a file (``display(Image(filename=...))``, typically a recipe's asset)
    whose dark version was written next to it (``variant_name``): that file, as base64."""
    from pathlib import Path

    filename = getattr(obj, "filename", None)
    if _skip_depth or not filename or getattr(obj, "format", None) != "png":
        return None
    if not any(cls.__name__ == "Image" and cls.__module__.startswith("IPython")
               for cls in type(obj).__mro__):
        return None
    from pipeline.library.palette import variant_name

    dark = Path(filename).with_name(variant_name(Path(filename).name, "dark"))
    return base64.b64encode(dark.read_bytes()).decode("ascii") if dark.is_file() else None


def _is_figure(obj: Any) -> bool:
    return any(cls.__module__ == "matplotlib.figure" and cls.__name__ == "Figure"
               for cls in type(obj).__mro__)
