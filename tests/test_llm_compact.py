"""What the LLM engine sends stays compact: reduce v2 lists each source once, map calls are
filled, and map v2 says its instructions once (issue 9). Requests go to tests/fake_openai.py."""

from __future__ import annotations

import json
from typing import Any

from conftest import SettingsFactory
from fake_openai import FakeOpenAI, echo_model, listed_claims
from test_shortlist import BODIES, CRITICIZED, DAMAGE, EXCHANGE, OCCUPIES, PUTIN, claim
from test_shortlist import sources as make_sources

from briefer.engines.llm.client import LLMClient, schema_of
from briefer.engines.llm.io import (
    ReduceItem,
    ReduceOutput,
    audience_guidance,
    pack_chunks,
    render_items_by_source,
)
from briefer.engines.llm.prompts import load_prompt, render_prompt
from briefer.engines.llm.reduce import Reducer
from briefer.engines.llm.shortlist import claim_tokens
from briefer.models import BriefOptions, Chunk, Claim, Passage
from briefer.tokens import count_tokens

# Nine claims from four sources: S1 and S3 report several facts, S2 one, S4 none.
CLAIMS = [
    claim("K1", OCCUPIES, "S1.P1"),
    claim("K2", DAMAGE, "S1.P2"),
    claim("K3", CRITICIZED, "S2.P1"),
    claim("K4", PUTIN, "S3.P1"),
    claim("K5", EXCHANGE, "S3.P2"),
    claim("K6", BODIES[0], "S1.P3"),
    claim("K7", BODIES[1], "S3.P3"),
    claim("K8", BODIES[2], "S1.P4"),
    claim("K9", "A third round of talks is planned for July.", "S3.P4"),
]
SOURCES = make_sources(4)
OPTIONS = BriefOptions(max_words=120)


def user_text(request: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")


def request_tokens(request: dict[str, Any]) -> int:
    """Return the tokens of a request's messages and response_format schema, as the bench counts."""
    text = sum(count_tokens(m["content"]) for m in request["messages"])
    schema = request.get("response_format", {}).get("json_schema", {}).get("schema")
    return text + (count_tokens(json.dumps(schema)) if schema else 0)


def reduce_request(
    fake_openai: FakeOpenAI, settings: SettingsFactory, version: int, claims: list[Claim]
) -> dict[str, Any]:
    """Return the one request reduce ``version`` sends for ``claims`` (all fit one call)."""
    fake_openai.responder = echo_model
    fake_openai.requests.clear()
    # The generic schema, as the budgets count it: a schema narrowed to the request's claim
    # ids is applied by the server as a grammar, not read by the model (schemas.py).
    with LLMClient(settings(citation_schema="off")) as client:
        reducer = Reducer(client, load_prompt("reduce", version), 100_000, 1, [])
        reducer.reduce(claims, SOURCES, OPTIONS)
    (request,) = fake_openai.requests
    return request


def test_reduce_v2_lists_each_cited_source_once_and_each_claim_once(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    text = user_text(reduce_request(fake_openai, llm_settings, 2, CLAIMS))
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("[S")] == [
        "[S1] Report S1",
        "[S2] Report S2",
        "[S3] Report S3",
    ]
    assert "S4" not in text  # no claim cites it: not listed
    # Each claim once, as "id text" under its source's header, grouped in order of first use.
    assert listed_claims(text) == [
        (c.id, c.text) for c in (CLAIMS[n] for n in (0, 1, 5, 7, 2, 3, 4, 6, 8))
    ]
    assert lines.index("[S3] Report S3") < lines.index(f"K9 {CLAIMS[8].text}")


def test_a_claim_from_several_sources_sits_under_one_header_naming_them() -> None:
    items = [
        ReduceItem(id="L1.1.1", text="Merged fact.", source_ids=["S1", "S3"], claim_ids=["K1"]),
        ReduceItem(id="K2", text="Single fact.", source_ids=["S2"], claim_ids=["K2"]),
        ReduceItem(id="L1.1.2", text="Made up.", source_ids=[], claim_ids=["unknown:X"]),
    ]
    republished = [*SOURCES[:1], SOURCES[1].model_copy(update={"duplicate_of": "S1"})]
    assert render_items_by_source(items, republished).splitlines() == [
        "[S1, S3]",
        "L1.1.1 Merged fact.",
        "[S2] Report S2 (republishes S1)",
        "K2 Single fact.",
        "[no source]",
        "L1.1.2 Made up.",
    ]


def test_reduce_v2_request_stays_within_the_budget_its_claims_were_counted_in(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    """The shortlist and the hierarchy count claims in v1 lines (``claim_tokens``); the v2
    listing must never be larger, so a call packed to the budget always fits."""
    template = load_prompt("reduce", 2)
    request = reduce_request(fake_openai, llm_settings, 2, CLAIMS)
    fixed = render_prompt(
        template,
        {
            "audience": OPTIONS.audience,
            "audience_guidance": audience_guidance(OPTIONS),
            "claims_by_source": "",
            "scope": "These are all the claims: write the whole briefing.",
            "max_words": OPTIONS.max_words,
        },
    )
    fixed_tokens = sum(count_tokens(m["content"]) for m in fixed)
    schema_tokens = count_tokens(json.dumps(schema_of(ReduceOutput)))
    counted = sum(claim_tokens(c) for c in CLAIMS)
    assert request_tokens(request) <= fixed_tokens + schema_tokens + counted
    # and it is smaller than reduce v1's request for the same claims, which lists every source
    # and tags every claim with its sources
    v1 = reduce_request(fake_openai, llm_settings, 1, CLAIMS)
    assert request_tokens(request) < request_tokens(v1)


def _passage(source: int, number: int, tokens: int) -> Passage:
    text = " ".join(["word"] * tokens)
    return Passage(
        id=f"S{source}.P{number}",
        source_id=f"S{source}",
        start=0,
        end=len(text),
        text=text,
        n_tokens=tokens,
    )


def _chunk(source: int, number: int, passages: list[Passage]) -> Chunk:
    return Chunk(
        id=f"S{source}.C{number}",
        source_id=f"S{source}",
        passages=passages,
        n_tokens=sum(p.n_tokens for p in passages),
    )


def test_map_calls_are_filled_by_splitting_a_chunk_at_a_passage() -> None:
    # Five sources of one 700-token chunk (7 passages of 100) in 1,000-token calls.
    chunks = [_chunk(s, 1, [_passage(s, n, 100) for n in range(1, 8)]) for s in range(1, 6)]
    groups = pack_chunks(chunks, 1000)
    assert len(groups) == 4  # 3,500 tokens; whole chunks alone would take 5 calls
    assert all(sum(c.n_tokens for c in g) <= 1000 for g in groups)
    shown = [p.id for g in groups for c in g for p in c.passages]
    assert shown == [p.id for c in chunks for p in c.passages]  # each once, in order
    # a split chunk keeps its id in both calls, so its claims still belong to it
    assert {c.id for g in groups for c in g} == {c.id for c in chunks}


def test_a_chunk_is_not_split_when_no_passage_fits_the_room_left() -> None:
    chunks = [
        _chunk(1, 1, [_passage(1, 1, 900)]),
        _chunk(2, 1, [_passage(2, 1, 200), _passage(2, 2, 50)]),
    ]
    groups = pack_chunks(chunks, 1000)
    assert [[p.id for c in g for p in c.passages] for g in groups] == [
        ["S1.P1"],
        ["S2.P1", "S2.P2"],
    ]


def test_map_v2_sends_fewer_fixed_tokens_than_v1_and_states_the_reply_shape_once() -> None:
    values = {"audience": "general", "passages": "[S1.P1] The talks began late."}
    v1, v2 = (
        sum(count_tokens(m["content"]) for m in render_prompt(load_prompt("map", v), values))
        for v in (1, 2)
    )
    assert v2 < v1 - 60
    text = "".join(m["content"] for m in render_prompt(load_prompt("map", 2), values))
    assert text.count('"passage_id"') == 1 and text.count("[S1.P1] The talks began late.") == 1


def test_reduce_v2_lists_a_republished_claim_once_and_its_id_stands_for_both(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    original = claim("K1", "Russia’s delegation left after an hour.", "S1.P1")
    copy = claim("K2", "Russia's  delegation left after an hour.", "S2.P1")  # typography only
    other = claim("K3", DAMAGE, "S2.P2")
    sources = [SOURCES[0], SOURCES[1].model_copy(update={"duplicate_of": "S1"})]
    fake_openai.responder = echo_model
    with LLMClient(llm_settings()) as client:
        reducer = Reducer(client, load_prompt("reduce", 2), 100_000, 1, [])
        draft = reducer.reduce([original, copy, other], sources, OPTIONS)
    text = user_text(fake_openai.requests[0])
    assert listed_claims(text) == [("K1", original.text), ("K3", DAMAGE)]
    assert "[S1, S2] S2 republishes S1" in text.splitlines()
    cited = [b.claim_ids for s in draft.sections for b in s.bullets]
    assert ["K1", "K2"] in cited  # the echo cites K1: the bullet stands on both copies
