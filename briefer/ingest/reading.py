"""Bytes in, safely: regular files only, stdin and http(s) URLs, all under a size limit.

- ``read_regular_file``: opens without blocking (a FIFO never hangs the run), then checks
  what it opened (``fstat``, so a file swapped after a check cannot slip through) and reads
  at most the limit. Symlinks to regular files are followed; devices, FIFOs and sockets are
  refused, naming what they are.
- ``read_stream``: stdin, at most the limit.
- ``fetch_url``: one GET with a time limit, the same size limit, and no credentials of any
  kind: no API key, no cookies, no ``.netrc``, no ``user:password@`` in the URL.
"""

from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO
from urllib.parse import urlsplit

from briefer import __version__
from briefer.errors import SourceError

if TYPE_CHECKING:  # the network modules load only when a URL is fetched
    import urllib.request

MEGABYTE = 1_000_000
DEFAULT_MAX_FILE_MB = 20.0
DEFAULT_MAX_FILE_BYTES = int(DEFAULT_MAX_FILE_MB * MEGABYTE)
MAX_FILE_FLAG = "--max-file-size"
MAX_FILE_ENV = "BRIEFER_MAX_FILE_SIZE"
FETCH_TIMEOUT_S = 30.0
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown"})
_READ_PIECE = 1 << 16
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


@dataclass(frozen=True)
class FetchedPage:
    """The body of a fetched URL and whether it is HTML (else plain text or Markdown)."""

    data: bytes
    is_html: bool


def file_kind(mode: int) -> str:
    """Return what a ``st_mode`` names, as a user would say it ("a character device")."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def too_large(shown: str, size: int | None, max_bytes: int) -> SourceError:
    """Return the error for a source over the limit (``size`` None: it had no end in sight)."""
    limit = f"{max_bytes / MEGABYTE:g} MB"
    if size is None:
        amount = f"more than {limit}"
    else:
        amount = f"{size / MEGABYTE:.1f} MB" if size >= MEGABYTE else f"{size:,} bytes"
    return SourceError(
        shown,
        f"{amount} is over the {limit} limit per file; "
        f"raise it with {MAX_FILE_FLAG} (or {MAX_FILE_ENV})",
    )


def read_regular_file(path: Path, shown: str, max_bytes: int) -> bytes:
    """Return the bytes of the regular file at ``path`` (symlinks followed).

    Raises:
        SourceError: it cannot be opened, is not a regular file, or is over ``max_bytes``.
    """
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise SourceError(shown, f"cannot read file ({exc.strerror or exc})") from exc
    with open(fd, "rb", closefd=True) as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(
                shown,
                f"is {file_kind(info.st_mode)}, not a regular file; briefer reads only "
                "regular files",
            )
        if info.st_size > max_bytes:
            raise too_large(shown, info.st_size, max_bytes)
        try:
            # One allocation of the expected size; a byte more tells a file that grew.
            data = handle.read(info.st_size + 1)
        except OSError as exc:
            raise SourceError(shown, f"cannot read file ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise too_large(shown, None, max_bytes)
    return data


def read_stream(stream: TextIO | BinaryIO, shown: str, max_bytes: int) -> bytes:
    """Return at most ``max_bytes`` of ``stream`` (its binary buffer when it has one).

    Raises:
        SourceError: the stream holds more than ``max_bytes``.
    """
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        data: bytes = buffer.read(max_bytes + 1)
    else:
        raw = stream.read(max_bytes + 1)
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise too_large(shown, None, max_bytes)
    return data


def url_scheme(raw: str) -> str | None:
    """Return the lower-cased scheme of ``raw`` if it is written as a URL (``x://``), else None."""
    match = _URL_SCHEME.match(raw)
    return match.group(1).lower() if match else None


def is_url(raw: str) -> bool:
    """Tell whether ``raw`` is an argument to fetch rather than a path (any ``scheme://``)."""
    return url_scheme(raw) is not None


def _opener() -> urllib.request.OpenerDirector:
    import urllib.error
    import urllib.request
    from email.message import Message

    class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
        """Follow redirects only to http(s) URLs without credentials."""

        def redirect_request(
            self,
            req: urllib.request.Request,
            fp: object,
            code: int,
            msg: str,
            headers: Message,
            newurl: str,
        ) -> urllib.request.Request | None:
            parts = urlsplit(newurl)
            if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc:
                scheme = parts.scheme or "another"
                raise urllib.error.URLError(
                    f"redirected to a {scheme}: URL; only http(s) is followed"
                )
            return super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]

    # Built by hand: no FileHandler, FTPHandler or DataHandler, no cookie or auth handlers.
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),  # the user's *_proxy settings, as any client honours
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        _HttpOnlyRedirects(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def fetch_url(url: str, max_bytes: int, timeout: float = FETCH_TIMEOUT_S) -> FetchedPage:
    """Return the body of the http(s) ``url``, read within ``timeout`` seconds in all.

    Raises:
        SourceError: another scheme, credentials in the URL, the server cannot be reached or
            answers with an error, the body is over ``max_bytes``, not HTML or text, or slow.
    """
    import urllib.error
    import urllib.request

    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise SourceError(url, "only http:// and https:// URLs are fetched")
    if "@" in parts.netloc:
        shown = parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
        raise SourceError(
            shown, "briefer sends no credentials; remove the user:password@ part of the URL"
        )
    request = urllib.request.Request(
        url,
        headers={
            "User-Agent": f"briefer/{__version__}",
            "Accept": "text/html, application/xhtml+xml, text/plain;q=0.9, text/markdown;q=0.9",
        },
    )
    deadline = time.monotonic() + timeout
    try:
        with _opener().open(request, timeout=timeout) as response:
            kind = response.headers.get_content_type()
            if kind not in _HTML_TYPES | _TEXT_TYPES:
                raise SourceError(url, f"is not HTML or text (content type {kind})")
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise too_large(url, int(length), max_bytes)
            data = _read_until(response, url, max_bytes, deadline, timeout)
            charset = response.headers.get_content_charset()
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection
        raise SourceError(url, f"cannot fetch (HTTP {exc.code} {exc.reason})") from None
    except urllib.error.URLError as exc:
        raise SourceError(url, f"cannot fetch ({_reason(exc.reason)})") from None
    except (OSError, ValueError) as exc:  # timeouts and resets while reading, bad ports
        raise SourceError(url, f"cannot fetch ({_reason(exc)})") from None
    return FetchedPage(data=_to_utf8(data, charset), is_html=kind in _HTML_TYPES)


def _read_until(
    response: BinaryIO, url: str, max_bytes: int, deadline: float, timeout: float
) -> bytes:
    pieces: list[bytes] = []
    size = 0
    while piece := response.read(_READ_PIECE):
        size += len(piece)
        if size > max_bytes:
            raise too_large(url, None, max_bytes)
        if time.monotonic() > deadline:
            raise SourceError(url, f"cannot fetch (not received in full within {timeout:g} s)")
        pieces.append(piece)
    return b"".join(pieces)


def _reason(reason: object) -> str:
    import socket
    import ssl

    if isinstance(reason, socket.timeout | TimeoutError):
        return "no answer in time"
    if isinstance(reason, socket.gaierror):
        return "host not found; are you offline?"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {reason.reason or reason}"
    if isinstance(reason, OSError):
        return reason.strerror or str(reason) or type(reason).__name__
    return str(reason)


def _to_utf8(data: bytes, charset: str | None) -> bytes:
    """Return ``data`` as UTF-8 when the server declared another charset that decodes it."""
    if not charset or charset.lower().replace("_", "-") in ("utf-8", "utf8", "us-ascii"):
        return data
    try:
        return data.decode(charset).encode("utf-8")
    except (LookupError, UnicodeDecodeError):
        return data  # a wrong declaration: let detection decide
