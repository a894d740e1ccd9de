"""``python -m fastphx``: the ``fastphx`` command line (see :mod:`fastphx.cli`)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
