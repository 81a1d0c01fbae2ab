"""Words and sentences across writing systems, for every stage that counts or splits text.

Most scripts separate words with spaces and end sentences with ``. ! ?`` (Latin, Cyrillic,
Greek, Hangul) or their own marks (Arabic ``؟``, Devanagari ``।``). Chinese and Japanese
write no spaces and end sentences with ``。！？``: each of their characters counts as one word
(as word processors count them), and their sentence marks end sentences like ``.`` does.
Scripts written without spaces *and* without sentence marks that briefer can split on
(Thai, Lao, Khmer, Myanmar, Tibetan) are not supported; ``unsupported_script`` names them
so that a refusal can say why.
"""

from __future__ import annotations

import re

# Han (with its marks 々 〇 〻), Hiragana, Katakana and half-width Katakana.
CJK_CHARS = "\u3005\u3007\u303b\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_CJK = re.compile(f"[{CJK_CHARS}]")
# CJK punctuation (、。「」, full-width ，！？ and brackets): not words.
_CJK_PUNCTUATION = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
# One budget word: a CJK character, or a run of anything else up to a space, CJK character or
# CJK punctuation.
_BUDGET_WORD = re.compile(f"[{CJK_CHARS}]|[^\\s{CJK_CHARS}{_CJK_PUNCTUATION}]+")
# Below every CJK character and CJK punctuation mark (both ranges start at U+3000 or later).
_FIRST_CJK = "\u3000"
# A word for matching and shingles: a CJK character, or a run of other word characters.
_MATCH_WORD = re.compile(f"[{CJK_CHARS}]|(?:(?![{CJK_CHARS}])\\w)+")

# Marks that end a sentence, in any supported script (full-width forms included).
SENTENCE_END = ".!?\u3002\uff01\uff1f\uff61\u061f\u06d4\u0964\u0965"
# Those that end a statement (not a question).
STATEMENT_END = ".!\u3002\uff01\uff61\u06d4\u0964\u0965"
# Sentence marks the sentence splitter (syntok) does not know: CJK ones need no space after
# them; Arabic, Urdu and Devanagari ones end a sentence before a space. Closing quotes and
# brackets stay with the sentence they close, and a quote followed by Japanese と or って
# ("「…。」と述べた") is part of the sentence that reports it.
_CLOSERS = "\u300d\u300f\u201d\u2019\uff09\u3011)\"'"
_OTHER_END = re.compile(
    f"[\u3002\uff01\uff1f\uff61][{_CLOSERS}]*+(?![\u3068\u3063])"
    f"|[\u061f\u06d4\u0964\u0965][{_CLOSERS}]*(?=\\s)"
)
# Where _OTHER_END can start. `re` tries _OTHER_END's two branches at every character, while a
# single character class is searched for quickly, so texts without these marks are told first.
_OTHER_MARK = re.compile("[\u3002\uff01\uff1f\uff61\u061f\u06d4\u0964\u0965]")

_UNSUPPORTED = {
    "Thai": (0x0E00, 0x0E7F),
    "Lao": (0x0E80, 0x0EFF),
    "Tibetan": (0x0F00, 0x0FFF),
    "Myanmar (Burmese)": (0x1000, 0x109F),
    "Khmer": (0x1780, 0x17FF),
}

_ANY_UNSUPPORTED = re.compile(
    "[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in _UNSUPPORTED.values()) + "]"
)


def count_words(text: str) -> int:
    """Return the words of ``text`` for budgets: space-separated runs, each CJK character one."""
    if _below_first_cjk(text):
        # No CJK character or punctuation: the words are the runs between whitespace, which
        # str.split finds as the pattern's \s does (both use Unicode's isspace), 5x faster.
        return len(text.split())
    return len(_BUDGET_WORD.findall(text))


def _below_first_cjk(text: str) -> bool:
    """Tell whether every character of ``text`` is below U+3000 (``max(text) < _FIRST_CJK``),
    without max()'s Python-level walk over the characters."""
    # In UTF-8 a code point from U+3000 up (a surrogate too, with "surrogatepass") starts with
    # a byte from E3 up, and every other byte is below E3: delete those and see what is left.
    return not _has_utf8_byte_outside(text, _BELOW_E3)


_BELOW_E3 = bytes(range(0xE3))


def _has_utf8_byte_outside(text: str, ignored: bytes) -> bool:
    """Tell whether ``text``'s UTF-8 form holds a byte not in ``ignored`` (which holds every
    ASCII byte): a test of which lead bytes occur, at C speed."""
    if text.isascii():
        return False
    return bool(text.encode("utf-8", "surrogatepass").translate(None, ignored))


def match_words(text: str) -> list[str]:
    """Return the words of ``text`` for matching: runs of word characters, CJK one by one."""
    return _MATCH_WORD.findall(text)


def has_cjk(text: str) -> bool:
    """Tell whether ``text`` holds a Chinese or Japanese character."""
    return _CJK.search(text) is not None


def other_sentence_ends(text: str) -> list[int]:
    """Return the offsets just after each sentence mark syntok does not know (CJK, Arabic...)."""
    if _OTHER_MARK.search(text) is None:
        return []
    return [m.end() for m in _OTHER_END.finditer(text)]


def is_uncased_letter(char: str) -> bool:
    """Tell whether ``char`` is a letter of a script without case (CJK, Arabic, Hebrew...)."""
    return char.isalpha() and not char.isupper() and not char.islower()


_NOT_E0_E1 = bytes(b for b in range(256) if b not in (0xE0, 0xE1))


def unsupported_script(text: str) -> str | None:
    """Return the name of the script most of ``text``'s letters are in, if briefer cannot
    split it into words and sentences; else None."""
    # Their letters (U+0E00..U+109F) start with byte E0 or E1 in UTF-8: a text with neither
    # byte (most texts) is ruled out without the slower search.
    if not _has_utf8_byte_outside(text, _NOT_E0_E1):
        return None
    if not _ANY_UNSUPPORTED.search(text):
        return None
    letters = [c for c in text if c.isalpha()]
    for name, (low, high) in _UNSUPPORTED.items():
        if sum(low <= ord(c) <= high for c in letters) * 2 > len(letters):
            return name
    return None
