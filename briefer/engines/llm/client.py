"""The only module that talks to a model: chat messages + output model -> validated output.

``LLMClient.complete`` sends a Chat Completions request to any OpenAI-compatible server and
returns the reply parsed into a pydantic model. On the way it

- serves the reply from a replay cassette or the response cache when it can;
- retries transient failures (429, 5xx, timeouts, dropped connections) with tenacity,
  exponential backoff with jitter, honouring Retry-After; the openai client itself is built
  with ``max_retries=0`` so retries never multiply;
- asks for a strict JSON schema derived from the output model, falling back to JSON mode
  and then to plain text (validated by pydantic either way) when the server rejects it;
- re-asks once, quoting the validation error, when a reply is not valid JSON of the model
  or is a refusal; raises ``LLMTruncatedError`` when a reply is cut off;
- translates every ``openai`` exception into ``briefer.errors``; the key never appears in
  an error, a log line, the cache, a cassette or a trace.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar, cast

import openai
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from briefer.config import Settings, StructuredMode
from briefer.engines.llm.cache import (
    OPENAI_API,
    Cassette,
    ResponseCache,
    StoredReply,
    Tracer,
    request_key,
    server_scope,
)
from briefer.engines.llm.io import Message, estimate_prompt_tokens, parse_reply, shorten
from briefer.engines.llm.partial import looks_looping, parse_truncated
from briefer.errors import (
    LLMAuthError,
    LLMContextError,
    LLMError,
    LLMInterruptedError,
    LLMResponseError,
    LLMTimeoutError,
    LLMTruncatedError,
    LLMUnavailableError,
)
from briefer.models import Usage
from briefer.progress import NoProgress, ProgressSink
from briefer.redact import (
    install_log_redaction,
    redact,
    remove_log_redaction,
    split_query,
    url_secrets,
)
from briefer.tokens import count_tokens

Output = TypeVar("Output", bound=BaseModel)

logger = logging.getLogger("briefer.engines.llm.client")

_FALLBACK: dict[StructuredMode, StructuredMode] = {
    "json_schema": "json_object",
    "json_object": "none",
}
_NO_KEY = "no-key"  # local servers need no key, but the openai client insists on one


class LLMClient:
    """A thread-safe client for one run: retries, cache, cassettes, trace and usage."""

    def __init__(self, settings: Settings, *, tracer: Tracer | None = None) -> None:
        self.settings = settings
        self.tracer = tracer
        self.notes: list[str] = []  # what the run should tell the user (e.g. a fallback)
        self.progress: ProgressSink = NoProgress()  # told of every call that finishes
        self.on_notice: Callable[[str], None] | None = None  # told at once: a timeout
        self._mode: StructuredMode = (
            "json_schema" if settings.structured == "auto" else settings.structured
        )
        self._stream = settings.stream
        self._lock = threading.Lock()
        self._generic_only = False  # set once the server refuses a narrowed schema
        self._usage = Usage()
        self._timeouts_in_a_row = 0
        self._cancelled = threading.Event()  # set by cancel(): Ctrl-C
        self._open_streams: set[Any] = set()  # replies being streamed now, for cancel()
        self._secret = settings.api_key.get_secret_value() if settings.api_key else ""
        # Every value that must never be shown: the key and the base URL's credentials.
        self._secrets = [self._secret, *url_secrets(settings.base_url or "")]
        self._replay = Cassette(settings.replay_path, "replay") if settings.replay_path else None
        self._record = Cassette(settings.record_path, "record") if settings.record_path else None
        use_cache = settings.use_cache and self._replay is None
        self._cache = (
            ResponseCache(settings.cache_dir, server_scope(settings.base_url))
            if use_cache
            else None
        )
        self._client: openai.OpenAI | None = None
        if self._replay is None:
            # Always explicit: the openai client must not look OPENAI_BASE_URL up on its own.
            base_url, query = split_query(settings.base_url or OPENAI_API)
            self._client = openai.OpenAI(
                api_key=self._secret or _NO_KEY,
                base_url=base_url,
                default_query=query or None,
                timeout=settings.timeout,
                max_retries=0,
            )
        self._log_redaction = install_log_redaction(self._secrets)

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the HTTP connection pool."""
        if self._client is not None:
            self._client.close()
        remove_log_redaction(self._log_redaction)

    def cancel(self) -> None:
        """Abort the replies being streamed now and send nothing more (Ctrl-C).

        Safe to call from a signal handler: it only sets a flag and shuts sockets down. A call
        cut off by it raises ``LLMInterruptedError``; what finished before stays cached.
        """
        self._cancelled.set()
        for stream in list(self._open_streams):
            _abort(stream)

    def _backoff_sleep(self, seconds: float) -> None:
        self._cancelled.wait(seconds)

    @property
    def cancelled(self) -> bool:
        """Return whether ``cancel`` was called."""
        return self._cancelled.is_set()

    def use_settings(self, settings: Settings) -> None:
        """Send later requests under ``settings`` (the engine's, once it learnt the limits).

        A structured-output mode the server already rejected stays given up.
        """
        if settings.structured != self.settings.structured:
            self._mode = "json_schema" if settings.structured == "auto" else settings.structured
        self.settings = settings

    @property
    def replay_parameters(self) -> dict[str, object] | None:
        """Return the run parameters stored in the cassette being replayed, if any."""
        return self._replay.parameters if self._replay is not None else None

    @property
    def structured_mode(self) -> StructuredMode:
        """Return the structured-output mode requests are sent with now."""
        return self._mode

    def record_parameters(self, parameters: dict[str, object]) -> None:
        """Write the run's parameters at the head of the cassette being recorded."""
        if self._record is not None:
            self._record.write_parameters(parameters)

    def usage(self) -> Usage:
        """Return calls, cache hits and tokens spent so far."""
        with self._lock:
            return self._usage

    def complete(
        self,
        messages: Sequence[Message],
        output: type[Output],
        *,
        label: str,
        schema: dict[str, Any] | None = None,
        reask_if: Callable[[Output], str | None] | None = None,
        max_tokens: int | None = None,
    ) -> Output:
        """Return the model's reply to ``messages`` parsed as ``output``.

        ``schema`` replaces the generic schema of ``output`` in strict json_schema mode (a
        schema narrowed to this request, ``engines.llm.schemas``). ``reask_if`` judges a
        reply that parsed: a message it returns is sent back as the one re-ask's instruction
        (e.g. a reply that copied the prompt's placeholders), and the second reply is kept.
        ``max_tokens`` bounds the reply (default: the ``max_output_tokens`` setting). A reply
        cut off at that bound keeps its complete elements (claims, bullets) when the output
        model accepts them, with a note.

        Raises:
            LLMTruncatedError: the reply was cut off with nothing usable in it.
            LLMContextError: the server refused the request as larger than its context.
            LLMTimeoutError: no first token, a stalled reply or the time limit, twice.
            LLMResponseError: the reply was still invalid (or a refusal) after one re-ask.
            LLMAuthError, LLMUnavailableError, LLMError: the call itself failed.
        """
        limit = max_tokens if max_tokens is not None else self.settings.max_output_tokens
        reply = self._exchange(messages, output, label, limit, schema)
        if reply.finish_reason == "length":
            return self._salvage(reply, output, label, limit)
        try:
            parsed = parse_reply(reply, output)
        except ValueError as problem:
            instruction = (
                f"Your reply could not be used: {shorten(str(problem))}\n"
                "Reply again with only the JSON object, matching the schema."
            )
        else:
            plainer = reask_if(parsed) if reask_if is not None else None
            if plainer is None:
                return parsed
            instruction = plainer
        logger.debug("re-asking %s: %s", label, shorten(instruction))
        again = [
            *messages,
            {"role": "assistant", "content": reply.content or ""},
            {"role": "user", "content": instruction},
        ]
        reply = self._exchange(again, output, f"{label} re-ask", limit, schema)
        if reply.finish_reason == "length":
            return self._salvage(reply, output, f"{label} re-ask", limit)
        try:
            return parse_reply(reply, output)
        except ValueError as problem:
            raise LLMResponseError(
                f"the model's reply to {label} was still unusable after one re-ask "
                f"({shorten(str(problem))}): try another --model or --structured setting"
            ) from None

    def _salvage(
        self, reply: StoredReply, output: type[Output], label: str, limit: int | None
    ) -> Output:
        """Return what a cut-off reply still holds, or raise ``LLMTruncatedError``."""
        content = reply.content or ""
        kept = parse_truncated(content, output)
        bound = f"its limit of {limit} tokens" if limit else "its output limit"
        if kept is not None and _holds_items(kept):
            with self._lock:
                self.notes.append(
                    f"{label}: the reply was cut off at {bound}; kept what was complete"
                )
            return kept
        looping = looks_looping(content)
        why = " (it was repeating itself)" if looping else ""
        raise LLMTruncatedError(
            f"the model's reply to {label} was cut off at {bound}{why}", looping=looping
        )

    def _payload(
        self,
        messages: Sequence[Message],
        output: type[BaseModel],
        mode: StructuredMode,
        max_tokens: int | None,
        changes: Mapping[str, object],
        narrowed: dict[str, Any] | None = None,
    ) -> dict[str, object]:
        # The narrowed schema is enforced by the server only; a model reading the schema in
        # the prompt gets the short generic one (the ids are in the passages it reads).
        schema = narrowed if narrowed is not None and mode == "json_schema" else schema_of(output)
        sent = [dict(m) for m in messages]
        if mode != "json_schema":
            # Without a server-enforced schema the model must read it.
            note = "The JSON object must match this JSON Schema: " + json.dumps(schema)
            if sent and sent[0]["role"] == "system":
                sent[0]["content"] += "\n\n" + note
            else:
                sent.insert(0, {"role": "system", "content": note})
        body: dict[str, object] = {"model": self.settings.model, "messages": sent}
        fixed_temperature = self.settings.model_info.fixed_temperature
        if not fixed_temperature:
            body["temperature"] = self.settings.temperature
        if max_tokens is not None:
            # Reasoning models take only the newer name; every local server knows max_tokens.
            body["max_completion_tokens" if fixed_temperature else "max_tokens"] = max_tokens
        if mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": output.__name__, "schema": schema, "strict": True},
            }
        elif mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        body.update(changes)
        return body

    def _exchange(
        self,
        messages: Sequence[Message],
        output: type[BaseModel],
        label: str,
        max_tokens: int | None,
        schema: dict[str, Any] | None = None,
    ) -> StoredReply:
        changes: dict[str, object] = {}
        while True:
            mode = self._mode
            if self._generic_only:
                schema = None
            payload = self._payload(messages, output, mode, max_tokens, changes, schema)
            key = request_key(payload)
            try:
                reply, source = self._serve(
                    key,
                    payload,
                    label,
                    functools.partial(
                        self._payload, messages, output, max_tokens=max_tokens, changes=changes
                    ),
                    schema,
                )
                break
            except openai.BadRequestError as exc:
                if _is_context_error(exc):
                    self._record_failure(key, payload, {"context": _error_fields(exc)})
                    raise _context_error(exc, payload, label) from None
                if schema is not None and mode == "json_schema" and self._drop_narrowing(exc):
                    continue  # the same mode with the generic schema first
                if not self._fall_back(mode, exc):
                    raise _translate(exc, self.settings, 1, self._secrets) from exc
            except _TimedOut as timed_out:
                self._record_failure(key, payload, {"timeout": timed_out.kind})
                if changes:
                    raise self._timeout_error(timed_out, label) from None
                # Resent changed, never as it was: a shorter reply and a repetition penalty.
                changes = _after_timeout(payload, max_tokens)
                notice = (
                    f"{label}: {timed_out.describe()}; asked again for a shorter reply "
                    "with a repetition penalty"
                )
                with self._lock:
                    self.notes.append(notice)
                if self.on_notice is not None:
                    self.on_notice(notice)
        self.progress.call_done(label, self._account(reply, source, payload))
        if self._record is not None:
            self._record.record(key, payload, reply)
        if self.tracer is not None:
            self.tracer.write(f"{label} reply", {"key": key, "source": source, "reply": reply})
        return reply

    def _timeout_error(self, timed_out: _TimedOut, label: str) -> LLMTimeoutError:
        return LLMTimeoutError(
            f"the model server {timed_out.describe()} for {label}, twice (the second time asked "
            "for a shorter reply): raise the limits (BRIEFER_FIRST_TOKEN_TIMEOUT, "
            "BRIEFER_STALL_TIMEOUT, BRIEFER_TIMEOUT) or use a faster model"
        )

    def _record_failure(
        self, key: str, payload: dict[str, object], failure: dict[str, object]
    ) -> None:
        # A replay must meet the same failures to send the same requests after them.
        if self._record is not None:
            self._record.record_failure(key, payload, failure)
        if self.tracer is not None:
            self.tracer.write("failure", {"key": key, "failure": failure})

    def _serve(
        self,
        key: str,
        payload: dict[str, object],
        label: str,
        build: Callable[..., dict[str, object]],
        schema: dict[str, Any] | None,
    ) -> tuple[StoredReply, str]:
        if self.tracer is not None:
            self.tracer.write(f"{label} request", {"key": key, "request": payload})
        if self._replay is not None:
            served = self._replay.replay(self._replay_key(key, build, schema))
            if isinstance(served, StoredReply):
                return served, "replay"
            raise _replayed_failure(served, payload, label)
        if self._cache is not None:
            cached = self._cache.get(key)
            if cached is not None:
                return cached, "cache"
        reply = self._call(payload)
        if self._cache is not None:
            try:
                self._cache.put(key, reply)
            except OSError as exc:
                # The call is paid for; losing the cache must not lose the run.
                self._cache = None
                self.notes.append(
                    f"response cache disabled: cannot write {self.settings.cache_dir} "
                    f"({exc.strerror}); set BRIEFER_CACHE_DIR"
                )
        return reply, "network"

    def _replay_key(
        self,
        key: str,
        build: Callable[..., dict[str, object]],
        schema: dict[str, Any] | None,
    ) -> str:
        """Return the key under which the cassette holds this request's reply.

        The recording run may have fallen back to a weaker mode after a 400 it did not
        record, or sent the generic schema after its server refused a narrowed one; a
        cassette recorded before replies were bounded holds no ``max_tokens``.
        ``build(mode, narrowed=...)`` returns the request in that mode with that schema.
        """
        assert self._replay is not None
        modes: list[StructuredMode] = [self._mode]
        while self.settings.structured == "auto" and modes[-1] in _FALLBACK:
            modes.append(_FALLBACK[modes[-1]])
        schemas = [schema, None] if schema is not None else [None]
        for mode in modes:
            for chosen in schemas:
                payload = build(mode, narrowed=chosen)
                unbounded = {k: v for k, v in payload.items() if k not in _LIMIT_NAMES}
                for candidate in (payload, unbounded):
                    candidate_key = request_key(candidate)
                    if self._replay.has(candidate_key):
                        return candidate_key
        return key

    def _drop_narrowing(self, exc: openai.BadRequestError) -> bool:
        """Send the generic schema from now on, after the server refused a narrowed one."""
        if _is_context_error(exc):
            return False
        with self._lock:
            if not self._generic_only:
                self._generic_only = True
                self.notes.append(
                    "the server rejected a schema narrowed to the cited passages (400); "
                    "sending the generic schema instead (BRIEFER_CITATION_SCHEMA=off skips it)"
                )
        logger.debug("narrowed schema rejected; sending the generic one")
        return True

    def _fall_back(self, mode: StructuredMode, exc: openai.BadRequestError) -> bool:
        weaker = _FALLBACK.get(mode)
        if self.settings.structured != "auto" or weaker is None or _is_context_error(exc):
            return False
        with self._lock:
            if self._mode == mode:
                self._mode = weaker
                self.notes.append(
                    f"the server rejected response_format {mode} (400); using {weaker} instead"
                )
        logger.debug("structured output %s rejected; falling back to %s", mode, weaker)
        return True

    def _call(self, payload: dict[str, object]) -> StoredReply:
        assert self._client is not None
        client = self._client
        attempts = 0
        with self._lock:
            if self._timeouts_in_a_row >= _TIMEOUTS_BEFORE_GIVING_UP:
                raise LLMUnavailableError(
                    f"the model server stopped answering ({self._timeouts_in_a_row} calls in a "
                    "row timed out): check it, or raise BRIEFER_FIRST_TOKEN_TIMEOUT"
                )

        def create() -> StoredReply:
            nonlocal attempts
            if self._cancelled.is_set():
                raise LLMInterruptedError("interrupted")
            attempts += 1
            if self._stream:
                return self._streamed(client, payload)
            try:
                return _to_stored(client.chat.completions.create(**cast(Any, payload)))
            except openai.APITimeoutError:
                raise _TimedOut("total", self.settings.timeout) from None

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=_RetryWait(self.settings.retry_wait, self.settings.retry_max_wait),
            retry=retry_if_exception(_is_transient),
            before_sleep=_log_retry,
            reraise=True,
            sleep=self._backoff_sleep,  # a backoff ends at once on Ctrl-C
        )
        try:
            reply = retrying(create)
        except _TimedOut:
            with self._lock:
                self._timeouts_in_a_row += 1
            raise
        except openai.BadRequestError:
            raise  # the caller may fall back to a weaker structured-output mode
        except openai.OpenAIError as exc:
            if self._cancelled.is_set():
                raise LLMInterruptedError("interrupted") from None
            raise _translate(exc, self.settings, attempts, self._secrets) from exc
        with self._lock:
            self._timeouts_in_a_row = 0
        return reply

    def _streamed(self, client: openai.OpenAI, payload: dict[str, object]) -> StoredReply:
        """Return the reply streamed token by token, watched for a first token and stalls.

        A server that sends nothing for ``first_token_timeout`` seconds, stops sending for
        ``stall_timeout`` seconds mid-reply, or runs past ``timeout`` in all, is cut off.
        """
        settings = self.settings
        first = min(settings.first_token_timeout, settings.timeout)
        watch = _Watch(first, settings.stall_timeout, settings.timeout)
        try:
            # Until the headers come, the read timeout is the first-token limit: llama.cpp
            # sends them with the first token.
            stream = client.chat.completions.create(
                **cast(Any, payload),
                stream=True,
                stream_options={"include_usage": True},
                timeout=first,
            )
        except openai.APITimeoutError:
            raise _TimedOut("first token", first) from None
        except openai.BadRequestError as exc:
            if self._stream and "stream" in str(getattr(exc, "message", "")).lower():
                self._stream = False  # the server does not stream: ask whole replies
                self.notes.append("the server rejected streamed replies; asking whole replies")
                return _to_stored(client.chat.completions.create(**cast(Any, payload)))
            raise
        pieces: list[str] = []
        refusals: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        chunks = 0
        watch.start(stream)
        self._open_streams.add(stream)
        if self._cancelled.is_set():  # cancel() ran while the headers were awaited
            _abort(stream)
        try:
            for chunk in _stream_events(stream):
                chunks += 1
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        pieces.append(delta["content"])
                        watch.token()
                    if delta.get("refusal"):
                        refusals.append(delta["refusal"])
                    finish = choice.get("finish_reason") or finish
        except (openai.APIConnectionError, openai.APIResponseValidationError) as exc:
            if watch.fired is not None:
                raise _TimedOut(*watch.fired) from None
            if isinstance(exc, openai.APITimeoutError):  # a read waited past ``first``
                raise _TimedOut("stall", first) from None
            raise
        finally:
            watch.stop()
            self._open_streams.discard(stream)
            stream.close()
        if watch.fired is not None:
            raise _TimedOut(*watch.fired)
        if chunks == 0:  # not an event stream: this server answers whole replies only
            self._stream = False
            self.notes.append("the server did not stream its reply; asking whole replies")
            return _to_stored(client.chat.completions.create(**cast(Any, payload)))
        return StoredReply(
            content="".join(pieces) if pieces or not refusals else None,
            finish_reason=finish or "stop",
            refusal="".join(refusals) or None,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )

    def _account(self, reply: StoredReply, source: str, payload: dict[str, object]) -> int:
        """Add ``reply`` to the run's usage; return the tokens it cost (0 from the cache)."""
        with self._lock:
            usage = self._usage
            if source == "cache":
                self._usage = usage.model_copy(update={"cache_hits": usage.cache_hits + 1})
                return 0
            prompt = reply.prompt_tokens
            if prompt is None:
                prompt = estimate_prompt_tokens(cast(list[Message], payload["messages"]))
            completion = reply.completion_tokens
            if completion is None:
                completion = count_tokens(reply.content or "")
            self._usage = usage.model_copy(
                update={
                    "calls": usage.calls + 1,
                    "prompt_tokens": usage.prompt_tokens + prompt,
                    "completion_tokens": usage.completion_tokens + completion,
                }
            )
            return prompt + completion


_TIMEOUTS_BEFORE_GIVING_UP = 3  # calls in a row that timed out: the server is gone
_LIMIT_NAMES = ("max_tokens", "max_completion_tokens")
# Sent with a request resent after a timeout: a looping model at temperature 0 loops again
# unless repeating itself costs it something.
FREQUENCY_PENALTY = 0.5
PRESENCE_PENALTY = 0.3


class _TimedOut(Exception):
    """A call cut off by one of its time limits (internal: becomes LLMTimeoutError)."""

    def __init__(self, kind: str, seconds: float) -> None:
        super().__init__(kind)
        self.kind = kind
        self.seconds = seconds

    def describe(self) -> str:
        if self.kind == "first token":
            return f"sent no first token within {self.seconds:g} s"
        if self.kind == "stall":
            return f"stopped sending for {self.seconds:g} s mid-reply"
        return f"did not finish the reply within {self.seconds:g} s"


class _Watch:
    """Cuts a streamed reply off when its first token, next token or end is overdue."""

    def __init__(self, first: float, stall: float, total: float) -> None:
        self.first, self.stall, self.total = first, stall, total
        self.fired: tuple[str, float] | None = None
        self._started = self._last = time.monotonic()
        self._tokens = False
        self._done = threading.Event()
        self._stream: Any = None

    def start(self, stream: Any) -> None:
        self._stream = stream
        threading.Thread(target=self._run, daemon=True, name="briefer-stream-watch").start()

    def token(self) -> None:
        self._last = time.monotonic()
        self._tokens = True

    def stop(self) -> None:
        self._done.set()

    def _deadline(self) -> tuple[float, str, float]:
        end = self._started + self.total
        if self._tokens:
            gap = (self._last + self.stall, "stall", self.stall)
        else:
            gap = (self._started + self.first, "first token", self.first)
        return min(gap, (end, "total", self.total))

    def _run(self) -> None:
        while True:
            when, kind, seconds = self._deadline()
            if self._done.wait(max(0.0, when - time.monotonic())):
                return
            when, kind, seconds = self._deadline()
            if time.monotonic() >= when:
                self.fired = (kind, seconds)
                _abort(self._stream)
                return


def _stream_events(stream: Any) -> Iterator[dict[str, Any]]:
    """Yield the events of a streamed reply as the server sent them: plain JSON objects.

    The openai client's own iteration builds a typed object per event, 0.1 to 0.25 ms each:
    about a second of CPU for a long reply sent in thousands of events. Its event
    reader (``_iter_events``, which also turns network errors into openai's) is used
    directly when this openai version has it; an error event is raised as openai would.
    """
    events = getattr(stream, "_iter_events", None)
    if events is None:  # another openai version: its typed events, as dicts
        for typed in stream:
            yield typed.model_dump()
        return
    for event in events():
        if event.data.startswith("[DONE]"):
            return
        data = event.json()
        if not isinstance(data, dict):
            continue
        error = data.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else None
            raise openai.APIError(
                message if isinstance(message, str) and message else "an error while streaming",
                request=stream.response.request,
                body=error,
            )
        yield data


def _abort(stream: Any) -> None:
    """Break a blocked read of ``stream`` (closing alone does not wake it on every system)."""
    response = getattr(stream, "response", None)
    network = getattr(response, "extensions", {}).get("network_stream")
    sock = network.get_extra_info("socket") if network is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    if response is not None:
        with contextlib.suppress(Exception):
            response.close()


def _after_timeout(payload: Mapping[str, object], max_tokens: int | None) -> dict[str, object]:
    """Return what a request resent after a timeout changes: a shorter reply, a penalty."""
    changes: dict[str, object] = {
        "frequency_penalty": FREQUENCY_PENALTY,
        "presence_penalty": PRESENCE_PENALTY,
    }
    name = "max_completion_tokens" if "max_completion_tokens" in payload else "max_tokens"
    if max_tokens is not None:
        changes[name] = max(16, max_tokens // 2)
    return changes


def _holds_items(output: BaseModel) -> bool:
    """Return whether a salvaged reply holds any element worth keeping (claims, bullets)."""
    lists = [v for v in output.__dict__.values() if isinstance(v, list)]
    return any(lists)


@lru_cache(maxsize=32)
def schema_of(output: type[BaseModel]) -> dict[str, Any]:
    """Return the strict JSON schema of ``output``: every field required, no extras or defaults.

    Without pydantic's ``title`` annotations either: a model reading the schema (OpenAI's
    strict mode puts it in the prompt) learns nothing from "Passage Id" beside
    ``passage_id``, and no server needs them.
    """
    return cast(dict[str, Any], _compact(to_strict_json_schema(output)))


_ANNOTATIONS = frozenset({"default", "title"})  # strict mode requires every property anyway


def _compact(node: object) -> object:
    """Return the schema ``node`` without annotation keywords (a property named so stays)."""
    if isinstance(node, list):
        return [_compact(v) for v in node]
    if not isinstance(node, dict):
        return node
    compact: dict[str, object] = {}
    for key, value in node.items():
        if key in _ANNOTATIONS:
            continue
        if key in {"properties", "$defs"} and isinstance(value, dict):
            compact[key] = {name: _compact(v) for name, v in value.items()}  # names, not keywords
        else:
            compact[key] = _compact(value)
    return compact


def _to_stored(completion: Any) -> StoredReply:
    choices = getattr(completion, "choices", None) or []
    usage = getattr(completion, "usage", None)
    if not choices:
        return StoredReply(content=None, finish_reason="stop", refusal="the reply had no choices")
    choice = choices[0]
    message = choice.message
    return StoredReply(
        content=message.content,
        finish_reason=choice.finish_reason or "stop",
        refusal=getattr(message, "refusal", None),
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
    )


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.RateLimitError):
        return _error_code(exc) != "insufficient_quota"  # waiting does not add credit
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in {408, 409} or exc.status_code >= 500
    return False


class _RetryWait:
    """Exponential backoff with jitter, or exactly what the server's Retry-After asks for."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._maximum = maximum
        self._backoff = wait_exponential(multiplier=initial, max=maximum) + wait_random(0, initial)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = _retry_after(exc) if exc is not None else None
        if asked is not None:
            return min(asked, self._maximum)
        return min(float(self._backoff(state)), self._maximum)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(float(value) * scale, 0.0)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if name == "retry-after" else None
            if when is not None:
                return max(when.timestamp() - time.time(), 0.0)
    return None


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.debug(
        "retrying after %s (attempt %d, waiting %.2fs)",
        type(exc).__name__,
        state.attempt_number,
        wait,
    )


def _translate(
    exc: openai.OpenAIError, settings: Settings, attempts: int, secrets: Sequence[str]
) -> LLMError:
    where = settings.shown_base_url
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return LLMAuthError(f"authentication failed: check {settings.api_key_env}")
    if isinstance(exc, openai.APITimeoutError):
        return LLMTimeoutError(
            f"the model server did not answer within {settings.timeout:g} s ({tries}): "
            "try again later or raise the timeout (BRIEFER_TIMEOUT)"
        )
    if isinstance(exc, openai.APIConnectionError):
        return LLMUnavailableError(
            f"cannot reach {where} ({tries}): check --base-url and the network"
        )
    if isinstance(exc, openai.RateLimitError):
        if _error_code(exc) == "insufficient_quota":
            return LLMError("the account has no quota left (429 insufficient_quota): check billing")
        return LLMUnavailableError(
            f"the model server is rate limiting ({tries}): lower --concurrency or try again later"
        )
    if isinstance(exc, openai.NotFoundError):
        return LLMError(
            f"{where} has no model {settings.model!r} (404): check --model and --base-url"
        )
    if isinstance(exc, openai.BadRequestError) and _is_context_error(exc):
        return LLMError(
            "the request is larger than the model's context window: set --context-window to the "
            "server's real limit"
        )
    if isinstance(exc, openai.APIStatusError):
        detail = shorten(redact(str(getattr(exc, "message", exc)), secrets))
        if exc.status_code >= 500:
            return LLMUnavailableError(
                f"the model server failed with {exc.status_code} ({tries}): try again later"
            )
        return LLMError(
            f"the model server rejected the request ({exc.status_code}: {detail}): "
            "check --model, --base-url and --structured"
        )
    return LLMError(
        f"the model call failed ({type(exc).__name__}): try again with --trace DIR to see it"
    )


def _error_code(exc: openai.APIStatusError) -> str | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) else None


# How servers word a request too large for the context window, and where they put the numbers.
_CONTEXT_WORDS = ("context_length", "context length", "maximum context", "context size")
_WINDOW_PATTERNS = (
    re.compile(r"available context size \((\d+) tokens\)"),  # llama.cpp
    re.compile(r"max context size \((\d+) tokens\)"),  # llama.cpp, a batch it cannot split
    re.compile(r"maximum context length is (\d+)"),  # OpenAI, vLLM
)
_PROMPT_PATTERNS = (
    re.compile(r"(?:request|input) \((\d+) tokens\)"),  # llama.cpp
    re.compile(r"messages resulted in (\d+) tokens"),  # OpenAI
    re.compile(r"\((\d+) in the messages"),  # vLLM (older)
    re.compile(r"request has (\d+) input tokens"),  # vLLM (newer)
)


def _error_fields(exc: openai.APIStatusError) -> dict[str, object]:
    """Return the error body's fields a replay needs: type, message and llama.cpp's numbers."""
    body = exc.body if isinstance(exc.body, dict) else {}
    fields = {k: body[k] for k in ("type", "code", "n_ctx", "n_prompt_tokens") if k in body}
    fields["message"] = str(getattr(exc, "message", "") or body.get("message", ""))
    return fields


def _is_context_error(exc: openai.APIStatusError) -> bool:
    body = exc.body if isinstance(exc.body, dict) else {}
    if body.get("type") == "exceed_context_size_error":  # llama.cpp
        return True
    text = f"{_error_code(exc) or ''} {getattr(exc, 'message', '')}".lower()
    return any(words in text for words in _CONTEXT_WORDS)


def context_error(
    fields: Mapping[str, object], payload: Mapping[str, object], label: str
) -> LLMContextError:
    """Return the ``LLMContextError`` an overflow error body (its ``fields``) stands for."""
    message = str(fields.get("message", ""))
    window = _first_number(fields.get("n_ctx"), message, _WINDOW_PATTERNS)
    prompt = _first_number(fields.get("n_prompt_tokens"), message, _PROMPT_PATTERNS)
    ours = estimate_prompt_tokens(cast(list[Message], payload.get("messages", [])))
    stated = f"{window} tokens" if window else "a size it did not state"
    return LLMContextError(
        f"the server refused {label} as larger than its context window ({stated}): set "
        "--context-window to the server's real limit",
        window=window,
        server_tokens=prompt,
        our_tokens=ours,
    )


def _context_error(
    exc: openai.APIStatusError, payload: Mapping[str, object], label: str
) -> LLMContextError:
    return context_error(_error_fields(exc), payload, label)


def _first_number(field: object, message: str, patterns: Sequence[re.Pattern[str]]) -> int | None:
    if isinstance(field, int) and not isinstance(field, bool) and field > 0:
        return field
    for pattern in patterns:
        found = pattern.search(message)
        if found:
            return int(found.group(1))
    return None


def _replayed_failure(
    failure: Mapping[str, object], payload: Mapping[str, object], label: str
) -> Exception:
    """Return the failure a cassette recorded for a request, to raise again on replay."""
    context = failure.get("context")
    if isinstance(context, dict):
        return context_error(context, payload, label)
    kind = str(failure.get("timeout", "total"))
    return _TimedOut(kind, 0.0)


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "******") if secret else text
