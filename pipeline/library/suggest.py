"""The one "did you mean" of the project: a hint for a misspelt name in an error message.

Used by every message that rejects a name (header fields, datasets, profiles, recipes,
templates, shortcodes, layers), so all of them suggest in the same way. Standard library only:
the build tool and the site import it too.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: How close a choice must be to be suggested (``difflib``'s ratio, 0..1).
DEFAULT_CUTOFF = 0.6


def close_matches(word: object, choices: Iterable[object], n: int = 1,
                  cutoff: float = DEFAULT_CUTOFF) -> list[str]:
    """Up to ``n`` of ``choices`` closest to ``word``, best first (as strings)."""
    return difflib.get_close_matches(str(word), [str(c) for c in choices], n=n, cutoff=cutoff)


def did_you_mean(word: object, choices: Iterable[object], n: int = 1,
                 cutoff: float = DEFAULT_CUTOFF, sep: str = " or ") -> str:
    """``" Did you mean 'x'?"`` (up to ``n`` names joined by ``sep``), or ``""`` if none is close.

    The leading space lets callers append it right after a sentence's full stop.
    """
    close = close_matches(word, choices, n=n, cutoff=cutoff)
    return f" Did you mean {sep.join(repr(c) for c in close)}?" if close else ""
