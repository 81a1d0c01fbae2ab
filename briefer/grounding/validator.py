"""Grounding validator: ``Claim`` / ``Bullet`` + cited ``Passage`` -> ``Reason`` list.

Shared by every engine. A statement is grounded when it cites passages that exist, every
quote is verbatim (after ``normalize_for_match``) in the passage it cites, and every number
in the statement's own text also occurs among the numbers of the cited passages (v1); and
when the cited passages support what it says (v2: ``briefer.grounding.support``).

An extractive claim (a sentence of its passage, quoting itself) passes all of them by
construction; it is recognised as written and skips them (``_holds_by_construction``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from briefer.grounding.matching import extract_numbers, find_numbers, normalize_for_match
from briefer.grounding.support import check_support, is_verbatim_as_written
from briefer.models import Bullet, Citation, Claim, Passage, Reason, RejectedClaim

# --- checks --------------------------------------------------------------------------


class _Evidence:
    """Cited passages, with their normalized text and numbers computed once per id."""

    def __init__(self, passages: Mapping[str, Passage]) -> None:
        self._passages = passages
        self._texts: dict[str, str] = {}
        self._numbers: dict[str, frozenset[Decimal]] = {}
        self._support: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[Reason]] = {}

    def __contains__(self, passage_id: str) -> bool:
        return passage_id in self._passages

    def text(self, passage_id: str) -> str:
        if passage_id not in self._texts:
            self._texts[passage_id] = normalize_for_match(self._passages[passage_id].text)
        return self._texts[passage_id]

    def source_text(self, passage_id: str) -> str:
        return self._passages[passage_id].text

    def numbers(self, passage_id: str) -> frozenset[Decimal]:
        if passage_id not in self._numbers:
            self._numbers[passage_id] = frozenset(extract_numbers(self._passages[passage_id].text))
        return self._numbers[passage_id]

    def support(self, text: str, sources: tuple[str, ...], quotes: tuple[str, ...]) -> list[Reason]:
        """Return ``check_support`` of a statement that passed v1's checks, once per call.

        Its reasons depend on these texts alone; the same sentence repeated in a pile
        with the same passage (a near-duplicate article) is checked once.
        """
        key = (text, sources, quotes)
        if key not in self._support:
            self._support[key] = check_support(text, sources, quotes, numbers_checked=True)
        return self._support[key]


def check_claim(
    claim: Claim, passages: Mapping[str, Passage], *, support: bool = True
) -> list[Reason]:
    """Return why ``claim`` is not grounded in ``passages`` (an empty list: it is).

    v1 checks that citations exist, quotes are verbatim and numbers occur. With ``support``
    (the default), a claim that passes them must also pass ``briefer.grounding.support``'s checks.
    """
    return _check(claim.text, claim.citations, _Evidence(passages), support)


def check_bullet(
    bullet: Bullet, passages: Mapping[str, Passage], *, support: bool = True
) -> list[Reason]:
    """Return why ``bullet`` is not grounded in ``passages`` (an empty list: it is)."""
    return _check(bullet.text, bullet.citations, _Evidence(passages), support)


def validate_claims(
    claims: Sequence[Claim], passages: Mapping[str, Passage], stage: str, *, support: bool = True
) -> tuple[list[Claim], list[RejectedClaim]]:
    """Return the grounded claims and, for the rest, why each was rejected at ``stage``."""
    evidence = _Evidence(passages)
    accepted: list[Claim] = []
    rejected: list[RejectedClaim] = []
    for claim in claims:
        reasons = _check(claim.text, claim.citations, evidence, support)
        if reasons:
            rejected.append(RejectedClaim(claim=claim, stage=stage, reasons=reasons))
        else:
            accepted.append(claim)
    return accepted, rejected


def _check(
    text: str, citations: Sequence[Citation], evidence: _Evidence, support: bool
) -> list[Reason]:
    if _holds_by_construction(text, citations, evidence):
        return []  # an extractive claim passes every check below by construction: skipped
    if not citations:
        return [Reason(code="no_citation", message="It cites no passage as evidence.")]
    reasons: list[Reason] = []
    unknown = list(dict.fromkeys(c.passage_id for c in citations if c.passage_id not in evidence))
    reasons.extend(
        Reason(code="unknown_passage", message=f"Cited passage {pid} does not exist.")
        for pid in unknown
    )
    known = list(dict.fromkeys(c.passage_id for c in citations if c.passage_id in evidence))
    for citation in citations:
        if citation.passage_id in evidence and not _quote_is_in(citation, evidence):
            reasons.append(_quote_reason(citation))
    # An extractive claim is a sentence of its passage that quotes itself: its text is its one
    # quote, found verbatim in the cited passage, so every number it states is the passage's
    # own and the number check holds by construction. A claim in other words than its quote
    # (a model's) keeps the check.
    verbatim = (
        len(citations) == 1
        and citations[0].quote == text
        and bool(known)
        and text in evidence.source_text(citations[0].passage_id)
    )
    if known and not verbatim:
        missing = _missing_numbers(text, (evidence.numbers(pid) for pid in known))
        if missing:
            reasons.append(
                Reason(
                    code="number_not_in_evidence",
                    message=f"{_plural(missing, 'Number')} {', '.join(missing)} not found in "
                    f"cited {_plural(known, 'passage')} {', '.join(known)}.",
                )
            )
    if support and known and not reasons:
        # Support is judged on real evidence only: a statement that fails the checks above
        # keeps exactly their reasons.
        quotes = tuple(c.quote for c in citations)
        reasons += evidence.support(text, tuple(evidence.source_text(pid) for pid in known), quotes)
    return list(dict.fromkeys(reasons))  # the same bad quote cited twice is one reason


def _holds_by_construction(text: str, citations: Sequence[Citation], evidence: _Evidence) -> bool:
    """Tell whether the statement is grounded by construction, as an extractive claim is.

    Such a statement cites one passage and quotes its own text, which is found there as
    written, where a sentence starts, and ends a sentence (``is_verbatim_as_written``). The
    checks in ``_check`` would all pass it: the passage exists; the quote, found as written
    and not blank, is found; the number check is skipped for a statement that is its own
    quote; and ``check_support`` returns at once, as the statement ``is_verbatim`` in its
    evidence. So they are skipped. A statement shaped otherwise (a model's) or not found so
    (a sentence after a semicolon) goes through every check.
    """
    if len(citations) != 1:
        return False
    citation = citations[0]
    if citation.quote != text or citation.passage_id not in evidence:
        return False
    return is_verbatim_as_written(text, evidence.source_text(citation.passage_id))


def _quote_is_in(citation: Citation, evidence: _Evidence) -> bool:
    # A quote found as written (an extractive claim's always is: it is a slice of its passage)
    # is found after normalising too: casefolding and the quote and dash replacements map each
    # character on its own, and collapsing whitespace keeps a slice a slice. So only a quote
    # not found as written is normalised, with the passage, and searched again.
    if citation.quote in evidence.source_text(citation.passage_id) and not citation.quote.isspace():
        return bool(citation.quote)
    quote = normalize_for_match(citation.quote)
    return bool(quote) and quote in evidence.text(citation.passage_id)


def _quote_reason(citation: Citation) -> Reason:
    quote = " ".join(citation.quote.split())
    if not quote:
        message = f"The quote from passage {citation.passage_id} is empty."
    else:
        shown = quote if len(quote) <= 60 else quote[:59].rstrip() + "…"
        message = f'Quote "{shown}" is not in passage {citation.passage_id}.'
    return Reason(code="quote_not_found", message=message)


def _missing_numbers(text: str, available: Iterable[frozenset[Decimal]]) -> list[str]:
    values = frozenset().union(*available)
    missing = (n.text for n in find_numbers(text) if n.value not in values)
    return list(dict.fromkeys(missing))


def _plural(items: Sequence[str], noun: str) -> str:
    return noun if len(items) == 1 else f"{noun}s"
