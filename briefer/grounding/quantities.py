"""Numbers with units: what each number of a text counts, and whether two texts agree.

Validator v1 checks that a statement's numbers occur in its evidence. This adds the unit:
"34%" does not support "34 aircraft", "two or three days" does not support "two or three
weeks", and "June 3" is not supported by "3 soldiers". It also repeats v1's presence check
with the tolerance a summary needs, for statements checked on their own: "more than 100" is
stated by "116", and tokenized text ("26, 000", "122. 5") states "26,000" and "122.5".
Values come from ``briefer.grounding.find_numbers``, so every normal form v1 knows
("12,000" = "twelve thousand", "$7bn" = "7 billion dollars") is a normal form here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from briefer.grounding.matching import NumberMention, find_numbers
from briefer.models import Reason

_CURRENCIES = "$€£¥₴₽"

_CURRENCY_WORDS = {
    **dict.fromkeys(("dollar", "usd", "cent"), "$"),
    **dict.fromkeys(("pound", "sterling", "gbp", "pence", "penny"), "£"),
    **dict.fromkeys(("euro", "eur"), "€"),
    **dict.fromkeys(("ruble", "rouble", "rub"), "₽"),
    **dict.fromkeys(("hryvnia", "hryvnias", "uah"), "₴"),
    **dict.fromkeys(("yen", "yuan", "renminbi"), "¥"),
}
_TIME_UNITS = {"second", "minute", "hour", "day", "week", "fortnight", "month", "year", "decade"}
_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTHS = {
    **{m: m[:3] for m in _MONTH_NAMES},
    **{m[:3]: m[:3] for m in _MONTH_NAMES},
    "sept": "sep",
}
_KIND_NAMES = {"count": "a count", "percent": "a percentage", "year": "a year"}
_NEXT_WORD = re.compile(r"[\s-]*(?:of\s+)?([^\W\d_]+)")
_PREVIOUS_WORD = re.compile(r"([^\W\d_]+)\.?\s*(?:the\s+)?$")
_RANGE_GAP = re.compile(r"\s*(?:[-–—]|to|or|and)\s*", re.IGNORECASE)
# Tokenized text spaces out thousands separators and decimal points: "26, 000", "122. 5".
_SPACED_THOUSANDS = re.compile(r"(?<![\d.,])(\d{1,3})((?:, \d{3})+)(?![\d,])")
_SPACED_DECIMAL = re.compile(r"(?<![\d.])(\d+)\. (\d{1,2})(?![\d,])")
_DIGIT_RUN = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
# Words that make a number a bound or an estimate, and the evidence values that state it
# as a share of the number: "more than 100" is stated by 101 to 200, "about 100" by 90 to
# 110, "nearly 100" by 90 to 99. Fixed a priori, never measured on eval data.
_QUALIFIERS = (
    (re.compile(r"\b(?:more than|over|above|at least)\s+$", re.IGNORECASE), Decimal(1), Decimal(2)),
    (re.compile(r"\b(?:nearly|almost|just under)\s+$", re.IGNORECASE), Decimal("0.9"), Decimal(1)),
    (
        re.compile(r"\b(?:about|around|roughly|approximately|some)\s+$", re.IGNORECASE),
        Decimal("0.9"),
        Decimal("1.1"),
    ),
    (
        re.compile(r"\b(?:up to|fewer than|less than|under)\s+$", re.IGNORECASE),
        Decimal("0.5"),
        Decimal(1),
    ),
)


def number_kinds(text: str) -> list[tuple[NumberMention, str]]:
    """Return each number of ``text`` with what it counts.

    Kinds: ``percent``; ``money:<sign>`` ("$7 billion", "7 billion dollars");
    ``time:<unit>`` ("30-day", "two or three days": a range's unit applies to both ends);
    ``date:<month>`` ("June 2", "2 June"); ``year`` ("2022"); else ``count``.
    """
    mentions = find_numbers(text)
    kinds = []
    for i, mention in enumerate(mentions):
        anchor = mention
        following = mentions[i + 1] if i + 1 < len(mentions) else None
        if following and _RANGE_GAP.fullmatch(text, mention.end, following.start):
            anchor = following
        kinds.append((mention, _kind_of(text, mention, anchor)))
    return kinds


def _kind_of(text: str, mention: NumberMention, anchor: NumberMention) -> str:
    stated = mention.text.lower()
    if stated[0] in _CURRENCIES:
        return f"money:{stated[0]}"
    if stated.endswith(("%", "cent")):
        return "percent"
    after = _NEXT_WORD.match(text, anchor.end)
    unit = after[1].lower() if after else ""
    unit = (
        unit[:-1]
        if unit.endswith("s") and unit[:-1] in _TIME_UNITS | set(_CURRENCY_WORDS)
        else unit
    )
    if unit in _CURRENCY_WORDS:
        return f"money:{_CURRENCY_WORDS[unit]}"
    if unit in _TIME_UNITS:
        return f"time:{unit}"
    before = _PREVIOUS_WORD.search(text, max(0, mention.start - 24), mention.start)
    month = _MONTHS.get(unit) or (_MONTHS.get(before[1].lower()) if before else None)
    if month and mention.value <= 31:
        return f"date:{month}"
    if re.fullmatch(r"\d{4}", stated) and 1800 <= mention.value <= 2100:
        return "year"
    return "count"


def _describe_kind(kind: str) -> str:
    family, _, detail = kind.partition(":")
    if family == "money":
        return f"an amount in {detail}"
    if family == "time":
        return f"a number of {detail}s"
    if family == "date":
        return f"a day of {detail.capitalize()}"
    return _KIND_NAMES[family]


def _kinds_agree(kind: str, found: set[str]) -> bool:
    """Tell whether a claim's number of ``kind`` is stated by evidence numbers of ``found``."""
    if kind in found:
        return True
    family = kind.partition(":")[0]
    if family in {"count", "year"}:
        return bool(found - {"percent"})
    if family == "money":
        return "count" in found  # the evidence may leave the currency to its context
    return False  # percentages, durations and dates must match


def check_number_kinds(text: str, evidence: Iterable[str]) -> list[Reason]:
    """Return a reason when a number of ``text`` is, in the ``evidence``, of another kind.

    Numbers missing from the evidence altogether are left to the v1 number check.
    """
    found: dict[Decimal, set[str]] = {}
    for passage in evidence:
        for mention, kind in number_kinds(passage):
            found.setdefault(mention.value, set()).add(kind)
    wrong = []
    for mention, kind in number_kinds(text):
        if mention.value in found and not _kinds_agree(kind, found[mention.value]):
            theirs = " or ".join(sorted(_describe_kind(k) for k in found[mention.value]))
            wrong.append(f'"{mention.text}" is {_describe_kind(kind)} here but {theirs} there')
    if not wrong:
        return []
    return [
        Reason(
            code="number_unit_mismatch",
            message=f"Numbers differ in kind from the evidence: {'; '.join(dict.fromkeys(wrong))}.",
        )
    ]


def find_missing_numbers(text: str, evidence: Iterable[str]) -> list[str]:
    """Return the numbers of ``text`` that the ``evidence`` states nowhere (as written there).

    A bound or estimate is stated by a value in its range ("more than 100" by "116"), and
    either reading of tokenized text counts ("10, 000": ten thousand, or ten and zero).
    """
    values: set[Decimal] = set()
    for passage in evidence:
        values |= _stated_values(passage)
    readings = (find_numbers(text), find_numbers(_rejoin(text, decimals=False)))
    missing = [
        list(dict.fromkeys(m.text for m in mentions if not _is_stated(text, m, values)))
        for mentions in readings
    ]
    return min(missing, key=len)  # the reading that finds more of them stated


def _stated_values(passage: str) -> set[Decimal]:
    """Return every value a passage may be stating: read as written, rejoined, bare digits.

    Bare digits cover a scale the statement leaves out: "£10.25m" states "10.25 m".
    """
    values = {m.value for m in find_numbers(passage)}
    values |= {m.value for m in find_numbers(_rejoin(passage, decimals=True))}
    values |= {Decimal(d.replace(",", "")) for d in _DIGIT_RUN.findall(passage)}
    return values


def _rejoin(text: str, *, decimals: bool) -> str:
    """Return ``text`` with spaced-out separators closed up again ("26, 000" -> "26,000")."""
    text = _SPACED_THOUSANDS.sub(lambda m: m[1] + m[2].replace(" ", ""), text)
    return _SPACED_DECIMAL.sub(r"\1.\2", text) if decimals else text


def _is_stated(text: str, mention: NumberMention, values: set[Decimal]) -> bool:
    if mention.value in values:
        return True
    before = text[max(0, mention.start - 16) : mention.start]
    for qualifier, low, high in _QUALIFIERS:
        if qualifier.search(before):
            return any(mention.value * low <= v <= mention.value * high for v in values)
    return False


def check_numbers_stated(text: str, evidence: Iterable[str]) -> list[Reason]:
    """Return a reason when a number of ``text`` is stated nowhere in the ``evidence``."""
    missing = find_missing_numbers(text, evidence)
    if not missing:
        return []
    noun = "Number" if len(missing) == 1 else "Numbers"
    shown = ", ".join(f'"{m}"' for m in missing)
    return [Reason(code="number_not_in_evidence", message=f"{noun} {shown} not in the evidence.")]
