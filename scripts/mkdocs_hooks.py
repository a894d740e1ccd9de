"""MkDocs hooks for the fastphx site (wired in mkdocs.yml ``hooks:``).

Docstrings use Sphinx cross-reference roles (``:class:`X```), which Markdown renders as the
literal role text before the code span; this drops the role so only ``X`` shows.
"""

from __future__ import annotations

import re
from typing import Any

SPHINX_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|exc|mod|data|obj|const):(?=<code>)")


def on_page_content(html: str, **_: Any) -> str:
    """Removes Sphinx role prefixes in front of inline code in a rendered page."""
    return SPHINX_ROLE.sub("", html)
