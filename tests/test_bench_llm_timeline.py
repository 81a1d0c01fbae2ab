"""The LLM benchmark's accounting: the fake server's call timings and where wall time went.

Every reply here is scripted test data served by tests/fake_openai.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import openai
from fake_openai import CallTiming, FakeOpenAI, Reply

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_llm import Run, _request_tokens, timeline

from briefer.tokens import count_tokens


def _ask(server: FakeOpenAI, **extra: Any) -> None:
    """Send one request, read the whole reply, and wait for the server to time it."""
    client = openai.OpenAI(api_key="not-a-key", base_url=server.url, max_retries=0)
    reply = client.chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "hello"}], **extra
    )
    if extra.get("stream"):
        list(reply)
    client.close()
    deadline = time.monotonic() + 5.0  # the timing is kept once the last byte is written
    while not server.timings and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_scripted_delay_counts_from_the_request_s_arrival(fake_openai: FakeOpenAI) -> None:
    def slow_to_build(request: dict[str, Any]) -> Reply:
        started = time.thread_time()
        while time.thread_time() - started < 0.05:  # the stand-in's own work...
            sum(range(1000))
        time.sleep(0.35)  # ...and its wait, both inside the latency
        return Reply(content="ok", delay=1.0)

    fake_openai.responder = slow_to_build
    _ask(fake_openai)
    (timing,) = fake_openai.timings
    assert timing.delay == 1.0
    # 1.0 s after arrival, not 1.0 s after the 0.4 s build; the margin absorbs a loaded
    # machine stretching the build's CPU many times over
    assert 1.0 <= timing.replied - timing.received < 1.35
    assert 0.05 <= timing.hidden_cpu_s <= timing.cpu_s  # the build's CPU, hidden in the wait
    assert timing.received <= timing.replied <= timing.done
    assert not timing.streamed


def test_a_streamed_reply_is_timed_with_its_server_cpu(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Reply(content="x" * 5000))
    _ask(fake_openai, stream=True)
    (timing,) = fake_openai.timings
    assert timing.streamed and timing.cpu_s > 0
    fake_openai.reset()
    assert fake_openai.timings == []


def _call(received: float, done: float, delay: float = 0.3) -> CallTiming:
    return CallTiming(received, received + delay, done, delay, 0.01, True)


def test_the_timeline_splits_wall_time_into_local_work_and_calls_in_flight() -> None:
    run = Run("briefer", started=10.0, ended=12.0)
    # two calls at once, a gap with nothing in flight, then one call
    run.calls_timed = [_call(10.2, 10.5), _call(10.25, 10.6), _call(11.0, 11.4)]
    found = timeline(run)
    assert round(found.before_first_call, 6) == 0.2
    assert round(found.with_calls_in_flight, 6) == round(0.4 + 0.4, 6)
    assert round(found.between_calls, 6) == 0.4
    assert round(found.after_last_call, 6) == 0.6
    assert round(found.beyond_latency, 6) == round(0.0 + 0.05 + 0.1, 6)
    assert found.most_in_flight == 2
    assert round(found.mean_in_flight, 6) == round((0.3 + 0.35 + 0.4) / 0.8, 6)


def test_schemas_are_counted_in_the_compact_form_the_client_sends() -> None:
    schema = {"type": "object", "properties": {"passage_id": {"enum": ["S1.P1", "S1.P2"]}}}
    request = {
        "messages": [{"role": "user", "content": "hello there"}],
        "response_format": {"type": "json_schema", "json_schema": {"schema": schema}},
    }
    messages, counted = _request_tokens(request)
    assert messages == count_tokens("hello there")
    wire = '{"type":"object","properties":{"passage_id":{"enum":["S1.P1","S1.P2"]}}}'
    assert counted == count_tokens(wire)
