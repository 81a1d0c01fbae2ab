"""The pipeline's bookkeeping: repair rounds, rejections kept once, ids of rejected bullets.

A scripted engine stands in for a model: it returns fixed claims, repairs and drafts and
records what the pipeline asked it. Sentences come from the seed articles.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterable, Iterator, Sequence

import pytest

from briefer.models import (
    Briefing,
    BriefOptions,
    Chunk,
    Citation,
    Claim,
    Draft,
    DraftBullet,
    DraftSection,
    Passage,
    PromptRef,
    RejectedClaim,
    Source,
    Span,
    Usage,
)
from briefer.pipeline import _collector_paused, build_briefing

PARAGRAPHS = [
    "Monday’s talks, held in Istanbul, Turkey, lasted just over an hour. The only concrete "
    "outcome was a commitment to exchange all seriously wounded or ill prisoners of war, along "
    "with those under the age of 25.",
    "Medinsky also said Russia would return the bodies of 6,000 Ukrainian soldiers in the coming "
    "week. In return, Zelensky stated that Ukraine would also hand over 6,000 Russian bodies, "
    "though he gave no specific timeframe.",
]
OPTIONS = BriefOptions(audience="analyst", max_words=250)


def _source() -> Source:
    text = "\n\n".join(PARAGRAPHS)
    blocks = []
    for paragraph in PARAGRAPHS:
        start = text.index(paragraph)
        blocks.append(Span(start=start, end=start + len(paragraph)))
    return Source(
        id="S1",
        title="Russian Ukraine Talk",
        origin="s1.txt",
        text=text,
        blocks=blocks,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


def _claim(claim_id: str, text: str, passage_id: str, quote: str) -> Claim:
    return Claim(id=claim_id, text=text, citations=[Citation(passage_id=passage_id, quote=quote)])


TALKS = _claim(
    "K1", "The talks in Istanbul lasted just over an hour.", "S1.P1", "lasted just over an hour"
)
BODIES = _claim(
    "K2",
    "Russia would return the bodies of 6,000 Ukrainian soldiers.",
    "S1.P2",
    "Russia would return the bodies of 6,000 Ukrainian soldiers",
)
WRONG_NUMBER = BODIES.model_copy(
    update={"text": "Russia would return the bodies of 12,500 Ukrainian soldiers."}
)
STILL_WRONG = BODIES.model_copy(
    update={"text": "Russia would return the bodies of 7,000 Ukrainian soldiers."}
)
FABRICATED = _claim(
    "K2",
    "Russia would return the bodies of 6,000 Ukrainian soldiers.",
    "S1.P2",
    "Russia pledged to hand back 6,000 bodies",
)


class ScriptedEngine:
    """An engine that answers from a script and records each repair request."""

    name = "scripted"
    model: str | None = None

    def __init__(
        self,
        claims: Sequence[Claim],
        repairs: Sequence[Sequence[Claim]] = (),
        bullets: Sequence[DraftBullet] = (),
    ) -> None:
        self.claims = list(claims)
        self.repairs = [list(r) for r in repairs]
        self.bullets = list(bullets)
        self.asked: list[list[tuple[str, str]]] = []  # per repair call: (claim id, stage)

    def map_chunks(self, chunks: Sequence[Chunk], options: BriefOptions) -> list[Claim]:
        return list(self.claims)

    def repair_claims(
        self, rejected: Sequence[RejectedClaim], chunks: dict[str, Chunk], options: BriefOptions
    ) -> list[Claim]:
        self.asked.append([(r.claim.id, r.stage) for r in rejected])
        round_number = len(self.asked) - 1
        return self.repairs[round_number] if round_number < len(self.repairs) else []

    def reduce_claims(
        self,
        claims: Sequence[Claim],
        sources: Sequence[Source],
        passages: dict[str, Passage],
        options: BriefOptions,
    ) -> Draft:
        bullets = self.bullets or [DraftBullet(text=c.text, claim_ids=[c.id]) for c in claims]
        return Draft(title="Talks", sections=[DraftSection(title="Outcome", bullets=bullets)])

    def prompt_refs(self) -> list[PromptRef]:
        return []

    def usage(self) -> Usage:
        return Usage()


class RoundsEngine(ScriptedEngine):
    """A scripted engine that asks for ``repair_rounds`` rounds of repair."""

    def __init__(
        self, repair_rounds: int, claims: Sequence[Claim], repairs: Sequence[Sequence[Claim]]
    ) -> None:
        super().__init__(claims, repairs)
        self.repair_rounds = repair_rounds


def _brief(engine: ScriptedEngine) -> Briefing:
    return build_briefing([_source()], engine, OPTIONS)


def test_a_repaired_claim_that_still_fails_is_rejected_once_with_its_latest_reasons() -> None:
    engine = ScriptedEngine([TALKS, WRONG_NUMBER], repairs=[[STILL_WRONG]])
    briefing = _brief(engine)
    assert len(briefing.rejected) == 1
    rejection = briefing.rejected[0]
    assert (rejection.claim.id, rejection.stage) == ("K2", "repair")
    assert rejection.claim.text == STILL_WRONG.text
    assert [r.code for r in rejection.reasons] == ["number_not_in_evidence"]
    assert "7,000" in rejection.reasons[0].message
    assert [b.text for b in briefing.bullets] == [TALKS.text]


def test_a_claim_fixed_by_repair_is_shown_and_no_longer_rejected() -> None:
    engine = ScriptedEngine([TALKS, FABRICATED], repairs=[[BODIES]])
    briefing = _brief(engine)
    assert engine.asked == [[("K2", "map")]]
    assert briefing.rejected == []
    assert [b.text for b in briefing.bullets] == [TALKS.text, BODIES.text]
    assert briefing.bullets[1].citations == BODIES.citations


def test_an_engine_that_names_no_rounds_is_asked_to_repair_once() -> None:
    engine = ScriptedEngine([TALKS, WRONG_NUMBER], repairs=[[STILL_WRONG], [BODIES]])
    briefing = _brief(engine)
    assert len(engine.asked) == 1
    assert [(r.claim.id, r.stage) for r in briefing.rejected] == [("K2", "repair")]


def test_more_repair_rounds_resend_what_still_fails_until_it_is_fixed() -> None:
    engine = RoundsEngine(3, [TALKS, WRONG_NUMBER], repairs=[[STILL_WRONG], [BODIES]])
    briefing = _brief(engine)
    # Round two re-sends the round-one failure with its repair-stage reasons; round three
    # is not needed.
    assert engine.asked == [[("K2", "map")], [("K2", "repair")]]
    assert briefing.rejected == []
    assert BODIES.text in [b.text for b in briefing.bullets]


def test_repair_rounds_are_bounded_by_the_engine_setting() -> None:
    engine = RoundsEngine(3, [TALKS, WRONG_NUMBER], repairs=[[STILL_WRONG]] * 5)
    briefing = _brief(engine)
    assert len(engine.asked) == 3
    assert [(r.claim.id, r.stage) for r in briefing.rejected] == [("K2", "repair")]


def test_zero_repair_rounds_asks_nothing() -> None:
    engine = RoundsEngine(0, [TALKS, WRONG_NUMBER], repairs=[[BODIES]])
    briefing = _brief(engine)
    assert engine.asked == []
    assert [(r.claim.id, r.stage) for r in briefing.rejected] == [("K2", "map")]


def test_a_repair_of_a_claim_that_was_not_rejected_is_ignored() -> None:
    other = TALKS.model_copy(update={"text": "The talks in Istanbul ended just over an hour in."})
    engine = ScriptedEngine([TALKS, WRONG_NUMBER], repairs=[[other]])
    briefing = _brief(engine)
    assert [b.text for b in briefing.bullets] == [TALKS.text]
    assert [r.claim.id for r in briefing.rejected] == ["K2"]


def test_rejected_bullets_get_ids_that_no_shown_bullet_has() -> None:
    bullets = [
        DraftBullet(text=TALKS.text, claim_ids=["K1"]),
        DraftBullet(text="Russia accepted the ceasefire.", claim_ids=["K7"]),
        DraftBullet(text=BODIES.text, claim_ids=["K2"]),
        DraftBullet(text="The talks lasted 3 hours.", claim_ids=["K1"]),
    ]
    engine = ScriptedEngine([TALKS, BODIES], bullets=bullets)
    briefing = _brief(engine)
    assert [b.id for b in briefing.bullets] == ["B1", "B2"]
    assert [(r.claim.id, r.stage) for r in briefing.rejected] == [
        ("R1", "reduce"),
        ("R2", "reduce"),
    ]
    assert [r.reasons[0].code for r in briefing.rejected] == [
        "unknown_claim",
        "number_not_in_evidence",
    ]


def test_fit_sections_never_exceeds_the_budget_or_cuts_a_bullet() -> None:
    from briefer.models import Bullet, Section
    from briefer.pipeline import fit_sections

    def bullet(n: int) -> Bullet:
        text = " ".join(["w"] * n)
        return Bullet(id="B1", text=text, citations=[], claim_ids=[], source_ids=[], n_sources=1)

    words = [12, 30, 5, 8, 40, 3]
    sections = [
        Section(title="A", bullets=[bullet(n) for n in words[:3]]),
        Section(title="B", bullets=[bullet(n) for n in words[3:]]),
    ]
    for budget in range(0, 100, 7):
        kept = [b.words for s in fit_sections(sections, budget) for b in s.bullets]
        assert sum(kept) <= budget
        assert all(n in words for n in kept)
    fitted = fit_sections(sections, 30)
    assert [[b.words for b in s.bullets] for s in fitted] == [[12, 5], [8, 3]]
    assert [b.id for s in fitted for b in s.bullets] == ["B1", "B2", "B3", "B4"]


def test_each_version_of_a_disagreement_is_checked_against_its_own_evidence() -> None:
    from briefer.models import DraftVersion

    russian = _claim(
        "K3",
        "Ukraine would hand over 6,000 Russian bodies.",
        "S1.P2",
        "Ukraine would also hand over 6,000 Russian bodies",
    )
    prisoners = _claim(
        "K1",
        "The only concrete outcome was a commitment to exchange all seriously wounded or ill "
        "prisoners of war, along with those under the age of 25.",
        "S1.P1",
        "The only concrete outcome was a commitment to exchange all seriously wounded or ill "
        "prisoners of war, along with those under the age of 25.",
    )
    # The second version borrows "25" from the other side's evidence: it must not pass.
    borrowed = DraftVersion(text="Ukraine would hand over 25 Russian bodies.", claim_ids=["K3"])
    honest = DraftVersion(text=prisoners.text, claim_ids=["K1"])
    differ = DraftBullet(text="bodies", claim_ids=["K1", "K3"], versions=[honest, borrowed])
    engine = ScriptedEngine([prisoners, russian], bullets=[differ])
    briefing = _brief(engine)
    assert briefing.bullets == []
    [rejected] = briefing.rejected
    assert [r.code for r in rejected.reasons] == ["number_not_in_evidence"]


def test_the_collector_is_paused_for_the_block_and_left_as_it_was() -> None:
    was_running = gc.isenabled()
    try:
        for running in (True, False):
            (gc.enable if running else gc.disable)()
            with _collector_paused():
                assert not gc.isenabled()
            assert gc.isenabled() is running
        gc.enable()
        with pytest.raises(KeyError), _collector_paused():
            raise KeyError("a failing stage")
        assert gc.isenabled()
    finally:
        (gc.enable if was_running else gc.disable)()


class CollectorWatchingEngine(ScriptedEngine):
    """A scripted engine that notes whether the collector runs while each stage works."""

    def __init__(self, claims: Sequence[Claim]) -> None:
        super().__init__(claims)
        self.collector_running: dict[str, bool] = {}

    def map_chunks(self, chunks: Sequence[Chunk], options: BriefOptions) -> list[Claim]:
        self.collector_running["map"] = gc.isenabled()
        return super().map_chunks(chunks, options)

    def reduce_claims(
        self,
        claims: Sequence[Claim],
        sources: Sequence[Source],
        passages: dict[str, Passage],
        options: BriefOptions,
    ) -> Draft:
        self.collector_running["reduce"] = gc.isenabled()
        return super().reduce_claims(claims, sources, passages, options)


class StreamingCollectorWatchingEngine(CollectorWatchingEngine):
    """The same, streaming its claims as the chunks come (as the LLM engine does)."""

    def map_stream(self, chunks: Iterable[Chunk], options: BriefOptions) -> Iterator[list[Claim]]:
        self.collector_running["map"] = gc.isenabled()
        list(chunks)
        yield list(self.claims)


def test_an_in_process_engine_works_with_the_collector_paused_a_streaming_one_does_not() -> None:
    assert gc.isenabled()
    offline = CollectorWatchingEngine([TALKS])
    assert _brief(offline).bullets
    assert offline.collector_running == {"map": False, "reduce": False}
    assert gc.isenabled()  # resumed after the run
    streaming = StreamingCollectorWatchingEngine([TALKS])
    assert _brief(streaming).bullets
    assert streaming.collector_running == {"map": True, "reduce": True}
