"""Keep credentials out of everything briefer shows or writes: errors, config, logs, files.

A credential can reach briefer in two places: the API key, and the base URL, which may carry
``user:password@`` or a key in its query string (``?api_key=...``). ``mask_url`` is how a URL
is shown anywhere (``briefer config``, errors); ``redact`` removes every known secret value
from a text (a server's error message may echo the URL); ``RedactingFilter`` does the same to
log records of the HTTP libraries, which print the full request URL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote

MASK = "******"
_QUERY_VALUE = re.compile(r"([?&;#][^=&;#]*=)[^&;#]*")
_MIN_SECRET = 4  # shorter query values ("v=1") would mask ordinary text everywhere


def _split_url(url: str) -> tuple[str, str, str]:
    """Return ``(scheme://, authority, rest)``; the authority may hold ``userinfo@``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    else:
        scheme += sep
    end = next((i for i, char in enumerate(rest) if char in "/?#"), len(rest))
    return scheme, rest[:end], rest[end:]


def mask_url(url: str) -> str:
    """Return ``url`` with its userinfo and every query value replaced by ``******``."""
    scheme, authority, rest = _split_url(url)
    if "@" in authority:
        authority = f"{MASK}@{authority.rpartition('@')[2]}"
    return scheme + authority + _QUERY_VALUE.sub(rf"\g<1>{MASK}", rest)


def strip_userinfo(url: str) -> str:
    """Return ``url`` without the ``user:password@`` part of its authority."""
    scheme, authority, rest = _split_url(url)
    return scheme + authority.rpartition("@")[2] + rest


def url_secrets(url: str) -> list[str]:
    """Return the secret parts of ``url``: its userinfo (whole and split) and query values."""
    _, authority, rest = _split_url(url)
    found: list[str] = []
    if "@" in authority:
        userinfo = authority.rpartition("@")[0]
        found += [userinfo, *userinfo.split(":", 1)]
    found += [match.group(0).split("=", 1)[1] for match in _QUERY_VALUE.finditer(rest)]
    decoded = [unquote(value) for value in found]
    return [value for value in dict.fromkeys(found + decoded) if len(value) >= _MIN_SECRET]


def redact(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` with every value of ``secrets`` (longest first) replaced by ``******``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with ``secrets`` removed (it never drops a record)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), self.secrets)
            record.args = None
        return True


# Loggers that print request URLs: the HTTP library logs every request at INFO (openai turns
# it on with OPENAI_LOG=info), openai's client logs the URL at DEBUG. Matched by prefix, since
# the HTTP library's name varies between openai releases (httpx, httpx2).
LOGGER_PREFIXES = ("httpx", "httpcore", "openai", "briefer")


def _url_loggers() -> list[logging.Logger]:
    names = {*LOGGER_PREFIXES, *logging.root.manager.loggerDict}
    return [logging.getLogger(n) for n in sorted(names) if n.startswith(LOGGER_PREFIXES)]


def install_log_redaction(secrets: Iterable[str]) -> RedactingFilter:
    """Attach a ``RedactingFilter`` for ``secrets`` to every logger that may print them.

    Call it after the HTTP library is imported, so that its loggers exist.
    """
    log_filter = RedactingFilter(secrets)
    for logger in _url_loggers():
        logger.addFilter(log_filter)
    return log_filter


def remove_log_redaction(log_filter: RedactingFilter) -> None:
    """Detach a filter that ``install_log_redaction`` attached."""
    for logger in _url_loggers():
        logger.removeFilter(log_filter)


def split_query(url: str) -> tuple[str, dict[str, str]]:
    """Return ``url`` without its query string, and the query's parameters.

    The openai client appends request paths after a base URL's query (``/v1?k=v/chat/...``),
    so parameters given in a base URL are sent as its ``default_query`` instead.
    """
    base, _, query = url.partition("?")
    return base, dict(parse_qsl(query, keep_blank_values=True))
