"""Errors only the site raises: a shortcode it cannot expand, an unsafe include, a site over
GitHub Pages' limits.

Why here and not in :mod:`pipeline.library.errors`: every recipe imports the library's error
module, so its text is part of every recipe's cache key; rewording a message of the site must
not re-execute a single recipe. They still derive from
:class:`~pipeline.library.errors.PipelineError` (one tree of user errors).
"""

from __future__ import annotations

from pipeline.library.errors import PipelineError


class HostingLimitError(PipelineError, RuntimeError):
    """The built site breaks a hard limit of GitHub Pages (a file or the whole site too big)."""


class ShortcodeError(PipelineError, ValueError):
    """A shortcode is malformed or refers to something the build did not produce."""


class UnsafeInclude(ShortcodeError):
    """``include(...)`` was asked to inline something that is not an HTML fragment.

    Always reported, even on a page whose training diverged (where missing assets are expected).
    """


class ShortcodeUsageError(ShortcodeError):
    """A shortcode called with unknown options or the wrong number of arguments.

    Always reported, even on a diverged page: it is a typo in the page, not a missing picture.
    """


class ClaimError(PipelineError, ValueError):
    """A malformed ``article_comparison`` entry (the message names the page and the entry)."""


class SvgRejected(PipelineError, ValueError):
    """A recipe's SVG that cannot be published: not well-formed XML, entity declarations, or not
    an ``<svg>`` (:mod:`pipeline.site.sanitize_svg`). The message says why."""
