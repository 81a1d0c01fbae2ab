"""The offline engine end to end on the bundled example: budgets, grounding, audiences."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import pytest

from briefer.engines.extractive.engine import ExtractiveEngine
from briefer.ingest.sources import read_sources
from briefer.models import LENGTH_WORDS, Briefing, BriefOptions, Length
from briefer.pipeline import build_briefing

ARTICLES = Path(__file__).parents[1] / "examples" / "istanbul-talks" / "articles"


@pytest.fixture(scope="module")
def sources():  # type: ignore[no-untyped-def]
    return read_sources([str(ARTICLES)])


def _brief(sources, **options) -> Briefing:  # type: ignore[no-untyped-def]
    return build_briefing(sources, ExtractiveEngine(), BriefOptions(**options))


def _words(briefing: Briefing) -> int:
    return sum(b.words for b in briefing.bullets)


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
    statements = [v for b in briefing.bullets for v in b.versions] + [
        b for b in briefing.bullets if not b.versions
    ]
    for statement in statements:
        assert statement.text[-1] in ".!\"'”’"
        assert any(statement.text in texts[sid] for sid in statement.source_ids)
    for bullet in briefing.bullets:
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


def test_where_sources_differ_shows_each_version_with_its_source(sources) -> None:  # type: ignore[no-untyped-def]
    briefing = _brief(sources, length=Length.long, max_words=500, audience="analyst")
    differ = [s for s in briefing.sections if s.title == "Where sources differ"]
    assert differ, "002 calls Trump a former president where the CNN report does not"
    bullet = differ[0].bullets[0]
    assert len(bullet.versions) == 2
    assert len({v.source_ids[0] for v in bullet.versions}) == 2
    assert any("former" in v.text for v in bullet.versions)
    assert any("former" not in v.text for v in bullet.versions)
    # The disputed wording is never presented as what several sources agree on.
    for b in briefing.bullets:
        if not b.versions and "former U.S. President" in b.text:
            assert b.n_sources == 1


def test_short_briefings_keep_every_word_for_the_main_facts(sources) -> None:  # type: ignore[no-untyped-def]
    briefing = _brief(sources, length=Length.short, max_words=120)
    assert all(s.title != "Where sources differ" for s in briefing.sections)


def test_single_source_facts_are_marked(sources) -> None:  # type: ignore[no-untyped-def]
    from briefer.render import render_markdown

    briefing = _brief(sources, length=Length.long, max_words=500)
    single = [b for b in briefing.bullets if b.n_sources == 1 and not b.versions]
    assert single
    text = render_markdown(briefing)
    for bullet in single:
        assert f"{bullet.text} " in text
        line = next(line for line in text.splitlines() if bullet.text in line)
        assert line.endswith("(single source)")


def test_a_garbled_translation_corroborates_but_never_words_a_bullet(sources) -> None:  # type: ignore[no-untyped-def]
    garbled = next(s for s in sources if "Zellinski" in s.text)
    # a reader who asks for the drone barrage gets the fact 004 shares with the CNN report
    briefing = _brief(sources, max_words=500, audience="record drone barrage overnight")
    corroborated = [b for b in briefing.bullets if garbled.id in b.source_ids and not b.versions]
    assert corroborated, "004 reports the record 472-drone attack the CNN report also gives"
    for bullet in corroborated:
        assert bullet.text not in garbled.text  # a cleaner source's sentence words it
        assert len(bullet.source_ids) > 1


def test_concept_weights_are_the_walk_over_every_statement_bit_for_bit() -> None:
    # What walking every statement gives (the definition: per concept, each root's highest
    # weight, summed in the order the concept meets the roots), against the vectorised walk
    # over distinct texts: the same floats, so the same order of roots within each sum.
    import random

    import numpy as np

    from briefer.engines.extractive.engine import SINGLE_SOURCE, _concept_weights, _ConceptTable

    draw = random.Random(7)
    n_texts, n_roots = 40, 12
    concepts_of = [frozenset(draw.sample(range(60), draw.randint(0, 6))) for _ in range(n_texts)]
    text_of = np.asarray([draw.randrange(n_texts) for _ in range(100)], dtype=np.int64)
    root_of = np.asarray([draw.randrange(n_roots) for _ in range(100)], dtype=np.int64)
    # weights that round differently in different orders (not sums of powers of two)
    position = np.asarray([1 / (1 + draw.random() * 9) for _ in text_of], dtype=np.float32)

    best: dict[int, dict[int, float]] = {}
    for text, root, weight in zip(
        text_of.tolist(), root_of.tolist(), position.tolist(), strict=True
    ):
        for concept in concepts_of[text]:
            per_root = best.setdefault(concept, {})
            per_root[root] = max(per_root.get(root, 0.0), weight)
    expected = {
        concept: sum(per_root.values()) * (1.0 if len(per_root) > 1 else SINGLE_SOURCE)
        for concept, per_root in best.items()
    }
    weights = _concept_weights(_ConceptTable.of_sets(concepts_of), text_of, root_of, position)
    assert len(weights) == 1 + max(expected)
    assert {c: weights[c] for c in expected} == expected
    # both weights occur: a concept of one root (discounted) and of several
    assert {len(per_root) > 1 for per_root in best.values()} == {True, False}


def test_numbered_concepts_name_the_same_concepts_as_their_strings() -> None:
    # Two texts share a concept number exactly when they share the concept's string.
    from briefer.engines.extractive.engine import _distinct_texts, _numbered_concepts
    from briefer.engines.extractive.synthesis import Statement
    from briefer.grounding.matching import extract_numbers

    def concepts_as_strings(text: str, stems: Sequence[str]) -> set[str]:
        # What the engine named concepts before numbering them: stem bigrams and numbers.
        numbers = {str(n) for n in extract_numbers(text)}
        return {f"{a} {b}" for a, b in itertools.pairwise(stems)} | numbers

    texts = [
        "Ukraine and Russia agreed to exchange 1,200 prisoners on Monday.",
        "Russia agreed to exchange prisoners, 1200 of them.",
        "Exchange prisoners agreed Russia in 2025, about 3.5 million people.",
        "The talks ended after 90 minutes without a ceasefire agreement.",
        "The the and of.",
        "Talks ended, talks began; ended talks.",
        "東京で会談が行われた。",
    ]
    distinct = _distinct_texts([Statement(text=t, source_id="s", root_id="r") for t in texts])
    table = _numbered_concepts(distinct)
    strings = [
        concepts_as_strings(t, stems)
        for t, stems in zip(distinct.texts, distinct.stems, strict=True)
    ]
    numbers = [table.of(t) for t in range(len(distinct.texts))]
    for t in range(len(strings)):
        for u in range(len(strings)):
            assert len(numbers[t] & numbers[u]) == len(strings[t] & strings[u])
    assert table.count == len(set().union(*strings))
    assert len(strings[0] & strings[1]) >= 4  # bigrams and a number written two ways


def test_positions_and_places_count_each_source_in_statement_order() -> None:
    # The definition, walking the statements: the n-th statement of its source (0 first).
    import random

    import numpy as np

    from briefer.engines.extractive.engine import _places, _positions
    from briefer.engines.extractive.synthesis import Statement

    draw = random.Random(5)
    statements = [Statement("t", f"s{draw.randrange(7)}", "r") for _ in range(300)]
    seen: dict[str, int] = {}
    totals = {s.source_id: sum(o.source_id == s.source_id for o in statements) for s in statements}
    places, ranks = [], []
    for s in statements:
        n = seen.get(s.source_id, 0)
        seen[s.source_id] = n + 1
        ranks.append(n)
        places.append(n / max(1, totals[s.source_id] - 1))
    assert _places(statements) == places
    expected = np.asarray(1.0 / np.sqrt(1.0 + np.asarray(ranks, dtype=np.float32)), np.float32)
    assert _positions(statements).tolist() == expected.tolist()


def test_statements_without_any_concept_give_no_bullets_instead_of_failing(
    tmp_path: Path,
) -> None:
    # Only stop words and no numbers: nothing to cover, so nothing is picked (the numpy
    # concept tables are empty then, which once raised an IndexError).
    article = tmp_path / "a.txt"
    article.write_text(
        "It is what it is, and that is all there is to it now.\n\n"
        "It was what it was, and they were all there with us then.\n",
        encoding="utf-8",
    )
    briefing = build_briefing(read_sources([str(article)]), ExtractiveEngine(), BriefOptions())
    assert briefing.grounding is not None and briefing.grounding.claims_checked == 2
    assert briefing.bullets == []
