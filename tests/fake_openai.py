"""A fake OpenAI-compatible server for tests: ``POST /v1/chat/completions`` from scripted replies.

Everything it answers is scripted test data, never real model output. Tests queue
``Reply`` objects (served first come, first served, or to the first request whose messages
contain ``match``); when the queue is empty, ``responder`` (if set) builds the reply from
the request. Each request body is kept in ``requests`` for the test to check.

A request with ``"stream": true`` is answered as a server-sent event stream, as real
servers do: the content in small pieces, then the finish reason, then (when asked with
``stream_options.include_usage``) the usage. A reply can wait before its first piece
(``delay``, sent before the headers, as llama.cpp does while it reads the prompt) and
stall after some pieces (``stall_after``, ``stall``); the delay counts from the request's
arrival, so the time spent building the reply is part of it, as a real server's latency
is. ``timings`` keeps when each chat request arrived, when its reply started and ended
(``time.monotonic``, shared by every process on the machine) and the CPU seconds the
server's thread spent on it, for benchmarks. Other routes (llama.cpp's
``/props``, ``/v1/models``, Ollama's ``/api/show``...) answer what ``routes`` holds, else 404.
The error bodies of real servers are built by ``llama_cpp_overflow``, ``openai_overflow``
and ``vllm_overflow``, copied from those servers' sources and documentation.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted reply (test data): a completion, an HTTP error, or a slow answer."""

    content: str | None = None
    status: int = 200
    finish_reason: str = "stop"
    refusal: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    delay: float = 0.0
    usage: bool = True
    match: str | None = None
    stall_after: int | None = None  # streamed pieces sent before the stream stalls
    stall: float = 0.0  # seconds the stream stalls for
    raw_error: dict[str, Any] | None = None  # an error body sent as is (not under "error")
    whole: bool = False  # answer a whole reply even when a stream is asked for
    scripted: bool = True  # label: this reply is scripted test data

    @classmethod
    def json(cls, data: object, **kwargs: Any) -> Reply:
        """Return a completion whose content is ``data`` as JSON."""
        return cls(content=json.dumps(data), **kwargs)

    @classmethod
    def fail(cls, status: int, message: str = "scripted failure", **kwargs: Any) -> Reply:
        """Return an HTTP error in the OpenAI error format."""
        code = kwargs.pop("code", None)
        return cls(
            status=status, error={"message": message, "type": "error", "code": code}, **kwargs
        )


def llama_cpp_overflow(n_prompt_tokens: int, n_ctx: int, **kwargs: Any) -> Reply:
    """Return llama.cpp's refusal of a prompt larger than a slot's context (HTTP 400).

    The body is exactly what llama-server sends (tools/server: format_error_response with
    ERROR_TYPE_EXCEED_CONTEXT_SIZE, plus the two numbers).
    """
    return Reply(
        status=400,
        error={
            "code": 400,
            "message": f"request ({n_prompt_tokens} tokens) exceeds the available context "
            f"size ({n_ctx} tokens), try increasing it",
            "type": "exceed_context_size_error",
            "n_prompt_tokens": n_prompt_tokens,
            "n_ctx": n_ctx,
        },
        **kwargs,
    )


def openai_overflow(limit: int, used: int, **kwargs: Any) -> Reply:
    """Return OpenAI's refusal of a request larger than the model's context (HTTP 400)."""
    return Reply(
        status=400,
        error={
            "message": f"This model's maximum context length is {limit} tokens. However, your "
            f"messages resulted in {used} tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        },
        **kwargs,
    )


def vllm_overflow(limit: int, prompt: int, completion: int, **kwargs: Any) -> Reply:
    """Return vLLM's refusal (its ErrorResponse, sent at the top level of the body)."""
    return Reply(
        status=400,
        raw_error={
            "object": "error",
            "message": f"This model's maximum context length is {limit} tokens. However, you "
            f"requested {prompt + completion} tokens ({prompt} in the messages, {completion} "
            "in the completion). Please reduce the length of the messages or completion.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        **kwargs,
    )


Responder = Callable[[dict[str, Any]], Reply]


@dataclass(frozen=True)
class CallTiming:
    """When the server handled one chat request (``time.monotonic`` seconds) and its CPU cost."""

    received: float  # the request's body was read
    replied: float  # the reply's first byte was about to be sent (after ``delay``)
    done: float  # the reply's last byte was written
    delay: float  # the scripted latency
    cpu_s: float  # CPU seconds of the handler's thread: parsing, building, serialising
    streamed: bool
    hidden_cpu_s: float = 0.0  # the part spent building the reply within ``delay``


class FakeOpenAI:
    """A loopback Chat Completions server driven by scripted replies."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.timings: list[CallTiming] = []
        self.responder: Responder | None = None
        # (method, path) -> (status, JSON body) for routes other than chat completions.
        self.routes: dict[tuple[str, str], tuple[int, Any]] = {}
        self.route_requests: list[tuple[str, str, Any]] = []
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Return the base URL to give the openai client."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeOpenAI:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        """Forget scripted replies, the responder and recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.headers.clear()
            self.timings.clear()
            self.route_requests.clear()
            self.routes.clear()
            self.responder = None

    def script(self, *replies: Reply) -> None:
        """Queue ``replies``."""
        with self._lock:
            self._queue.extend(replies)

    def pending(self) -> int:
        """Return how many scripted replies were not served."""
        with self._lock:
            return len(self._queue)

    def next_reply(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        """Return the reply to one request, and record the request."""
        text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            for index, reply in enumerate(self._queue):
                if reply.match is None or reply.match in text:
                    return self._queue.pop(index)
            responder = self.responder
        if responder is not None:
            return responder(body)
        return Reply.fail(418, "the fake server has no scripted reply for this request")


def completion_body(reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    """Return a Chat Completions response body for ``reply``."""
    body: dict[str, Any] = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": request.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply.content,
                    "refusal": reply.refusal,
                },
                "finish_reason": reply.finish_reason,
                "logprobs": None,
            }
        ],
    }
    if reply.usage:
        prompt = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
        completion = len((reply.content or "").split())
        body["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    return body


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes; with Nagle's algorithm on, the body waits
        # for the client's delayed ACK (about 40 ms a reply). Real servers turn it off too.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._route("GET", None)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            raw = self.rfile.read(length)
            received, cpu_started = time.monotonic(), time.thread_time()
            if not self.path.partition("?")[0].endswith("/chat/completions"):
                self._route("POST", json.loads(raw or b"null"))
                return
            request = json.loads(raw)
            reply = server.next_reply(request, {k.lower(): v for k, v in self.headers.items()})
            built_cpu = time.thread_time() - cpu_started
            wait = reply.delay - (time.monotonic() - received)
            if wait > 0:
                time.sleep(wait)
            replied = time.monotonic()
            streamed = bool(request.get("stream") and not reply.whole)
            if reply.status != 200:
                body = reply.raw_error or {"error": reply.error or {}}
                self._send(reply.status, body, reply.headers)
            elif streamed:
                self._stream(reply, request)
            else:
                self._send(200, completion_body(reply, request), reply.headers)
            timing = CallTiming(
                received,
                replied,
                time.monotonic(),
                reply.delay,
                time.thread_time() - cpu_started,
                streamed,
                min(built_cpu, reply.delay),
            )
            with server._lock:
                server.timings.append(timing)

        def _route(self, method: str, body: Any) -> None:
            with server._lock:
                server.route_requests.append((method, self.path, body))
                answer = server.routes.get((method, self.path.partition("?")[0]))
            if answer is None:
                self._send(404, {"error": {"message": f"no route {self.path}"}}, {})
            else:
                self._send(answer[0], answer[1], {})

        def _stream(self, reply: Reply, request: dict[str, Any]) -> None:
            whole = completion_body(reply, request)
            head = {k: whole[k] for k in ("id", "created", "model")}
            head["object"] = "chat.completion.chunk"
            text = reply.content or ""
            pieces = [text[i : i + 200] for i in range(0, len(text), 200)]
            events: list[dict[str, Any]] = [
                {**head, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
                for p in pieces
            ]
            if reply.refusal:
                events.append(
                    {
                        **head,
                        "choices": [
                            {"index": 0, "delta": {"refusal": reply.refusal}, "finish_reason": None}
                        ],
                    }
                )
            events.append(
                {
                    **head,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}],
                }
            )
            if "usage" in whole and (request.get("stream_options") or {}).get("include_usage"):
                events.append({**head, "choices": [], "usage": whole["usage"]})
            try:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.close_connection = True
                for number, event in enumerate(events):
                    if reply.stall_after is not None and number == reply.stall_after:
                        time.sleep(reply.stall)
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a stall test); nothing to answer

        def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
            data = json.dumps(body).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test); nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


def listed_claims(user: str) -> list[tuple[str, str]]:
    """Return ``(id, text)`` of each item a reduce prompt lists, in order.

    reduce v1 lists ``id [S1,S3] text`` lines; v2 lists ``id text`` lines under a header
    ``[S1] title`` (or ``[S1, S3]``) per set of sources, up to the next blank line.
    """
    listed: list[tuple[str, str]] = []
    under_header = False
    for line in user.splitlines():
        head, sep, text = line.partition("] ")
        if sep and " [S" in head:
            listed.append((head.split(" [", 1)[0], text))
        elif line.startswith(("[S", "[no source]")):
            under_header = True
        elif under_header and " " in line.strip():
            claim_id, text = line.split(" ", 1)
            listed.append((claim_id, text))
        else:
            under_header = False
    return listed


def echo_model(request: dict[str, Any]) -> Reply:
    """Return a scripted stand-in model's reply: it restates what it is shown, nothing more.

    Map and brief: one claim per passage, quoting the passage's first sentence. Reduce: one
    bullet per listed item, citing it. Repair: no claims. Deterministic test data.
    """
    kind = _kind_of(request)
    user = next((m["content"] for m in reversed(request["messages"]) if m["role"] == "user"), "")
    if kind in {"MapOutput", "BriefOutput"}:
        claims: list[dict[str, Any]] = []
        for line in user.splitlines():
            if line.startswith("[S") and "] " in line:
                passage_id, text = line[1:].split("] ", 1)
                sentence = text.split(". ")[0].rstrip(".") + "."
                quote = sentence[:-1] if not text.startswith(sentence) else sentence
                claims.append(
                    {
                        "id": f"c{len(claims) + 1}",
                        "text": sentence,
                        "citations": [{"passage_id": passage_id, "quote": quote}],
                    }
                )
        if kind == "MapOutput":
            return Reply.json(
                {"claims": [{k: v for k, v in c.items() if k != "id"} for c in claims]}
            )
        bullets = [{"text": c["text"], "claim_ids": [c["id"]]} for c in claims]
        return Reply.json(
            {
                "claims": claims,
                "title": "Echo briefing",
                "sections": [{"title": "Key points", "bullets": bullets}],
                "differences": [],
            }
        )
    if kind == "ReduceOutput":
        bullets = [{"text": text, "claim_ids": [cid]} for cid, text in listed_claims(user)]
        return Reply.json(
            {
                "title": "Echo briefing",
                "sections": [{"title": "Key points", "bullets": bullets}],
                "differences": [],
            }
        )
    return Reply.json({"claims": []})


def merging_echo_model(request: dict[str, Any]) -> Reply:
    """Return ``echo_model``'s reply, except that reduce merges each pair of items into one bullet.

    Deterministic test data, like ``echo_model``: a stand-in that does merge, so reduce levels
    shrink.
    """
    reply = echo_model(request)
    data = json.loads(reply.content or "{}")
    if "sections" in data and "claims" not in data:
        bullets = data["sections"][0]["bullets"]
        pairs = [bullets[i : i + 2] for i in range(0, len(bullets), 2)]
        # A merged bullet in words of its own (not one claim's text word for word, which
        # would make it that claim's restatement), shorter than the two it merges.
        data["sections"][0]["bullets"] = [
            {
                "text": pair[0]["text"].rstrip(".") + (", and more." if len(pair) > 1 else "."),
                "claim_ids": [c for b in pair for c in b["claim_ids"]],
            }
            for pair in pairs
        ]
        return Reply.json(data)
    return reply


def _kind_of(request: dict[str, Any]) -> str:
    response_format = request.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return str(response_format["json_schema"]["name"])
    text = json.dumps(request.get("messages", []))
    for kind in ("BriefOutput", "MapOutput", "RepairOutput", "ReduceOutput"):
        if f'\\"title\\": \\"{kind}\\"' in text:
            return kind
    return "unknown"
