"""What a small model copies into the texts it writes is stripped before validation.

The replies below are scripted test data in the shapes SmolLM2-135M-Instruct produced on
llama-server (an id copied in front of a claim, a field label, the prompt's own instruction
sentence), over made-up passages.
"""

from __future__ import annotations

import pytest
from test_llm_engine import make_source

from briefer.chunking import chunk_source
from briefer.engines.llm.echo import (
    TemplateEcho,
    cite_copied_sentences,
    clean_bullets,
    clean_claims,
)
from briefer.engines.llm.io import (
    BulletOut,
    CitationOut,
    ClaimOut,
    MapOutput,
    ReduceItem,
    ReduceOutput,
    SectionOut,
)
from briefer.engines.llm.prompts import load_prompt
from briefer.engines.llm.reduce import restated_claims, to_draft
from briefer.models import Passage
from briefer.tokens import count_tokens

PASSAGES = (
    "[S2.P7] The harbour board said the ferry will resume on Monday. It carried 40 people.\n"
    "[S2.P8] Repairs cost the town 3.5 million."
)
SENTENCE = "The harbour board said the ferry will resume on Monday."


@pytest.fixture
def echo() -> TemplateEcho:
    return TemplateEcho(load_prompt("map", 3), {"audience": "general", "passages": PASSAGES})


@pytest.mark.parametrize(
    "copied",
    [
        f"S2.P7: {SENTENCE}",
        f"[S2.P7] {SENTENCE}",
        f"(S2.P7) {SENTENCE}",
        f"S2.P7 {SENTENCE}",  # a listed id and a space, as the prompt shows its lines
        f"S2.P7 - {SENTENCE}",
        f"[S2.P7, S2.P8] {SENTENCE}",
        f"text: {SENTENCE}",
        f'"text": {SENTENCE}',
        f"Text: S2.P7: {SENTENCE}",
        f"{SENTENCE[:-1]} [S2.P7].",
        f"{SENTENCE} (S2.P7)",
        "text: one self-contained sentence keeping attribution, negations, and every number, "
        f"date and name as written; {SENTENCE}",
        f"{SENTENCE} It may repeat the quoted sentence when that states the fact plainly.",
    ],
)
def test_copied_ids_labels_and_instructions_are_stripped(echo: TemplateEcho, copied: str) -> None:
    assert echo.clean(copied, ["S2.P7", "S2.P8"]) == SENTENCE


@pytest.mark.parametrize(
    "kept",
    [
        SENTENCE,
        "Repairs cost the town 3.5 million.",  # a decimal is not an id
        "The U.S. Navy said so. It sailed at 9.30.",
        "K2 climbers said the route was closed.",  # K2 is not an id the request listed
        "Officials said: the text of the deal is final.",
    ],
)
def test_a_text_of_the_models_own_is_left_as_it_is(echo: TemplateEcho, kept: str) -> None:
    assert echo.clean(kept, ["S2.P7", "S2.P8"]) == kept


def test_cleaning_is_deterministic_and_idempotent(echo: TemplateEcho) -> None:
    once = echo.clean(f"text: S2.P7: {SENTENCE}", ["S2.P7"])
    assert once == echo.clean(f"text: S2.P7: {SENTENCE}", ["S2.P7"])
    assert echo.clean(once, ["S2.P7"]) == once


def test_a_claim_of_only_copied_text_takes_its_quote(echo: TemplateEcho) -> None:
    citation = CitationOut(passage_id="S2.P7", quote=SENTENCE)
    reply = MapOutput(
        claims=[
            ClaimOut(
                text="text: one self-contained sentence keeping attribution",
                citations=[citation],
            ),
            ClaimOut(text="S2.P8: Repairs cost the town 3.5 million.", citations=[citation]),
            ClaimOut(text="   ", citations=[citation]),  # nothing written: stays empty
        ]
    )
    cleaned = clean_claims(reply, echo, ["S2.P7", "S2.P8"])
    assert [c.text for c in cleaned.claims] == [
        SENTENCE,
        "Repairs cost the town 3.5 million.",
        "",
    ]
    assert cleaned.claims[0].citations == [citation]


def test_reduce_bullets_and_title_are_cleaned() -> None:
    listing = f"[S2] Harbour news\nK1 {SENTENCE}\nK2 Repairs cost the town 3.5 million."
    echo = TemplateEcho(
        load_prompt("reduce", 3),
        {"audience": "general", "claims_by_source": listing, "max_words": 120},
    )
    reply = ReduceOutput(
        title="title: Ferry to resume",
        sections=[
            SectionOut(
                title="Key points",
                bullets=[BulletOut(text=f"K1: {SENTENCE}", claim_ids=["K1"])],
            )
        ],
        differences=[BulletOut(text="[K2] Repairs cost the town 3.5 million.", claim_ids=["K2"])],
    )
    cleaned = clean_bullets(reply, echo, ["K1", "K2"])
    assert cleaned.title == "Ferry to resume"
    assert cleaned.sections[0].bullets[0].text == SENTENCE
    assert cleaned.differences[0].text == "Repairs cost the town 3.5 million."


def test_a_bullet_restating_a_claim_cites_that_claim_whatever_ids_it_gave() -> None:
    """The restated claim is cited; other ids stay only in a merge of claims of the same fact."""
    items = [
        ReduceItem(id="K1", text=SENTENCE, source_ids=["S2"], claim_ids=["K1", "K4"]),
        ReduceItem(id="K2", text="Repairs cost 3.5 million.", source_ids=["S3"], claim_ids=["K2"]),
        ReduceItem(
            id="K5",
            text="The ferry will resume on Monday, the harbour board said.",
            source_ids=["S4"],
            claim_ids=["K5"],
        ),
    ]
    reply = ReduceOutput(
        title="Ferry to resume",
        sections=[
            SectionOut(
                title="Key points",
                bullets=[
                    # SmolLM2 wrote claim K1's text and cited the wrong claim.
                    BulletOut(text=SENTENCE.lower().rstrip("."), claim_ids=["K9"]),
                    BulletOut(text=SENTENCE, claim_ids=["K2"]),  # ids pointing elsewhere
                    BulletOut(text=SENTENCE, claim_ids=["K2", "K1", "K7", "K5"]),  # a merge
                    BulletOut(text="The ferry is back and repairs were costly.", claim_ids=["K2"]),
                ],
            )
        ],
    )
    draft = to_draft(reply, {i.id: i.claim_ids for i in items}, restated_claims(items))
    bullets = draft.sections[0].bullets
    assert bullets[0].claim_ids == ["K1", "K4"]  # K1 and the repeat it stands for
    assert bullets[1].claim_ids == ["K1", "K4"]
    # What it merged that states the same fact (K5); not K2 (another fact) nor a made-up K7.
    assert bullets[2].claim_ids == ["K1", "K4", "K5"]
    assert bullets[3].claim_ids == ["K2"]  # a text of its own keeps the model's citations


def _passage(passage_id: str, text: str) -> Passage:
    source = make_source(passage_id.split(".")[0], "Harbour news", [text])
    (chunk,) = chunk_source(source, count_tokens)[1]
    return chunk.passages[0].model_copy(update={"id": passage_id})


def test_a_claim_copying_the_next_sentences_is_cited_where_they_are() -> None:
    """SmolLM2 quoted one sentence, then went on copying the story as the claim's text."""
    first = _passage("S2.P7", f"{SENTENCE} It carried 40 people on its last run.")
    second = _passage("S2.P8", "Repairs cost the town 3.5 million. The work took a year.")
    quoted = CitationOut(passage_id="S2.P7", quote=SENTENCE)
    reply = MapOutput(
        claims=[
            ClaimOut(  # two copied sentences of another passage, the last cut off
                text="Repairs cost the town 3.5 million. The work took a. ",
                citations=[quoted],
            ),
            ClaimOut(  # its quote and the sentence after it: one claim each
                text=f"{SENTENCE} It carried 40 people on its last run.",
                citations=[quoted],
            ),
            ClaimOut(text=f"{SENTENCE} {SENTENCE} {SENTENCE}", citations=[quoted]),  # looping
            ClaimOut(text=SENTENCE, citations=[quoted]),  # restates its quote: kept
            ClaimOut(text=f"{SENTENCE} The harbour has proven to", citations=[quoted]),
            ClaimOut(  # a sentence of its own after the copied one: left to the validator
                text=f"{SENTENCE} Both sides rejected it.", citations=[quoted]
            ),
            ClaimOut(text="The ferry is back, officials said.", citations=[quoted]),  # own words
        ]
    )
    claims = cite_copied_sentences(reply, [first, second]).claims
    assert [(c.text, c.citations[0].passage_id) for c in claims] == [
        ("Repairs cost the town 3.5 million.", "S2.P8"),
        (SENTENCE, "S2.P7"),
        ("It carried 40 people on its last run.", "S2.P7"),
        (SENTENCE, "S2.P7"),
        (SENTENCE, "S2.P7"),
        (SENTENCE, "S2.P7"),  # the unfinished words after it are dropped
        (f"{SENTENCE} Both sides rejected it.", "S2.P7"),
        ("The ferry is back, officials said.", "S2.P7"),
    ]
    assert all(c.citations[0].quote == c.text for c in claims[:6])
