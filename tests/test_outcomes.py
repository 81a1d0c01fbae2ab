"""Concrete outcomes come first and a briefing reads in order (issue 11).

The sentences and articles here are written for these tests; none comes from the seeds.
"""

from __future__ import annotations

import pytest

from briefer.engines.audience import SECTION_KINDS, Kind, kind_of, outcome_strength
from briefer.engines.extractive.engine import ExtractiveEngine
from briefer.ingest.sources import read_sources
from briefer.models import Audience, BriefOptions
from briefer.pipeline import build_briefing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The city council approved a $4.2 million budget for road repairs on Tuesday.", 2),
        ("The two carriers agreed to exchange 300 engineers under the new partnership.", 2),
        ("Negotiators said they would release 40 detainees by Friday.", 2),
        ("The port authority will reopen the northern terminal next week.", 2),
        ("The union signed the contract after a late-night session.", 1),
        ("Both sides agreed to keep talking.", 1),
        ("The talks lasted about two hours in a hotel near the airport.", 0),
        ("In 2019 the two sides agreed to a truce that collapsed within weeks.", 0),
        ("The minister criticised the plan as costly and vague.", 0),
        ("Protesters gathered outside the building for a third day.", 0),
    ],
)
def test_outcome_strength_recognises_decisions_with_a_figure_or_a_date(
    text: str, expected: int
) -> None:
    assert outcome_strength(text) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Flooding closed the main highway and cut power to thousands of homes.", Kind.happened),
        ("The board approved 1,200 job cuts on Thursday.", Kind.agreed),
        ("The mayor said the cuts would hurt the poorest districts most.", Kind.position),
        ("Inspectors are expected to visit the plant next month.", Kind.next),
        ("The plant had been closed twice for safety failures since 2015.", Kind.background),
    ],
)
def test_kind_of_says_what_a_statement_does_in_a_briefing(text: str, kind: Kind) -> None:
    assert kind_of(text) == kind


def test_every_preset_reads_happened_agreed_positions_next_background() -> None:
    for preset, sections in SECTION_KINDS.items():
        order = [min(kinds) for _, kinds in sections if kinds]
        if preset is Audience.executive:
            # the bottom line (the top pick) says what happened; the agreement comes next,
            # before the remaining key points
            assert sections[0][0] == "Bottom line" and order[0] == Kind.agreed
            order = order[1:]
        assert order == sorted(order), preset
        held = {kind for _, kinds in sections for kind in kinds}
        assert held == set(Kind), preset


_STRIKE = """City transit strike ends after three weeks

Bus and tram drivers in the city ended a three-week strike on Sunday after union leaders and \
transport officials reached a deal in talks that ran through the night.

The strike had left hundreds of thousands of commuters without public transport and forced \
schools to shorten their days.

Union leader Maria Olsen said the drivers had won respect as well as better pay.

Transport officials said services would return to normal gradually over the coming days.

The dispute began when the transport authority proposed longer shifts for drivers.

Many drivers said they had been working unpaid overtime for years.

Under the deal, the authority will hire 450 new drivers by March and raise wages by 6 percent.
"""

_STRIKE_2 = """Drivers go back to work as city strike ends

Bus and tram drivers ended their three-week strike on Sunday after union leaders and \
transport officials reached a deal in overnight talks.

Commuters had faced long walks and crowded taxis since the strike began.

The union's leader, Maria Olsen, said drivers had been pushed too far by the authority.

Officials said full services should be running again by the end of the week.

The strike was the longest in the city since the transport authority was founded.
"""


@pytest.fixture(scope="module")
def strike_sources(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("strike")
    (folder / "a.txt").write_text(_STRIKE, encoding="utf-8")
    (folder / "b.txt").write_text(_STRIKE_2, encoding="utf-8")
    return read_sources([str(folder / "a.txt"), str(folder / "b.txt")])


@pytest.mark.parametrize("audience", ["executive", "analyst", "general"])
def test_a_late_single_source_outcome_wins_a_place(strike_sources, audience: str) -> None:  # type: ignore[no-untyped-def]
    briefing = build_briefing(
        strike_sources, ExtractiveEngine(), BriefOptions(max_words=150, audience=audience)
    )
    texts = [b.text for b in briefing.bullets]
    deal = next(b for b in briefing.bullets if "450 new drivers" in b.text)
    assert deal.n_sources == 1  # one report carries it, and it still gets in
    assert sum(len(t.split()) for t in texts) <= 150


@pytest.mark.parametrize("audience", list(Audience))
def test_sections_follow_the_briefing_order(strike_sources, audience: Audience) -> None:  # type: ignore[no-untyped-def]
    briefing = build_briefing(
        strike_sources, ExtractiveEngine(), BriefOptions(max_words=250, audience=audience.value)
    )
    titles = [title for title, _ in SECTION_KINDS[audience]]
    shown = [s.title for s in briefing.sections if s.title in titles]
    assert shown == [t for t in titles if t in shown]
    agreed = next(s for s in briefing.sections if s.title == "What was agreed")
    assert any("450 new drivers" in b.text for b in agreed.bullets)
    positions = [i for i, s in enumerate(briefing.sections) if s.title == "What happens next"]
    assert positions and positions[0] > briefing.sections.index(agreed)


def test_cues_find_in_ascii_text_what_their_case_insensitive_patterns_find() -> None:
    from briefer.engines import audience

    cues = [value for value in vars(audience).values() if isinstance(value, audience._Cue)]
    texts = [
        "PREVIOUSLY, the Talks Began In 2019; They WILL Meet NEXT Monday.",
        "Officials SAID the Deal was SIGNED and would be extended by June 5.",
        "Years of History: an INVASION, an Annexation, a long background.",
        "Nothing here.",
        "Earlier this Month the sides Agreed; Kyiv Expects to return 1,200 by Friday.",
    ]
    assert len(cues) >= 6
    for cue in cues:
        assert not any(char.isupper() for char in cue.lowercase.pattern)  # \W \S \D change
        found = [cue.search(text) for text in texts]
        assert found == [cue.any_case.search(text) is not None for text in texts]
        assert any(found), cue.lowercase.pattern
