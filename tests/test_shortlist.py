"""Tests of engines.llm.shortlist: ranking validated claims locally and keeping the best ones.

Claim texts are sentences of the seed articles (the Istanbul talks of 2 June 2025).
"""

from __future__ import annotations

import hashlib

import pytest

from briefer.engines.llm.shortlist import (
    SHORTLIST_FACTOR,
    claim_tokens,
    rank_claims,
    shortlist_claims,
)
from briefer.models import Audience, BriefOptions, Citation, Claim, Source, Span

BODIES = [
    "Russia would return the bodies of 6,000 Ukrainian soldiers in the coming week.",
    "Medinsky said Russia would return the bodies of 6,000 killed Ukrainian soldiers.",
    "Russia will hand back the bodies of 6,000 Ukrainian soldiers, Medinsky said.",
]
OCCUPIES = (
    "Russia currently occupies about 20% of Ukrainian land, including Crimea, which it annexed "
    "in 2014."
)
DAMAGE = (
    "Kyiv's drone attack on four Russian airfields caused substantial damage estimated at "
    "$7 billion."
)
CRITICIZED = "Zelensky criticized Russia for not sharing its memorandum ahead of time."
PUTIN = "Putin did not attend the meeting, delegating a low-level team instead."
TEXTS = "Neither side has officially published the full texts of their respective proposals."
EXCHANGE = "Both sides agreed to work on a new prisoner exchange."
OPTIONS = BriefOptions(max_words=250)


def source(source_id: str, duplicate_of: str | None = None) -> Source:
    """Return a minimal source (the shortlist reads only ids and republications)."""
    text = f"Article {source_id}."
    return Source(
        id=source_id,
        title=f"Report {source_id}",
        origin=f"{source_id.lower()}.txt",
        text=text,
        blocks=[Span(start=0, end=len(text))],
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        duplicate_of=duplicate_of,
    )


def claim(claim_id: str, text: str, passage_id: str) -> Claim:
    """Return a validated-looking claim quoting itself from ``passage_id``."""
    return Claim(id=claim_id, text=text, citations=[Citation(passage_id=passage_id, quote=text)])


def sources(count: int) -> list[Source]:
    return [source(f"S{n}") for n in range(1, count + 1)]


def ids(claims: list[Claim]) -> list[str]:
    return [c.id for c in claims]


def test_a_fact_several_sources_report_outranks_a_single_source_one() -> None:
    claims = [
        claim("K1", OCCUPIES, "S1.P1"),  # single source, and favoured by the context cue
        claim("K2", BODIES[0], "S1.P2"),
        claim("K3", BODIES[1], "S2.P2"),
    ]
    groups = rank_claims(claims, sources(2), OPTIONS)
    assert [g.members for g in groups] == [(1, 2), (0,)]
    assert [g.n_sources for g in groups] == [2, 1]


def test_a_republished_copy_counts_once() -> None:
    claims = [
        claim("K1", OCCUPIES, "S1.P1"),
        claim("K2", BODIES[0], "S1.P2"),
        claim("K3", BODIES[1], "S2.P2"),
    ]
    copies = [source("S1"), source("S2", duplicate_of="S1")]
    groups = rank_claims(claims, copies, OPTIONS)
    bodies = next(g for g in groups if 1 in g.members)
    assert bodies.n_sources == 1
    # With corroboration gone, the earlier passage and the context cue rank first.
    assert groups[0].members == (0,)


def test_an_earlier_passage_outranks_a_later_one_of_equal_weight() -> None:
    claims = [claim("K1", TEXTS, "S1.P9"), claim("K2", PUTIN, "S2.P1")]
    assert [g.members for g in rank_claims(claims, sources(2), OPTIONS)] == [(1,), (0,)]


@pytest.mark.parametrize(
    ("audience", "first"),
    [
        (Audience.executive.value, DAMAGE),  # a figure and an outcome
        (Audience.analyst.value, CRITICIZED),  # an attributed position
        ("negotiators of the next prisoner exchange", EXCHANGE),  # free text: what it names
    ],
)
def test_ranking_follows_the_audience(audience: str, first: str) -> None:
    texts = [CRITICIZED, EXCHANGE, DAMAGE]
    claims = [claim(f"K{n}", t, f"S{n}.P1") for n, t in enumerate(texts, start=1)]
    groups = rank_claims(claims, sources(3), BriefOptions(audience=audience))
    assert claims[groups[0].members[0]].text == first


def test_nothing_is_cut_when_the_claims_fit() -> None:
    claims = [claim(f"K{n}", t, f"S{n}.P1") for n, t in enumerate([*BODIES, OCCUPIES], 1)]
    budget = sum(claim_tokens(c) for c in claims)
    kept = shortlist_claims(claims, sources(4), BriefOptions(max_words=1), budget)
    assert kept == claims


def _mixed_claims() -> list[Claim]:
    """Single-source claims from early articles, then one fact three late articles report."""
    singles = [OCCUPIES, DAMAGE, CRITICIZED, PUTIN, TEXTS, EXCHANGE]
    claims = [claim(f"K{n}", t, f"S{n}.P1") for n, t in enumerate(singles, start=1)]
    for n, text in enumerate(BODIES, start=len(singles) + 1):
        claims.append(claim(f"K{n}", text, f"S{n}.P3"))
    return claims


def test_the_kept_claims_keep_their_order_and_a_late_fact_survives() -> None:
    claims = _mixed_claims()
    budget = sum(claim_tokens(c) for c in claims[6:]) + claim_tokens(claims[0])
    kept = shortlist_claims(claims, sources(9), BriefOptions(max_words=1), budget)
    assert ids(kept) == ["K1", "K7", "K8", "K9"]  # original order, not rank order


def test_a_group_is_kept_or_left_out_whole_at_every_budget() -> None:
    claims = _mixed_claims()
    groups = rank_claims(claims, sources(9), OPTIONS)
    assert any(len(g.members) == 3 for g in groups)
    total = sum(claim_tokens(c) for c in claims)
    for budget in range(0, total + 1, 7):
        kept = set(ids(shortlist_claims(claims, sources(9), BriefOptions(max_words=1), budget)))
        for group in groups:
            members = {claims[i].id for i in group.members}
            assert members <= kept or not members & kept, (budget, members)
        assert kept  # the best group is kept even alone over the budget


def test_the_word_allowance_keeps_more_than_the_token_budget() -> None:
    claims = _mixed_claims()
    words = sum(len(c.text.split()) for c in claims)
    max_words = -(-words // SHORTLIST_FACTOR)  # the allowance just covers every claim
    kept = shortlist_claims(claims, sources(9), BriefOptions(max_words=max_words), 10)
    assert kept == claims
    fewer = shortlist_claims(claims, sources(9), BriefOptions(max_words=max_words // 2), 10)
    assert 0 < len(fewer) < len(claims)


def test_claims_far_apart_in_a_long_list_still_group() -> None:
    filler = "Expectations had been low leading into the meeting."
    texts = [BODIES[0], *[filler] * 598, BODIES[1]]
    claims = [claim(f"K{n}", t, f"S{n}.P1") for n, t in enumerate(texts, start=1)]
    groups = rank_claims(claims, sources(len(claims)), OPTIONS)
    assert sorted(len(g.members) for g in groups) == [2, 598]
    assert (0, 599) in [g.members for g in groups]
