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

import email.utils
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
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
from briefer.errors import (
    LLMAuthError,
    LLMError,
    LLMResponseError,
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
        self._mode: StructuredMode = (
            "json_schema" if settings.structured == "auto" else settings.structured
        )
        self._lock = threading.Lock()
        self._generic_only = False  # set once the server refuses a narrowed schema
        self._usage = Usage()
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
    ) -> Output:
        """Return the model's reply to ``messages`` parsed as ``output``.

        ``schema`` replaces the generic schema of ``output`` in strict json_schema mode (a
        schema narrowed to this request, ``engines.llm.schemas``). ``reask_if`` judges a
        reply that parsed: a message it returns is sent back as the one re-ask's instruction
        (e.g. a reply that copied the prompt's placeholders), and the second reply is kept.

        Raises:
            LLMTruncatedError: the reply was cut off at the output limit.
            LLMResponseError: the reply was still invalid (or a refusal) after one re-ask.
            LLMAuthError, LLMUnavailableError, LLMError: the call itself failed.
        """
        reply = self._exchange(messages, output, label, schema)
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
        reply = self._exchange(again, output, f"{label} re-ask", schema)
        try:
            return parse_reply(reply, output)
        except ValueError as problem:
            raise LLMResponseError(
                f"the model's reply to {label} was still unusable after one re-ask "
                f"({shorten(str(problem))}): try another --model or --structured setting"
            ) from None

    def _payload(
        self,
        messages: Sequence[Message],
        output: type[BaseModel],
        mode: StructuredMode,
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
        if not self.settings.model_info.fixed_temperature:
            body["temperature"] = self.settings.temperature
        if self.settings.max_output_tokens is not None:
            body["max_tokens"] = self.settings.max_output_tokens
        if mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": output.__name__, "schema": schema, "strict": True},
            }
        elif mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def _exchange(
        self,
        messages: Sequence[Message],
        output: type[BaseModel],
        label: str,
        schema: dict[str, Any] | None = None,
    ) -> StoredReply:
        while True:
            mode = self._mode
            if self._generic_only:
                schema = None
            payload = self._payload(messages, output, mode, schema)
            key = request_key(payload)
            try:
                reply, source = self._serve(key, payload, messages, output, label, schema)
                break
            except openai.BadRequestError as exc:
                if schema is not None and mode == "json_schema" and self._drop_narrowing(exc):
                    continue  # the same mode with the generic schema first
                if not self._fall_back(mode, exc):
                    raise _translate(exc, self.settings, 1, self._secrets) from exc
        self.progress.call_done(label, self._account(reply, source, payload))
        if self._record is not None:
            self._record.record(key, payload, reply)
        if self.tracer is not None:
            self.tracer.write(f"{label} reply", {"key": key, "source": source, "reply": reply})
        if reply.finish_reason == "length":
            raise LLMTruncatedError(
                f"the model's reply to {label} was cut off at its output limit: "
                "use smaller chunks (--context-window) or a model with a larger output"
            )
        return reply

    def _serve(
        self,
        key: str,
        payload: dict[str, object],
        messages: Sequence[Message],
        output: type[BaseModel],
        label: str,
        schema: dict[str, Any] | None,
    ) -> tuple[StoredReply, str]:
        if self.tracer is not None:
            self.tracer.write(f"{label} request", {"key": key, "request": payload})
        if self._replay is not None:
            return self._replay.replay(self._replay_key(key, messages, output, schema)), "replay"
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
        messages: Sequence[Message],
        output: type[BaseModel],
        schema: dict[str, Any] | None,
    ) -> str:
        # The recording run may have fallen back to a weaker mode after a 400 it did not record.
        assert self._replay is not None
        # ... or sent the generic schema after its server refused a narrowed one.
        schemas = [schema, None] if schema is not None else [None]
        mode: StructuredMode | None = self._mode
        while mode is not None:
            for chosen in schemas:
                candidate = request_key(self._payload(messages, output, mode, chosen))
                if self._replay.has(candidate):
                    return candidate
            if self.settings.structured != "auto":
                break
            mode = _FALLBACK.get(mode)
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

        def create() -> Any:
            nonlocal attempts
            attempts += 1
            return client.chat.completions.create(**cast(Any, payload))

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=_RetryWait(self.settings.retry_wait, self.settings.retry_max_wait),
            retry=retry_if_exception(_is_transient),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            completion = retrying(create)
        except openai.BadRequestError:
            raise  # the caller may fall back to a weaker structured-output mode
        except openai.OpenAIError as exc:
            raise _translate(exc, self.settings, attempts, self._secrets) from exc
        return _to_stored(completion)

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


@lru_cache(maxsize=32)
def schema_of(output: type[BaseModel]) -> dict[str, Any]:
    """Return the strict JSON schema of ``output``: every field required, no extras or defaults."""
    return cast(dict[str, Any], _drop_defaults(to_strict_json_schema(output)))


def _drop_defaults(node: object) -> object:
    # Strict mode requires every property; defaults only serve the lenient parse.
    if isinstance(node, dict):
        return {k: _drop_defaults(v) for k, v in node.items() if k != "default"}
    if isinstance(node, list):
        return [_drop_defaults(v) for v in node]
    return node


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
        return LLMUnavailableError(
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


def _is_context_error(exc: openai.APIStatusError) -> bool:
    text = f"{_error_code(exc) or ''} {getattr(exc, 'message', '')}".lower()
    return "context_length" in text or "context length" in text or "maximum context" in text
