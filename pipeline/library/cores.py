"""How many CPU cores this process may use.

Why in the library: the replay renderer sizes its worker pool with it inside a recipe's kernel,
and the build tool sizes its parallel build with it on the host; the library may not import the
build tool, so the one definition lives here and the build tool imports it.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, e.g. a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
