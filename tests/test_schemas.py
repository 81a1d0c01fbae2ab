"""Per-request schemas (engines/llm/schemas.py) and template-echo re-asks (engines/llm/echo.py).

The model replies here are scripted test data served by the fake server; the schemas are
checked for their shape and for using only what llama.cpp's json-schema-to-grammar accepts
(the real server is exercised in tests/test_real_server.py when one is available).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from conftest import SettingsFactory
from fake_openai import FakeOpenAI, Reply
from hypothesis import given, settings
from hypothesis import strategies as st
from test_llm_engine import (
    SOURCES,
    TALKS_S1,
    TALKS_S2,
    chunks_of,
    run,
)

from briefer.config import Settings
from briefer.engines.llm.echo import TemplateEcho
from briefer.engines.llm.io import MapOutput, ReduceOutput, RepairOutput, render_passages
from briefer.engines.llm.prompts import load_prompt, render_prompt
from briefer.engines.llm.schemas import (
    MAX_ENUM_IDS,
    citing_schema,
    exact_pattern,
    inline_single_use,
    passage_sentences,
    recorded_narrowing,
    reduce_schema,
)
from briefer.grounding.validator import validate_claims
from briefer.models import Chunk, Citation, Claim, Passage
from briefer.tokens import count_tokens

# Keywords llama.cpp's common/json-schema.cpp reads (beyond annotations): anything else is
# ignored there or refused, so the narrowed schemas keep to these.
LLAMA_CPP_KEYWORDS = {
    "$defs", "$ref", "type", "properties", "required", "additionalProperties", "items",
    "enum", "const", "anyOf", "oneOf", "allOf", "minItems", "maxItems", "minLength",
    "maxLength", "pattern", "title", "description",
}  # fmt: skip


def _keywords(node: object, inside_properties: bool = False) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if not inside_properties and key != "enum":
                found.add(key)
            if key == "enum":
                continue
            found |= _keywords(value, inside_properties=key in {"properties", "$defs"})
    elif isinstance(node, list):
        for value in node:
            found |= _keywords(value)
    return found


def _passages(chunks: list[Chunk]) -> dict[str, Passage]:
    return {p.id: p for c in chunks for p in c.passages}


def _claim(schema: dict[str, Any]) -> dict[str, Any]:
    """Return a claim's schema in a narrowed map or repair schema (written in place)."""
    claim: dict[str, Any] = schema["properties"]["claims"]["items"]
    return claim


def _citation(schema: dict[str, Any]) -> dict[str, Any]:
    citation: dict[str, Any] = _claim(schema)["properties"]["citations"]["items"]
    return citation


def test_grammar_schema_pairs_each_passage_id_with_its_own_sentences() -> None:
    chunks = chunks_of(SOURCES)
    schema = citing_schema(MapOutput, chunks, grammar=True, max_claims=12)
    branches = _citation(schema)["anyOf"]
    passages = _passages(chunks)
    assert [b["properties"]["passage_id"]["enum"] for b in branches] == [[p] for p in passages]
    for branch in branches:
        (passage_id,) = branch["properties"]["passage_id"]["enum"]
        quotes = branch["properties"]["quote"]["enum"]
        assert quotes == passage_sentences(passages[passage_id])
        assert branch["additionalProperties"] is False
        # Every quote the grammar allows passes the validator for its passage.
        claims = [
            Claim(id=f"K{n}", text=q, citations=[Citation(passage_id=passage_id, quote=q)])
            for n, q in enumerate(quotes)
        ]
        accepted, rejected = validate_claims(claims, passages, stage="map")
        assert not rejected and len(accepted) == len(quotes)
    assert len(branches[0]["properties"]["quote"]["enum"]) == 2  # S1.P1 has two sentences
    claim = _claim(schema)["properties"]
    assert claim["text"]["minLength"] > 3  # "..." cannot be a claim
    assert (claim["citations"]["minItems"], claim["citations"]["maxItems"]) == (1, 1)
    assert schema["properties"]["claims"]["maxItems"] == 12
    assert _keywords(schema) <= LLAMA_CPP_KEYWORDS


def test_ids_schema_accepts_exactly_the_passage_ids_and_nothing_a_strict_api_may_refuse() -> None:
    chunks = chunks_of(SOURCES)
    schema = citing_schema(RepairOutput, chunks, grammar=False)
    citation = _citation(schema)
    passage_id = citation["properties"]["passage_id"]
    assert passage_id == {"type": "string", "pattern": "^S[12]\\.P[12]$"}
    shown = list(_passages(chunks))
    assert shown == ["S1.P1", "S1.P2", "S2.P1", "S2.P2"]
    assert [i for i in _IDS_NEARBY if re.fullmatch(passage_id["pattern"], i)] == shown
    assert citation["properties"]["quote"] == {"type": "string"}
    text = json.dumps(schema)
    for keyword in ("anyOf", "minLength", "maxLength", "minItems", "maxItems", "enum", "title"):
        assert keyword not in text
    _assert_strict(schema)


_IDS_NEARBY = [f"S{s}.P{p}" for s in range(4) for p in range(13)] + ["S1.P1x", "S1P1", "S1.P"]


def _assert_strict(node: object) -> None:
    """OpenAI's strict mode: every object lists all its properties as required, no extras."""
    if isinstance(node, dict):
        if node.get("type") == "object":
            assert node["additionalProperties"] is False
            assert sorted(node["required"]) == sorted(node["properties"])
        for value in node.values():
            _assert_strict(value)
    elif isinstance(node, list):
        for value in node:
            _assert_strict(value)


@settings(max_examples=50, deadline=None)
@given(
    st.sets(
        st.tuples(st.integers(1, 30), st.integers(1, 150)).map(lambda t: f"S{t[0]}.P{t[1]}"),
        min_size=1,
        max_size=80,
    )
)
def test_an_id_pattern_matches_exactly_its_ids(ids: set[str]) -> None:
    pattern = exact_pattern(sorted(ids))
    for source in range(32):
        for number in range(152):
            candidate = f"S{source}.P{number}"
            assert bool(re.fullmatch(pattern, candidate)) == (candidate in ids), candidate
            assert not re.fullmatch(pattern, candidate.replace(".", "x"))  # no wildcard dot
    # Only syntax llama.cpp's regex-to-grammar and OpenAI's strict mode both take: anchored,
    # groups, alternation, classes with ranges, escaped dots; no \d, no quantifier.
    assert pattern.startswith("^") and pattern.endswith("$")
    assert re.fullmatch(r"[\^$()|\[\]\-.A-Za-z0-9\\]*", pattern)
    assert not re.search(r"[*+?{]|\\[^.]", pattern)


def test_an_id_pattern_costs_a_fraction_of_an_enums_tokens() -> None:
    ids = [f"S{s}.P{p}" for s in (3, 4) for p in range(1, 22)]
    enum = count_tokens(json.dumps({"enum": ids}, separators=(",", ":")))
    pattern = count_tokens(json.dumps({"pattern": exact_pattern(ids)}, separators=(",", ":")))
    assert pattern * 4 < enum, (pattern, enum)


def test_definitions_used_once_are_written_in_place() -> None:
    schema = citing_schema(MapOutput, chunks_of(SOURCES), grammar=False)
    assert "$defs" not in schema and "$ref" not in json.dumps(schema)
    reduce = reduce_schema(ReduceOutput, ["K1", "K2"], grammar=False)
    assert list(reduce["$defs"]) == ["BulletOut"]  # in sections and in differences: shared
    section = reduce["properties"]["sections"]["items"]
    assert section["properties"]["bullets"]["items"] == {"$ref": "#/$defs/BulletOut"}
    assert reduce["properties"]["differences"]["items"] == {"$ref": "#/$defs/BulletOut"}
    nested = {
        "$defs": {"A": {"type": "string"}, "B": {"type": "array", "items": {"$ref": "#/$defs/A"}}},
        "type": "object",
        "properties": {"b": {"$ref": "#/$defs/B"}},
    }
    assert inline_single_use(nested) == {
        "type": "object",
        "properties": {"b": {"type": "array", "items": {"type": "string"}}},
    }


def test_too_many_passages_keep_the_generic_schema() -> None:
    chunk = chunks_of(SOURCES)[0]
    passage = chunk.passages[0]
    many = [passage.model_copy(update={"id": f"S1.P{n}"}) for n in range(1, MAX_ENUM_IDS + 2)]
    big = chunk.model_copy(update={"passages": many})
    schema = citing_schema(MapOutput, [big], grammar=True)
    assert "enum" not in json.dumps(schema["$defs"]["CitationOut"])


def test_reduce_schema_cites_only_the_listed_ids() -> None:
    schema = reduce_schema(ReduceOutput, ["K1", "K2", "K1"], grammar=True)
    bullet = schema["$defs"]["BulletOut"]["properties"]
    assert bullet["claim_ids"]["items"]["enum"] == ["K1", "K2"]  # a grammar server: an enum
    assert bullet["claim_ids"]["minItems"] == 1
    assert schema["properties"]["title"]["minLength"] >= 3
    assert _keywords(schema) <= LLAMA_CPP_KEYWORDS
    plain = reduce_schema(ReduceOutput, ["K1", "K2", "K10", "P1.K2"], grammar=False)
    assert "minLength" not in json.dumps(plain)
    pattern = plain["$defs"]["BulletOut"]["properties"]["claim_ids"]["items"]["pattern"]
    candidates = ["K1", "K2", "K3", "K10", "K12", "K", "P1.K2", "P1.K1", "P1xK2"]
    assert [c for c in candidates if re.fullmatch(pattern, c)] == ["K1", "K2", "K10", "P1.K2"]
    _assert_strict(plain)


def test_requests_carry_the_narrowed_schema_by_server_kind(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply.json({"claims": [TALKS_S1, TALKS_S2]}))
    fake_openai.script(Reply.json({"title": "Talks", "sections": [], "differences": []}))
    run(llm_settings(single_call=False))  # a base URL: a local server, so grammar
    sent = fake_openai.requests[0]["response_format"]["json_schema"]["schema"]
    assert "anyOf" in _citation(sent)
    fake_openai.reset()
    fake_openai.script(Reply.json({"claims": [TALKS_S1, TALKS_S2]}))
    fake_openai.script(Reply.json({"title": "Talks", "sections": [], "differences": []}))
    run(llm_settings(single_call=False, citation_schema="ids"))
    sent = fake_openai.requests[0]["response_format"]["json_schema"]["schema"]
    assert re.fullmatch(_citation(sent)["properties"]["passage_id"]["pattern"], "S1.P1")
    assert Settings().schema_narrowing == "ids"  # the OpenAI API: ids only


def test_a_replay_sends_the_schemas_its_recording_sent(tmp_path: Path) -> None:
    line = {"request": {"response_format": {"json_schema": {"schema": {"minLength": 8}}}}}
    cassette = tmp_path / "c.jsonl"
    cassette.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert recorded_narrowing(cassette) == "grammar"
    line["request"]["response_format"]["json_schema"]["schema"] = {"$defs": {"CitationOut": {}}}
    cassette.write_text("not json\n" + json.dumps(line) + "\n", encoding="utf-8")
    assert recorded_narrowing(cassette) == "off"
    assert recorded_narrowing(tmp_path / "missing.jsonl") is None


PLACEHOLDER = {"text": "...", "citations": [{"passage_id": "...", "quote": "..."}]}


def _map_echo(chunks: list[Chunk]) -> TemplateEcho:
    template = load_prompt("map")
    return TemplateEcho(template, {"audience": "analyst", "passages": render_passages(chunks)})


def test_placeholders_and_the_example_are_recognised_as_echoes() -> None:
    echo = _map_echo(chunks_of(SOURCES))
    for value in ("...", "…", "", "passage_id", "<sentence>"):
        assert echo.field_echoes(value), value
    # A phrase of the prompt's own text, copied.
    assert echo.field_echoes("List every distinct fact of the story as a claim.")
    # Real content is not an echo, even short, nor a sentence of the passages.
    for value in ("S1.P1", "The talks lasted barely over an hour.", "Istanbul"):
        assert not echo.field_echoes(value), value


def test_a_reply_mostly_real_is_not_an_echo() -> None:
    echo = _map_echo(chunks_of(SOURCES))
    real = MapOutput.model_validate({"claims": [TALKS_S1, TALKS_S2, PLACEHOLDER]})
    assert echo.reask_for_claims("S1.P1")(real) is None
    copied = MapOutput.model_validate({"claims": [TALKS_S1, PLACEHOLDER, PLACEHOLDER]})
    assert "S1.P1" in (echo.reask_for_claims("S1.P1")(copied) or "")


def test_a_reply_copying_the_template_is_re_asked_once_plainly(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.json({"claims": [PLACEHOLDER, PLACEHOLDER]}),
        Reply.json({"claims": [TALKS_S1, TALKS_S2]}),
        Reply.json(
            {
                "title": "Talks end",
                "sections": [
                    {
                        "title": "Talks",
                        "bullets": [{"text": "The talks lasted barely over an hour.",
                                     "claim_ids": ["K1"]}],
                    }
                ],
                "differences": [],
            }
        ),
    )  # fmt: skip
    briefing, _ = run(llm_settings(single_call=False))
    reask = fake_openai.requests[1]["messages"]
    assert reask[-2]["role"] == "assistant" and '"..."' in reask[-2]["content"]
    assert "copied the instructions' example or placeholders" in reask[-1]["content"]
    assert "for example S1.P1" in reask[-1]["content"]
    assert [b.text for b in briefing.bullets] == ["The talks lasted barely over an hour."]
    assert len(fake_openai.requests) == 3


def test_a_second_echo_is_kept_for_the_validator_to_reject(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.json({"claims": [PLACEHOLDER]}),
        Reply.json({"claims": [PLACEHOLDER]}),
    )
    fake_openai.responder = lambda request: Reply.json(
        {"title": "t", "sections": [], "differences": []}
    )
    settings = llm_settings(single_call=False, repair_rounds=0)
    briefing, _ = run(settings)
    maps = [r for r in fake_openai.requests if "MapOutput" in json.dumps(r["response_format"])]
    assert len(maps) == 2  # the first reply and the one re-ask, no more
    codes = {reason.code for r in briefing.rejected for reason in r.reasons}
    assert "unknown_passage" in codes


def test_the_new_prompts_hold_no_placeholder_a_model_could_copy() -> None:
    variables: dict[str, Any] = {
        "audience": "analyst",
        "audience_guidance": "Analysts.",
        "passages": "[S1.P1] The talks began late.",
        "sources": "S1: Talks",
        "claims": "K1 [S1] The talks began late.",
        "claims_by_source": "[S1] Talks\nK1 The talks began late.",
        "scope": "These are all the claims.",
        "max_words": 120,
    }
    for name in ("map", "reduce", "repair", "brief"):
        text = "".join(m["content"] for m in render_prompt(load_prompt(name), variables))
        assert '"..."' not in text and "[...]" not in text, name


def test_a_server_refusing_the_narrowed_schema_gets_the_generic_one_in_strict_mode(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    def refuse_anyof(request: dict[str, Any]) -> Reply:
        schema = json.dumps(request.get("response_format", {}).get("json_schema", {}))
        if "anyOf" in schema:
            return Reply.fail(400, "unsupported keyword anyOf in json_schema")
        if "claims" in schema and "sections" not in schema:
            return Reply.json({"claims": [TALKS_S1]})
        return Reply.json(
            {
                "title": "Talks end",
                "sections": [
                    {"title": "Talks", "bullets": [{"text": TALKS_S1["text"], "claim_ids": ["K1"]}]}
                ],
                "differences": [],
            }
        )

    fake_openai.responder = refuse_anyof
    cassette = tmp_path / "c.jsonl"
    briefing, engine = run(llm_settings(single_call=False, record_path=cassette))
    formats = [r["response_format"]["type"] for r in fake_openai.requests]
    assert formats and set(formats) == {"json_schema"}  # never down to JSON mode
    assert "anyOf" in json.dumps(fake_openai.requests[0]["response_format"])
    assert all("anyOf" not in json.dumps(r["response_format"]) for r in fake_openai.requests[2:])
    assert any("narrowed to the cited passages" in n for n in engine.all_notes())
    assert [b.text for b in briefing.bullets] == [TALKS_S1["text"]]
    # A replay finds the generic requests the recording sent.
    calls = len(fake_openai.requests)
    replayed, _ = run(Settings(replay_path=cassette, single_call=False, use_cache=False))
    assert len(fake_openai.requests) == calls
    assert [b.text for b in replayed.bullets] == [TALKS_S1["text"]]


def test_narrowed_schemas_ask_for_what_is_cited_before_the_text() -> None:
    """Servers generate fields in the schema's order: the constrained citation comes first."""
    chunks = chunks_of(SOURCES)
    for grammar in (True, False):
        for output in (MapOutput, RepairOutput):
            definition = _claim(citing_schema(output, chunks, grammar=grammar))
            assert list(definition["properties"])[-2:] == ["citations", "text"]
            assert definition["required"][-2:] == ["citations", "text"]
        bullet = reduce_schema(ReduceOutput, ["K1"], grammar=grammar)["$defs"]["BulletOut"]
        assert list(bullet["properties"]) == ["claim_ids", "text"]
        assert bullet["required"] == ["claim_ids", "text"]
    # The generic schema (and so the model's reply model) is unchanged.
    assert list(MapOutput.model_json_schema()["$defs"]["ClaimOut"]["properties"]) == [
        "text",
        "citations",
    ]


def test_construct_trusted_builds_what_model_construct_builds() -> None:
    from pydantic import BaseModel, Field

    from briefer.models import Citation, Claim, Span, construct_trusted

    class WithAlias(BaseModel):
        name: str = Field(alias="Name")
        tags: list[str] = Field(default_factory=list)

    citation = {"passage_id": "S1.P1", "quote": "q"}
    cases: list[tuple[type[BaseModel], set[str], dict[str, object]]] = [
        (Span, {"start", "end"}, {"start": 3, "end": 9}),
        (Citation, set(citation), citation),
        # a missing field (salience) gets its default; keyword order differs from the model's
        (Claim, {"id", "text", "citations"}, {"text": "t", "id": "c", "citations": []}),
        (WithAlias, {"name"}, {"Name": "x"}),  # aliases: pydantic's own model_construct
    ]
    for model, fields_set, values in cases:
        built = construct_trusted(model, fields_set, **values)
        expected = model.model_construct(fields_set, **values)
        assert type(built) is model
        assert list(built.__dict__.items()) == list(expected.__dict__.items())
        assert built.model_fields_set == expected.model_fields_set
        assert built.model_dump_json() == expected.model_dump_json()
        assert built == expected
