"""Streamed replies are read from the server's events as plain JSON (issue 9: client CPU).

Every reply here is scripted test data served by tests/fake_openai.py.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import openai
import pytest
from conftest import SettingsFactory
from fake_openai import FakeOpenAI, Reply

from briefer.engines.llm.client import LLMClient, _stream_events
from briefer.engines.llm.io import MapOutput
from briefer.errors import LLMError

MESSAGES = [
    {"role": "system", "content": "You extract facts. Reply with JSON."},
    {"role": "user", "content": "[S1.P1] The talks began late and lasted barely over an hour."},
]
CLAIM = {
    "text": "The talks began late.",
    "citations": [{"passage_id": "S1.P1", "quote": "The talks began late"}],
}


def test_a_streamed_reply_is_read_without_building_a_typed_object_per_event(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def typed_iteration(self: object) -> Any:
        raise AssertionError("the typed per-event iteration was used")

    monkeypatch.setattr(openai.Stream, "__iter__", typed_iteration)
    content = json.dumps({"claims": [CLAIM] * 40})  # sent in pieces of 200 characters
    fake_openai.script(Reply(content=content))
    with LLMClient(llm_settings()) as client:
        output = client.complete(MESSAGES, MapOutput, label="map S1.C1")
        usage = client.usage()
    assert fake_openai.requests[0]["stream"] is True
    assert len(output.claims) == 40
    assert usage.completion_tokens == len(content.split())  # the fake server's usage event


class _Event:
    def __init__(self, data: str) -> None:
        self.data = data

    def json(self) -> Any:
        return json.loads(self.data)


def _stream(*data: str) -> Any:
    return SimpleNamespace(
        _iter_events=lambda: iter([_Event(d) for d in data]),
        response=SimpleNamespace(request=None),
    )


def test_stream_events_stop_at_done_and_raise_an_error_event_as_openai_does() -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "{}"}, "finish_reason": None}]}
    events = _stream(json.dumps(chunk), "[DONE]", json.dumps(chunk))
    assert list(_stream_events(events)) == [chunk]
    failing = _stream(json.dumps(chunk), json.dumps({"error": {"message": "slot unavailable"}}))
    with pytest.raises(openai.APIError, match="slot unavailable"):
        list(_stream_events(failing))


def test_an_error_event_mid_stream_ends_the_call_with_one_line(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.script(Reply.json({"claims": [CLAIM]}))  # its events are replaced below
    monkeypatch.setattr(
        openai.Stream,
        "_iter_events",
        lambda self: iter([_Event(json.dumps({"error": {"message": "slot unavailable"}}))]),
    )
    with LLMClient(llm_settings(max_retries=0)) as client, pytest.raises(LLMError) as raised:
        client.complete(MESSAGES, MapOutput, label="map S1.C1")
    assert fake_openai.pending() == 0 and len(fake_openai.requests) == 1
    assert "\n" not in str(raised.value)
    assert "APIError" in str(raised.value)


def test_an_openai_without_the_event_reader_still_streams_through_its_typed_events() -> None:
    from openai.types.chat import ChatCompletionChunk

    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "delta": {"content": "{}"}, "finish_reason": "stop"}],
    }
    typed = [ChatCompletionChunk.model_validate(chunk)]
    events = list(_stream_events(typed))
    assert events[0]["choices"][0]["delta"]["content"] == "{}"
    assert events[0]["choices"][0]["finish_reason"] == "stop"
