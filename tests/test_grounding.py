"""Tests for briefer.grounding: quotes, numbers and citations of claims and bullets."""

from __future__ import annotations

import functools
import unicodedata
from decimal import Decimal
from unittest import mock

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from briefer.grounding import validator
from briefer.grounding.matching import (
    NORMALIZED_SENTENCE_CLOSE,
    SENTENCE_CLOSE,
    extract_numbers,
    normalize_for_match,
)
from briefer.grounding.support import is_verbatim, is_verbatim_as_written
from briefer.grounding.validator import check_bullet, check_claim, validate_claims
from briefer.models import Bullet, Citation, Claim, Passage


def make_passage(passage_id: str, text: str) -> Passage:
    source_id = passage_id.split(".")[0]
    return Passage(
        id=passage_id, source_id=source_id, start=0, end=len(text), text=text, n_tokens=0
    )


# Passages taken from the seed articles (CNN, BBC-based and rewritten reports).
SBU = make_passage(
    "S1.P4",
    "Vasul Malyuk, the head of the SBU, said the attack caused an estimated $7 billion in damage "
    "and had struck 34% of Russia’s strategic cruise missile carriers – a total of 41 aircraft.",
)
BODIES = make_passage(
    "S4.P2",
    "However, both nations did agree to return the remains of approximately 12,000 soldiers.",
)
RETURN = make_passage(
    "S4.P15",
    "Medinsky also said Russia would return the bodies of 6,000 Ukrainian soldiers in the "
    "coming week.",
)
TRUCE = make_passage(
    "S1.P9",
    "Whereas Umerov reiterated that Ukraine’s demand for an unconditional 30-day ceasefire has "
    "“remained unchanged for three months,” Medinsky said Russia had proposed a much narrower "
    "ceasefire, lasting just two or three days in “certain parts” of the frontline.",
)
TRUCE_REWRITE = make_passage(
    "S3.P3",
    "The Russian delegation proposed a brief truce lasting two to three days in selected areas "
    "along the front lines, but did not provide further information.",
)
PEACE = make_passage(
    "S1.P8",
    "Zelensky criticized Russia for not sharing its memorandum ahead of time. “Despite this,” he "
    "said before the talks began, “we will attempt to achieve at least some progress on the path "
    "toward peace.”",
)
PASSAGES = {p.id: p for p in (SBU, BODIES, RETURN, TRUCE, TRUCE_REWRITE, PEACE)}


def claim(text: str, *citations: tuple[str, str], claim_id: str = "c1") -> Claim:
    return Claim(
        id=claim_id,
        text=text,
        citations=[Citation(passage_id=pid, quote=quote) for pid, quote in citations],
    )


def codes(text: str, *citations: tuple[str, str]) -> list[str]:
    # The v1 checks only: tests/test_support.py covers the support checks.
    return [r.code for r in check_claim(claim(text, *citations), PASSAGES, support=False)]


# --- normalize_for_match -------------------------------------------------------------


def test_normalize_for_match_folds_case_quotes_dashes_ellipsis_and_spaces() -> None:
    text = "  “Despite this,” he said – ‘we will’ — try…\n\t MORE  "
    assert normalize_for_match(text) == "\"despite this,\" he said - 'we will' - try... more"


def test_normalize_for_match_keeps_punctuation_and_word_forms() -> None:
    assert normalize_for_match("Talks ended; no deals, (yet).") == "talks ended; no deals, (yet)."


# --- extract_numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approximately 12,000 soldiers", {12000}),
        ("12000 soldiers", {12000}),
        ("twelve thousand soldiers", {12000}),
        ("six thousand bodies", {6000}),
        ("an estimated $7 billion in damage", {7_000_000_000}),
        ("7 billion dollars, 7bn or $7B", {7_000_000_000}),
        ("US$1.5bn and $5m", {Decimal("1.5e9"), 5_000_000}),
        ("struck 34% of carriers, or 34 percent", {34}),
        ("lasting just two or three days", {2, 3}),
        ("a truce of two to three days", {2, 3}),
        ("a truce of 2-3 days", {2, 3}),
        ("ninety-nine, a hundred and twenty, two dozen", {99, 120, 24}),
        ("between two and three", {2, 3}),
        ("nearly 3 1/2 years, or three and a half years", {Decimal("3.5")}),
        ("began on Feb. 24, 2022, and by mid-2022", {24, 2022}),
        ("an unconditional 30-day ceasefire", {30}),
        ("on June 24th", {24}),
        ("the first and second rounds", set()),
        ("one of the most significant blows", set()),
        ("twenty-one and one million", {21, 1_000_000}),
        ("thousands of miles and hundreds of children", set()),
        ("the G7 Summit, F-16 jets, Tu-95 bombers, COVID-19, 5G masts", set()),
        ("passage S1.P2 and image 6a33c0a6-4ea4", set()),
        ("as two sources report [1][2] and [1, 3]", {2}),
    ],
)
def test_extract_numbers(text: str, expected: set[int | Decimal]) -> None:
    assert extract_numbers(text) == {Decimal(v) for v in expected}


def test_extract_numbers_spells_each_value_one_way() -> None:
    found = extract_numbers("34.0% of $1.50 billion, 7bn and 12,000.00")
    assert sorted(str(v) for v in found) == ["12000", "1500000000", "34", "7000000000"]


# --- check_claim: accepted -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "citations"),
    [
        (
            "The SBU said the attack caused an estimated $7 billion in damage",
            [("S1.P4", "an estimated $7 billion in damage")],
        ),
        (
            "The drone attack caused 7 billion dollars of damage to 41 aircraft, 34 percent of "
            "the fleet",
            [("S1.P4", "a total of 41 aircraft")],
        ),
        ("Both sides agreed to return about 12000 soldiers' remains", [("S4.P2", "12,000")]),
        (
            "Russia offered a ceasefire of two to three days",
            [("S1.P9", "lasting just two or three days")],
        ),
        ("Russia offered a ceasefire of 2-3 days", [("S3.P3", "two to three days")]),
        ("Russia will return six thousand bodies", [("S4.P15", "the bodies of 6,000")]),
        (
            "Zelensky vowed progress toward peace",
            [("S1.P8", '"We will attempt to achieve at least some progress on the path')],
        ),
        (
            "The SBU counted the damaged carriers",
            [("S1.P4", "strategic cruise missile carriers - a total of 41 aircraft")],
        ),
        (
            "The second round ended after Zelensky criticized Russia",
            [("S1.P8", "Zelensky  criticized\nRussia")],
        ),
        (
            "Estimates put damage at $7 billion and the bodies returned at 6,000",
            [("S1.P4", "$7 billion"), ("S4.P15", "6,000 Ukrainian soldiers")],
        ),
    ],
    ids=[
        "same-wording",
        "other-units",
        "thousands-separator",
        "range-wording",
        "range-digits",
        "number-words",
        "curly-vs-straight-quotes",
        "en-dash-vs-hyphen",
        "whitespace-and-ordinal",
        "numbers-across-passages",
    ],
)
def test_check_claim_accepts_grounded_claims(text: str, citations: list[tuple[str, str]]) -> None:
    # Loose paraphrases on purpose: v1 checks quotes and numbers, not support.
    assert check_claim(claim(text, *citations), PASSAGES, support=False) == []


# --- check_claim: rejected -------------------------------------------------------------


def test_check_claim_rejects_a_claim_without_citations() -> None:
    reasons = check_claim(claim("Talks ended without a ceasefire"), PASSAGES)
    assert [r.code for r in reasons] == ["no_citation"]


def test_check_claim_rejects_an_unknown_passage_and_names_it() -> None:
    reasons = check_claim(claim("The damage was $9 billion", ("S9.P1", "$9 billion")), PASSAGES)

    # Without a known passage there is no evidence to compare numbers against.
    assert [r.code for r in reasons] == ["unknown_passage"]
    assert "S9.P1" in reasons[0].message


def test_check_claim_reports_every_failing_citation() -> None:
    assert codes(
        "The attack caused $7 billion in damage",
        ("S1.P4", "$7 billion in damage"),
        ("S1.P99", "an estimated"),
        ("S4.P2", "caused $7 billion"),
    ) == ["unknown_passage", "quote_not_found"]


def test_check_claim_rejects_a_paraphrased_quote() -> None:
    quote = "Zelensky said that despite this they would try to make some progress towards peace"
    reasons = check_claim(claim("Zelensky promised to try", ("S1.P8", quote)), PASSAGES)

    assert [r.code for r in reasons] == ["quote_not_found"]
    assert "S1.P8" in reasons[0].message
    assert quote[:40] in reasons[0].message
    assert quote not in reasons[0].message  # long quotes are shortened
    assert len(reasons[0].message) < 110


@pytest.mark.parametrize("quote", ["", "   \n "])
def test_check_claim_rejects_an_empty_quote(quote: str) -> None:
    assert codes("The attack damaged Russian bombers", ("S1.P4", quote)) == ["quote_not_found"]


def test_check_claim_rejects_a_quote_from_another_passage() -> None:
    assert codes("Remains will be returned", ("S4.P2", "the bodies of 6,000")) == [
        "quote_not_found"
    ]


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("The SBU said the attack caused an estimated $8 billion in damage", "$8 billion"),
        ("The SBU said the attack caused an estimated $7 million in damage", "$7 million"),
        ("Both sides agreed to return about 13,000 soldiers' remains", "13,000"),
        ("The attack destroyed 41 aircraft, 35% of the fleet", "35%"),
        ("Russia will return seven thousand bodies", "seven thousand"),
    ],
)
def test_check_claim_rejects_a_number_not_in_the_cited_passages(text: str, missing: str) -> None:
    citations = [("S1.P4", "$7 billion"), ("S4.P2", "12,000"), ("S4.P15", "6,000")]

    reasons = check_claim(claim(text, *citations), PASSAGES)

    assert [r.code for r in reasons] == ["number_not_in_evidence"]
    assert missing in reasons[0].message
    assert "S1.P4, S4.P2, S4.P15" in reasons[0].message


def test_check_claim_only_counts_numbers_of_cited_passages() -> None:
    # 6,000 is in S4.P15, but the claim cites only S4.P2.
    reasons = check_claim(
        claim("Russia will return 6,000 bodies", ("S4.P2", "return the remains")), PASSAGES
    )
    assert [r.code for r in reasons] == ["number_not_in_evidence"]
    assert "6,000" in reasons[0].message


# --- check_bullet and validate_claims ----------------------------------------------------


def make_bullet(text: str, *citations: tuple[str, str]) -> Bullet:
    return Bullet(
        id="b1",
        text=text,
        citations=[Citation(passage_id=pid, quote=quote) for pid, quote in citations],
        claim_ids=["c1"],
        source_ids=sorted({pid.split(".")[0] for pid, _ in citations}),
        n_sources=len({pid.split(".")[0] for pid, _ in citations}),
    )


def test_check_bullet_applies_the_same_checks() -> None:
    grounded = make_bullet(
        "Russia proposed a two-to-three-day truce [1][2]",
        ("S1.P9", "two or three days"),
        ("S3.P3", "two to three days"),
    )
    wrong = make_bullet("Russia proposed a five-day truce", ("S1.P9", "a five-day truce"))

    assert check_bullet(grounded, PASSAGES) == []
    assert [r.code for r in check_bullet(wrong, PASSAGES)] == [
        "quote_not_found",
        "number_not_in_evidence",
    ]
    assert [r.code for r in check_bullet(make_bullet("Talks ended"), PASSAGES)] == ["no_citation"]


def test_validate_claims_splits_accepted_and_rejected_in_order() -> None:
    claims = [
        claim("Damage reached $7 billion", ("S1.P4", "$7 billion"), claim_id="c1"),
        claim("Damage reached $8 billion", ("S1.P4", "$7 billion"), claim_id="c2"),
        claim("Russia offered 2-3 days", ("S1.P9", "two or three days"), claim_id="c3"),
        claim("Talks collapsed", claim_id="c4"),
    ]

    accepted, rejected = validate_claims(claims, PASSAGES, stage="map", support=False)

    assert [c.id for c in accepted] == ["c1", "c3"]
    assert [(r.claim.id, r.stage, [x.code for x in r.reasons]) for r in rejected] == [
        ("c2", "map", ["number_not_in_evidence"]),
        ("c4", "map", ["no_citation"]),
    ]


# --- properties --------------------------------------------------------------------------

PASSAGE_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
        st.sampled_from(list("‘’“”–—…  \n\tAaΣß")),
    ),
    min_size=1,
    max_size=200,
)


def _draw_slice(text: str, data: st.DataObject) -> tuple[int, int]:
    """Draw the bounds of a non-empty slice of ``text``."""
    start = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    return start, data.draw(st.integers(min_value=start + 1, max_value=len(text)))


@given(text=PASSAGE_TEXT, data=st.data())
def test_any_substring_of_a_passage_is_an_accepted_quote(text: str, data: st.DataObject) -> None:
    start, end = _draw_slice(text, data)
    quote = text[start:end]
    assume(quote.strip())
    passages = {"S1.P1": make_passage("S1.P1", text)}

    claimed = claim("A claim without figures", ("S1.P1", quote))
    assert check_claim(claimed, passages, support=False) == []


@given(text=PASSAGE_TEXT, data=st.data())
def test_a_slice_of_a_passage_is_found_in_it_after_normalising(
    text: str, data: st.DataObject
) -> None:
    # What lets the validator accept a quote found as written without normalising it.
    start, end = _draw_slice(text, data)
    assert normalize_for_match(text[start:end]) in normalize_for_match(text)


@given(text=PASSAGE_TEXT)
def test_normalize_for_match_is_idempotent(text: str) -> None:
    once = normalize_for_match(text)
    assert normalize_for_match(once) == once


def test_check_claim_reports_a_repeated_bad_citation_once() -> None:
    reasons = check_claim(
        claim(
            "Zelensky promised to try",
            ("S1.P8", "he vowed to keep trying"),
            ("S1.P8", "he vowed to keep trying"),
            ("S7.P1", "a"),
            ("S7.P1", "b"),
        ),
        PASSAGES,
    )
    assert [r.code for r in reasons] == ["unknown_passage", "quote_not_found"]


# --- the extractive fast path: the same decisions as every check ---------------------------

# Statements of every shape a validator meets: an extractive engine's (sentences of their
# passage quoting themselves) and a model's (paraphrases, changed numbers, quotes that are not
# verbatim, several citations), including ones shaped like an extractive claim that are not
# whole sentences of their passage.
FAST_PATH_CASES = [
    # extractive: whole sentences, each its own quote
    (BODIES.text, (BODIES.id, BODIES.text)),
    (RETURN.text, (RETURN.id, RETURN.text)),
    (SBU.text, (SBU.id, SBU.text)),
    (TRUCE.text, (TRUCE.id, TRUCE.text)),
    (
        "“Despite this,” he said before the talks began, “we will attempt to achieve at least "
        "some progress on the path toward peace.”",
        (
            PEACE.id,
            "“Despite this,” he said before the talks began, “we will attempt to achieve "
            "at least some progress on the path toward peace.”",
        ),
    ),
    (
        "Zelensky criticized Russia for not sharing its memorandum ahead of time.",
        (PEACE.id, "Zelensky criticized Russia for not sharing its memorandum ahead of time."),
    ),
    # shaped like an extractive claim, but not whole sentences: mid-sentence, no full stop
    (
        "both nations did agree to return the remains of approximately 12,000 soldiers.",
        (
            BODIES.id,
            "both nations did agree to return the remains of approximately 12,000 soldiers.",
        ),
    ),
    (
        "Russia would return the bodies of 6,000 Ukrainian soldiers in the coming week.",
        (
            RETURN.id,
            "Russia would return the bodies of 6,000 Ukrainian soldiers in the coming week.",
        ),
    ),
    (
        "However, both nations did agree to return the remains",
        (BODIES.id, "However, both nations did agree to return the remains"),
    ),
    (
        "Russia had proposed a much narrower ceasefire",
        (TRUCE.id, "Russia had proposed a much narrower ceasefire"),
    ),
    ("   ", (BODIES.id, "   ")),
    ("", (BODIES.id, "")),
    # its own quote, but from another passage or an unknown one, or not as written
    (BODIES.text, (RETURN.id, BODIES.text)),
    (BODIES.text, ("S9.P1", BODIES.text)),
    (BODIES.text.upper(), (BODIES.id, BODIES.text.upper())),
    (
        "However,  both nations did agree to return the remains of approximately 12,000 soldiers.",
        (
            BODIES.id,
            "However,  both nations did agree to return the remains of approximately "
            "12,000 soldiers.",
        ),
    ),
    # a model's: paraphrases, changed numbers, quotes not verbatim, several citations
    (
        "Both countries agreed to return about 12,000 soldiers' remains.",
        (
            BODIES.id,
            "both nations did agree to return the remains of approximately 12,000 soldiers",
        ),
    ),
    (
        "Both countries agreed to return about 13,000 soldiers' remains.",
        (
            BODIES.id,
            "both nations did agree to return the remains of approximately 12,000 soldiers",
        ),
    ),
    (
        "However, both nations did agree to return the remains of approximately 13,000 soldiers.",
        (
            BODIES.id,
            "However, both nations did agree to return the remains of approximately "
            "13,000 soldiers.",
        ),
    ),
    ("Russia will hand back 6,000 bodies.", (RETURN.id, "the bodies of 6,000 Ukrainian soldiers")),
    ("Russia will hand back 6,000 bodies.", (RETURN.id, "the corpses of 6,000 soldiers")),
    (
        "Ukraine proposed a brief truce of two to three days.",
        (TRUCE_REWRITE.id, TRUCE_REWRITE.text),
    ),
    (
        "Ukraine demanded a 30-day ceasefire; Russia offered two or three days.",
        (TRUCE.id, "an unconditional 30-day ceasefire"),
        (TRUCE_REWRITE.id, "a brief truce lasting two to three days"),
    ),
    (BODIES.text, (BODIES.id, BODIES.text), (RETURN.id, RETURN.text)),
    ("Talks collapsed.",),
]


def case_claim(case: tuple[str | tuple[str, str], ...], claim_id: str = "c1") -> Claim:
    text, *citations = case
    assert isinstance(text, str)
    return claim(text, *(c for c in citations if isinstance(c, tuple)), claim_id=claim_id)


def every_check() -> mock._patch[mock.MagicMock]:
    """Patch the fast path away: the validator then makes every check of every claim."""
    return mock.patch.object(validator, "_holds_by_construction", return_value=False)


@pytest.mark.parametrize("case", FAST_PATH_CASES)
def test_the_fast_path_decides_as_every_check_does(case: tuple[str | tuple[str, str], ...]) -> None:
    statement = case_claim(case)
    fast = check_claim(statement, PASSAGES)
    with every_check():
        assert fast == check_claim(statement, PASSAGES)


def test_the_fast_path_takes_extractive_claims_and_leaves_the_rest() -> None:
    # Not vacuous: the cases above hold claims it passes, and claims every check rejects.
    evidence = validator._Evidence(PASSAGES)
    statements = [case_claim(case, f"c{i}") for i, case in enumerate(FAST_PATH_CASES)]
    taken = [
        s.id for s in statements if validator._holds_by_construction(s.text, s.citations, evidence)
    ]
    assert taken == ["c0", "c1", "c2", "c3", "c4", "c5"]
    accepted, rejected = validate_claims(statements, PASSAGES, stage="map")
    with every_check():
        assert (accepted, rejected) == validate_claims(statements, PASSAGES, stage="map")
    assert len(accepted) > len(taken) and len(rejected) > len(taken)


SENTENCE_TEXT = st.lists(
    st.sampled_from(["Ab", "cd", "12", ".", "!", "?", ";", ":", "'", "’", "”", ")", " ", "\n"]),
    min_size=1,
    max_size=30,
).map("".join)


@settings(deadline=None)  # the first support check of a run is slow on a loaded machine
@given(text=SENTENCE_TEXT, data=st.data())
def test_the_fast_path_decides_as_every_check_does_on_any_self_quote(
    text: str, data: st.DataObject
) -> None:
    start, end = _draw_slice(text, data)
    statement = claim(text[start:end], ("S1.P1", text[start:end]))
    passages = {"S1.P1": make_passage("S1.P1", text)}
    fast = check_claim(statement, passages)
    with every_check():
        assert fast == check_claim(statement, passages)


def verbatim_as_first_written(text: str, evidence: list[str]) -> bool:
    """``is_verbatim`` as first written: the text before a match stripped of whitespace."""
    claim = normalize_for_match(text)
    if not claim or claim[-1] not in ".!?\"')]":
        return False
    for passage in evidence:
        haystack = normalize_for_match(passage)
        at = haystack.find(claim)
        while at >= 0:
            before = haystack[:at].rstrip()
            if not before or before[-1] in ".!?\"')]":
                return True
            at = haystack.find(claim, at + 1)
    return False


@settings(deadline=None)  # the first support check of a run is slow on a loaded machine
@given(text=SENTENCE_TEXT | PASSAGE_TEXT, data=st.data())
def test_is_verbatim_decides_as_first_written(text: str, data: st.DataObject) -> None:
    start, end = _draw_slice(text, data)
    statement = data.draw(st.sampled_from([text[start:end], text[start:end] + ".", "Ab."]))
    assert is_verbatim(statement, [text]) == verbatim_as_first_written(statement, [text])


@pytest.mark.parametrize(
    ("passage", "statement", "verbatim"),
    [
        ("Cd ef.", "Cd ef.", True),
        ("Ab. Cd ef.", "Cd ef.", True),
        ("Ab.\n \t Cd ef.", "Cd ef.", True),
        ("“Ab,” he said. “Cd ef.”", "“Cd ef.”", True),
        ("Ab; Cd ef.", "Cd ef.", False),
        ("Ab Cd ef.", "Cd ef.", False),
        ("Ab, cd ef. Cd ef.", "Cd ef.", True),  # the second match starts a sentence
        ("Ab. Cd ef", "Cd ef", False),
    ],
)
def test_is_verbatim_wants_whole_sentences(passage: str, statement: str, verbatim: bool) -> None:
    assert is_verbatim(statement, [passage]) is verbatim
    assert verbatim_as_first_written(statement, [passage]) is verbatim


# What lets is_verbatim_as_written imply is_verbatim, checked on every assigned character
# (unassigned and private-use ones casefold to themselves and are not whitespace).
@functools.cache
def every_character() -> list[str]:
    return [
        c for c in map(chr, range(0x110000)) if unicodedata.category(c) not in ("Cn", "Co", "Cs")
    ]


def test_normalizing_maps_whitespace_to_whitespace_and_the_rest_to_words() -> None:
    # Between two letters, a whitespace character normalizes to the one space between them,
    # any other to one or more characters none of which is whitespace: so collapsing
    # whitespace never merges or splits words, and a slice is found after its prefix.
    odd = []
    for char in every_character():
        normalized = normalize_for_match(f"a{char}a")
        if char.isspace():
            if normalized != "a a":
                odd.append(char)
        elif " " in normalized or len(normalized) < 3:
            odd.append(char)
    assert odd == []


def test_sentence_close_is_what_normalizes_to_a_sentence_close() -> None:
    normalized = {c: normalize_for_match(c) for c in every_character()}
    closing = {c for c, n in normalized.items() if n and n[-1] in NORMALIZED_SENTENCE_CLOSE}
    assert closing == SENTENCE_CLOSE


@pytest.mark.parametrize(
    ("passage", "statement"),
    [
        ("Cd ef.", "Cd ef."),
        ("Ab.\n \t Cd ef.", "Cd ef."),
        ("“Ab,” he said. “Cd ef.”", "“Cd ef.”"),
        ("Ab…  Cd ef’", "Cd ef’"),
    ],
)
def test_is_verbatim_as_written_finds_whole_sentences(passage: str, statement: str) -> None:
    assert is_verbatim_as_written(statement, passage)
    assert is_verbatim(statement, [passage])


@pytest.mark.parametrize(
    ("passage", "statement"),
    [
        ("Ab; Cd ef.", "Cd ef."),
        ("Ab Cd ef.", "Cd ef."),
        ("Ab. Cd ef", "Cd ef"),
        ("Ab. Cd ef. ", "Cd ef. "),
        ("Ab.  Cd ef.", " Cd ef."),
        ("Ab. CD EF.", "Cd ef."),  # is_verbatim's, not as written
        ("Ab, cd ef. Cd ef.", "cd ef."),  # only the first match as written is looked at
    ],
)
def test_is_verbatim_as_written_leaves_the_rest_to_is_verbatim(
    passage: str, statement: str
) -> None:
    assert not is_verbatim_as_written(statement, passage)


@settings(deadline=None)
@given(text=SENTENCE_TEXT | PASSAGE_TEXT, data=st.data())
def test_is_verbatim_as_written_implies_is_verbatim(text: str, data: st.DataObject) -> None:
    start, end = _draw_slice(text, data)
    if is_verbatim_as_written(text[start:end], text):
        assert is_verbatim(text[start:end], [text])


def test_a_repeated_statement_gets_the_same_support_reasons_each_time() -> None:
    # Support is checked once per distinct statement and evidence in a call, shared after.
    quote = ("S4.P15", "Russia would return the bodies of 6,000 Ukrainian soldiers")
    repeated = [
        claim("Poland would return the bodies of 6,000 soldiers.", quote, claim_id=f"c{i}")
        for i in range(3)
    ]
    accepted, rejected = validate_claims(repeated, PASSAGES, stage="map")
    alone = [check_claim(c, PASSAGES) for c in repeated]
    assert accepted == []
    assert [r.reasons for r in rejected] == alone
    assert [r.code for r in alone[0]] == ["name_not_in_evidence"]
