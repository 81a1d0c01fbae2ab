"""Tests for grounding.support and grounding.quantities: does the evidence say what a claim says?"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from briefer.chunking import chunk_source
from briefer.engines.extractive.engine import ExtractiveEngine
from briefer.grounding.quantities import check_number_kinds, number_kinds
from briefer.grounding.support import (
    SUPPORT_CODES,
    check_support,
    find_support_problems,
    is_verbatim,
)
from briefer.grounding.support_text import Evidence, split_sentences
from briefer.grounding.validator import check_bullet, check_claim, validate_claims
from briefer.ingest.sources import read_sources
from briefer.models import BriefOptions, Bullet, Citation, Claim, Length, Passage, Source
from briefer.pipeline import build_briefing
from briefer.tokens import count_tokens

ARTICLES = Path(__file__).resolve().parents[1] / "examples" / "istanbul-talks" / "articles"

# Sentences from the seed articles (CNN, BBC-based and rewritten reports).
TRUCE = (
    "Whereas Umerov reiterated that Ukraine’s demand for an unconditional 30-day ceasefire has "
    "“remained unchanged for three months,” Medinsky said Russia had proposed a much narrower "
    "ceasefire, lasting just two or three days in “certain parts” of the frontline."
)
DECLINED = (
    "Ukrainian negotiators reported that Russia once again declined to agree to an "
    "“unconditional ceasefire,” a primary demand from Kyiv, supported by its Western allies."
)
SBU = (
    "Vasul Malyuk, the head of the SBU, said the attack caused an estimated $7 billion in damage "
    "and had struck 34% of Russia’s strategic cruise missile carriers – a total of 41 aircraft."
)
BODIES = "However, both nations did agree to return the remains of approximately 12,000 soldiers."
MEETING = (
    "Russian and Ukrainian delegates met in Istanbul on Monday for their second set of direct "
    "peace talks, a day after Kyiv launched a shock drone attack on Russia's nuclear-capable "
    "bombers, in an operation that President Volodymyr Zelensky said was a year and a half in "
    "the making."
)
WITHDRAWAL = (
    "In the first option, Moscow will ask for the complete withdrawal of the Ukrainian Armed "
    "Forces (UAF) from Ukraine's mainland Donetsk, Luhansk, Kherson, and Zaporizhzhia regions, "
    "RIA Novosti reported."
)
FIRST_ROUND = (
    "During the first round of direct negotiations on May 16, the two countries failed to agree "
    "on how to halt the conflict, managing only a mutual exchange of 1,000 prisoners of war."
)
EXCHANGE = (
    "A second round of peace negotiations between Russia and Ukraine concluded without any "
    "significant progress, yielding only an agreement to exchange prisoners of war. The only "
    "concrete outcome was a commitment to exchange all seriously wounded or ill prisoners of "
    "war, along with those under the age of 25."
)
LEADERS = (
    "'We firmly believe that all key issues can only be solved at the level of leaders,' Umerov "
    "said, suggesting that the leaders of other countries – such as US President Donald Trump – "
    "could also take part in the meeting."
)
NO_PROGRESS = (
    "A second round of peace talks on Monday between Russian and Ukrainian delegations in "
    "Istanbul lasted just over an hour and made no progress on ending the war."
)


def codes(text: str, *evidence: str, quotes: tuple[str, ...] = ()) -> list[str]:
    return [r.code for r in check_support(text, list(evidence), quotes)]


# --- verbatim statements ---------------------------------------------------------------------


def test_a_sentence_copied_from_the_evidence_is_supported() -> None:
    assert is_verbatim(TRUCE, [SBU, f"{BODIES} {TRUCE}"])
    assert codes(TRUCE, SBU, f"{BODIES} {TRUCE}") == []


def test_a_fragment_cut_out_of_a_sentence_is_not_verbatim() -> None:
    # Cut after "said", the fragment drops who said it: it must face the checks.
    fragment = "Russia had proposed a much narrower ceasefire, lasting just two or three days."
    assert not is_verbatim(fragment, [TRUCE])
    assert not is_verbatim("Medinsky said Russia had proposed", [TRUCE])


# --- numbers with units ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("an estimated $7 billion in damage", {7_000_000_000: "money:$"}),
        ("7 billion dollars of damage", {7_000_000_000: "money:$"}),
        ("struck 34% of carriers", {34: "percent"}),
        ("34 per cent of carriers", {34: "percent"}),
        ("a total of 41 aircraft", {41: "count"}),
        ("an unconditional 30-day ceasefire", {30: "time:day"}),
        ("lasting just two or three days", {2: "time:day", 3: "time:day"}),
        ("a truce of 2-3 weeks", {2: "time:week", 3: "time:week"}),
        ("on May 16, the two countries", {16: "date:may", 2: "count"}),
        ("on 16 May 2025", {16: "date:may", 2025: "year"}),
        ("since early 2022", {2022: "year"}),
    ],
)
def test_number_kinds(text: str, kinds: dict[int, str]) -> None:
    assert {m.value: kind for m, kind in number_kinds(text)} == {
        Decimal(v): k for v, k in kinds.items()
    }


@pytest.mark.parametrize(
    "text",
    [
        "The attack caused 7 billion dollars of damage.",
        "Russia offered a truce of two to three days.",
        "Russia offered a truce of 2-3 days.",
        "The attack hit 34 percent of the carriers, 41 aircraft.",
        "Both sides will return twelve thousand bodies.",
    ],
)
def test_numbers_of_the_same_kind_agree(text: str) -> None:
    assert check_number_kinds(text, [SBU, TRUCE, BODIES]) == []


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("The attack destroyed 34 aircraft.", '"34" is a count here but a percentage there'),
        ("Russia proposed a truce of two or three weeks.", "a number of weeks"),
        ("The first round was held on June 16.", "a day of Jun here but a day of May"),
        ("The attack caused £7 billion in damage.", "an amount in £"),
    ],
)
def test_numbers_of_another_kind_are_rejected(text: str, shown: str) -> None:
    reasons = check_number_kinds(text, [SBU, TRUCE, FIRST_ROUND])
    assert [r.code for r in reasons] == ["number_unit_mismatch"]
    assert shown in reasons[0].message


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Zelensky said the operation was a year and a half in the making.",
        "Kyiv's drone attack on Russia's bombers came a day before the talks in Istanbul.",
        "Ukraine's delegates met Russian delegates in Istanbul on Monday.",
        "The UAF would have to leave the Donetsk and Luhansk regions, RIA Novosti reported.",
    ],
)
def test_short_forms_possessives_and_derived_names_are_accepted(text: str) -> None:
    assert "name_not_in_evidence" not in codes(text, MEETING, WITHDRAWAL)


def test_words_that_spell_out_an_initialism_of_the_evidence_are_in_it() -> None:
    claim = (
        "Umerov suggested that leaders such as United States President Donald Trump could "
        "also take part in the meeting."
    )
    assert codes(claim, LEADERS) == []
    # "UK" is not the evidence's "US": "Kingdom" is named and not there.
    reasons = check_support(claim.replace("United States", "United Kingdom"), [LEADERS])
    assert [r.code for r in reasons] == ["name_not_in_evidence"]
    assert '"United Kingdom President Donald Trump"' in reasons[0].message
    # Only capitalised words spell one out: "Ukraine signed" is not "US".
    assert "name_not_in_evidence" in codes(
        "Umerov said Ukraine signed a deal with Trump at the meeting.", LEADERS
    )


def test_a_name_the_evidence_never_mentions_is_rejected() -> None:
    reasons = check_support(
        "Erdogan said the operation was a year and a half in the making.", [MEETING]
    )
    assert [r.code for r in reasons] == ["name_not_in_evidence"]
    assert '"Erdogan"' in reasons[0].message


def test_a_first_name_added_to_a_surname_must_be_in_the_evidence() -> None:
    # "Joe" is not the evidence's Medinsky: a name phrase is checked word by word.
    assert "name_not_in_evidence" in codes(
        "According to Joe Medinsky, Russia had proposed a much narrower ceasefire.", TRUCE
    )


def test_lowercased_text_treats_uncommon_words_as_names() -> None:
    claim = "medinsky said the ceasefire would last two or three days in kharkiv."
    assert "name_not_in_evidence" in codes(claim, TRUCE)
    assert "name_not_in_evidence" not in codes(claim.replace("in kharkiv", "in parts"), TRUCE)


# --- content coverage ------------------------------------------------------------------------


def test_a_paraphrase_with_the_evidence_words_is_covered() -> None:
    claim = "Russia declined, once again, to agree to the unconditional ceasefire Kyiv demands."
    assert codes(claim, DECLINED) == []


def test_words_the_evidence_does_not_have_are_rejected_and_named() -> None:
    reasons = check_support(
        "Russian diplomats walked out of the Istanbul talks in protest over sanctions.", [MEETING]
    )
    assert "content_not_in_evidence" in [r.code for r in reasons]
    message = next(r.message for r in reasons if r.code == "content_not_in_evidence")
    assert '"walked"' in message and '"sanctions"' in message


def test_a_clause_is_covered_on_its_own_in_a_long_sentence() -> None:
    # The whole sentence is 8 words in 11 the evidence's, but no one there is a diplomat.
    claim = (
        "Russia once again declined to agree to an unconditional ceasefire, a primary demand "
        "from Kyiv supported by its Western allies, a senior diplomat claimed."
    )
    assert codes(claim, DECLINED) == ["content_not_in_evidence"]
    assert codes(claim.replace("a senior diplomat claimed", "negotiators reported"), DECLINED) == []


def test_a_reporting_verb_of_the_evidence_covers_its_other_forms() -> None:
    assert Evidence([DECLINED]).covers("reports")
    assert not Evidence([DECLINED]).covers("rumours")


def test_words_gathered_from_different_sentences_are_not_support() -> None:
    # Each word is in the evidence, but no sentence says the remains came from drone attacks.
    claim = (
        "The delegates agreed in Istanbul to return the remains of soldiers killed in drone "
        "attacks."
    )
    assert "content_scattered" in codes(claim, f"{MEETING} {BODIES}")
    assert "content_scattered" not in codes(
        "Both nations agreed to return the remains of soldiers.", f"{MEETING} {BODIES}"
    )


def test_each_cited_passage_may_state_its_own_part() -> None:
    claim = (
        "The attack caused an estimated $7 billion in damage, and both nations agreed to "
        "return remains."
    )
    assert codes(claim, SBU, BODIES) == []


def test_a_trivially_short_quote_cannot_carry_a_long_claim() -> None:
    claim = "Both nations agreed to return the remains of approximately 12,000 soldiers."
    assert codes(claim, BODIES, quotes=("both nations",)) == ["quote_too_short"]
    assert (
        codes(claim, BODIES, quotes=("agree to return the remains of approximately 12,000",)) == []
    )


# --- negation and polarity -------------------------------------------------------------------


def test_a_claim_that_drops_the_negation_is_rejected() -> None:
    reasons = check_support("Russia once again agreed to an unconditional ceasefire.", [DECLINED])
    assert "polarity_mismatch" in [r.code for r in reasons]


def test_a_claim_that_adds_a_negation_is_rejected() -> None:
    assert "polarity_mismatch" in codes(
        "Both nations did not agree to return the remains of soldiers.", BODIES
    )


def test_a_claim_that_keeps_the_negation_is_accepted() -> None:
    assert codes("Russia again declined to agree to an unconditional ceasefire.", DECLINED) == []
    assert codes("Russia did not agree to an unconditional ceasefire.", DECLINED) == []


def test_a_negation_of_something_else_in_the_clause_does_not_count() -> None:
    # "no progress" is not what the statement states; it states what the clause's start does.
    claim = "The second round of talks in Istanbul lasted just over an hour."
    assert codes(claim, NO_PROGRESS) == []
    assert "polarity_mismatch" in codes(
        "The talks in Istanbul made progress on ending the war.", NO_PROGRESS
    )


# --- attribution -----------------------------------------------------------------------------


def test_a_demand_stated_as_fact_is_rejected() -> None:
    reasons = check_support(
        "Ukraine’s unconditional 30-day ceasefire has remained unchanged for three months.",
        [TRUCE],
    )
    assert "attribution_dropped" in [r.code for r in reasons]


def test_a_demand_kept_as_a_demand_is_accepted() -> None:
    claim = "Umerov said Ukraine's demand for an unconditional 30-day ceasefire remained unchanged."
    assert codes(claim, TRUCE) == []


def test_a_demand_given_to_the_other_side_is_rejected() -> None:
    reasons = check_support(
        "Medinsky demanded an unconditional 30-day ceasefire for three months.", [TRUCE]
    )
    assert [r.code for r in reasons] == ["attribution_swapped"]
    assert "medinsky" in reasons[0].message and "umerov" in reasons[0].message


HARBOUR = (
    "Last month, Alvarez called the harbour plan \u201ca reckless gamble\u201d after the council "
    "vote. The Ministry responded by accusing Alvarez of grandstanding."
)


def test_a_statement_given_to_another_actor_named_in_the_passage_is_rejected() -> None:
    # Found in a real small model's repair: both names are in the passage, so the name and
    # coverage checks passed; who did it was swapped.
    swapped = "The Ministry called the harbour plan \u201ca reckless gamble\u201d after the vote."
    reasons = check_support(swapped, [HARBOUR])
    assert [r.code for r in reasons] == ["attribution_swapped"]
    assert "ministry" in reasons[0].message and "alvarez" in reasons[0].message


@pytest.mark.parametrize(
    "claim",
    [
        "Alvarez called the harbour plan \u201ca reckless gamble\u201d after the council vote.",
        "Last month Alvarez called the harbour plan a reckless gamble after the vote.",
        # a passive keeps who did it after "by"
        "The harbour plan was called \u201ca reckless gamble\u201d by Alvarez after the vote.",
        # text without capitals: who acts cannot be told from names
        "the ministry called the harbour plan a reckless gamble after the council vote.",
    ],
)
def test_who_acts_kept_or_untold_is_not_a_swap(claim: str) -> None:
    assert "attribution_swapped" not in codes(claim, HARBOUR)


def test_the_right_speaker_after_the_statement_is_accepted() -> None:
    claim = "The operation was a year and a half in the making, according to Zelensky."
    assert codes(claim, MEETING) == []
    assert "attribution_swapped" in codes(
        "The operation was a year and a half in the making, according to Medinsky.",
        f"{MEETING} {TRUCE}",
    )


def test_the_speaker_named_before_a_reporting_verb_is_found_across_commas() -> None:
    assert codes("The head of the SBU said the attack caused $7 billion in damage.", SBU) == []


# --- wiring into the validator ----------------------------------------------------------------


def passage(passage_id: str, text: str) -> Passage:
    return Passage(
        id=passage_id,
        source_id=passage_id.split(".")[0],
        start=0,
        end=len(text),
        text=text,
        n_tokens=0,
    )


def test_the_validator_runs_support_checks_on_claims_and_bullets() -> None:
    passages = {"S2.P2": passage("S2.P2", DECLINED)}
    wrong = Claim(
        id="c1",
        text="Russia once again agreed to an unconditional ceasefire.",
        citations=[Citation(passage_id="S2.P2", quote="agree to an “unconditional ceasefire,”")],
    )
    assert "polarity_mismatch" in [r.code for r in check_claim(wrong, passages)]
    assert check_claim(wrong, passages, support=False) == []
    bullet = Bullet(
        id="B1",
        text=wrong.text,
        citations=wrong.citations,
        claim_ids=["c1"],
        source_ids=["S2"],
        n_sources=1,
    )
    assert "polarity_mismatch" in [r.code for r in check_bullet(bullet, passages)]
    _, rejected = validate_claims([wrong], passages, stage="map")
    assert [r.code for r in rejected[0].reasons][:1] == ["polarity_mismatch"]


def test_a_claim_failing_v1_keeps_exactly_the_v1_reasons() -> None:
    passages = {"S1.P4": passage("S1.P4", SBU)}
    claim = Claim(
        id="c1",
        text="The attack caused $8 billion in damage to 400 drones.",
        citations=[Citation(passage_id="S1.P4", quote="$7 billion")],
    )
    assert [r.code for r in check_claim(claim, passages)] == ["number_not_in_evidence"]


def test_tokenized_model_text_is_split_into_sentences() -> None:
    text = "the talks ended . russia proposed a truce . ukraine declined"
    assert split_sentences(text) == [
        "the talks ended .",
        "russia proposed a truce .",
        "ukraine declined",
    ]


# --- the extractive engine is never held back ------------------------------------------------


@pytest.fixture(scope="module")
def seeds() -> list[Source]:
    return read_sources([str(ARTICLES)])


def test_every_extractive_claim_passes_the_full_checks(seeds: list[Source]) -> None:
    engine = ExtractiveEngine()
    options = BriefOptions()
    passages: dict[str, Passage] = {}
    chunks = []
    for source in seeds:
        found, source_chunks = chunk_source(source, count_tokens)
        passages.update((p.id, p) for p in found)
        chunks += source_chunks
    claims = engine.map_chunks(chunks, options)
    assert len(claims) > 100
    for claim in claims:
        evidence = [passages[c.passage_id].text for c in claim.citations]
        quotes = [c.quote for c in claim.citations]
        # Without the verbatim shortcut, so every check itself must accept a copied sentence.
        assert find_support_problems(claim.text, evidence, quotes) == [], claim.text


@pytest.mark.parametrize(
    ("length", "audience"), [("short", "executive"), ("long", "analyst"), ("standard", "general")]
)
def test_extractive_briefings_reject_nothing_on_support(
    seeds: list[Source],
    length: str,
    audience: str,
) -> None:
    options = BriefOptions(length=Length(length), audience=audience)
    options = options.model_copy(
        update={"max_words": {"short": 120, "standard": 250, "long": 500}[length]}
    )
    briefing = build_briefing(seeds, ExtractiveEngine(), options)
    assert briefing.bullets
    rejected_codes = {r.code for item in briefing.rejected for r in item.reasons}
    assert not rejected_codes & set(SUPPORT_CODES)


# --- properties ------------------------------------------------------------------------------

WORDS = st.sampled_from(
    [
        "said", "not", "Russia", "demanded", "two", "days", "June", "$7 billion", "34%",
        "according to", "Kyiv's", "didn't", ",", ".", " - ", "“", "”", "the", "Zelensky",
        "ceasefire", "İstanbul", "declined to", "proposed", "while", "prisoners", "12,000",
    ]
)  # fmt: skip
TEXT = st.one_of(st.lists(WORDS, max_size=40).map(" ".join), st.text(max_size=120))


@given(text=TEXT)
def test_any_text_supports_itself(text: str) -> None:
    assert find_support_problems(text, [text], [text]) == []


@given(text=TEXT, evidence=TEXT, quote=TEXT)
def test_the_checks_never_crash(text: str, evidence: str, quote: str) -> None:
    reasons = check_support(text, [evidence], [quote])
    assert {r.code for r in reasons} <= set(SUPPORT_CODES)


def test_a_number_longer_than_decimal_precision_is_read() -> None:
    assert check_number_kinds("A total of 10000000000000000000000000000 votes.", [SBU]) == []
