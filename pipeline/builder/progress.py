"""Rich progress for builds: one line per recipe while it runs, a cost table at the end.

Kept apart from the build logic so the build can run silently in tests and workers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.builder.records import Failure, OutcomeStatus

if TYPE_CHECKING:
    from pipeline.builder.jobs import Outcome

log = logging.getLogger("pipeline.builder.orchestrator")

#: Rich styles of the outcome statuses and of the two states before one ("queued", "running").
STYLES = {OutcomeStatus.RAN: "green", OutcomeStatus.CACHED: "cyan",
          OutcomeStatus.FAILED: "bold red", "running": "yellow", "queued": "dim"}
DONE = frozenset(OutcomeStatus)


class BuildDisplay:
    """Live per-recipe status (queued / running / ran / cached / failed, seconds)."""

    def __init__(self, slugs: list[str], console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("{task.fields[slug]:<32}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            disable=not self.console.is_terminal,
        )
        self.tasks: dict[str, TaskID] = {}
        for slug in slugs:
            self.tasks[slug] = self.progress.add_task("", slug=slug, status="[dim]waiting",
                                                      total=1, start=False)

    def __enter__(self) -> BuildDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_event(self, slug: str, status: str, seconds: float | None) -> None:
        task = self.tasks.get(slug)
        text = f"[{STYLES.get(status, '')}]{status}"
        if seconds is not None and status in (OutcomeStatus.RAN, OutcomeStatus.FAILED):
            text += f" in {seconds:.1f} s"
        if task is not None:
            if status == "running":
                self.progress.start_task(task)
            done = status in DONE
            self.progress.update(task, status=text, completed=1 if done else 0)
            if done:
                self.progress.stop_task(task)
        if status != "queued":
            log.info("%s: %s%s", slug, status, f" ({seconds:.1f} s)" if seconds else "")

    def summary(self, outcomes: list[Outcome], total_seconds: float) -> None:
        """Print the cost table (slowest first) and each failure's report."""
        table = Table(title=f"Build finished in {total_seconds:.1f} s")
        table.add_column("recipe")
        table.add_column("status")
        table.add_column("seconds", justify="right")
        for o in sorted(outcomes, key=lambda o: -o.seconds):
            table.add_row(o.slug, f"[{STYLES.get(o.status, '')}]{o.status}", f"{o.seconds:.1f}")
        self.console.print(table)
        for o in outcomes:
            if o.failure is not None:
                self.console.rule(f"[bold red]{o.slug} failed")
                self.console.print(failure_report(o.failure), markup=False, highlight=False,
                                   soft_wrap=True)  # no hard breaks inside paths and code


def failure_report(failure: Failure) -> str:
    """The human report of a failure: summary, the cell's source, the kernel's traceback."""
    return failure.report()
