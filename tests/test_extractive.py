"""The offline engine end to end on the bundled example: budgets, grounding, audiences."""

from __future__ import annotations

from pathlib import Path

import pytest

from briefer.extractive import ExtractiveEngine
from briefer.models import LENGTH_WORDS, Briefing, BriefOptions, Length
from briefer.pipeline import build_briefing
from briefer.sources import read_sources
from briefer.synthesis import count_words

ARTICLES = Path(__file__).parents[1] / "examples" / "istanbul-talks" / "articles"


@pytest.fixture(scope="module")
def sources():  # type: ignore[no-untyped-def]
    return read_sources([str(ARTICLES)])


def _brief(sources, **options) -> Briefing:  # type: ignore[no-untyped-def]
    return build_briefing(sources, ExtractiveEngine(), BriefOptions(**options))


def _words(briefing: Briefing) -> int:
    return sum(count_words(b.text) for b in briefing.bullets)


@pytest.mark.parametrize("length", list(Length))
def test_length_presets_fill_but_never_exceed_their_budget(sources, length) -> None:  # type: ignore[no-untyped-def]
    budget = LENGTH_WORDS[length]
    briefing = _brief(sources, length=length, max_words=budget)
    assert budget * 0.75 <= _words(briefing) <= budget


@pytest.mark.parametrize("max_words", [10, 37, 80, 150, 333, 600])
def test_word_budget_is_never_exceeded(sources, max_words) -> None:  # type: ignore[no-untyped-def]
    briefing = _brief(sources, length=None, max_words=max_words)
    assert _words(briefing) <= max_words


def test_every_bullet_is_a_whole_sentence_quoted_from_its_sources(sources) -> None:  # type: ignore[no-untyped-def]
    briefing = _brief(sources, length=Length.long, max_words=500)
    texts = {s.id: s.text for s in sources}
    passages = {p.id: p for p in briefing.passages}
    assert briefing.bullets
    for bullet in briefing.bullets:
        assert bullet.text[-1] in ".!\"'”’"
        assert any(bullet.text in texts[sid] for sid in bullet.source_ids)
        for citation in bullet.citations:
            passage = passages[citation.passage_id]
            assert texts[passage.source_id][passage.start : passage.end] == passage.text
            assert citation.quote in passage.text


def test_same_fact_in_several_sources_is_one_bullet_citing_them_all(sources) -> None:  # type: ignore[no-untyped-def]
    briefing = _brief(sources, length=Length.long, max_words=500)
    multi = [b for b in briefing.bullets if len(b.source_ids) >= 3]
    assert multi, "expected facts reported by the CNN report, its rewrite and its republication"
    for bullet in briefing.bullets:
        cited = {c.passage_id.split(".")[0] for c in bullet.citations}
        assert cited == set(bullet.source_ids)


def test_republished_report_counts_once(sources) -> None:  # type: ignore[no-untyped-def]
    duplicate = next(s for s in sources if s.duplicate_of)
    briefing = _brief(sources, length=Length.long, max_words=500)
    both = [
        b for b in briefing.bullets if {duplicate.id, duplicate.duplicate_of} <= set(b.source_ids)
    ]
    assert both
    for bullet in both:
        assert bullet.n_sources == len(bullet.source_ids) - 1


def test_no_page_furniture_or_unrelated_article_in_any_briefing(sources) -> None:  # type: ignore[no-untyped-def]
    for audience in ("executive", "analyst", "general"):
        briefing = _brief(sources, length=Length.long, max_words=500, audience=audience)
        text = " ".join(b.text for b in briefing.bullets)
        for furniture in ("Blumenthal", "Subscribe", "app store", "Related", "UPI", "Thune"):
            assert furniture not in text


def test_audiences_change_selection_and_order(sources) -> None:  # type: ignore[no-untyped-def]
    picked = {
        audience: [b.text for b in _brief(sources, audience=audience).bullets]
        for audience in ("executive", "analyst", "general")
    }
    assert picked["executive"] != picked["analyst"] != picked["general"]
    assert set(picked["executive"]) != set(picked["analyst"])
    digits = {a: sum(any(ch.isdigit() for ch in t) for t in texts) for a, texts in picked.items()}
    assert digits["executive"] >= digits["general"]
    attributed = {
        a: sum(" said" in t or "reiterated" in t for t in texts) for a, texts in picked.items()
    }
    assert attributed["analyst"] >= attributed["general"]


def test_audience_presets_shape_the_sections(sources) -> None:  # type: ignore[no-untyped-def]
    titles = {
        audience: [s.title for s in _brief(sources, audience=audience).sections]
        for audience in ("executive", "analyst", "general")
    }
    assert titles["executive"][0] == "Bottom line"
    assert "Positions and demands" in titles["analyst"]
    assert titles["general"] != titles["executive"]


def test_free_text_audience_pulls_in_matching_facts(sources) -> None:  # type: ignore[no-untyped-def]
    plain = _brief(sources, max_words=120)
    focused = _brief(sources, max_words=120, audience="drone warfare, airfields and bombers")

    def drones(b: Briefing) -> int:
        return sum("drone" in x.text.lower() for x in b.bullets)

    assert drones(focused) > drones(plain)


def test_main_facts_are_present_in_the_long_briefing(sources) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(b.text for b in _brief(sources, length=Length.long, max_words=500).bullets)
    assert "prisoner" in text  # the agreed exchange
    assert "30-day" in text  # Ukraine's ceasefire position
    assert "two or three days" in text or "two to three days" in text  # Russia's offer
    assert "drone" in text  # the operation the day before
