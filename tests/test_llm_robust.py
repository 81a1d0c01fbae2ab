"""The LLM engine against servers as they really behave: small windows, slots, stalls, limits.

Every model reply here is scripted test data served by tests/fake_openai.py; the error
bodies are those real servers send (llama.cpp, OpenAI, vLLM), built by the fake server.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_KEY, SettingsFactory
from fake_openai import (
    FakeOpenAI,
    Reply,
    echo_model,
    llama_cpp_overflow,
    openai_overflow,
    vllm_overflow,
)
from test_llm_engine import (
    BODIES,
    FABRICATED,
    OPTIONS,
    SOURCES,
    TALKS_S1,
    TALKS_S2,
    assert_all_supported,
    bullet,
    chunks_of,
    draft_reply,
    run,
)
from typer.testing import CliRunner

from briefer.cli import app
from briefer.config import Settings, describe_settings
from briefer.engines.llm.client import LLMClient
from briefer.engines.llm.engine import LLMEngine
from briefer.engines.llm.io import MapOutput, ReduceOutput
from briefer.engines.llm.limits import probe_server
from briefer.engines.llm.partial import looks_looping, parse_truncated
from briefer.errors import LLMContextError, LLMTimeoutError, LLMTruncatedError
from briefer.ingest.sources import read_sources
from briefer.models import Briefing, ServerLimits
from briefer.pipeline import build_briefing, checked_title

EXAMPLE = Path(__file__).parents[1] / "examples" / "istanbul-talks" / "articles"
MESSAGES = [
    {"role": "system", "content": "You extract facts. Reply with JSON."},
    {"role": "user", "content": "[S1.P1] The talks began late and lasted barely over an hour."},
]
runner = CliRunner()
LOCAL = "smollm2"  # a model briefer knows nothing about, as local servers name them


def _schema_modes(requests: list[dict[str, Any]]) -> set[str]:
    return {(r.get("response_format") or {}).get("type", "none") for r in requests}


def _server_window(n_ctx: int, chars_per_token: int = 3) -> Any:
    """Return a responder acting as llama.cpp with a ``n_ctx`` window: it refuses larger prompts.

    It counts one token per ``chars_per_token`` characters of the messages, more than
    briefer's own count of the same text, as a model's tokenizer may.
    """

    def respond(request: dict[str, Any]) -> Reply:
        size = sum(len(m["content"]) for m in request["messages"]) // chars_per_token
        if size >= n_ctx:
            return llama_cpp_overflow(size, n_ctx)
        return echo_model(request)

    return respond


# 1. Learn the limits ---------------------------------------------------------------------


def test_llama_cpp_overflow_is_learnt_and_the_run_re_planned(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = _server_window(4096)
    sources = read_sources([str(EXAMPLE)])
    settings = llm_settings(model=LOCAL, single_call=False, concurrency=2)
    with LLMEngine(settings) as engine:
        briefing = build_briefing(sources, engine, OPTIONS)
        notes = engine.all_notes()
        budgets = engine.budgets
    refused = [n for n in notes if "refused it as larger than its context window (4096" in n]
    assert refused, notes
    assert "re-planned for a window of" in refused[0]
    # The window is planned in briefer's tokens: the server counted more than briefer does.
    assert budgets.context_window < 4096
    assert briefing.provenance.llm is not None
    assert briefing.provenance.llm.replanned_windows == [budgets.context_window]
    # An overflow is not a reason to step down the structured-output mode.
    assert _schema_modes(fake_openai.requests) == {"json_schema"}
    assert briefing.bullets
    assert_all_supported(briefing, sources)


def test_an_overflow_error_is_never_a_structured_output_fallback(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(llama_cpp_overflow(6441, 2048))
    with LLMClient(llm_settings()) as client, pytest.raises(LLMContextError) as raised:
        client.complete(MESSAGES, MapOutput, label="map S1.C1")
    assert (raised.value.window, raised.value.server_tokens) == (2048, 6441)
    assert raised.value.our_tokens > 0
    assert len(fake_openai.requests) == 1
    assert client.notes == []  # no "using json_object instead"


@pytest.mark.parametrize(
    ("reply", "window", "counted"),
    [
        (openai_overflow(8192, 9000), 8192, 9000),
        (vllm_overflow(2048, 1500, 1000), 2048, 1500),
    ],
)
def test_other_servers_overflow_errors_state_their_window(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, reply: Reply, window: int, counted: int
) -> None:
    fake_openai.script(reply)
    with LLMClient(llm_settings()) as client, pytest.raises(LLMContextError) as raised:
        client.complete(MESSAGES, MapOutput, label="map S1.C1")
    assert (raised.value.window, raised.value.server_tokens) == (window, counted)


def test_llama_cpp_props_set_the_window_and_the_calls_at_a_time(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.routes[("GET", "/props")] = (
        200,
        {"default_generation_settings": {"n_ctx": 4096, "params": {}}, "total_slots": 1},
    )
    active = peak = 0
    lock = threading.Lock()

    def one_at_a_time(request: dict[str, Any]) -> Reply:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return echo_model(request)

    fake_openai.responder = one_at_a_time
    sources = read_sources([str(EXAMPLE)])
    settings = llm_settings(model=LOCAL, single_call=False, concurrency=4)
    with LLMEngine(settings) as engine:
        briefing = build_briefing(sources, engine, OPTIONS)
        assert engine.settings.concurrency == 1
        assert engine.budgets.context_window == int(4096 * 0.9)
    assert peak == 1  # never more requests than the server has slots
    run_record = briefing.provenance.llm
    assert run_record is not None
    assert run_record.server == ServerLimits(
        source="llama.cpp /props", context_window=4096, total_slots=1
    )
    assert run_record.context_window_origin == "learnt from server (llama.cpp /props)"
    assert any("learnt from the server (llama.cpp /props)" in n for n in run_record.notes)


def test_no_server_is_asked_when_the_window_is_given_or_the_model_is_hosted(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.routes[("GET", "/props")] = (
        200,
        {"default_generation_settings": {"n_ctx": 4096}, "total_slots": 1},
    )
    LLMEngine(llm_settings(model=LOCAL, context_window=16_384)).close()
    LLMEngine(llm_settings(model="gpt-4o-mini")).close()
    assert fake_openai.route_requests == []
    LLMEngine(llm_settings(model=LOCAL)).close()
    assert fake_openai.route_requests[0][:2] == ("GET", "/props")


def test_each_kind_of_server_states_its_window(fake_openai: FakeOpenAI) -> None:
    url = fake_openai.url
    fake_openai.routes[("GET", "/v1/models")] = (
        200,
        {"object": "list", "data": [{"id": "qwen", "object": "model", "max_model_len": 6144}]},
    )
    assert probe_server(url, "qwen") == ServerLimits(
        source="/v1/models max_model_len", context_window=6144
    )
    fake_openai.routes[("GET", "/v1/models")] = (
        200,
        {"data": [{"id": "m.gguf", "meta": {"n_ctx_train": 8192, "n_vocab": 49152}}]},
    )
    assert probe_server(url, "m").context_window == 8192  # type: ignore[union-attr]
    fake_openai.routes.clear()
    fake_openai.routes[("GET", "/api/v0/models/phi")] = (
        200,
        {
            "id": "phi",
            "state": "loaded",
            "max_context_length": 131072,
            "loaded_context_length": 4096,
        },
    )
    assert probe_server(url, "phi") == ServerLimits(
        source="LM Studio /api/v0/models", context_window=4096
    )
    fake_openai.routes.clear()
    # Ollama runs a model at its default window unless the model sets num_ctx.
    fake_openai.routes[("POST", "/api/show")] = (
        200,
        {"parameters": "stop <|im_end|>", "model_info": {"qwen2.context_length": 32768}},
    )
    assert probe_server(url, "qwen2.5").context_window == 2048  # type: ignore[union-attr]
    fake_openai.routes[("POST", "/api/show")] = (
        200,
        {
            "parameters": "num_ctx 8192\nstop <|im_end|>",
            "model_info": {"qwen2.context_length": 32768},
        },
    )
    assert probe_server(url, "qwen2.5").context_window == 8192  # type: ignore[union-attr]
    assert fake_openai.route_requests[-1][2] == {"model": "qwen2.5"}
    fake_openai.routes.clear()
    assert probe_server(url, "qwen2.5") is None  # nothing to learn: the defaults stand


def test_probing_sends_the_key_and_never_shows_it(fake_openai: FakeOpenAI) -> None:
    fake_openai.routes[("GET", "/props")] = (401, {"error": {"message": "Invalid API Key"}})
    assert probe_server(fake_openai.url, LOCAL, TEST_KEY) is None


# 2. Bound every reply --------------------------------------------------------------------


def test_every_call_sends_the_reply_bound_of_its_step_and_the_briefing_records_it(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.json({"claims": [TALKS_S1, TALKS_S2, FABRICATED]}),
        Reply.json({"claims": []}),  # repair
        draft_reply(bullet("The talks lasted just over an hour.", "K1", "K2")),
    )
    briefing, engine = run(llm_settings(model=LOCAL, context_window=4096, single_call=False))
    limits = [r["max_tokens"] for r in fake_openai.requests]
    assert limits == [engine.budgets.output_tokens] * 3 == [1024] * 3
    assert briefing.provenance.llm is not None
    assert briefing.provenance.llm.reply_tokens == {"map": 1024, "reduce": 1024, "repair": 1024}


def test_a_map_reply_cut_off_keeps_its_complete_claims(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    whole = json.dumps({"claims": [TALKS_S1, TALKS_S2, BODIES]})
    cut = whole[: whole.index("Russia would return") + 5]  # inside the third claim
    fake_openai.script(
        Reply(content=cut, finish_reason="length"),
        draft_reply(bullet("The talks lasted just over an hour.", "K1", "K2")),
    )
    briefing, engine = run(llm_settings(single_call=False))
    assert len(fake_openai.requests) == 2  # kept, not re-asked
    assert [b.text for b in briefing.bullets] == ["The talks lasted just over an hour."]
    assert any("cut off at" in n and "kept what was complete" in n for n in engine.all_notes())


def test_a_reduce_that_cannot_complete_falls_back_to_the_extractive_reduce(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.json({"claims": [TALKS_S1, TALKS_S2, BODIES]}),
        Reply(content='{"title": "The talks", "sections": [{"title": "Out', finish_reason="length"),
    )
    briefing, engine = run(llm_settings(single_call=False))
    assert briefing.bullets  # the validated claims still make a briefing
    assert_all_supported(briefing)
    assert briefing.provenance.llm is not None
    assert briefing.provenance.llm.reduce == "extractive fallback"
    assert any(
        "offline extractive reduce over the 3 validated claims" in n for n in engine.all_notes()
    )


def test_a_reduce_whose_every_bullet_fails_falls_back_to_the_extractive_reduce(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    # Seen on llama-server with SmolLM2: validated claims, then a reduce whose bullets all
    # failed validation, and the run ended with an empty briefing.
    fake_openai.script(
        Reply.json({"claims": [TALKS_S1, TALKS_S2, BODIES]}),
        draft_reply(bullet("The talks lasted 9 hours and ended in a ceasefire.", "K1")),
    )
    briefing, engine = run(llm_settings(single_call=False))
    assert briefing.bullets
    assert_all_supported(briefing)
    assert [r.claim.id for r in briefing.rejected if r.stage == "reduce"] == ["R1"]
    assert briefing.provenance.llm is not None
    assert briefing.provenance.llm.reduce == "extractive fallback"
    assert any("none of the model's bullets passed validation" in n for n in engine.all_notes())


def test_a_failed_run_still_prints_its_notes_and_usage(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.script(*[Reply(content='{"claims": [', finish_reason="length")] * 20)
    env = {
        "OPENAI_API_KEY": TEST_KEY,
        "BRIEFER_CACHE_DIR": str(tmp_path),
        "BRIEFER_RETRY_WAIT": "0",
    }
    args = ["brief", str(EXAMPLE / "002_1c254c78b47417b9.txt"), "--base-url", fake_openai.url]
    result = runner.invoke(app, [*args, "--model", "gpt-4o-mini"], env=env)
    assert result.exit_code == 1
    assert "Error: the model returned no usable claims" in result.stderr
    assert "model calls (0 from cache)" in result.stderr  # the usage line, on failure too
    assert "briefer: map" in result.stderr and "cut off" in result.stderr


def test_partial_json_keeps_only_finished_elements() -> None:
    reduce_cut = (
        '{"title": "T", "sections": [{"title": "A", "bullets": [{"text": "x", "claim_ids": '
        '["K1"]}, {"text": "y", "claim_ids": ["K'
    )
    kept = parse_truncated(reduce_cut, ReduceOutput)
    assert kept is not None
    assert [b.text for s in kept.sections for b in s.bullets] == ["x"]
    assert parse_truncated('{"title": "T", "sections": [{"title": "A", "bul', ReduceOutput) is None
    assert parse_truncated('{"claims": [{"text": "a \\" , ] }', MapOutput) is None
    assert parse_truncated("no JSON at all", MapOutput) is None


def test_a_looping_reply_is_told_from_a_long_one() -> None:
    loop = json.dumps({"claims": [TALKS_S1] * 40})
    varied = json.dumps({"claims": [TALKS_S1, TALKS_S2, BODIES, FABRICATED] * 2})
    assert looks_looping(loop)
    assert not looks_looping(varied)


def test_a_cut_off_looping_reply_says_so(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    text = '{"claims": [{"text": "' + "the talks lasted an hour and " * 80
    fake_openai.script(Reply(content=text, finish_reason="length"))
    with LLMClient(llm_settings()) as client, pytest.raises(LLMTruncatedError) as raised:
        client.complete(MESSAGES, MapOutput, label="map S1.C1", max_tokens=64)
    assert raised.value.looping
    assert "cut off at its limit of 64 tokens (it was repeating itself)" in str(raised.value)


# 3. Time limits --------------------------------------------------------------------------


def test_a_stalled_stream_is_cut_off_and_resent_changed(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    good = json.dumps({"claims": [TALKS_S1]})
    fake_openai.script(
        Reply(content=good * 3, stall_after=1, stall=5.0),  # one piece, then nothing
        Reply(content=good),
    )
    settings = llm_settings(stall_timeout=0.3, first_token_timeout=2.0, timeout=30.0)
    start = time.perf_counter()
    with LLMClient(settings) as client:
        output = client.complete(MESSAGES, MapOutput, label="map S1.C1", max_tokens=300)
    assert time.perf_counter() - start < 3.0  # seen from the stream, not a silent wait
    assert len(output.claims) == 1
    first, second = fake_openai.requests
    assert first["stream"] is True
    assert (first["max_tokens"], second["max_tokens"]) == (300, 150)
    assert second["frequency_penalty"] > 0
    assert any("stopped sending for 0.3 s mid-reply" in n for n in client.notes)


def test_a_server_that_never_sends_a_first_token_is_given_up(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    good = json.dumps({"claims": [TALKS_S1]})
    fake_openai.script(Reply(content=good, delay=1.5), Reply(content=good, delay=1.5))
    settings = llm_settings(first_token_timeout=0.3, stall_timeout=10.0, timeout=30.0)
    with LLMClient(settings) as client, pytest.raises(LLMTimeoutError, match="no first token"):
        client.complete(MESSAGES, MapOutput, label="map S1.C1")
    assert len(fake_openai.requests) == 2


def test_whole_replies_still_work_without_streaming(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(Reply.json({"claims": [TALKS_S1]}))
    with LLMClient(llm_settings(stream=False)) as client:
        output = client.complete(MESSAGES, MapOutput, label="map S1.C1")
    assert len(output.claims) == 1
    assert "stream" not in fake_openai.requests[0]


def test_time_limits_are_settings_flags_and_variables(tmp_path: Path) -> None:
    env = {"BRIEFER_STALL_TIMEOUT": "45", "BRIEFER_FIRST_TOKEN_TIMEOUT": "120"}
    result = runner.invoke(app, ["config"], env=env)
    rows = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "45.0" in rows["stall_timeout"] and "(environment)" in rows["stall_timeout"]
    assert "120.0" in rows["first_token_timeout"]
    help_text = runner.invoke(app, ["brief", "--help"], env={"COLUMNS": "200"}).stdout
    assert "--stall-timeout" in help_text and "--first-token-timeout" in help_text


# 4. The briefing and what a replay needs -------------------------------------------------


def test_an_empty_briefing_exits_4(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.responder = lambda request: Reply.json(
        {"claims": [FABRICATED]} if "MapOutput" in json.dumps(request) else {"claims": []}
    )
    env = {
        "OPENAI_API_KEY": TEST_KEY,
        "BRIEFER_CACHE_DIR": str(tmp_path),
        "BRIEFER_SINGLE_CALL": "0",
    }
    args = ["brief", str(EXAMPLE / "002_1c254c78b47417b9.txt"), "--base-url", fake_openai.url]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 4, result.stderr
    assert "Error: the briefing has no bullets" in result.stderr


@pytest.mark.parametrize("title", ["...", "Title", "", "  ", "Briefing title here", "<title>"])
def test_a_placeholder_title_is_replaced_by_one_from_the_sources(title: str) -> None:
    assert checked_title(title, SOURCES) == "Second round of Russia-Ukraine peace talks end swiftly"


def test_an_unsupported_title_is_replaced_and_a_supported_one_kept() -> None:
    assert checked_title("Markets rally on tech earnings", SOURCES) != (
        "Markets rally on tech earnings"
    )
    assert checked_title("Istanbul talks end with a prisoner exchange", SOURCES) == (
        "Istanbul talks end with a prisoner exchange"
    )


def test_a_model_title_of_dots_never_heads_the_briefing(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.script(
        Reply.json({"claims": [TALKS_S1]}),
        Reply.json(
            {
                "title": "...",
                "sections": [
                    {
                        "title": "Outcome",
                        "bullets": [bullet("The talks lasted barely over an hour.", "K1")],
                    }
                ],
                "differences": [],
            }
        ),
    )
    briefing, _ = run(llm_settings(single_call=False))
    assert briefing.title == SOURCES[0].title


def test_a_split_part_is_noted_once_under_its_own_label(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    cut = Reply(content='{"claims": [', finish_reason="length")
    fake_openai.script(cut, cut)  # the chunk, then its first half, are cut off
    fake_openai.responder = echo_model  # its second half is answered
    with LLMEngine(llm_settings(single_call=False)) as engine:
        chunk = chunks_of(SOURCES[:1])[0]
        assert [p.id for p in chunk.passages] == ["S1.P1", "S1.P2"]
        claims = engine.map_chunks([chunk], OPTIONS)
        notes = engine.all_notes()
    assert [c.citations[0].passage_id for c in claims] == ["S1.P2"]
    skipped = [n for n in notes if "skipped" in n]
    assert len(skipped) == 1, notes
    assert skipped[0].startswith("map S1.P1 (part of S1.C1): skipped")
    assert not any(n.startswith("map S1.C1:") for n in notes)


def test_replay_needs_none_of_the_recording_runs_variables(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory, tmp_path: Path
) -> None:
    fake_openai.responder = _server_window(3000)
    cassette = tmp_path / "run.jsonl"
    sources = read_sources([str(EXAMPLE)])
    recording = llm_settings(
        model=LOCAL,
        record_path=cassette,
        single_call=False,
        max_output_tokens=400,
        temperature=0.3,
        structured="json_schema",
    )
    with LLMEngine(recording) as engine:
        recorded = build_briefing(sources, engine, OPTIONS)
    assert recorded.provenance.llm is not None and recorded.provenance.llm.replanned_windows
    served = len(fake_openai.requests)
    # Replayed with defaults only: model, limits, temperature and the refusal come from it.
    with LLMEngine(Settings(replay_path=cassette, use_cache=False)) as engine:
        replayed = build_briefing(sources, engine, OPTIONS)
    assert len(fake_openai.requests) == served
    assert [b.text for b in replayed.bullets] == [b.text for b in recorded.bullets]
    assert replayed.provenance.model == LOCAL
    assert replayed.provenance.llm is not None
    assert replayed.provenance.llm.temperature == 0.3
    assert replayed.provenance.llm.max_output_tokens == 400
    assert replayed.provenance.llm.replanned_windows == recorded.provenance.llm.replanned_windows


# 5. What briefer config says -------------------------------------------------------------


def test_config_says_truthfully_where_the_window_came_from() -> None:
    def origin(settings: Settings) -> str:
        return next(o for n, _, o in describe_settings(settings) if n == "model context window")

    assert origin(Settings(model=LOCAL)).startswith("assumed: model not in the known models")
    assert origin(Settings(model="llama3.1:8b")) == "known models table: llama3"
    flagged = Settings(model=LOCAL, context_window=4096, origins={"context_window": "flag"})
    assert origin(flagged) == "flag (--context-window)"
    learnt = Settings(
        model=LOCAL,
        context_window=3686,
        origins={"context_window": "learnt from server (llama.cpp /props)"},
    )
    assert origin(learnt) == "learnt from server (llama.cpp /props)"
    assert Briefing  # the JSON output carries the same words in provenance.llm


def test_config_and_dry_run_ask_a_local_server_as_a_run_would(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.routes[("GET", "/props")] = (
        200,
        {"default_generation_settings": {"n_ctx": 4096}, "total_slots": 1},
    )
    env = {"OPENAI_BASE_URL": fake_openai.url, "BRIEFER_MODEL": LOCAL, "OPENAI_API_KEY": ""}
    shown = runner.invoke(app, ["config"], env=env).stdout
    window = next(line for line in shown.splitlines() if line.startswith("model context window"))
    assert "3686 tokens" in window and "(learnt from server (llama.cpp /props))" in window
    concurrency = next(line for line in shown.splitlines() if line.startswith("concurrency"))
    assert " 1 " in concurrency
    planned = runner.invoke(app, ["brief", str(EXAMPLE), "--dry-run"], env=env)
    assert planned.exit_code == 0, planned.stderr
    assert "learnt from the server (llama.cpp /props): context window 4096" in planned.stderr
    assert fake_openai.requests == []  # asked, not called


def test_a_re_plan_keeps_the_structured_mode_the_server_accepted(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    # The first refusal meets a schema narrowed to the cited passages, so the generic strict
    # schema is tried before JSON mode; the server refuses that too.
    refusal = "response_format json_schema is not supported"
    fake_openai.script(
        Reply.fail(400, refusal), Reply.fail(400, refusal), llama_cpp_overflow(4000, 4096)
    )
    fake_openai.responder = echo_model
    sources = read_sources([str(EXAMPLE)])
    with LLMEngine(llm_settings(model=LOCAL, single_call=False)) as engine:
        build_briefing(sources, engine, OPTIONS)
    formats = [r.get("response_format") or {} for r in fake_openai.requests]
    modes = [f.get("type") for f in formats]
    assert modes[:2] == ["json_schema", "json_schema"]
    schemas = [f["json_schema"]["schema"] for f in formats[:2]]
    assert schemas[0] != schemas[1]  # narrowed, then generic
    assert set(modes[2:]) == {"json_object"}  # not back to json_schema after the re-plan


def test_a_server_that_answers_whole_replies_to_a_stream_request_is_understood(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    good = {"claims": [TALKS_S1]}
    fake_openai.script(Reply.json(good, whole=True), Reply.json(good), Reply.json(good))
    with LLMClient(llm_settings()) as client:
        first = client.complete(MESSAGES, MapOutput, label="map S1.C1")
        second = client.complete(MESSAGES, MapOutput, label="map S1.C2")
    assert len(first.claims) == len(second.claims) == 1
    assert [r.get("stream", False) for r in fake_openai.requests] == [True, False, False]
    assert any("did not stream" in n for n in client.notes)


def test_the_cli_says_what_it_learnt_and_each_re_plan_once_as_it_happens(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.routes[("GET", "/props")] = (
        200,
        {"default_generation_settings": {"n_ctx": 8192}, "total_slots": 1},
    )
    fake_openai.responder = _server_window(4096)  # the slot is smaller than /props says
    env = {
        "OPENAI_BASE_URL": fake_openai.url,
        "BRIEFER_MODEL": LOCAL,
        "BRIEFER_CACHE_DIR": str(tmp_path),
        "BRIEFER_SINGLE_CALL": "0",
    }
    result = runner.invoke(app, ["brief", str(EXAMPLE)], env=env)
    assert result.exit_code == 0, result.stderr
    err = result.stderr
    assert err.count("learnt from the server (llama.cpp /props)") == 1
    assert err.count("re-planned for a window of") == 1, err
    assert err.index("learnt from the server") < err.index("re-planned") < err.index("model calls")


def test_a_map_part_that_times_out_twice_is_mapped_in_halves_and_the_rest_goes_on(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    slow = Reply.json({"claims": []}, delay=1.0)
    fake_openai.script(slow, slow)  # the whole chunk, then asked for less: both too slow
    fake_openai.responder = echo_model  # each half is answered at once
    settings = llm_settings(single_call=False, first_token_timeout=0.3, timeout=30.0)
    with LLMEngine(settings) as engine:
        chunk = chunks_of(SOURCES[:1])[0]
        claims = engine.map_chunks([chunk], OPTIONS)
    assert [c.citations[0].passage_id for c in claims] == ["S1.P1", "S1.P2"]
    assert len(fake_openai.requests) == 4


def test_a_server_that_stops_answering_ends_the_map_quickly(
    fake_openai: FakeOpenAI, llm_settings: SettingsFactory
) -> None:
    fake_openai.responder = lambda request: Reply.json({"claims": []}, delay=1.0)
    settings = llm_settings(single_call=False, first_token_timeout=0.2, timeout=30.0)
    sources = read_sources([str(EXAMPLE)])
    start = time.perf_counter()
    with LLMEngine(settings) as engine, pytest.raises(Exception, match="stopped answering"):
        build_briefing(sources, engine, OPTIONS)
    assert len(fake_openai.requests) == 3  # three timed-out calls in a row, then no more
    assert time.perf_counter() - start < 5.0


def _looping_small_model(request: dict[str, Any]) -> Reply:
    """Return echo_model's reply repeated until the request's max_tokens cuts it off.

    Scripted test data in the manner of a 135M model at temperature 0: it says its facts,
    then says them again, until the server stops it at the reply limit.
    """
    data = json.loads(echo_model(request).content or "{}")
    key = "claims" if "claims" in data and "sections" not in data else None
    items = data[key] if key else data["sections"][0]["bullets"]
    if not items:
        return Reply.json(data)
    limit_chars = int(request["max_tokens"]) * 4  # about four characters a token
    repeated = (items * (limit_chars // max(1, len(json.dumps(items))) + 2))[: 10 * len(items)]
    if key:
        data[key] = repeated
    else:
        data["sections"][0]["bullets"] = repeated
    text = json.dumps(data)
    if len(text) <= limit_chars:
        return Reply(content=text)
    return Reply(content=text[:limit_chars], finish_reason="length")


def test_a_small_looping_model_on_a_small_window_still_ends_with_a_validated_briefing(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.routes[("GET", "/props")] = (
        200,
        {"default_generation_settings": {"n_ctx": 2048}, "total_slots": 1},
    )
    fake_openai.responder = _looping_small_model
    env = {"OPENAI_BASE_URL": fake_openai.url, "BRIEFER_CACHE_DIR": str(tmp_path)}
    args = ["brief", str(EXAMPLE), "--model", LOCAL, "--format", "json"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.stderr
    briefing = Briefing.model_validate_json(result.stdout)
    assert briefing.bullets
    assert_all_supported(briefing, read_sources([str(EXAMPLE)]))
    assert all(r["max_tokens"] <= 2048 // 4 for r in fake_openai.requests)
    assert "kept what was complete" in result.stderr
    run_record = briefing.provenance.llm
    assert run_record is not None and run_record.concurrency == 1
    assert run_record.context_window == int(2048 * 0.9)
