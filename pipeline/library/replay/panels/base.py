"""The panel base class and protocol: what every panel shares, and what the composer needs.

Why a module of its own: the composer (:mod:`pipeline.library.replay.composer`) needs only
:class:`Panel`, and every panel module subclasses it; keeping it apart from the drawing code
lets it be read (and imported) without the panels themselves. The protocol is described in the
package docstring (:mod:`pipeline.library.replay.panels`).

Writing a panel of your own: subclass :class:`Panel`, compute what depends on the whole replay
in ``prepare(replay)`` (once per replay), create the artists in ``draw(ax)`` and move them in
``update(epoch)``; take neutral colours from :func:`pipeline.library.palette.neutral`.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol, runtime_checkable

from matplotlib.artist import Artist
from matplotlib.axes import Axes

from pipeline.library.errors import PanelError
from pipeline.library.replay.store import Replay

Range = tuple[tuple[float, float], tuple[float, float]]


def _cannot(panel: str, needs: str, got: str) -> PanelError:
    """The one shape of every "cannot draw" message: which panel, what it needs, what it got."""
    return PanelError(f"{panel} needs {needs}; this replay has {got}")


@runtime_checkable
class PanelProtocol(Protocol):
    """What the composer calls on a panel; any object with these two methods composes."""

    def setup(self, ax: Axes, replay: Replay) -> None:
        """Draw the static parts on ``ax`` and create the animated artists."""

    def update(self, epoch: int) -> list[Artist]:
        """Move the animated artists to ``epoch``; return the artists to redraw."""


class Panel:
    """The base class of every panel: subclass it and implement ``draw`` and ``update``.

    ``prepare(replay)`` computes what depends on the whole replay (fixed axis ranges over all
    epochs, per-epoch arrays); it runs once per replay, however often ``setup`` redraws.
    ``draw(ax)`` creates the static parts and the animated artists on ``ax``. ``update(epoch)``
    changes the animated artists' data in place and returns every artist a frame must redraw
    (the same objects each call; see the package docstring). ``self.replay`` and ``self.ax``
    are set by ``setup``; :meth:`require_setup` returns the replay or says what went wrong.
    """

    def __init__(self, title: str | None = None) -> None:
        self.title = title
        self.ax: Axes | None = None
        self.replay: Replay | None = None
        self._prepared_for: Replay | None = None

    def prepare(self, replay: Replay) -> None:
        """Compute what depends on the whole replay (fixed ranges, per-epoch arrays)."""
        self._prepare(replay)

    def draw(self, ax: Axes) -> None:
        """Create the artists on ``ax``."""
        self._draw(ax)

    # The hooks' names before Panel was public; the panels of this package still define them.
    def _prepare(self, replay: Replay) -> None:
        """Old name of :meth:`prepare` (still called when a subclass overrides it)."""

    def _draw(self, ax: Axes) -> None:
        """Old name of :meth:`draw` (still called when a subclass overrides it)."""

    def setup(self, ax: Axes, replay: Replay) -> None:
        """Prepare for ``replay`` (once) and draw on ``ax``."""
        if self._prepared_for is not replay:
            self.prepare(replay)
            self._prepared_for = replay
        self.ax = ax
        self.replay = replay
        # Ticks and grid below every data artist (zorder 0.5): the animated artists (zorder >= 1)
        # then never sit under a static one, so blitting needs to redraw no tick marks.
        ax.set_axisbelow(True)
        self.draw(ax)
        ax.set_autoscale_on(False)

    def require_setup(self) -> Replay:
        """The replay this panel was set up with; a PanelError when ``setup`` has not run."""
        if self.replay is None or self.ax is None:
            raise PanelError(f"{type(self).__name__}.update called before setup(ax, replay)")
        return self.replay

    _require_setup = require_setup

    def update(self, epoch: int) -> list[Artist]:  # pragma: no cover - overridden
        """Move to ``epoch``."""
        raise NotImplementedError(f"{type(self).__name__} must define update(epoch)")


def __getattr__(name: str) -> Any:
    """``_BasePanel``, the base class's name before it was public: served for one release."""
    if name == "_BasePanel":
        warnings.warn("pipeline.library.replay.panels.base._BasePanel is now the public "
                      "pipeline.library.replay.Panel; subclass that (the old name goes in the "
                      "next release)", DeprecationWarning, stacklevel=2)
        return Panel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
