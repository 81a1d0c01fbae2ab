"""How each audience preset weighs statements and arranges them into sections.

Every audience needs the concrete outcomes first: decisions, agreements, commitments with a
figure or a date (``outcome_strength``). Then executive: figures and what happens next;
analyst: each party's positions and demands with attribution, and context; general: plain
language, few quotes. A briefing reads in one order for all: what happened, what was agreed,
positions, what happens next, background (``Kind``). The cues are general English patterns,
never tied to one story.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import IntEnum

from briefer.engines.extractive.synthesis import content_stems, count_words
from briefer.models import Audience, BriefOptions


class _Cue:
    """A case-insensitive cue pattern, written in lowercase.

    An ASCII text is lowercased and searched case-sensitively: the same matches (lowercasing
    maps only A-Z, which the pattern meets case-insensitively anyway), about twice as fast.
    """

    def __init__(self, pattern: str) -> None:
        self.any_case = re.compile(pattern, re.IGNORECASE)
        self.lowercase = re.compile(pattern)

    def search(self, text: str) -> bool:
        """Return whether the cue occurs in ``text``."""
        if text.isascii():
            return self.lowercase.search(text.lower()) is not None
        return self.any_case.search(text) is not None


# A figure in digits (a count, money, a percentage), not a year.
_FIGURE = re.compile(r"\b(?!(?:19|20)\d\d\b)\d")
_OUTCOME = _Cue(
    r"\b(agree[ds]?|agreement|ended?|conclud\w*|fail\w*|decid\w*|decision|announc\w*|"
    r"approv\w*|reject\w*|declin\w*|sign\w*|breakthrough|deal|outcome|result\w*|"
    r"achiev\w*|progress|exchange|swap|launch\w*|killed|damage|cost)\b",
)
_NEXT = _Cue(
    r"\b(will|would|next|expects?|expected|plans?|planned|upcoming|by the end of|"
    r"proposed|propose|set to|coming|future|deadline)\b",
)
_ATTRIBUTION = _Cue(
    r"\b(said|says|told|stated|according to|insist\w*|demand\w*|reiterat\w*|"
    r"criticiz\w*|criticis\w*|accus\w*|argu\w*|call(?:ed|s) for|warn\w*|"
    r"position|condition\w*|proposal|memorandum|offer\w*|refus\w*|options?)\b",
)
_CONTEXT = _Cue(
    r"\b(since|began|begun|previous\w*|earlier|last (?:month|year|week)|in (?:19|20)\d\d|"
    r"history|first round|initial|invasion|annex\w*|long|background|years?)\b",
)
# Background proper: what came before the news, not the news.
_BACKGROUND = _Cue(
    r"\b(?:previous(?:ly)?|earlier this (?:year|month)|last (?:month|year)|in (?:19|20)\d\d|"
    r"history|first round|years? ago|since (?:19|20)\d\d|began in|has been|had been)\b",
)
_NEXT_TIME = _Cue(
    r"\b(?:next|coming|upcoming|within|by the end|tomorrow|later this|deadline|"
    r"(?:will|would|expects? to|plans? to|set to)\b[^.]{0,60}\b(?:on|by|in|this|before)\s+"
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|"
    r"april|may|june|july|august|september|october|november|december|\d))",
)
_QUOTE = re.compile(r"[\"“”]|(?:^|\s)['‘][^']{12,}['’]")

# A decision or commitment: someone agreed, signed, approved, decided, pledged, or will
# hand something over. Past tense or a modal + delivery verb; a noun of agreement.
# A decision or commitment: someone agreed, signed, approved, decided, pledged, or will hand
# something over. Checked on the sentence's lowercased words (a big alternation regex took
# most of a millisecond per sentence).
_TOKEN = re.compile(r"[a-z]+")
_COMMITTED = frozenset(
    [
        "agreement",
        "agreements",
        "accord",
        "accords",
        "treaty",
        "commitment",
        "commitments",
        "settlement",
        "verdict",
        "agreed",
        "signed",
        "approved",
        "ratified",
        "passed",
        "voted",
        "decided",
        "ruled",
        "sentenced",
        "ordered",
        "settled",
        "announced",
        "confirmed",
        "accepted",
        "resolved",
        "awarded",
        "released",
        "freed",
        "exchanged",
        "returned",
        "acquired",
    ]
)
_INTENDS = frozenset(
    [
        "agree",
        "agrees",
        "agreed",
        "agreeing",
        "pledge",
        "pledged",
        "promise",
        "promised",
        "decide",
        "decided",
        "vote",
        "voted",
        "vow",
        "vowed",
        "committed",
        "plan",
        "plans",
        "set",
        "expected",
    ]
)
_MODALS = frozenset({"will", "would", "shall"})
_ADVERBS = frozenset({"also", "now", "soon"})
_DELIVERS = frozenset(
    [
        "return",
        "exchange",
        "swap",
        "release",
        "free",
        "transfer",
        "pay",
        "provide",
        "deliver",
        "send",
        "withdraw",
        "hold",
        "meet",
        "resume",
        "reopen",
        "open",
        "close",
        "cut",
        "raise",
        "lift",
        "impose",
        "build",
        "invest",
        "hire",
        "sign",
        "ratify",
        "implement",
        "deploy",
        "allow",
        "ban",
        "extend",
        "begin",
        "start",
        "end",
        "buy",
        "sell",
        "merge",
        "acquire",
    ]
)
_DEAL_MAKERS = frozenset({"reached", "struck", "sealed", "signed", "agreed"})
_ARTICLES = frozenset({"a", "an", "the"})
_PHRASE_STARTS = _MODALS | _INTENDS | {"handed", "deal"}


def _delivers(words: list[str], at: int) -> bool:
    """Return whether a delivery verb ("return", "hand over"...) starts at ``words[at]``."""
    if at < len(words) and words[at] in _ADVERBS:
        at += 1
    if at >= len(words):
        return False
    return words[at] in _DELIVERS or words[at : at + 2] == ["hand", "over"]


def _commits(text: str) -> bool:
    """Return whether ``text`` states a decision or commitment."""
    words = _TOKEN.findall(text.lower())
    if not _COMMITTED.isdisjoint(words):
        return True
    if _PHRASE_STARTS.isdisjoint(words):
        return False
    for i, word in enumerate(words):
        if word in _MODALS and _delivers(words, i + 1):
            return True
        if word in _INTENDS and words[i + 1 : i + 2] == ["to"] and _delivers(words, i + 2):
            return True
        if word == "handed" and words[i + 1 : i + 2] == ["over"]:
            return True
        if word == "deal" and any(
            words[k : k + 1] and words[k] in _DEAL_MAKERS and words[k + 1] in _ARTICLES
            for k in (i - 2, i - 3)
            if k >= 0
        ):
            return True
    return False


class Kind(IntEnum):
    """What a statement does in a briefing, in the order a briefing reads."""

    happened = 0
    agreed = 1
    position = 2
    next = 3
    background = 4


def outcome_strength(text: str) -> int:
    """Return 2 for a concrete outcome, 1 for a bare one, 0 for none.

    An outcome states a decision or commitment (agreed, signed, approved, will return...);
    it is concrete when it also gives a figure in digits (not a year) or a time
    ("6,000 bodies", "by June", "next week"). Background ("in 2019 the two sides agreed")
    is not an outcome of the news.
    """
    if not _commits(text) or _BACKGROUND.search(text):
        return 0
    return 2 if _FIGURE.search(text) or _NEXT_TIME.search(text) else 1


def kind_of(text: str) -> Kind:
    """Return what ``text`` does in a briefing (see ``Kind``)."""
    if outcome_strength(text):
        return Kind.agreed
    if _BACKGROUND.search(text):
        return Kind.background
    if _NEXT.search(text) and _NEXT_TIME.search(text):
        return Kind.next
    if _ATTRIBUTION.search(text):
        return Kind.position
    return Kind.happened


# Sections per preset: (title, kinds it holds), in reading order. The executive's first
# section holds the top-ranked statement whatever its kind (see the engine's arrangement).
SECTION_KINDS: dict[Audience, tuple[tuple[str, tuple[Kind, ...]], ...]] = {
    Audience.executive: (
        ("Bottom line", ()),
        ("What was agreed", (Kind.agreed,)),
        ("Key points", (Kind.happened, Kind.position)),
        ("What happens next", (Kind.next,)),
        ("Background", (Kind.background,)),
    ),
    Audience.analyst: (
        ("What happened", (Kind.happened,)),
        ("What was agreed", (Kind.agreed,)),
        ("Positions and demands", (Kind.position,)),
        ("What happens next", (Kind.next,)),
        ("Context", (Kind.background,)),
    ),
    Audience.general: (
        ("What happened", (Kind.happened, Kind.position)),
        ("What was agreed", (Kind.agreed,)),
        ("What happens next", (Kind.next,)),
        ("Background", (Kind.background,)),
    ),
}
SECTIONS: dict[Audience, tuple[str, ...]] = {
    preset: tuple(title for title, _ in kinds) for preset, kinds in SECTION_KINDS.items()
}


def audience_weight(
    text: str,
    options: BriefOptions,
    query: set[str],
    words: int | None = None,
    stems: Sequence[str] | None = None,
) -> float:
    """Return how much ``text`` suits the audience: above 1 favours it, below 1 disfavours it.

    ``query`` holds the stems of a free-text audience, whose sentences about what it names
    are favoured. A caller that already has the text's ``count_words`` or ``content_stems``
    passes them.
    """
    preset = options.audience_preset
    weight = 1.0
    has_quote = bool(_QUOTE.search(text))
    if preset is Audience.executive:
        weight *= 1.6 if _FIGURE.search(text) else 1.0
        weight *= 1.25 if _OUTCOME.search(text) else 1.0
        weight *= 1.1 if _NEXT.search(text) else 1.0
        weight *= 0.8 if has_quote else 1.0
    elif preset is Audience.analyst:
        weight *= 1.35 if _ATTRIBUTION.search(text) else 0.9
        weight *= 1.1 if _CONTEXT.search(text) else 1.0
    else:
        weight *= 1.3 if _CONTEXT.search(text) else 1.0
        weight *= 0.75 if has_quote else 1.0
        weight *= 1.0 if (count_words(text) if words is None else words) <= 30 else 0.85
        if query:  # a free-text audience: favour sentences about what it names
            hits = len(query & set(content_stems(text) if stems is None else stems))
            weight *= 1.0 + min(hits, 2)
    return weight


def section_of_kind(kind: Kind, preset: Audience) -> int:
    """Return the index, in ``SECTIONS[preset]``, of the section holding ``kind``."""
    return next(i for i, (_, kinds) in enumerate(SECTION_KINDS[preset]) if kind in kinds)


def section_of(text: str, preset: Audience) -> int:
    """Return the index, in ``SECTIONS[preset]``, of the section ``text`` belongs in."""
    return section_of_kind(kind_of(text), preset)
