"""How each audience preset weighs statements and arranges them into sections.

executive: outcome, decisions, figures, what happens next; analyst: each party's positions
and demands with attribution, and context; general: plain-language context first, few
quotes. The cues are general English patterns, never tied to one story.
"""

from __future__ import annotations

import re

from briefer.engines.extractive.synthesis import content_stems, count_words
from briefer.models import Audience, BriefOptions

# A figure in digits (a count, money, a percentage), not a year.
_FIGURE = re.compile(r"\b(?!(?:19|20)\d\d\b)\d")
_OUTCOME = re.compile(
    r"\b(agree[ds]?|agreement|ended?|conclud\w*|fail\w*|decid\w*|decision|announc\w*|"
    r"approv\w*|reject\w*|declin\w*|sign\w*|breakthrough|deal|outcome|result\w*|"
    r"achiev\w*|progress|exchange|swap|launch\w*|killed|damage|cost)\b",
    re.IGNORECASE,
)
_NEXT = re.compile(
    r"\b(will|would|next|expects?|expected|plans?|planned|upcoming|by the end of|"
    r"proposed|propose|set to|coming|future|deadline)\b",
    re.IGNORECASE,
)
_ATTRIBUTION = re.compile(
    r"\b(said|says|told|stated|according to|insist\w*|demand\w*|reiterat\w*|"
    r"criticiz\w*|criticis\w*|accus\w*|argu\w*|call(?:ed|s) for|warn\w*|"
    r"position|condition\w*|proposal|memorandum|offer\w*|refus\w*|options?)\b",
    re.IGNORECASE,
)
_CONTEXT = re.compile(
    r"\b(since|began|begun|previous\w*|earlier|last (?:month|year|week)|in (?:19|20)\d\d|"
    r"history|first round|initial|invasion|annex\w*|long|background|years?)\b",
    re.IGNORECASE,
)
_QUOTE = re.compile(r"[\"“”]|(?:^|\s)['‘][^']{12,}['’]")

SECTIONS: dict[Audience, tuple[str, ...]] = {
    Audience.executive: ("Bottom line", "Key points", "What happens next"),
    Audience.analyst: ("Outcome", "Positions and demands", "Context"),
    Audience.general: ("Background", "What happened", "What happens next"),
}


def audience_weight(text: str, options: BriefOptions, query: set[str]) -> float:
    """Return how much ``text`` suits the audience: above 1 favours it, below 1 disfavours it.

    ``query`` holds the stems of a free-text audience, whose sentences about what it names
    are favoured.
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
        weight *= 1.0 if count_words(text) <= 30 else 0.85
        if query:  # a free-text audience: favour sentences about what it names
            hits = len(query & set(content_stems(text)))
            weight *= 1.0 + min(hits, 2)
    return weight


def section_of(text: str, preset: Audience) -> int:
    """Return the index, in ``SECTIONS[preset]``, of the section ``text`` belongs in."""
    if preset is Audience.executive:
        return 2 if _NEXT.search(text) and not _OUTCOME.search(text) else 1
    if preset is Audience.analyst:
        if _ATTRIBUTION.search(text):
            return 1
        return 2 if _CONTEXT.search(text) else 0
    if _CONTEXT.search(text):
        return 0
    return 2 if _NEXT.search(text) and not _OUTCOME.search(text) else 1
