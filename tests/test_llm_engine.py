"""End-to-end tests of the LLM engine through briefer.pipeline against the fake OpenAI server.

Every model reply here is scripted test data (tests/fake_openai.py), written to exercise one
behaviour: in each case no unsupported bullet may reach the briefing and the run must end
clearly. Source sentences are taken from the seed articles.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SettingsFactory
from fake_openai import FakeOpenAI, Reply, echo_model, merging_echo_model

from briefer.chunking import chunk_source
from briefer.config import Settings
from briefer.engines.llm.engine import LLMEngine, plan_run
from briefer.engines.llm.io import count_words, pack_chunks
from briefer.engines.llm.prompts import load_prompt
from briefer.errors import LLMAuthError, LLMResponseError, PromptError
from briefer.grounding.validator import check_bullet
from briefer.ingest.sources import read_sources
from briefer.models import (
    Briefing,
    BriefOptions,
    Chunk,
    Passage,
    Source,
    Span,
)
from briefer.pipeline import build_briefing
from briefer.tokens import count_tokens

S1 = [
    "The talks began late and lasted barely over an hour. Although both sides agreed to work on "
    "a new prisoner exchange, little had been achieved to bridge the gulf between their positions.",
    "Russian state media agencies reported that Russia laid out two ceasefire 'options' in its "
    "peace memorandum.",
]
S2 = [
    "Monday's talks, held in Istanbul, Turkey, lasted just over an hour. The only concrete outcome "
    "was a commitment to exchange all seriously wounded or ill prisoners of war, along with those "
    "under the age of 25.",
    "Medinsky also said Russia would return the bodies of 6,000 Ukrainian soldiers in the coming "
    "week.",
]
OPTIONS = BriefOptions(audience="analyst", max_words=250)


def make_source(source_id: str, title: str, paragraphs: list[str]) -> Source:
    """Return a source whose kept blocks are exactly ``paragraphs``."""
    text = "\n\n".join(paragraphs)
    blocks, cursor = [], 0
    for paragraph in paragraphs:
        start = text.index(paragraph, cursor)
        blocks.append(Span(start=start, end=start + len(paragraph)))
        cursor = start + len(paragraph)
    return Source(
        id=source_id,
        title=title,
        origin=f"{source_id.lower()}.txt",
        text=text,
        blocks=blocks,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


SOURCES = [
    make_source("S1", "Second round of Russia-Ukraine peace talks end swiftly", S1),
    make_source("S2", "Russian Ukraine Talk", S2),
]


def claim(text: str, passage_id: str, quote: str) -> dict[str, Any]:
    """Return a scripted map claim."""
    return {"text": text, "citations": [{"passage_id": passage_id, "quote": quote}]}


TALKS_S1 = claim("The talks lasted barely over an hour.", "S1.P1", "lasted barely over an hour")
TALKS_S2 = claim(
    "Monday's talks in Istanbul lasted just over an hour.",
    "S2.P1",
    "held in Istanbul, Turkey, lasted just over an hour",
)
EXCHANGE = claim(
    "The sides committed to exchange all seriously wounded or ill prisoners and those under 25.",
    "S2.P1",
    "exchange all seriously wounded or ill prisoners of war, along with those under the age of 25",
)
BODIES = claim(
    "Russia would return the bodies of 6,000 Ukrainian soldiers.",
    "S2.P2",
    "Russia would return the bodies of 6,000 Ukrainian soldiers",
)
UNKNOWN_PASSAGE = claim(
    "Russia laid out two ceasefire options.", "S1.P9", "two ceasefire 'options'"
)
FABRICATED = claim(
    "Russia agreed to an unconditional ceasefire.",
    "S1.P2",
    "Russia agreed to an unconditional ceasefire",
)
WRONG_NUMBER = claim(
    "Russia would return the bodies of 12,500 soldiers.", "S2.P2", "Russia would return the bodies"
)


def bullet(text: str, *claim_ids: str) -> dict[str, Any]:
    return {"text": text, "claim_ids": list(claim_ids)}


def draft_reply(*bullets: dict[str, Any], differences: list[dict[str, Any]] | None = None) -> Reply:
    return Reply.json(
        {
            "title": "Istanbul talks end without a ceasefire",
            "sections": [{"title": "Outcome", "bullets": list(bullets)}],
            "differences": differences or [],
        }
    )


def chunks_of(sources: list[Source]) -> list[Chunk]:
    """Return the chunks of ``sources``, in order, as the pipeline makes them by default."""
    return [c for s in sources for c in chunk_source(s, count_tokens)[1]]


def run(
    settings: Settings, sources: list[Source] = SOURCES, options: BriefOptions = OPTIONS
) -> tuple[Briefing, LLMEngine]:
    with LLMEngine(settings) as engine:
        return build_briefing(sources, engine, options), engine


def assert_all_supported(briefing: Briefing, sources: list[Source] = SOURCES) -> None:
    """No bullet of the briefing may fail the validator against the real passages."""
    passages: dict[str, Passage] = {}
    for source in sources:
        passages.update((p.id, p) for p in chunk_source(source, count_tokens)[0])
    for shown in briefing.bullets:
        assert check_bullet(shown, passages) == [], shown.text


def user_text(request: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")


def test_map_reduce_happy_path(fake_openai: FakeOpenAI, llm_settings: SettingsFactory) -> None:
    fake_openai.script(
        Reply.json({"claims": [TALKS_S1, TALKS_S2, EXCHANGE, BODIES]}),
        draft_reply(
            bullet("The talks in Istanbul lasted just over an hour.", "K1", "K2"),
            bullet(
                "Both sides agreed to exchange seriously wounded or ill prisoners and those "
                "under 25.",
                "K3",
            ),
            differences=[
                bullet("Russia would return the bodies of 6,000 Ukrainian soldiers.", "K4")
            ],
        ),
    )
    briefing, engine = run(llm_settings(single_call=False))
    assert briefing.title == "Istanbul talks end without a ceasefire"
    assert [s.title for s in briefing.sections] == ["Outcome", "Where sources differ"]
    merged = briefing.bullets[0]
    assert {c.passage_id for c in merged.citations} == {"S1.P1", "S2.P1"}
    assert merged.n_sources == 2
    assert briefing.rejected == []
    assert_all_supported(briefing)
    assert [p.name for p in briefing.provenance.prompts] == ["map", "reduce"]
    map_file = Path(engine.templates["map"].path)
    assert (
        briefing.provenance.prompts[0].sha256 == hashlib.sha256(map_file.read_bytes()).hexdigest()
    )
    assert briefing.provenance.usage.calls == 2
    assert briefing.provenance.model == "gpt-4o-mini"
    map_prompt, reduce_prompt = (user_text(r) for r in fake_openai.requests)
    assert "[S1.P1] The talks began late" in map_prompt and "[S2.P2] Medinsky" in map_prompt
    # reduce v2: each claim once as "id text", under one header per source
    assert "\nK1 The talks lasted barely over an hour." in reduce_prompt
    assert reduce_prompt.count("[S1] ") == 1
    assert "Analysts:" in reduce_prompt and "At most 250 words" in reduce_prompt


def test_free_text_audience_and_length_enter_the_prompts(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.json({"claims": [TALKS_S1]}),
        draft_reply(bullet("The talks lasted barely over an hour.", "K1")),
    )
    options = BriefOptions(audience="a Turkish diplomat preparing the next round", max_words=120)
    run(llm_settings(single_call=False), options=options)
    reduce_prompt = user_text(fake_openai.requests[1])
    assert "a Turkish diplomat preparing the next round" in reduce_prompt
    assert "At most 120 words" in reduce_prompt


def test_single_call_when_everything_fits(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.json(
            {
                "claims": [
                    {"id": "c1", **TALKS_S1},
                    {"id": "c2", **TALKS_S2},
                    {"id": "c3", **BODIES},
                ],
                "title": "Talks end swiftly",
                "sections": [
                    {
                        "title": "Outcome",
                        "bullets": [
                            bullet("The talks lasted just over an hour.", "c1", "c2"),
                            bullet(
                                "Russia would return the bodies of 6,000 Ukrainian soldiers.", "c3"
                            ),
                            bullet("A prisoner swap was agreed.", "c9"),  # cites no claim it made
                            # "K3" is not one of the model's ids, though briefer names a claim so.
                            bullet("Russia would return 6,000 bodies.", "K3"),
                        ],
                    }
                ],
                "differences": [],
            }
        )
    )
    briefing, _ = run(llm_settings())
    assert len(fake_openai.requests) == 1
    assert [p.name for p in briefing.provenance.prompts] == ["brief"]
    assert [b.text for b in briefing.bullets] == [
        "The talks lasted just over an hour.",
        "Russia would return the bodies of 6,000 Ukrainian soldiers.",
    ]
    assert briefing.bullets[0].n_sources == 2
    assert [r.reasons[0].code for r in briefing.rejected] == ["unknown_claim", "unknown_claim"]
    assert briefing.rejected[1].reasons[0].message.startswith("cites claim unknown:K3")
    assert_all_supported(briefing)


def test_unsupported_claims_are_repaired_once_or_rejected(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.json({"claims": [TALKS_S1, UNKNOWN_PASSAGE, FABRICATED, WRONG_NUMBER, BODIES]}),
        # Repair of S1.C1 (K2, K3): K2 gets a real citation, K3 is left out as unsupported.
        Reply.json(
            {
                "claims": [
                    {
                        "id": "K2",
                        **claim(
                            "Russia laid out two ceasefire options in its peace memorandum.",
                            "S1.P2",
                            "Russia laid out two ceasefire 'options' in its peace memorandum",
                        ),
                    }
                ]
            },
            match="K2:",
        ),
        # Repair of S2.C1 (K4): the model repeats the unsupported number.
        Reply.json({"claims": [{"id": "K4", **WRONG_NUMBER}]}, match="K4:"),
        draft_reply(
            bullet("The talks lasted barely over an hour.", "K1"),
            bullet("Russia laid out two ceasefire options.", "K2"),
            bullet("Russia agreed to an unconditional ceasefire.", "K3"),
            bullet("Russia will return 12,500 bodies.", "K4"),
            bullet("Russia would return the bodies of 6,000 Ukrainian soldiers.", "K5"),
            bullet("The talks ended after 3 hours.", "K1"),
        ),
    )
    briefing, _ = run(llm_settings(single_call=False))
    assert [b.text for b in briefing.bullets] == [
        "The talks lasted barely over an hour.",
        "Russia laid out two ceasefire options.",
        "Russia would return the bodies of 6,000 Ukrainian soldiers.",
    ]
    assert_all_supported(briefing)
    reasons = {(r.stage, r.claim.text): {x.code for x in r.reasons} for r in briefing.rejected}
    # The pipeline may also keep K4's map-stage rejection beside its repair-stage one.
    reasons.pop(("map", "Russia would return the bodies of 12,500 soldiers."), None)
    assert reasons == {
        ("map", "Russia agreed to an unconditional ceasefire."): {"quote_not_found"},
        ("repair", "Russia would return the bodies of 12,500 soldiers."): {
            "number_not_in_evidence"
        },
        ("reduce", "Russia agreed to an unconditional ceasefire."): {"unknown_claim"},
        ("reduce", "Russia will return 12,500 bodies."): {"unknown_claim"},
        ("reduce", "The talks ended after 3 hours."): {"number_not_in_evidence"},
    }
    repair_prompts = [user_text(r) for r in fake_openai.requests[1:3]]
    assert any("Cited passage S1.P9 does not exist." in p for p in repair_prompts)
    assert any("12,500" in p and "[S2.P2]" in p for p in repair_prompts)


def test_repair_can_be_turned_off(fake_openai: FakeOpenAI, llm_settings: SettingsFactory) -> None:
    fake_openai.script(
        Reply.json({"claims": [TALKS_S1, FABRICATED]}),
        draft_reply(bullet("The talks lasted barely over an hour.", "K1")),
    )
    briefing, _ = run(llm_settings(single_call=False, repair_rounds=0))
    assert len(fake_openai.requests) == 2  # map and reduce, no repair
    assert [r.claim.id for r in briefing.rejected] == ["K2"]


def test_single_call_claims_keep_their_ids_through_repair(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.json(
            {
                "claims": [
                    {"id": "a", **TALKS_S1},
                    {"id": "b", **claim(BODIES["text"], "S2.P2", "bodies of 6,000 soldiers")},
                ],
                "title": "Talks end swiftly",
                "sections": [{"title": "Outcome", "bullets": [bullet(BODIES["text"], "b")]}],
                "differences": [],
            }
        ),
        Reply.json({"claims": [{"id": "K2", **BODIES}]}),
    )
    briefing, _ = run(llm_settings())
    assert [b.text for b in briefing.bullets] == [BODIES["text"]]
    assert briefing.bullets[0].citations[0].quote == BODIES["citations"][0]["quote"]
    assert briefing.rejected == []


def test_malformed_map_reply_is_re_asked(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply(content="Here are the claims: {claims: [The talks lasted"),
        Reply.json({"claims": [TALKS_S1]}),
        draft_reply(bullet("The talks lasted barely over an hour.", "K1")),
    )
    briefing, _ = run(llm_settings(single_call=False))
    assert [b.text for b in briefing.bullets] == ["The talks lasted barely over an hour."]
    assert "could not be used" in fake_openai.requests[1]["messages"][-1]["content"]


def test_map_reply_unusable_twice_ends_the_run_clearly(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply(content="not json"), Reply(content="still not json"))
    with pytest.raises(LLMResponseError, match="no usable claims"):
        run(llm_settings(single_call=False))


def test_truncated_map_reply_is_retried_in_halves(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply(content='{"claims": [{"text": "The talks', finish_reason="length"),
        Reply.json({"claims": [TALKS_S1]}),
        Reply.json({"claims": [BODIES]}),
        draft_reply(
            bullet("The talks lasted barely over an hour.", "K1"), bullet(BODIES["text"], "K2")
        ),
    )
    briefing, _ = run(llm_settings(single_call=False))
    first, left, right = (user_text(r) for r in fake_openai.requests[:3])
    assert "[S1.P1]" in first and "[S2.P1]" in first
    assert "[S1.P1]" in left and "[S2.P1]" not in left
    assert "[S2.P1]" in right and "[S1.P1]" not in right
    assert len(briefing.bullets) == 2


def test_part_still_truncated_is_skipped_with_a_note(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    truncated = Reply(content='{"claims": [', finish_reason="length")
    fake_openai.script(
        truncated,  # S1.C1 + S2.C1
        Reply.json({"claims": [TALKS_S1]}),  # S1.C1
        Reply(content='{"claims": [', finish_reason="length"),  # S2.C1
        Reply(content='{"claims": [', finish_reason="length"),  # first half of S2.C1
        Reply(content='{"claims": [', finish_reason="length"),  # second half of S2.C1
        draft_reply(bullet("The talks lasted barely over an hour.", "K1")),
    )
    with LLMEngine(llm_settings(single_call=False)) as engine:
        briefing = build_briefing(SOURCES, engine, OPTIONS)
    assert [b.text for b in briefing.bullets] == ["The talks lasted barely over an hour."]
    assert any("S2.C1" in note and "cut off" in note for note in engine.all_notes())
    assert fake_openai.pending() == 0


def test_one_call_that_is_cut_off_falls_back_to_mapping(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply(content='{"claims": [', finish_reason="length"),
        Reply.json({"claims": [TALKS_S1]}),
        Reply.json({"claims": [BODIES]}),
        draft_reply(bullet(BODIES["text"], "K2")),
    )
    briefing, engine = run(llm_settings())
    assert [b.text for b in briefing.bullets] == [BODIES["text"]]
    assert [p.name for p in briefing.provenance.prompts] == ["map", "brief", "reduce"]
    assert any("one-call briefing failed" in n for n in engine.all_notes())


def test_transient_errors_in_a_run_are_retried(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.fail(429, "Rate limit reached", headers={"retry-after": "0"}),
        Reply.fail(500, "The server had an error"),
        Reply.json({"claims": [TALKS_S1]}),
        Reply.json({"claims": []}, delay=0.6),  # the reduce call's first try times out
        draft_reply(bullet("The talks lasted barely over an hour.", "K1")),
    )
    briefing, engine = run(llm_settings(single_call=False, timeout=0.3, max_retries=3))
    assert [b.text for b in briefing.bullets] == ["The talks lasted barely over an hour."]
    assert engine.usage().calls == 2


def test_wrong_key_ends_the_run_with_advice_and_no_retries(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply.fail(401, "Incorrect API key provided"))
    with pytest.raises(LLMAuthError, match=r"^authentication failed: check OPENAI_API_KEY$"):
        run(llm_settings())
    assert len(fake_openai.requests) == 1


def test_word_budget_drops_the_lowest_ranked_whole_bullets(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.json({"claims": [TALKS_S1, TALKS_S2, EXCHANGE, BODIES]}),
        draft_reply(
            bullet(EXCHANGE["text"], "K3"),  # 15 words
            bullet(BODIES["text"], "K4"),  # 9 words
            bullet(TALKS_S2["text"], "K2"),  # 9 words: over the budget, skipped whole
            bullet(TALKS_S1["text"], "K1"),  # 7 words: still fits
        ),
    )
    briefing, _ = run(llm_settings(single_call=False), options=BriefOptions(max_words=32))
    texts = [b.text for b in briefing.bullets]
    assert texts == [EXCHANGE["text"], BODIES["text"], TALKS_S1["text"]]
    assert sum(count_words(t) for t in texts) <= 32


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "istanbul-talks"


def _many_sources() -> list[Source]:
    """Return the five seed articles of the bundled example, as ingested."""
    return read_sources([str(EXAMPLE)])


def test_hierarchical_reduce_when_claims_exceed_the_budget(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = merging_echo_model
    sources = _many_sources()
    with LLMEngine(llm_settings(context_window=2048, single_call=False)) as engine:
        briefing = build_briefing(sources, engine, BriefOptions(max_words=500))
        claims_tokens = engine.budgets.reduce_tokens
    reduce_requests = [r for r in fake_openai.requests if 'Claims, as "id text"' in user_text(r)]
    assert len(reduce_requests) >= 3  # at least two partial reduces and the final one
    assert any("one part of a larger set" in user_text(r) for r in reduce_requests)
    final = user_text(reduce_requests[-1])
    assert re.search(r"^L\d+\.\d+\.\d+ ", final, re.MULTILINE)  # it merges partial bullets
    assert claims_tokens < 1024
    assert briefing.bullets
    for shown in briefing.bullets:
        assert all(cid.startswith("K") for cid in shown.claim_ids)
    assert_all_supported(briefing, sources)


def test_map_calls_run_concurrently_within_the_limit(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    active = peak = 0
    lock = threading.Lock()

    def slow_echo(request: dict[str, Any]) -> Reply:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.25)
        with lock:
            active -= 1
        return echo_model(request)

    fake_openai.responder = slow_echo
    sources = _many_sources()
    chunks = chunks_of(sources)
    with LLMEngine(llm_settings(context_window=2048, single_call=False, concurrency=3)) as engine:
        start = time.perf_counter()
        claims = engine.map_chunks(chunks, OPTIONS)
        elapsed = time.perf_counter() - start
    calls = len(fake_openai.requests)
    assert calls >= 4
    assert peak == 3
    assert elapsed < 0.25 * calls * 0.75
    assert len(claims) == sum(len(c.passages) for c in chunks)
    assert [c.id for c in claims] == [f"K{i}" for i in range(1, len(claims) + 1)]


def test_plan_predicts_the_calls_without_calling(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = echo_model
    chunks = chunks_of(SOURCES)
    settings = llm_settings(single_call=False)
    plan = plan_run(chunks, settings, OPTIONS)
    assert fake_openai.requests == []
    _, engine = run(settings)
    assert (plan.mode, plan.calls, plan.map_calls) == ("map-reduce", 2, 1)
    assert plan.calls == engine.usage().calls
    assert plan.prompt_tokens > sum(c.n_tokens for c in chunks)
    assert plan.cost_usd is not None and plan.cost_usd > 0
    single = plan_run(chunks, llm_settings(), OPTIONS)
    assert (single.mode, single.calls, single.map_calls) == ("single call", 1, 0)


def test_plan_counts_the_map_calls_of_a_large_run(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = echo_model
    sources = _many_sources()
    chunks = chunks_of(sources)
    settings = llm_settings(context_window=2048, single_call=False, model="llama3.1:8b")
    plan = plan_run(chunks, settings, OPTIONS)
    with LLMEngine(settings) as engine:
        engine.map_chunks(chunks, OPTIONS)
    assert plan.map_calls == len(fake_openai.requests) > 1
    assert plan.reduce_calls >= 1
    assert plan.cost_usd is None  # no price is known for a local model


def _schema_names(requests: list[dict[str, Any]]) -> list[str]:
    return [str(r["response_format"]["json_schema"]["name"]) for r in requests]


def _brief_with_a_fabrication(request: dict[str, Any]) -> Reply:
    """echo_model, whose brief reply also leads with a bullet on a claim its passage lacks."""
    reply = echo_model(request)
    data = json.loads(reply.content or "{}")
    if "claims" in data and "sections" in data:
        data["claims"].append({"id": "cx", **FABRICATED})
        data["sections"][0]["bullets"].insert(0, bullet(FABRICATED["text"], "cx"))
        return Reply.json(data)
    return reply


def test_a_pile_that_fits_the_window_is_briefed_in_one_call(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = _brief_with_a_fabrication
    sources = _many_sources()
    chunks = chunks_of(sources)
    settings = llm_settings(context_window=16_384, repair_rounds=0)
    plan = plan_run(chunks, settings, OPTIONS)
    with LLMEngine(settings) as engine:
        briefing = build_briefing(sources, engine, OPTIONS)
        budgets = engine.budgets
    # More source text than one map call may hold, but the reply is one page, not the input.
    assert budgets.map_tokens < sum(c.n_tokens for c in chunks) <= budgets.single_call_tokens
    assert (plan.mode, plan.calls) == ("single call", 1)
    assert _schema_names(fake_openai.requests) == ["BriefOutput"]
    assert briefing.provenance.prompts == [load_prompt("brief").ref]
    assert "only the claims your bullets cite" in user_text(fake_openai.requests[0])
    assert "[S5.P" in user_text(fake_openai.requests[0])  # every source is in the one call
    # Claims are validated as in any run: the fabricated one and its bullet never show.
    fabricated = [r for r in briefing.rejected if r.claim.text == FABRICATED["text"]]
    assert [x.code for r in fabricated for x in r.reasons][:1] == ["quote_not_found"]
    assert FABRICATED["text"] not in [b.text for b in briefing.bullets]
    assert briefing.bullets
    assert_all_supported(briefing, sources)


def test_a_pile_too_large_for_one_call_is_mapped_then_reduced(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = echo_model
    sources = _many_sources()
    chunks = chunks_of(sources)
    settings = llm_settings(context_window=8_192)
    plan = plan_run(chunks, settings, OPTIONS)
    briefing, engine = run(settings, sources)
    assert count_tokens("\n".join(p.text for c in chunks for p in c.passages)) > (
        engine.budgets.single_call_tokens
    )
    names = _schema_names(fake_openai.requests)
    assert "BriefOutput" not in names
    assert names.count("MapOutput") == plan.map_calls > 1
    assert names[-1] == "ReduceOutput"
    assert plan.mode == "map-reduce"
    assert [p.name for p in briefing.provenance.prompts] == ["map", "reduce"]
    assert_all_supported(briefing, sources)


def test_brief_v1_keeps_one_call_within_the_map_budget(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    # brief v1 asks for every fact, so its reply grows with its input: a pile larger than one
    # map call is mapped even though it would fit the window beside a one-page reply.
    fake_openai.responder = echo_model
    sources = _many_sources()
    settings = llm_settings(context_window=16_384, prompt_versions="brief=1")
    briefing, _ = run(settings, sources)
    assert "BriefOutput" not in _schema_names(fake_openai.requests)
    assert [p.name for p in briefing.provenance.prompts] == ["map", "reduce"]
    small, _ = run(settings)  # two short sources fit one map call: one v1 call
    assert small.provenance.prompts == [load_prompt("brief", 1).ref]


def test_cache_makes_a_rerun_free(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake_openai.responder = echo_model
    settings = llm_settings(use_cache=True, cache_dir=tmp_path / "cache", single_call=False)
    first, _ = run(settings)
    calls = len(fake_openai.requests)
    second, _ = run(settings)
    assert len(fake_openai.requests) == calls
    assert second.provenance.usage.calls == 0
    assert second.provenance.usage.cache_hits == calls
    assert second.sections == first.sections


def test_replay_reproduces_the_recorded_briefing_offline(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake_openai.responder = echo_model
    cassette = tmp_path / "istanbul.jsonl"
    recorded, _ = run(llm_settings(record_path=cassette, single_call=False))
    calls = len(fake_openai.requests)
    offline = Settings(replay_path=cassette, single_call=False, use_cache=False)
    assert offline.llm_enabled
    replayed, _ = run(offline)
    assert len(fake_openai.requests) == calls
    skip = {"provenance": {"timings"}}
    assert replayed.model_dump_json(exclude=skip) == recorded.model_dump_json(exclude=skip)


def test_trace_shows_requests_replies_and_claim_lists(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake_openai.script(
        Reply.json({"claims": [TALKS_S1, FABRICATED]}),
        Reply.json({"claims": []}),
        draft_reply(bullet("The talks lasted barely over an hour.", "K1")),
    )
    run(llm_settings(single_call=False, trace_dir=tmp_path / "trace"))
    names = [p.name.split("-", 1)[1] for p in sorted((tmp_path / "trace").iterdir())]
    for expected in (
        "map-S1.C1..S2.C1-request.json",
        "map-S1.C1..S2.C1-reply.json",
        "claims-map.json",
        "rejected-claims.json",
        "claims-accepted.json",
        "draft.json",
    ):
        assert expected in names
    rejected = json.loads(next((tmp_path / "trace").glob("*rejected-claims.json")).read_text())
    assert rejected[0]["reasons"][0]["code"] == "quote_not_found"


def test_unknown_prompt_version_fails_before_any_call(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    with pytest.raises(PromptError, match="no version 7"):
        LLMEngine(llm_settings(prompt_versions={"reduce": 7}))
    with pytest.raises(PromptError, match="no prompt template named summary"):
        LLMEngine(llm_settings(prompt_versions={"summary": 1}))
    assert fake_openai.requests == []


def test_no_claims_gives_an_empty_briefing_without_a_reduce_call(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply.json({"claims": []}))
    briefing, _ = run(llm_settings(single_call=False))
    assert briefing.sections == []
    assert len(fake_openai.requests) == 1


def test_chunks_are_packed_into_calls_within_the_map_budget(llm_settings: SettingsFactory) -> None:
    with LLMEngine(llm_settings(context_window=2048)) as engine:
        budget = engine.budgets.map_tokens
    sources = _many_sources()
    chunks = chunks_of(sources)
    from briefer.engines.llm.io import pack_chunks

    groups = pack_chunks(chunks, budget)
    assert [p for g in groups for c in g for p in c.passages] == [
        p for c in chunks for p in c.passages
    ]
    assert all(sum(c.n_tokens for c in g) <= budget for g in groups)
    assert any(c.n_tokens > budget for c in chunks)  # oversized chunks were cut
    assert any(len(g) > 1 for g in groups)  # and small ones packed together


def test_streamed_map_makes_the_same_requests_and_claims_as_the_list_map(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = echo_model
    chunks = chunks_of(_many_sources())
    settings = llm_settings(context_window=2048, concurrency=3, use_cache=False)
    with LLMEngine(settings) as engine:
        listed = engine.map_chunks(chunks, OPTIONS)
    listed_requests = [user_text(r) for r in fake_openai.requests]
    fake_openai.requests.clear()
    with LLMEngine(settings) as engine:
        batches = list(engine.map_stream(iter(chunks), OPTIONS))
    assert len(batches) == len(listed_requests) > 1  # one batch per map call, in order
    assert [c for batch in batches for c in batch] == listed
    assert sorted(user_text(r) for r in fake_openai.requests) == sorted(listed_requests)


def test_streamed_map_starts_calling_before_the_last_chunk_is_made(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = echo_model
    chunks = chunks_of(_many_sources())
    calls_when_pulled: list[int] = []

    def made_one_by_one() -> Iterator[Chunk]:
        for chunk in chunks:
            time.sleep(0.02)  # making a chunk takes time; calls already sent run meanwhile
            calls_when_pulled.append(len(fake_openai.requests))
            yield chunk

    with LLMEngine(llm_settings(context_window=2048, single_call=False)) as engine:
        claims = [c for batch in engine.map_stream(made_one_by_one(), OPTIONS) for c in batch]
    assert calls_when_pulled[-1] >= 1  # the first part was sent before the last chunk existed
    assert len(claims) == sum(len(c.passages) for c in chunks)


def test_a_pile_that_fits_one_call_is_briefed_in_one_call_when_streamed(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = echo_model
    chunks = chunks_of(SOURCES)
    with LLMEngine(llm_settings()) as engine:
        batches = list(engine.map_stream(iter(chunks), OPTIONS))
    assert len(batches) == 1
    assert _schema_names(fake_openai.requests) == ["BriefOutput"]


def test_pipeline_validates_a_claim_citing_a_later_passage_after_all_are_made(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    def cites_ahead(request: dict[str, Any]) -> Reply:
        """Scripted: every map reply also quotes the last source's passage, unseen by it."""
        reply = echo_model(request)
        data = json.loads(reply.content or "{}")
        if "claims" in data and "[S1." in user_text(request):
            data["claims"].append(
                {
                    "text": "Medinsky also said Russia would return the bodies of 6,000 "
                    "Ukrainian soldiers in the coming week.",
                    "citations": [{"passage_id": "S2.P2", "quote": "return the bodies of 6,000"}],
                }
            )
        return Reply.json(data)

    fake_openai.responder = cites_ahead
    briefing, _ = run(llm_settings(context_window=2048, single_call=False))
    # The passage exists once every source is chunked, so the claim is judged on its merits.
    assert not any(c.code == "unknown_passage" for r in briefing.rejected for c in r.reasons)
    assert any("6,000" in b.text for b in briefing.bullets)
    assert_all_supported(briefing)


def test_plan_of_a_run_that_shortlists_predicts_its_calls(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake_openai.responder = echo_model  # restates every claim: nothing merges
    for copy in range(4):  # a pile whose claims overflow one reduce call
        for article in sorted(EXAMPLE.rglob("*.txt")):
            # Each copy's sentences differ, so reduce v2 cannot list them once as repeats.
            text = article.read_text(encoding="utf-8").replace(". ", f" ({copy}). ")
            (tmp_path / f"{copy}-{article.name}").write_text(text, encoding="utf-8")
    sources = read_sources([str(tmp_path)])
    chunks = chunks_of(sources)
    settings = llm_settings(context_window=8192, single_call=False, use_cache=False)
    options = BriefOptions(max_words=150)
    plan = plan_run(chunks, settings, options)
    briefing, engine = run(settings, sources, options)
    assert any("shortlisted" in note for note in engine.all_notes())
    assert plan.reduce_calls == 1  # the shortlist fits one call: no hierarchy is planned
    assert plan.calls == engine.usage().calls
    assert briefing.bullets


def test_a_failed_call_mid_stream_ends_the_run_and_sends_no_more(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    sent = 0
    lock = threading.Lock()

    def key_revoked_after_two(request: dict[str, Any]) -> Reply:
        """Scripted: the first two map calls succeed, every later one is refused (401)."""
        nonlocal sent
        with lock:
            sent += 1
            number = sent
        if number > 2:
            return Reply.fail(401, "Incorrect API key provided")
        return dataclasses.replace(echo_model(request), delay=0.05)

    fake_openai.responder = key_revoked_after_two
    sources = _many_sources()
    settings = llm_settings(context_window=2048, single_call=False, concurrency=2)
    groups = len(
        pack_chunks(
            chunks_of(sources),
            LLMEngine(settings).budgets.map_tokens,
        )
    )
    with pytest.raises(LLMAuthError):
        run(settings, sources)
    assert groups > 6
    # The calls already in flight finish; the queued ones are cancelled, not sent.
    assert len(fake_openai.requests) <= 2 + 2 + 1
