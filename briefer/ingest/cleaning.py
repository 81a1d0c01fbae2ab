"""Cleaning: a page's text -> the story's blocks and the page furniture dropped around it.

``clean_text`` never rewrites the text: it sorts lines and paragraphs into kept story
blocks (spans) and dropped blocks with a reason ("navigation", "related-articles", ...), and
finds the headline. The rules are general (sentence shape, phrase lists, trailer headings
after which nothing is story), never tied to one site.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from briefer.models import DroppedBlock, Span, construct_trusted
from briefer.words import SENTENCE_END, count_words, is_uncased_letter

_WORD = re.compile(r"\w+")
_SPAN_FIELDS = {"start", "end"}
_DROPPED_FIELDS = {"start", "end", "reason"}
_CLOSE = "\"'\u201d\u2019\u00bb)\\]*_\u300d\u300f\uff09"  # may follow a sentence's final mark
_KEY_STRIP = " .:!?" + SENTENCE_END + _CLOSE.replace("\\", "")
_BULLET = r"(?:[-*+\u2022\u00b7\u25aa\u25cf\u25e6\u2023\u2219\u2013]|\d{1,2}[.)])"
_TERMINAL = re.compile(rf"[{SENTENCE_END}][{_CLOSE}]*$")
_ELLIPSIS = re.compile(rf"(?:\.\.\.|\u2026)[{_CLOSE}]*$")
_MARKER = re.compile(rf"^(?:#{{1,6}}\s+|>\s*|{_BULLET}\s+)")
_STRUCTURAL = re.compile(rf"^(?:[#>|]|!\[|```|{_BULLET}\s)")
_QUOTE = re.compile(r"[\"\u201c\u201d\u00ab\u00bb]|(?<!\w)['\u2018]\w")
_ATTRIBUTION = re.compile(r"\b(?:said|says|told|tells|according|reported|announced|added)\b")
_SENTENCE_BREAK = re.compile(r"[.!?][\"'\u201d\u2019)]*\s+[A-Z\u201c\"]")

# All patterns run on the lower-cased line: case-insensitive matching is much slower.
# _STRONG patterns are specific enough to drop even a sentence-like line (of at most
# _STRONG_MAX_WORDS words). Each runs only if one of its keywords occurs, for speed.
_STRONG_MAX_WORDS = 40
# fmt: off
_STRONG = [
    ("related-teaser", ("related", "read more", "read next", "see also", "also read"), re.compile(
        r"^(?:related (?:articles?|stor(?:y|ies)|content|coverage|reading)\b"
        r"|(?:related|read more|read next|see also|also read)\s*[:|\u2013\u2014-])")),
    ("subscribe", ("subscri", "sign up", "inbox", "free updates"), re.compile(
        r"\b(?:subscribe|sign up)\b.{0,60}\b(?:newsletter|digest|inbox|updates)\b"
        r"|\bdelivered (?:directly )?to your inbox\b|\bfree updates\b")),
    ("comment-prompt", ("reply", "comment", "published", "required fields"), re.compile(
        r"\bleave a (?:reply|comment)\b|\badd a comment\b|\bno comments yet\b|\bemail address "
        r"will not be published\b|\brequired fields are marked\b|\bbe the first to comment\b"
        r"|\bcomments are closed\b")),
    ("disclaimer", ("expressed", "reflect", "informational", "advice"), re.compile(
        r"\b(?:views|opinions) expressed\b|\bdo(?:es)? not (?:necessarily )?reflect the "
        r"(?:views?|opinions?|position)\b|\bfor informational purposes only\b"
        r"|\bnot (?:financial|investment|legal) advice\b")),
    ("footer", ("\u00a9", "copyright", "rights reserved", "download", "版权", "版權"), re.compile(
        r"\u00a9|^copyright\b|\bcopyright (?:\u00a9\s*)?\d{4}\b|\ball rights reserved\b"
        r"|版权所有|版權所有"
        r"|\bdownload (?:our|the) app\b")),
    ("caption", ("photo", "image", "picture", "getty", "credit"), re.compile(
        r"\((?:photo|image|picture)s?\b|\b(?:photo|image|picture)\s*(?:by|credit|courtesy)\b"
        r"|\bgetty images\b|\bap photo\b|^(?:photo|image|credit)\s*:")),
    ("caption", ("图", "圖", "摄", "攝", "写真"), re.compile(
        r"^[（(]?(?:图片?|圖片?|摄影|攝影|写真)\s*(?:来源|來源)?\s*[:：]|记者摄|記者攝")),
]
_SOCIAL = {"facebook", "twitter", "instagram", "linkedin", "pinterest", "whatsapp", "telegram",
           "tumblr", "reddit", "email", "x", "flipboard", "youtube", "tiktok"}
# Only for lines that are not sentences anyway: these pick the reason they are dropped for.
_WEAK = [(reason, re.compile(pattern)) for reason, pattern in [
    ("byline", r"^by\s+\S|\bmins? read\b|\d\s*views$|\b(?:reporting|writing|editing) by\b"
               r"|^(?:责任编辑|責任編輯|编辑|編輯|记者|記者|作者|来源|來源|出典)\s*[:：]"),
    ("dateline", r"\d\s*(?:seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?)\s+ago\b"
                 r"|\ban? (?:hour|day|minute|week) ago\b|^[\w .,&'()-]{1,40}\s*[\u2014\u2013]$"
                 r"|^\W*(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|(?:jan|feb|mar|apr|may|jun|jul|aug"
                 r"|sep|oct|nov|dec)[a-z]*\.? \d{1,2},? \d{4}|\d{4}年\d{1,2}月\d{1,2}日)"),
    ("image-url", r"^!\[|^(?:https?://|www\.)\S+(?:\.(?:jpe?g|png|gif|webp|avif|svg)\b"
                  r"|/(?:images?|photos?|media)/)\S*$"),
    ("url", r"^(?:https?://|www\.)\S+$"),
    ("breadcrumb", r"^(?:home|首页|首頁|ホーム|главная)\s*[\u00bb>\u203a/|]"),
    ("site-name", r"\s\|\s"),
    ("follow", r"\bfollow\b|\bgoogle news\b"),
    ("share", r"\bshare\b|\bcopy link\b|^分享到|^シェア"),
    ("subscribe", r"\bsubscribe\b|\bnewsletter\b|\bsign up\b|\bstay updated\b"),
    ("comment-prompt", r"\bcomments?\b|\breply\b"),
    ("footer", r"\bprivacy policy\b|\bterms (?:of|&|and)\b|\bcookies?\b|\bdesigned by\b"
               r"|\bpowered by\b|\b(?:app|play)[- ]?store|\bgoogle play\b|\bdmca\b"
               r"|\b(?:about|contact) us\b|\badvertise\b|\bpress (?:enter|esc)\b"),
    ("prev-next", r"^(?:previous|next|prev)\s*(?:article|post|story)"),
    ("author-box", r"^about (?:the )?author\b"),
    ("source-link", r"^source(?: link)?\s*(?::|$)|^original article source\b"),
    ("related-teaser", r"^(?:read more|continue reading|see more)$"),
    ("advert", r"^(?:advertisement|sponsored(?: content)?|ad)\b"),
    ("promo", r"^(?:try|explore|discover|get started|download|install|watch|listen|click)\b"),
    ("navigation", r"^(?:close |open )?menu$|^(?:home|search|logo|skip to (?:main )?content"
                   r"|toggle navigation|sections?|log ?in|sign ?in|website)$"),
]]
# A heading after which the rest of the page is not the story: (heading reason, rest reason).
_TRAILERS = [(re.compile(pattern), heading, rest) for pattern, heading, rest in [
    # In Chinese, Japanese, Russian and Arabic too: "related news", "read also", "recommended".
    (r"相关(?:新闻|阅读|文章|报道|推荐)|相關(?:新聞|閱讀|文章|報導)|延伸阅读|推荐阅读|热门(?:新闻|文章)"
     r"|関連(?:記事|ニュース)|あわせて読みたい|читайте также|похожие (?:новости|статьи)"
     r"|по теме|اقرأ أيضا|اقرأ أيضاً|مواضيع ذات صلة|أخبار ذات صلة",
     "related-articles", "related-articles"),
    (r"related(?: articles?| posts?| stories| news| content| coverage| reading)?"
     r"|more (?:from|on|stories|news|articles)\b.*|you (?:may|might) (?:also )?like"
     r"|recommended(?: for you| articles| stories)?|most (?:read|popular|viewed)"
     r"|(?:top|popular|trending|latest|recent) (?:posts|stories|news|articles)|trending(?: now)?"
     r"|don'?t miss|(?:our|editor'?s) picks|what'?s hot|read next|up next",
     "related-articles", "related-articles"),
    (r"(?:\d+ )?comments?|leave a (?:reply|comment).*|add a comment"
     r"|join the (?:conversation|discussion)", "comment-prompt", "comments"),
    (r"about (?:the )?author", "author-box", "author-box"),
    (r"source link|original article source\b.*", "source-link", "after-story"),
    (r"(?:previous|next|prev)\s*(?:article|post|story)\b.*", "prev-next", "after-story"),
]]
# A fenced code block (``` or ~~~, closed by the same fence or the end of the text) and a
# table row ("| a | b |" or its "|---|" delimiter).
_FENCED_CODE = re.compile(
    r"^[ \t]{0,3}(`{3,}|~{3,})[^\n]*(?:\n.*?)??(?:\n[ \t]{0,3}\1[ \t]*$|\Z)", re.M | re.S
)
_TABLE_ROW = re.compile(r"\|[^\n]*\|[ \t]*$|\|?[ \t]*:?-{3,}:?[ \t]*\|", re.M)
# "Smoke rises after a drone attack in the Murmansk region, on Sunday.": news prose is told in
# the past tense, a photo caption in the present, and it ends by saying when the photo was taken.
_PHOTO_CAPTION = re.compile(
    r"^(?:(?!(?:to|will|would|could|can|may|might|should|must|did|not)\s)\S+\s+){1,7}"
    r"(?:rises?|billows?|burns?|stands?|sits?|walks?|looks? on|gestures?|speaks?|arrives?"
    r"|attends?|holds?|waves?|poses?|waits?|gathers?|march(?:es)?|prays?|mourns?|inspects?"
    r"|patrols?|carr(?:y|ies)|clears?|works?|lies|lie|rests?|shakes? hands|takes? part|reacts?"
    r"|smiles?|listens?|greets?|kneels?|weeps?|embraces?|hugs?|salutes?|rides?|fires?|lays?"
    r"|(?:is|are) (?:seen|pictured)|pictured)\b"
    r".*\b(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|(?:jan|febr)uary|march|april|may|june"
    r"|july|august|(?:sept|nov|dec)ember|october|\d{4})\b[^.!?]{0,25}[.]$"
)
# fmt: on


class _Unit(NamedTuple):
    start: int
    end: int
    flat: str  # text[start:end] without list/heading markers, whitespace collapsed
    low: str  # flat, lower-cased, with typographic apostrophes made plain
    key: str  # low without closing punctuation, to compare lines
    words: int
    bullet: bool
    prose: bool  # several words ending like a sentence
    strong: str | None  # the reason from _STRONG, if any
    trailer: tuple[str, str] | None  # (heading reason, reason for the rest) from _TRAILERS


def clean_text(text: str) -> tuple[list[Span], list[DroppedBlock], str | None]:
    """Return the story blocks of ``text``, the dropped furniture blocks and the headline.

    Markdown tables and fenced code blocks are dropped as "table" and "code": they are not
    prose a briefing can quote as statements.
    """
    units = _mark_markdown_blocks(text, _split_units(text))
    start = _find_story_start(units)
    reasons: list[str | None] = ["header"] * len(units)
    title = _label_header(units[:start] if start is not None else units, reasons)
    if start is not None:
        _label_story(units, start, title, reasons)
    # Built without validation: units are ordered spans of the text, reasons our own words.
    blocks = [
        construct_trusted(Span, _SPAN_FIELDS, start=u.start, end=u.end)
        for u, r in zip(units, reasons, strict=True)
        if not r
    ]
    dropped = [
        construct_trusted(DroppedBlock, _DROPPED_FIELDS, start=u.start, end=u.end, reason=r)
        for u, r in zip(units, reasons, strict=True)
        if r
    ]
    return blocks, dropped, title


def _mark_markdown_blocks(text: str, units: list[_Unit]) -> list[_Unit]:
    """Return ``units`` with the rows of Markdown tables and the lines of code marked."""
    # A fence is three backticks or tildes: a text without either has none (and the search
    # tries every line).
    fenced = "```" in text or "~~~" in text
    fences = [(m.start(), m.end()) for m in _FENCED_CODE.finditer(text)] if fenced else []
    if not fences and "|" not in text:
        return units
    marked: list[_Unit] = []
    for unit in units:
        if any(start <= unit.start < end for start, end in fences):
            unit = unit._replace(strong="code", prose=False, trailer=None)
        elif _TABLE_ROW.match(text, unit.start, unit.end):
            unit = unit._replace(strong="table", prose=False, trailer=None)
        marked.append(unit)
    return marked


def _split_units(text: str) -> list[_Unit]:
    """Split into trimmed lines, joining the lines of hard-wrapped paragraphs and list items."""
    paragraphs: list[list[tuple[int, int]]] = [[]]
    pos = 0
    for line in text.split("\n"):
        body = line.strip()
        if body:
            first = pos + len(line) - len(line.lstrip())
            paragraphs[-1].append((first, first + len(body)))
        elif paragraphs[-1]:
            paragraphs.append([])
        pos += len(line) + 1
    units: list[_Unit] = []
    for para in paragraphs:
        lines = [text[s:e] for s, e in para]
        for group in _group_lines(lines):
            if len(group) > 1 and _is_wrapped([_MARKER.sub("", lines[k]) for k in group]):
                units.append(_make_unit(text, para[group[0]][0], para[group[-1]][1]))
            else:
                units.extend(_make_unit(text, *para[k]) for k in group)
    return units


def _group_lines(lines: list[str]) -> list[list[int]]:
    """Group a paragraph's lines: a list item, heading or quote starts a new group."""
    groups: list[list[int]] = []
    for k, line in enumerate(lines):
        if k and not _starts_group(lines[k - 1], line):
            groups[-1].append(k)
        else:
            groups.append([k])
    return groups


def _starts_group(prev: str, line: str) -> bool:
    if prev.startswith(">") or line.startswith(">"):  # a quote runs until its ">" lines end
        return prev.startswith(">") != line.startswith(">")
    return bool(_STRUCTURAL.match(line)) or prev.startswith(("#", "!", "|", "`"))


def _is_wrapped(lines: list[str]) -> bool:
    body = lines[:-1]
    if not body or any(not 30 <= len(line) <= 100 for line in body):
        return False
    if sum(bool(_TERMINAL.search(line)) for line in body) * 2 > len(body):
        return False  # one sentence per line: keep the lines apart
    widths = [len(line) for line in body]
    uniform = len(body) >= 2 and max(widths) - min(widths) <= 20
    return uniform or any(line[:1].islower() for line in lines[1:])


def _make_unit(text: str, start: int, end: int) -> _Unit:
    raw = text[start:end]
    bullet = bool(_STRUCTURAL.match(raw)) and not raw.startswith(("#", "!", "|", "`"))
    marker = _MARKER.match(raw)  # anchored at the start: only the unit's first marker goes
    parts = (raw[marker.end() :] if marker else raw).replace("\n>", "\n").split()
    flat = " ".join(parts).strip("*_ ")
    low = flat.lower().replace("\u2019", "'")
    key = low.strip(_KEY_STRIP)
    words, tail = count_words(flat), flat[-8:]
    prose = (
        words >= 3
        and bool(_TERMINAL.search(tail))
        and not _ELLIPSIS.search(tail)  # a truncated teaser, not a paragraph
        and (_changes_in_upper_case(flat) or any(map(is_uncased_letter, flat)))  # not all caps
    )
    strong = _match_strong(low) if words <= _STRONG_MAX_WORDS else None
    trailer = _match_trailer(key) if words <= 20 else None
    return _Unit(start, end, flat, low, key, words, bullet, prose, strong, trailer)


def _changes_in_upper_case(flat: str) -> bool:
    """Tell whether ``flat != flat.upper()``, from the opening characters when they tell."""
    # upper() maps each character on its own, and never maps a character it changes to
    # something that starts with that character (tests check every code point): a change in
    # the opening is a change of the whole text.
    head = flat[:24]
    return head != head.upper() or flat != flat.upper()


def _match_strong(low: str) -> str | None:
    for reason, keys, pattern in _STRONG:
        for key in keys:
            if key in low:
                if pattern.search(low):
                    return reason
                break
    return None


def _lower_ratio(unit: _Unit) -> float:
    """Share of words starting lower-case (prose has many; headlines and menus few).

    A letter of a script without case (CJK, Arabic, Hebrew...) counts as lower-case: such
    text is told from menus by its length and punctuation alone.
    """
    sample = unit.flat.split(" ", 40)[:40]  # the opening words are enough to tell
    initials = next(zip(*sample, strict=False), ())  # first letters (words are never empty)
    lower = sum(1 for c in initials if c.islower() or is_uncased_letter(c))
    return lower / len(sample)


def _is_long_text(unit: _Unit) -> bool:
    """A paragraph that only lacks its final full stop."""
    return unit.words >= 20 and _lower_ratio(unit) >= 0.3 and "://" not in unit.flat


def _classify(unit: _Unit, weak: bool) -> str | None:
    if unit.strong or not weak:
        return unit.strong
    if unit.bullet and unit.words <= 4:
        return "navigation"
    for reason, pattern in _WEAK:
        if pattern.search(unit.low):
            return reason
    if len(_SOCIAL.intersection(_WORD.findall(unit.low))) >= 2:
        return "share"
    return None if any(c.isalnum() for c in unit.flat) else "separator"


def _match_trailer(key: str) -> tuple[str, str] | None:
    for pattern, heading, rest in _TRAILERS:
        if pattern.fullmatch(key):
            return heading, rest
    return None


def _is_story_like(unit: _Unit) -> bool:
    if unit.strong or unit.trailer:
        return False
    return unit.prose or _is_long_text(unit)


def _find_story_start(units: list[_Unit]) -> int | None:
    """Index of the first story paragraph: one followed soon by another, or a long one."""
    likely = [i for i, u in enumerate(units) if _is_story_like(u)]
    for n, i in enumerate(likely):
        if units[i].words >= 40 or (n + 1 < len(likely) and likely[n + 1] - i <= 3):
            return i
    return likely[0] if likely else None


def _is_headline(unit: _Unit) -> bool:
    return (
        2 <= unit.words <= 25
        and not unit.bullet
        and not _TERMINAL.search(unit.flat.rstrip("?!"))
        and (unit.flat[:1].isupper() or unit.flat[:1].isdigit() or is_uncased_letter(unit.flat[:1]))
    )


def _label_header(units: list[_Unit], reasons: list[str | None]) -> str | None:
    """Label the lines before the story and return the headline among them."""
    candidates: list[int] = []
    in_teasers = False
    for i, unit in enumerate(units):
        reason = _classify(unit, weak=True)
        if unit.trailer:
            in_teasers, reason = unit.trailer[1] == "related-articles", unit.trailer[0]
        elif reason:
            in_teasers = False
            if reason == "separator" and i and units[i - 1].words <= 3 and "\u2014" in unit.flat:
                reason = reasons[i - 1] = "dateline"  # "CNN" then "—" on its own line
        elif in_teasers and unit.words >= 4:
            reason = "related-articles"
        elif _is_headline(unit):
            candidates.append(i)
        reasons[i] = reason or "header"
    # A page tends to repeat its headline (breadcrumb, og:title, the heading itself).
    keys = [u.key for u in units]
    repeated = [
        i for i in candidates if any(_repeats(keys[i], k) for k in keys[:i] + keys[i + 1 :])
    ]
    if not (repeated or candidates):
        return None
    title_key = keys[(repeated or candidates)[0]]
    title = None
    for i, key in enumerate(keys):
        if key == title_key:
            reasons[i] = "title-repeat" if title else "title"
            title = title or units[i].flat
        elif title_key in key and reasons[i] == "header":
            reasons[i] = "breadcrumb"
    return title


def _repeats(headline: str, line: str) -> bool:
    return headline == line or (headline.count(" ") >= 3 and headline in line)


def _is_caption(unit: _Unit) -> bool:
    """A photo caption: a short present-tense description ending with a date, no quotes."""
    flat = unit.flat
    return (
        unit.words <= 35
        and not _QUOTE.search(flat)
        and not _ATTRIBUTION.search(unit.low)
        and not _SENTENCE_BREAK.search(flat)
        and bool(_PHOTO_CAPTION.search(unit.low))
    )


def _label_story(
    units: list[_Unit], start: int, title: str | None, reasons: list[str | None]
) -> None:
    """Label the units from the story start on: None keeps a unit in the story."""
    rest: str | None = None
    title_key = _make_unit(title, 0, len(title)).key if title else None
    lead_ins: list[int] = []
    for i in range(start, len(units)):
        unit = units[i]
        if unit.trailer:
            reasons[i], rest = unit.trailer
            continue
        if rest is not None:
            weak = unit.words <= _STRONG_MAX_WORDS
            reasons[i] = (_classify(unit, weak=True) if weak else None) or rest
            continue
        reason = _classify(unit, weak=False)
        if reason is None and unit.key == title_key:
            reason = "title-repeat"
        elif reason is None and unit.prose:
            reason = "caption" if _is_caption(unit) else None
        elif reason is None and not _keeps_fragment(unit):
            if unit.flat.endswith(":") and unit.words >= 4 and _lower_ratio(unit) >= 0.3:
                lead_ins.append(i)
            reason = _classify(unit, weak=True) or _fragment_reason(unit)
        reasons[i] = reason
    for i in lead_ins:  # "The demands include:" belongs to the story if what follows does
        if i + 1 < len(units) and reasons[i + 1] is None:
            reasons[i] = None


def _keeps_fragment(unit: _Unit) -> bool:
    """A story line without final punctuation: long text, a list item, a quoted remark."""
    if _is_long_text(unit):
        return True
    if unit.bullet and unit.words >= 6 and _lower_ratio(unit) >= 0.3:
        return True
    return bool(_QUOTE.search(unit.flat) and _ATTRIBUTION.search(unit.low))


def _fragment_reason(unit: _Unit) -> str:
    if unit.words >= 5 and _lower_ratio(unit) >= 0.3:
        return "caption"
    return "heading" if unit.words >= 2 and _lower_ratio(unit) < 0.5 else "fragment"
