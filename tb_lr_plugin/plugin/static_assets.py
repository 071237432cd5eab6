"""The frontend's files, read from the installed package, safely.

The LR tab's ES modules ship as package data in `tb_lr_plugin/static`, so
they are found through `importlib.resources` wherever the package is
installed (a wheel, an editable checkout, a zip). A request names a file by
a relative path; anything that could leave the static directory (`..`,
absolute or Windows paths, hidden files, symbolic links pointing out) is
answered as missing. MIME types come from a fixed table, not from the
operating system's registry (which on some systems maps `.js` to
`text/plain`, and browsers refuse to run a module served so).

Example:
    >>> content_type("index.js")
    'text/javascript'
    >>> read_asset("../pyproject.toml")
    Traceback (most recent call last):
    ...
    tb_lr_plugin.plugin.static_assets.AssetNotFoundError: no static file '../pyproject.toml'
"""

from __future__ import annotations

import importlib.resources
import os
import posixpath
from importlib.abc import Traversable

STATIC_PACKAGE = "tb_lr_plugin"
STATIC_DIRECTORY = "static"

# Only what ships: the frontend's modules and style sheets.
MIME_TYPES = {".js": "text/javascript", ".css": "text/css"}
DEFAULT_MIME_TYPE = "application/octet-stream"


class AssetNotFoundError(LookupError):
    """The path names no file inside the static directory: answered with HTTP 404.

    Example:
        >>> isinstance(AssetNotFoundError("no static file 'x'"), LookupError)
        True
    """


def static_root() -> Traversable:
    """The installed static directory.

    Example:
        >>> static_root().name
        'static'
    """
    return importlib.resources.files(STATIC_PACKAGE).joinpath(STATIC_DIRECTORY)


def content_type(path: str) -> str:
    """The MIME type to serve `path` with, from its extension.

    Example:
        >>> content_type("vendor/uplot/uPlot.min.css"), content_type("vendor/uplot/LICENSE")
        ('text/css', 'application/octet-stream')
    """
    return MIME_TYPES.get(posixpath.splitext(path)[1].lower(), DEFAULT_MIME_TYPE)


def read_asset(path: str, root: Traversable | None = None) -> tuple[bytes, str]:
    """The bytes and MIME type of the static file at relative `path`.

    Args:
        path: A `/`-separated path relative to the static directory, already
            percent-decoded (as werkzeug gives it).
        root: The static directory; the installed one by default.

    Raises:
        AssetNotFoundError: when `path` is not a file inside the directory.

    Example:
        >>> read_asset("index.js")[1]
        'text/javascript'
    """
    root = static_root() if root is None else root
    parts = path.split("/")
    if not path or any(not _safe_part(part) for part in parts):
        raise AssetNotFoundError(f"no static file {path!r}")
    resource = root.joinpath(*parts)
    if isinstance(resource, os.PathLike):
        # A symbolic link inside the directory must not lead out of it.
        real_root = os.path.realpath(os.fspath(root))
        real = os.path.realpath(os.fspath(resource))
        if os.path.commonpath([real_root, real]) != real_root:
            raise AssetNotFoundError(f"no static file {path!r}")
    try:
        if not resource.is_file():
            raise AssetNotFoundError(f"no static file {path!r}")
        return resource.read_bytes(), content_type(path)
    except OSError:
        raise AssetNotFoundError(f"no static file {path!r}") from None


def _safe_part(part: str) -> bool:
    # Hidden names also rule out "." and ".."; "\\" and ":" are Windows separators.
    return bool(part) and not part.startswith(".") and not any(c in part for c in "\\:\0")
