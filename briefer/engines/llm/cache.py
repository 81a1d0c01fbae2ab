"""Stores of model exchanges: the response cache, record/replay cassettes and the trace.

- ``ResponseCache``: one JSON file per request under the user's cache directory, keyed by
  the sha256 of the server and the request payload (model, messages, schema, parameters;
  never the key), so a re-run after an interruption repeats no finished call, and a reply
  from one server is never served for another that happens to use the same model name.
- ``Cassette``: a JSONL file of ``{"key", "request", "reply"}`` lines. Recording appends
  every exchange served, and the failures that changed what the run sent next (a request
  refused for its size, a timeout) as ``{"key", "request", "failure"}``; a first
  ``{"parameters"}`` line holds the run's parameters (model, window, reply limits...).
  Replaying serves replies and failures by key with no network.
- ``Tracer``: numbered JSON files of every request, reply and intermediate list of a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from briefer.errors import ConfigError, LLMError
from briefer.redact import strip_userinfo

Payload = Mapping[str, object]


class StoredReply(BaseModel):
    """The part of a chat completion briefer uses, as cached, recorded and replayed."""

    model_config = ConfigDict(frozen=True)

    content: str | None
    finish_reason: str
    refusal: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def request_key(payload: Payload) -> str:
    """Return the sha256 of the canonical JSON of a request payload."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


OPENAI_API = "https://api.openai.com/v1"  # where the openai client goes without a base URL


def server_scope(base_url: str | None) -> str:
    """Return what names the server in cache keys: its URL without credentials in userinfo.

    The query string stays (it may select a deployment); it only ever enters a sha256.
    """
    return strip_userinfo(base_url or OPENAI_API).rstrip("/")


class ResponseCache:
    """On-disk replies keyed by server and request hash; unreadable entries count as misses."""

    def __init__(self, directory: Path, server: str = OPENAI_API) -> None:
        self.directory = directory
        self.server = server

    def get(self, key: str) -> StoredReply | None:
        """Return the cached reply for ``key``, or None."""
        try:
            return StoredReply.model_validate_json(self._path(key).read_bytes())
        except (OSError, ValidationError):
            return None

    def put(self, key: str, reply: StoredReply) -> None:
        """Store ``reply`` under ``key`` atomically (a crash leaves no half-written entry).

        Raises:
            OSError: the cache directory is not writable.
        """
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, reply.model_dump_json())

    def _path(self, key: str) -> Path:
        scoped = hashlib.sha256(f"{self.server}\n{key}".encode()).hexdigest()
        return self.directory / scoped[:2] / f"{scoped}.json"


class Cassette:
    """A JSONL recording of exchanges, opened for ``record`` (truncating) or ``replay``."""

    def __init__(self, path: Path, mode: str) -> None:
        self.path = path
        self.mode = mode
        self._lock = threading.Lock()
        self._replies: dict[str, deque[StoredReply | dict[str, object]]] = {}
        self._last: dict[str, StoredReply | dict[str, object]] = {}
        self.parameters: dict[str, object] | None = None
        if mode == "replay":
            self._load()
        elif mode == "record":
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("", encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot record to {path} ({exc.strerror})") from None
        else:
            raise ValueError(f"unknown cassette mode {mode!r}")

    def has(self, key: str) -> bool:
        """Return whether the cassette holds a reply for ``key``."""
        return key in self._last

    def replay(self, key: str) -> StoredReply | dict[str, object]:
        """Return the next recorded reply (or failure) for ``key``; the last again once used up."""
        with self._lock:
            queue = self._replies.get(key)
            if queue:
                return queue.popleft()
            if key in self._last:
                return self._last[key]
        raise LLMError(
            f"the cassette {self.path} has no reply for a request of this run (the sources, "
            "options or prompts differ from the recording): record it again with --record"
        )

    def record(self, key: str, payload: Payload, reply: StoredReply) -> None:
        """Append one exchange."""
        self._append({"key": key, "request": payload, "reply": reply.model_dump()})

    def record_failure(self, key: str, payload: Payload, failure: Mapping[str, object]) -> None:
        """Append a failure that changed what the run sent next."""
        self._append({"key": key, "request": payload, "failure": dict(failure)})

    def write_parameters(self, parameters: Mapping[str, object]) -> None:
        """Append the run's parameters (written first, before any exchange)."""
        self._append({"parameters": dict(parameters)})

    def _append(self, entry: Mapping[str, object]) -> None:
        line = json.dumps(entry, ensure_ascii=False)
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as exc:
            raise ConfigError(f"cannot record to {self.path} ({exc.strerror})") from None

    def _load(self) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read the cassette {self.path} ({exc.strerror})") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if "parameters" in entry:
                    self.parameters = dict(entry["parameters"])
                    continue
                key = entry.get("key") or request_key(entry["request"])
                reply: StoredReply | dict[str, object] = (
                    dict(entry["failure"])
                    if "failure" in entry
                    else StoredReply.model_validate(entry["reply"])
                )
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ConfigError(
                    f"{self.path}:{number} is not a cassette line ({exc}); record it again"
                ) from None
            self._replies.setdefault(key, deque()).append(reply)
            self._last[key] = reply


class Tracer:
    """Writes numbered JSON files into a directory so a user can follow a run step by step."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._count = 0
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the trace directory {directory}: {exc}") from None

    def write(self, label: str, data: object) -> Path:
        """Write ``data`` as ``NNNN-<label>.json`` and return the path."""
        with self._lock:
            self._count += 1
            number = self._count
        slug = re.sub(r"[^A-Za-z0-9.+-]+", "-", label).strip("-")[:80] or "item"
        path = self.directory / f"{number:04d}-{slug}.json"
        text = json.dumps(data, ensure_ascii=False, indent=2, default=_jsonable)
        try:
            path.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write the trace file {path} ({exc.strerror})") from None
        return path


def _jsonable(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return str(value)


def _write_atomic(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
