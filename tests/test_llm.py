"""Tests for the LLM client on the fake OpenAI server: retries, errors, re-ask, cache, cassettes.

Every model reply below is scripted test data served by tests/fake_openai.py.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from conftest import TEST_KEY, SettingsFactory
from fake_openai import FakeOpenAI, Reply

from briefer.engines.llm.client import LLMClient, schema_of
from briefer.engines.llm.io import MapOutput, ReduceOutput
from briefer.errors import (
    LLMAuthError,
    LLMError,
    LLMResponseError,
    LLMTimeoutError,
    LLMTruncatedError,
    LLMUnavailableError,
)

MESSAGES = [
    {"role": "system", "content": "You extract facts. Reply with JSON."},
    {"role": "user", "content": "[S1.P1] The talks began late and lasted barely over an hour."},
]
GOOD = {
    "claims": [
        {
            "text": "The talks lasted barely over an hour.",
            "citations": [{"passage_id": "S1.P1", "quote": "lasted barely over an hour"}],
        }
    ]
}


def _complete(settings_factory: SettingsFactory, **changes: object) -> MapOutput:
    with LLMClient(settings_factory(**changes)) as client:
        return client.complete(MESSAGES, MapOutput, label="map S1.C1")


def test_happy_path_sends_strict_schema_and_bearer_key(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply.json(GOOD))
    with LLMClient(llm_settings()) as client:
        output = client.complete(MESSAGES, MapOutput, label="map S1.C1")
        usage = client.usage()
    assert output.claims[0].citations[0].quote == "lasted barely over an hour"
    request = fake_openai.requests[0]
    assert request["model"] == "gpt-4o-mini"
    assert request["temperature"] == 0
    assert request["response_format"]["type"] == "json_schema"
    schema = request["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert schema["schema"] == schema_of(MapOutput)
    assert fake_openai.headers[0]["authorization"] == f"Bearer {TEST_KEY}"
    assert (usage.calls, usage.cache_hits) == (1, 0)
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0


def test_strict_schema_requires_every_field_and_forbids_extras() -> None:
    schema = schema_of(MapOutput)
    claim = schema["$defs"]["ClaimOut"]
    assert claim["additionalProperties"] is False
    assert set(claim["required"]) == {"text", "citations"}
    assert "default" not in json.dumps(schema)


def test_strict_schema_drops_title_annotations_but_keeps_title_fields() -> None:
    """pydantic's ``title`` keys cost tokens where the model reads the schema and say nothing."""
    for output in (MapOutput, ReduceOutput):
        schema = schema_of(output)
        text = json.dumps(schema)
        for annotation in ('"Passage Id"', '"Claim Ids"', f'"{output.__name__}"'):
            assert annotation not in text
    reduce = schema_of(ReduceOutput)
    assert reduce["properties"]["title"] == {"type": "string"}  # the briefing's title field
    assert reduce["required"] == ["title", "sections", "differences"]
    assert reduce["$defs"]["SectionOut"]["properties"]["title"] == {"type": "string"}


def test_429_with_retry_after_zero_is_retried(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.fail(429, "Rate limit reached", headers={"retry-after": "0"}), Reply.json(GOOD)
    )
    output = _complete(llm_settings)
    assert len(output.claims) == 1
    assert len(fake_openai.requests) == 2


def test_retry_after_header_sets_the_wait(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.fail(429, "Rate limit reached", headers={"retry-after-ms": "300"}), Reply.json(GOOD)
    )
    start = time.perf_counter()
    _complete(llm_settings, retry_max_wait=5.0)
    assert time.perf_counter() - start >= 0.3


def test_500_then_success(fake_openai: FakeOpenAI, llm_settings: SettingsFactory) -> None:
    fake_openai.script(Reply.fail(500, "The server had an error"), Reply.json(GOOD))
    assert len(_complete(llm_settings).claims) == 1
    assert len(fake_openai.requests) == 2


def test_persistent_503_ends_clearly_after_the_allowed_attempts(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(*[Reply.fail(503, "overloaded") for _ in range(3)])
    with pytest.raises(LLMUnavailableError, match=r"failed with 503 \(after 3 attempts\)"):
        _complete(llm_settings, max_retries=2)
    assert len(fake_openai.requests) == 3


def test_timeout_is_resent_changed_not_unchanged(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply.json(GOOD, delay=1.0), Reply.json(GOOD))
    start = time.perf_counter()
    with LLMClient(llm_settings(timeout=0.25)) as client:
        output = client.complete(MESSAGES, MapOutput, label="map S1.C1", max_tokens=400)
    assert len(output.claims) == 1
    first, second = fake_openai.requests
    assert time.perf_counter() - start < 1.0
    # Resent with a shorter reply limit and a repetition penalty, never as it was.
    assert first["max_tokens"] == 400 and "frequency_penalty" not in first
    assert second["max_tokens"] == 200
    assert second["frequency_penalty"] > 0 and second["presence_penalty"] > 0
    assert any("no first token within 0.25 s" in n for n in client.notes)


def test_timeouts_exhausted_raise_timeout(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply.json(GOOD, delay=0.6), Reply.json(GOOD, delay=0.6))
    with pytest.raises(LLMTimeoutError, match=r"sent no first token within 0\.2 s .*twice"):
        _complete(llm_settings, timeout=0.2, max_retries=1)
    assert len(fake_openai.requests) == 2  # a timeout is not retried as if it were transient


def test_unreachable_server_raises_unavailable(llm_settings: SettingsFactory) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(LLMUnavailableError, match="cannot reach"):
        _complete(llm_settings, base_url=f"http://127.0.0.1:{port}/v1", max_retries=1)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_not_retried_and_hides_the_key(
    status: int, fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply.fail(status, f"Incorrect API key provided: {TEST_KEY}"))
    with pytest.raises(LLMAuthError) as info:
        _complete(llm_settings)
    assert str(info.value) == "authentication failed: check OPENAI_API_KEY"
    assert len(fake_openai.requests) == 1


def test_auth_message_names_the_configured_variable(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply.fail(401, "bad key"))
    with pytest.raises(LLMAuthError, match="check GROQ_API_KEY"):
        _complete(llm_settings, api_key_env="GROQ_API_KEY")


def test_404_is_not_retried(fake_openai: FakeOpenAI, llm_settings: SettingsFactory) -> None:
    fake_openai.script(Reply.fail(404, "The model does not exist"))
    with pytest.raises(LLMError, match="no model 'gpt-4o-mini' \\(404\\)"):
        _complete(llm_settings)
    assert len(fake_openai.requests) == 1


def test_insufficient_quota_is_not_retried(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.fail(429, "You exceeded your current quota", code="insufficient_quota")
    )
    with pytest.raises(LLMError, match="no quota left"):
        _complete(llm_settings)
    assert len(fake_openai.requests) == 1


def test_400_error_message_never_contains_the_key(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply.fail(400, f"bad parameter near {TEST_KEY}"))
    with pytest.raises(LLMError) as info:
        _complete(llm_settings, structured="json_object")
    assert TEST_KEY not in str(info.value)
    assert "400" in str(info.value)


def test_json_schema_rejected_falls_back_to_json_mode(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.fail(400, "response_format json_schema is not supported"), Reply.json(GOOD)
    )
    with LLMClient(llm_settings()) as client:
        output = client.complete(MESSAGES, MapOutput, label="map")
        notes = client.notes
    assert len(output.claims) == 1
    second = fake_openai.requests[1]
    assert second["response_format"] == {"type": "json_object"}
    assert json.dumps(schema_of(MapOutput)) in second["messages"][0]["content"]  # in words
    assert notes and "json_object" in notes[0]


def test_json_schema_chosen_by_flag_does_not_fall_back(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply.fail(400, "response_format json_schema is not supported"))
    with pytest.raises(LLMError, match="rejected the request \\(400"):
        _complete(llm_settings, structured="json_schema")
    assert len(fake_openai.requests) == 1


def test_context_overflow_says_what_to_do(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.fail(
            400,
            "This model's maximum context length is 8192 tokens",
            code="context_length_exceeded",
        )
    )
    with pytest.raises(LLMError, match="--context-window"):
        _complete(llm_settings)
    assert len(fake_openai.requests) == 1


def test_malformed_json_is_re_asked_once_with_the_error(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply(content='{"claims": [{"text": "The talks'), Reply.json(GOOD))
    assert len(_complete(llm_settings).claims) == 1
    assert len(fake_openai.requests) == 2
    retry = fake_openai.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": '{"claims": [{"text": "The talks'}
    assert "could not be used" in retry[-1]["content"]
    assert "json" in retry[-1]["content"].lower()


def test_wrong_shape_is_re_asked_then_given_up(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.json({"facts": ["The talks lasted an hour."]}),
        Reply.json({"claims": [{"text": "The talks lasted an hour."}]}),
    )
    with pytest.raises(LLMResponseError, match="still unusable after one re-ask") as info:
        _complete(llm_settings)
    assert "citations" in str(info.value)
    assert "claims" in fake_openai.requests[1]["messages"][-1]["content"]


def test_refusal_is_re_asked(fake_openai: FakeOpenAI, llm_settings: SettingsFactory) -> None:
    fake_openai.script(Reply(content=None, refusal="I can't help with that."), Reply.json(GOOD))
    assert len(_complete(llm_settings).claims) == 1
    assert "refused" in fake_openai.requests[1]["messages"][-1]["content"]


def test_fenced_json_from_a_local_model_is_accepted(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply(content="```json\n" + json.dumps(GOOD) + "\n```"))
    assert len(_complete(llm_settings, structured="none").claims) == 1
    assert "response_format" not in fake_openai.requests[0]


def test_truncated_reply_raises_truncated(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply(content='{"claims": [{"text": "The', finish_reason="length"))
    with pytest.raises(LLMTruncatedError, match="cut off"):
        _complete(llm_settings)
    assert len(fake_openai.requests) == 1


def test_missing_usage_is_estimated(fake_openai: FakeOpenAI, llm_settings: SettingsFactory) -> None:
    fake_openai.script(Reply.json(GOOD, usage=False))
    with LLMClient(llm_settings()) as client:
        client.complete(MESSAGES, MapOutput, label="map")
        usage = client.usage()
    assert usage.calls == 1
    assert usage.prompt_tokens > 20  # the two messages, counted with tiktoken
    assert usage.completion_tokens > 10


def test_reasoning_models_get_no_temperature(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply.json(GOOD))
    _complete(llm_settings, model="o4-mini")
    assert "temperature" not in fake_openai.requests[0]


def test_cache_serves_a_repeated_request_without_a_call(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake_openai.script(Reply.json(GOOD))
    settings = llm_settings(use_cache=True, cache_dir=tmp_path / "cache")
    with LLMClient(settings) as first:
        first.complete(MESSAGES, MapOutput, label="map")
    with LLMClient(settings) as second:
        output = second.complete(MESSAGES, MapOutput, label="map")
        usage = second.usage()
    assert len(output.claims) == 1
    assert len(fake_openai.requests) == 1
    assert (usage.calls, usage.cache_hits) == (0, 1)
    stored = "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert "lasted barely over an hour" in stored
    assert TEST_KEY not in stored


def test_cache_key_covers_the_model(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake_openai.script(Reply.json(GOOD), Reply.json(GOOD))
    for model in ("gpt-4o-mini", "gpt-4o"):
        _complete(llm_settings, use_cache=True, cache_dir=tmp_path / "c", model=model)
    assert len(fake_openai.requests) == 2


def test_replay_serves_the_recording_byte_for_byte_without_network(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    cassette = tmp_path / "run.jsonl"
    odd = '{"claims": [{"text": "Zelensky said \\u2018we will attempt\\u2019", "citations": []}]}'
    fake_openai.script(Reply(content=odd))
    recorded = _complete(llm_settings, record_path=cassette)
    text = cassette.read_text(encoding="utf-8")
    assert TEST_KEY not in text
    assert json.loads(text.splitlines()[0])["reply"]["content"] == odd
    replayed = _complete(llm_settings, replay_path=cassette, base_url="http://127.0.0.1:9/v1")
    assert replayed == recorded
    assert len(fake_openai.requests) == 1


def test_replay_of_an_unrecorded_request_says_to_record_again(
    llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    cassette = tmp_path / "empty.jsonl"
    cassette.write_text("", encoding="utf-8")
    with pytest.raises(LLMError, match="record it again with --record"):
        _complete(llm_settings, replay_path=cassette)


def test_trace_writes_requests_and_replies_without_the_key(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    from briefer.engines.llm.cache import Tracer

    fake_openai.script(Reply.json(GOOD))
    tracer = Tracer(tmp_path / "trace")
    with LLMClient(llm_settings(), tracer=tracer) as client:
        client.complete(MESSAGES, MapOutput, label="map S1.C1")
    files = sorted(p.name for p in (tmp_path / "trace").iterdir())
    assert files == ["0001-map-S1.C1-request.json", "0002-map-S1.C1-reply.json"]
    texts = [p.read_text() for p in (tmp_path / "trace").iterdir()]
    assert all(TEST_KEY not in t for t in texts)
    assert "barely over an hour" in texts[0] + texts[1]


def test_unwritable_cache_is_dropped_with_a_note_not_a_failure(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    fake_openai.script(Reply.json(GOOD), Reply.json(GOOD))
    with LLMClient(llm_settings(use_cache=True, cache_dir=blocker / "cache")) as client:
        client.complete(MESSAGES, MapOutput, label="map")
        client.complete(MESSAGES, MapOutput, label="map")
        notes = client.notes
    assert len(fake_openai.requests) == 2
    assert len(notes) == 1 and "cache disabled" in notes[0]
