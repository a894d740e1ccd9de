"""The single source of fastphx's version (read by setuptools and by the package)."""

__version__ = "0.1.0"
