"""The panel protocol and the bookkeeping every panel shares.

Why a module of its own: the composer (:mod:`pipeline.library.replay.composer`) needs only
:class:`Panel`, and every panel module needs :class:`_BasePanel`; keeping both apart from the
drawing code lets either be read (and imported) without the panels themselves. The protocol is
described in the package docstring (:mod:`pipeline.library.replay.panels`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from matplotlib.artist import Artist
from matplotlib.axes import Axes

from pipeline.library.errors import PanelError
from pipeline.library.replay.store import Replay

Range = tuple[tuple[float, float], tuple[float, float]]


def _cannot(panel: str, needs: str, got: str) -> PanelError:
    """The one shape of every "cannot draw" message: which panel, what it needs, what it got."""
    return PanelError(f"{panel} needs {needs}; this replay has {got}")


@runtime_checkable
class Panel(Protocol):
    """What the composer needs from a panel (see the module docstring)."""

    def setup(self, ax: Axes, replay: Replay) -> None:
        """Draw the static parts on ``ax`` and create the animated artists."""

    def update(self, epoch: int) -> list[Artist]:
        """Move the animated artists to ``epoch``; return the artists to redraw."""


class _BasePanel:
    """Shared bookkeeping: cache per-replay preparation, keep the axes and replay."""

    def __init__(self, title: str | None = None) -> None:
        self.title = title
        self.ax: Axes | None = None
        self.replay: Replay | None = None
        self._prepared_for: Replay | None = None

    def _prepare(self, replay: Replay) -> None:  # pragma: no cover - overridden
        """Compute what depends on the whole replay (fixed ranges, per-epoch arrays)."""

    def _draw(self, ax: Axes) -> None:  # pragma: no cover - overridden
        """Create the artists on ``ax``."""

    def prepare(self, replay: Replay) -> None:
        """Compute what the panel shows of ``replay`` (ranges, bins, per-epoch arrays), once.

        ``setup`` calls it; the page's data writer (:mod:`pipeline.library.replay.browser_data`)
        calls it alone, so it reads the same ranges and bins without drawing a figure.
        """
        if self._prepared_for is not replay:
            self._prepare(replay)
            self._prepared_for = replay

    def setup(self, ax: Axes, replay: Replay) -> None:
        """Prepare for ``replay`` (once) and draw on ``ax``."""
        self.prepare(replay)
        self.ax = ax
        self.replay = replay
        # Ticks and grid below every data artist (zorder 0.5): the animated artists (zorder >= 1)
        # then never sit under a static one, so blitting needs to redraw no tick marks.
        ax.set_axisbelow(True)
        self._draw(ax)
        ax.set_autoscale_on(False)

    def _require_setup(self) -> Replay:
        if self.replay is None or self.ax is None:
            raise PanelError(f"{type(self).__name__}.update called before setup(ax, replay)")
        return self.replay

    def update(self, epoch: int) -> list[Artist]:  # pragma: no cover - overridden
        """Move to ``epoch``."""
        raise NotImplementedError
