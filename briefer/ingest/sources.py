"""Ingest and clean: paths or stdin -> ``Source`` models.

Bytes are decoded (UTF-8, else charset-normalizer), HTML goes through trafilatura, and
``clean_text`` sorts the text's paragraphs into the story (``Source.blocks``) and page
furniture (``Source.dropped``) without rewriting ``text``. ``mark_duplicates``
(duplicates.py) flags later copies of the same report by word-shingle containment.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TextIO

from briefer.errors import SourceError
from briefer.ingest.cleaning import clean_text
from briefer.ingest.duplicates import mark_duplicates
from briefer.ingest.reading import (
    DEFAULT_MAX_FILE_BYTES,
    fetch_url,
    is_url,
    read_regular_file,
    read_stream,
)
from briefer.models import DroppedBlock, Source, Span, construct_trusted
from briefer.words import unsupported_script

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
_SUPPORTED_LIST = ", ".join(SUPPORTED_SUFFIXES)
_HTML_SUFFIXES = (".html", ".htm")
# A folder of articles often holds notes about them; these are read only when named.
_PROJECT_FILES = frozenset({"README", "LICENSE", "CHANGELOG", "CONTRIBUTING", "NOTES"})
# How briefer's own outputs start: a Markdown briefing's title is followed by its subtitle
# line ("*For an analyst · 5 sources (4 independent) · 500 words · extractive engine*"), an
# HTML briefing carries a generator tag (render.py writes both; tests keep them in step).
_BRIEFER_MARKDOWN = re.compile(
    r"\A# [^\n]*\r?\n\r?\n\*For [^\n]+ · \d+ sources?(?: \(\d+ independent\))? · \d+ words · "
    r"[^\n]+ engine\*\r?\n"
)
_BRIEFER_HTML = re.compile(r'<meta name="generator" content="briefer\b', re.I)
_OUTPUT_HEAD_BYTES = 4096
_NAMES_SHOWN = 5
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0x09), *range(0x0E, 0x20), 0x7F])  # the same, as bytes
_HTML_START = re.compile(r"\s*<(?:!doctype\s+html|html|head|body|article|div|p)\b", re.I)
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
# Numeric day/month orders are ambiguous (02/06/2025), so only these forms are read.
_DATE = re.compile(
    rf"(?<![a-z])(?:\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH},?\s+\d{{4}}"
    r"|\d{4}年\d{1,2}月\d{1,2}日)"
)
_DATE_FORMATS = ("%Y-%m-%d", "%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y", "%Y年%m月%d日")


def read_sources(
    paths: Sequence[str],
    stdin: TextIO | None = None,
    on_skip: Callable[[SourceError], None] | None = None,
    warn: Callable[[str], None] | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> list[Source]:
    """Return the sources at ``paths`` ("-" is stdin, http(s) URLs are fetched), cleaned,
    numbered S1.. and de-duplicated.

    A file that cannot be read or holds no article text stops the run, unless ``on_skip`` is
    given: it is then told, and the file left out. A path that does not exist or names an
    unsupported type always stops it. Only regular files of at most ``max_file_bytes`` are
    read (the same limit holds for stdin and each URL). ``warn`` is told, in one line each,
    what was read in a way the user should know about (default: printed on stderr).
    """
    warn = warn or print_warning
    seen: set[str] = set()
    sources: list[Source] = []
    resolved_folders: dict[Path, str] = {}
    for raw in paths:
        for shown, path in _expand_path(raw, warn):
            key = _resolved(path, resolved_folders) if path else shown
            if key in seen:
                continue
            seen.add(key)
            try:
                data, html = _read_bytes(shown, path, stdin, max_file_bytes)
                sources.append(_read_source(shown, path, f"S{len(sources) + 1}", data, html, warn))
            except SourceError as error:
                if on_skip is None:
                    raise
                on_skip(error)
    if not sources:
        raise SourceError(", ".join(paths), "no file holds readable article text")
    return mark_duplicates(sources)


def _resolved(path: Path, folders: dict[Path, str]) -> str:
    """Return ``str(path.resolve())``, resolving each folder once (``folders`` caches them).

    A file that is not a symbolic link resolves to its folder's resolved path plus its name
    (one lstat, where resolving the whole path takes one per component).
    """
    if path.is_symlink():
        return str(path.resolve())
    folder = folders.get(path.parent)
    if folder is None:
        folder = folders[path.parent] = str(path.parent.resolve())
    return os.path.join(folder, path.name)


def _expand_path(raw: str, warn: Callable[[str], None]) -> list[tuple[str, Path | None]]:
    if raw == "-":
        return [("<stdin>", None)]
    if is_url(raw):
        return [(raw, None)]
    path = Path(raw)
    if path.is_dir():
        try:
            found = [
                f
                for f in path.rglob("*")
                if f.suffix.lower() in SUPPORTED_SUFFIXES
                and not any(part.startswith(".") for part in f.relative_to(path).parts)
                and f.stem.upper() not in _PROJECT_FILES
                and f.is_file()
            ]
        except OSError as exc:
            raise SourceError(raw, f"cannot list directory ({exc.strerror or exc})") from exc
        if not found:
            raise SourceError(raw, f"directory holds no supported files ({_SUPPORTED_LIST})")
        ordered = sorted(found, key=lambda f: f.relative_to(path).as_posix())
        ours = [f for f in ordered if _is_briefer_output(f)]
        if ours:
            names = ", ".join(f.relative_to(path).as_posix() for f in ours[:_NAMES_SHOWN])
            more = f" and {len(ours) - _NAMES_SHOWN} more" if len(ours) > _NAMES_SHOWN else ""
            warn(
                f"{raw}: skipped {len(ours)} briefing{'s' if len(ours) != 1 else ''} that "
                f"briefer wrote, not articles ({names}{more}); name a file to read it anyway"
            )
            if len(ours) == len(ordered):
                raise SourceError(raw, "directory holds only briefings briefer wrote, no articles")
        skipped = set(ours)
        return [(str(f), f) for f in ordered if f not in skipped]
    if not path.exists():
        raise SourceError(raw, "no such file or directory")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        kind = f"'{path.suffix}'" if path.suffix else "(no extension)"
        raise SourceError(raw, f"unsupported file type {kind}; supported: {_SUPPORTED_LIST}")
    return [(raw, path)]


def _is_briefer_output(path: Path) -> bool:
    """Tell whether ``path`` is a briefing briefer wrote, which a directory walk must not brief.

    Recognised by the example layout (``golden/`` beside a ``case.toml``) or by the file's
    head: the subtitle line of a Markdown briefing, the generator tag of an HTML one.
    """
    if path.parent.name == "golden" and (path.parent.parent / "case.toml").is_file():
        return True
    try:
        with path.open("rb") as file:
            head = file.read(_OUTPUT_HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return False  # reading it properly will report the problem
    return bool(_BRIEFER_MARKDOWN.search(head) or _BRIEFER_HTML.search(head))


def print_warning(message: str) -> None:
    """Print ``message`` on stderr as one briefer warning line."""
    print(f"briefer: warning: {message}", file=sys.stderr)


def _read_bytes(
    shown: str, path: Path | None, stdin: TextIO | None, max_bytes: int
) -> tuple[bytes, bool | None]:
    """Return the raw bytes of a file, URL or stdin, and whether they are HTML (None: sniff)."""
    if path is not None:
        return read_regular_file(path, shown, max_bytes), path.suffix.lower() in _HTML_SUFFIXES
    if is_url(shown):
        page = fetch_url(shown, max_bytes)
        return page.data, page.is_html
    return read_stream(stdin if stdin is not None else sys.stdin, shown, max_bytes), None


def _read_source(
    shown: str,
    path: Path | None,
    source_id: str,
    data: bytes,
    html: bool | None,
    warn: Callable[[str], None],
) -> Source:
    text, encoding = _decode(data, shown, warn)
    html_title, html_date = None, None
    if bool(_HTML_START.match(text)) if html is None else html:
        if _too_deep_for_extractor(text):
            depth, text = _plain_text(text)
            warn(
                f"{shown}: HTML nested {depth} levels deep, beyond the {_HTML_MAX_DEPTH} the "
                "main-text extractor reads; the page's plain text was used instead"
            )
        else:
            text, html_title, html_date = _extract_html(text)
    if script := unsupported_script(text):
        raise SourceError(
            shown,
            f"the text is in {script} script, which briefer cannot yet split into words and "
            "sentences (supported: scripts written with spaces, such as Latin, Cyrillic, Greek, "
            "Arabic, Hebrew, Devanagari and Hangul, and Chinese and Japanese)",
        )
    blocks, dropped, title = clean_text(text)
    if not blocks:
        raise SourceError(shown, _why_no_story(text, dropped))
    # Built without validation: every field is ours, of its declared type (the id S<n>).
    return construct_trusted(
        Source,
        _SOURCE_FIELDS,
        id=source_id,
        title=html_title or title or (path.stem if path else shown.strip("<>")),
        origin=shown,
        text=text,
        blocks=blocks,
        dropped=dropped,
        encoding=encoding,
        sha256=hashlib.sha256(data).hexdigest(),
        published=_parse_date(html_date or "") or _dateline(text, blocks, dropped),
    )


# The fields _read_source builds a Source with: one set shared by every source (as chunking
# does for its models), not a set per file.
_SOURCE_FIELDS = {
    "id",
    "title",
    "origin",
    "text",
    "blocks",
    "dropped",
    "encoding",
    "sha256",
    "published",
}


def _decode(data: bytes, shown: str, warn: Callable[[str], None]) -> tuple[str, str]:
    bom = next((name for mark, name in _BOMS if data.startswith(mark)), None)
    controls: int | None = None  # how many control characters the text holds, once known
    try:
        if bom is not None:
            text, encoding = data.decode(bom), bom.removesuffix("-sig")
        elif b"\x00" in data:  # NUL never occurs in 8-bit or UTF-8 text files
            raise UnicodeError
        else:
            try:
                text, encoding = data.decode("utf-8"), "utf-8"
                # In valid UTF-8 a control character is its own single byte, and no byte of a
                # longer character is below 0x80: count them in the bytes, at C speed.
                controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
            except UnicodeDecodeError as exc:
                if _has_utf8_sequences(data):
                    text, encoding = _decode_damaged_utf8(data, exc.start, shown, warn), "utf-8"
                else:
                    import charset_normalizer  # here: 30 ms, and most files are UTF-8

                    match = charset_normalizer.from_bytes(data).best()
                    if match is None:
                        raise UnicodeError from None
                    text, encoding = str(match), match.encoding
    except UnicodeError:
        raise SourceError(shown, "binary or undecodable content, not a text file") from None
    if controls is None:
        controls = len(_CONTROL.findall(text))
    if controls > len(text) / 100:
        raise SourceError(shown, "binary or undecodable content, not a text file")
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_REPLACEMENT = "\ufffd"


def _has_utf8_sequences(data: bytes) -> bool:
    """Tell whether ``data`` holds a well-formed multi-byte UTF-8 sequence.

    Text in a legacy 8-bit encoding practically never does, so such a file is UTF-8 with
    damaged bytes, not a file in another encoding.
    """
    return any(m[0].decode("utf-8", errors="ignore") for m in _UTF8_MULTIBYTE.finditer(data))


def _decode_damaged_utf8(
    data: bytes, first_bad: int, shown: str, warn: Callable[[str], None]
) -> str:
    """Return ``data`` decoded as UTF-8 with U+FFFD for invalid bytes, and say where they are."""
    text = data.decode("utf-8", errors="replace")
    damaged = text.count(_REPLACEMENT) - data.decode("utf-8", errors="ignore").count(_REPLACEMENT)
    more = f" and {damaged - 1} more place{'s' if damaged > 2 else ''}" if damaged > 1 else ""
    warn(
        f"{shown}: invalid UTF-8 at byte {first_bad}{more}; "
        "decoded as UTF-8 with U+FFFD replacement characters"
    )
    return text


def _why_no_story(text: str, dropped: list[DroppedBlock]) -> str:
    """Return why ``text`` gave no story, for the one-line error."""
    if not text.strip():
        return "no text found (the file is empty, or holds only markup)"
    reasons = {block.reason for block in dropped}
    if reasons and reasons <= {"table", "code"}:
        what = " and ".join(
            kind for kind, reason in (("a table", "table"), ("code", "code")) if reason in reasons
        )
        return (
            f"no article prose found: the file holds only {what} "
            "(Markdown tables and code blocks are not briefed)"
        )
    return "no article text found: every line looks like page furniture (menus, captions, links)"


_HTML_MAX_DEPTH = 255  # libxml2's default nesting limit, which trafilatura's parser keeps
# fmt: off
_HTML_VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
})
_HTML_HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "svg"})
_HTML_BLOCK = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
})
# fmt: on


class _PlainText(HTMLParser):
    """The text of an HTML page, a paragraph per block element, and its nesting depth."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.depth = self.max_depth = self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_VOID:
            self.depth += 1
            self.max_depth = max(self.max_depth, self.depth)
            self.hidden += tag in _HTML_HIDDEN
        if tag in _HTML_BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag not in _HTML_VOID:
            self.depth = max(0, self.depth - 1)
            self.hidden = max(0, self.hidden - (tag in _HTML_HIDDEN))
        if tag in _HTML_BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _too_deep_for_extractor(page: str) -> bool:
    """Tell whether libxml2, under trafilatura, would cut ``page`` off at its depth limit."""
    if page.count("<") <= _HTML_MAX_DEPTH:
        return False  # too few tags to nest that deep
    from lxml import etree

    parser = etree.HTMLParser()
    etree.fromstring(page, parser)
    return any("Excessive depth" in error.message for error in parser.error_log)


def _plain_text(page: str) -> tuple[int, str]:
    """Return the nesting depth of ``page`` and its text, a paragraph per block element."""
    parser = _PlainText()
    parser.feed(page)
    parser.close()
    paragraphs = (" ".join(p.split()) for p in "".join(parser.parts).split("\n\n"))
    return parser.max_depth, "\n\n".join(p for p in paragraphs if p)


def _extract_html(html: str) -> tuple[str, str | None, str | None]:
    import trafilatura  # imported here: it costs ~0.15 s and most inputs are plain text

    doc = trafilatura.bare_extraction(html, include_comments=False, with_metadata=True)
    if doc is None:
        return "", None, None
    body = getattr(doc, "text", None) or ""
    lines = (line.strip() for line in body.splitlines())
    text = "\n\n".join(line for line in lines if line)
    return text, getattr(doc, "title", None) or None, getattr(doc, "date", None) or None


def _dateline(text: str, blocks: list[Span], dropped: list[DroppedBlock]) -> date | None:
    """Return the publication date printed above the story (a dateline or byline), if any."""
    story_start = blocks[0].start if blocks else len(text)
    for block in dropped:
        if block.end <= story_start and (found := _parse_date(text[block.start : block.end])):
            return found
    return None


def _parse_date(text: str) -> date | None:
    """Return the first unambiguous date in ``text``: ISO, or with the month spelled out."""
    for match in _DATE.finditer(text):
        raw = " ".join(match.group(0).replace(",", " ").replace(".", "").split())
        raw = raw.replace("Sept ", "Sep ")
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(raw, fmt).date()
            except ValueError:
                continue
    return None
