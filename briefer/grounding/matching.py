"""What counts as the same words and the same number in a claim and in its evidence.

``normalize_for_match`` is the only normalisation a verbatim quote gets (whitespace, case,
curly quotes, dashes); ``find_numbers`` / ``extract_numbers`` read the numbers a text states
(digits, number words, percentages, money; "12,000" = "12000" = "twelve thousand").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

_SINGLE_QUOTES = (
    "\N{LEFT SINGLE QUOTATION MARK}\N{RIGHT SINGLE QUOTATION MARK}"
    "\N{SINGLE LOW-9 QUOTATION MARK}\N{SINGLE HIGH-REVERSED-9 QUOTATION MARK}\N{PRIME}"
)
_DOUBLE_QUOTES = (
    "\N{LEFT DOUBLE QUOTATION MARK}\N{RIGHT DOUBLE QUOTATION MARK}"
    "\N{DOUBLE LOW-9 QUOTATION MARK}\N{DOUBLE HIGH-REVERSED-9 QUOTATION MARK}\N{DOUBLE PRIME}"
)
_DASHES = (
    "\N{EN DASH}\N{EM DASH}\N{FIGURE DASH}\N{HORIZONTAL BAR}\N{MINUS SIGN}"
    "\N{HYPHEN}\N{NON-BREAKING HYPHEN}"
)
# Pairs for chained str.replace: on non-ASCII text that is ~40x faster than str.translate
# with a dict table, which matters when validating tens of thousands of claims.
_MATCH_REPLACEMENTS = (
    *((c, "'") for c in _SINGLE_QUOTES),
    *((c, '"') for c in _DOUBLE_QUOTES),
    *((c, "-") for c in _DASHES),
    ("\N{HORIZONTAL ELLIPSIS}", "..."),
)

# What ends a sentence in a normalized text; and the characters whose normalized form ends
# in one of those (tests/test_grounding.py checks every character).
NORMALIZED_SENTENCE_CLOSE = ".!?\"')]"
SENTENCE_CLOSE = frozenset(
    NORMALIZED_SENTENCE_CLOSE + _SINGLE_QUOTES + _DOUBLE_QUOTES + "\N{HORIZONTAL ELLIPSIS}"
)


def normalize_for_match(text: str) -> str:
    """Return ``text`` casefolded, with straight quotes, ASCII dashes and single spaces."""
    text = text.casefold()
    for special, plain in _MATCH_REPLACEMENTS:
        if special in text:
            text = text.replace(special, plain)
    # split() with no separator splits on every Unicode whitespace run, as \s+ does.
    return " ".join(text.split())


# --- numbers -------------------------------------------------------------------------

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
)
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"
_SMALL = {word: value for value, word in enumerate(_UNITS.split())}
_SMALL.update(zip(_TENS.split(), range(20, 100, 10), strict=True))
# Multipliers applied to what precedes them ("two hundred", "seven dozen").
_GROUPS = {"hundred": 100, "dozen": 12}
# Scales that close a group ("twelve thousand", "7 billion").
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_SCALE_WORDS = {**_GROUPS, **_SCALES}
# Letter suffixes glued to digits that mean a scale: always, or only after a currency sign
# ("$5m" is five million, "5m" is more likely five metres).
_SUFFIX_SCALES = {"mn": 10**6, "mln": 10**6, "bn": 10**9, "bln": 10**9, "tn": 10**12, "trn": 10**12}
_CURRENCY_SUFFIX_SCALES = {"k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}

_CURRENCIES = "$€£¥₴₽"


def _any_word(words: Iterable[str]) -> str:
    """Return a regex for any of ``words``, branching on the first letter (re is faster so)."""
    by_letter: dict[str, list[str]] = {}
    for word in sorted(words, key=len, reverse=True):
        by_letter.setdefault(word[0], []).append(word[1:])
    branches = (f"{first}(?:{'|'.join(rests)})" for first, rests in sorted(by_letter.items()))
    return f"(?:{'|'.join(branches)})\\b"


_WORD = _any_word([*_SMALL, *_SCALE_WORDS])
_SCALE = _any_word(_SCALE_WORDS)
# "and" joins number words only after a scale: "a hundred and twenty", not "two and three".
_AFTER_SCALE = "(?:{})".format("|".join(f"(?<={word})" for word in _SCALE_WORDS))
# Starts with a digit so that re can skip ahead quickly; a currency sign before the digits
# is looked up separately. Then: thousands separators, decimals, a mixed or simple proper
# fraction, letters glued on ("7bn", "24th"), spelled-out scales and a percent sign.
_DIGITS = re.compile(
    r"(?P<digits>\d(?:\d{0,2}(?:,\d{3})+(?!\d)|\d*)(?:\.\d+)?)"
    r"(?:\x20(?P<mixed>\d/\d{1,2})(?![\d/]))?"
    r"(?:/(?P<denominator>\d{1,2})(?![\d/]))?"
    r"(?P<suffix>[^\W\d_]+)?"
    rf"(?P<scales>(?:\s+{_SCALE})*)"
    r"(?:\s?%|\s+per\s?cent\b)?",
    re.IGNORECASE,
)
_NUMBER_WORDS = (
    rf"\b(?:(?P<article>an?)\s+)?(?P<words>{_WORD}(?:(?:{_AFTER_SCALE}\s+and\s+|[\s-]+){_WORD})*)"
    r"(?P<half>\s+and\s+a\s+half\b)?"
)
# Matching lowercased text without IGNORECASE is about 3x faster; the IGNORECASE variant is
# for the rare text whose lowercase form has a different length (offsets would shift).
_WORDS = re.compile(_NUMBER_WORDS)
_WORDS_ANY_CASE = re.compile(_NUMBER_WORDS, re.IGNORECASE)
_WORD_SEPARATOR = re.compile(r"[\s-]+")
# Citation markers such as "[2]" or "[1, 3]" are references, not stated numbers.
_MARKER = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
# Hyphens that glue a name to its number ("F-16"); dashes between digits are ranges.
_HYPHENS = "-\N{HYPHEN}\N{NON-BREAKING HYPHEN}"
_WORD_BEFORE_HYPHEN = re.compile(rf"(\w+)[{_HYPHENS}]$")


class NumberMention(NamedTuple):
    """A number stated in a text: its value and where (``text[start:end]``) it is stated."""

    value: Decimal
    text: str
    start: int
    end: int


def extract_numbers(text: str) -> set[Decimal]:
    """Return the numeric values stated in ``text``.

    Rules, chosen so that one fact written two ways yields the same value:
    - "12,000", "12000" and "twelve thousand" are 12000; decimals are kept ("1.5").
    - Scales multiply: "$7 billion", "7 billion dollars", "7bn" and "$7B" are all 7000000000;
      the bare 7 is not also counted, so "$7 million" never supports "$7 billion".
    - Units are dropped: "34%", "34 percent" and "34 aircraft" are all 34; "30-day" is 30.
    - Ranges yield both ends: "2-3", "two or three", "two to three" are {2, 3}.
    - "3 1/2" and "three and a half" are 3.5; "1/2" is 0.5; dates like "6/2/2025" are parts.
    - Citation markers ("[2]", "[1, 3]") are not numbers.
    - Years are numbers ("2022"); digit ordinals are numbers ("24th" is 24).
    - Not numbers: ordinal words ("first", "second" are mostly prose), a bare "one" (mostly
      a pronoun: "one of the"; it still counts inside "twenty-one", "one million"),
      plurals ("thousands of miles"), and names mixing letters and digits: "G7", "S1",
      "F-16", "COVID-19", "Tu-95", "5G", hashes like "6a33c0".
    """
    return {number.value for number in find_numbers(text)}


def find_numbers(text: str) -> list[NumberMention]:
    """Return the numbers in ``text`` in order, each with the text that states it."""
    found: list[tuple[int, NumberMention]] = []
    markers = [m.span() for m in _MARKER.finditer(text)] if "[" in text else []
    taken: list[tuple[int, int]] = []
    for match in _DIGITS.finditer(text):
        if any(start <= match.start() < end for start, end in markers):
            continue
        taken.append(match.span())
        first = _currency_start(text, match.start())
        value = _digits_value(match, text, has_currency=first is not None)
        if value is not None:
            first = match.start() if first is None else first
            mention = NumberMention(
                _canonical(value), text[first : match.end()], first, match.end()
            )
            found.append((first, mention))
    lowered = text.lower()
    words, haystack = (_WORDS, lowered) if len(lowered) == len(text) else (_WORDS_ANY_CASE, text)
    for match in words.finditer(haystack):
        # Scale words already read as part of a digit number ("7 billion") are skipped.
        if any(start <= match.start() < end for start, end in taken):
            continue
        value = _words_value(match)
        if value is not None:
            mention = NumberMention(
                value, text[match.start() : match.end()], match.start(), match.end()
            )
            found.append((match.start(), mention))
    return [number for _, number in sorted(found, key=lambda item: item[0])]


def _canonical(value: Decimal) -> Decimal:
    """Return ``value`` in one spelling per number ("34.0" and "34" both print as "34")."""
    if value == value.to_integral_value():
        try:
            return value.quantize(1)
        except InvalidOperation:  # more digits than the context's precision: "1E+28" then
            return value.normalize()
    return value.normalize()


def _currency_start(text: str, start: int) -> int | None:
    """Return where a currency sign right before the digits at ``start`` begins, if any."""
    before = start - 1
    if before > 0 and text[before] == " ":
        before -= 1
    return before if before >= 0 and text[before] in _CURRENCIES else None


def _digits_value(match: re.Match[str], text: str, *, has_currency: bool) -> Decimal | None:
    if not has_currency and _is_inside_name(text, match.start()):
        return None
    value = Decimal(match["digits"].replace(",", ""))
    if match["mixed"]:
        numerator, denominator = match["mixed"].split("/")
        fraction = _proper_fraction(Decimal(numerator), Decimal(denominator))
        value += fraction if fraction is not None else 0
    elif match["denominator"]:
        fraction = _proper_fraction(value, Decimal(match["denominator"]))
        # "24/7" or "6/2" is not a fraction: keep the first part as a number of its own.
        value = fraction if fraction is not None else value
    suffix = match["suffix"]
    if suffix:
        if text[match.end("suffix") : match.end("suffix") + 1].isdigit():
            return None  # letters between digits: an id or hash, not a quantity
        lowered = suffix.lower()
        if lowered in _SUFFIX_SCALES:
            value *= _SUFFIX_SCALES[lowered]
        elif lowered in _SCALE_WORDS:
            value *= _SCALE_WORDS[lowered]
        elif has_currency and lowered in _CURRENCY_SUFFIX_SCALES:
            value *= _CURRENCY_SUFFIX_SCALES[lowered]
        elif not suffix.islower():
            return None  # "5G", "3D", "4K": a name
    for scale in match["scales"].split():
        value *= _SCALE_WORDS[scale.lower()]
    return value


def _is_inside_name(text: str, start: int) -> bool:
    """Tell whether the digits at ``start`` belong to a name such as "G7" or "F-16"."""
    if start == 0:
        return False
    before = text[start - 1]
    if before.isalnum() or before == "_":
        return True
    if before == "." and start > 1 and text[start - 2].isdigit():
        return True  # the tail of "1.2.3"
    if before in _HYPHENS:
        word = _WORD_BEFORE_HYPHEN.search(text, max(0, start - 40), start)
        # "F-16", "Tu-95" are names; "2-3" is a range and "mid-2022" a year.
        return word is not None and any(c.isupper() for c in word[1])
    return False


def _proper_fraction(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if 0 < numerator < denominator:
        return numerator / denominator
    return None


def _words_value(match: re.Match[str]) -> Decimal | None:
    words = [w for w in _WORD_SEPARATOR.split(match["words"].lower()) if w != "and"]
    if words == ["one"] and not match["half"]:
        return None
    total, group = 0, 0
    for word in words:
        if word in _SMALL:
            group += _SMALL[word]
        elif word in _GROUPS:
            # "a hundred" / "hundred": a scale with nothing before it means one of it.
            group = (group or 1) * _GROUPS[word]
        else:
            total += (group or 1) * _SCALES[word]
            group = 0
    value = Decimal(total + group)
    return value + Decimal("0.5") if match["half"] else value
