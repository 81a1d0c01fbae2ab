"""Learning a local model server's real limits by asking it, before the first call.

Local servers run a model at a context window of their own (llama.cpp ``-c``, Ollama's
``num_ctx``, vLLM's ``--max-model-len``), often far below what the model was trained for,
and serve a fixed number of requests at once. ``probe_server`` asks, in turn:

- llama.cpp ``GET /props``: ``default_generation_settings.n_ctx`` (one slot's window) and
  ``total_slots``;
- ``GET /v1/models``: vLLM's ``max_model_len``, llama.cpp's ``meta.n_ctx`` (or, in older
  builds, only ``meta.n_ctx_train``, the model's own window: the server's may be smaller);
- LM Studio ``GET /api/v0/models/{model}``: ``loaded_context_length`` when the model is
  loaded, else ``max_context_length``;
- Ollama ``GET /api/ps``: the ``context_length`` a loaded model runs at (newer releases);
  else ``POST /api/show``: the model's ``num_ctx`` parameter if it sets one, else the
  server's default (Ollama runs every model at a small default window, not at
  ``<arch>.context_length``, unless told otherwise), and never more than the model's own.

Each question has a short timeout; a server that answers none of them leaves the settings as
they were. The API key is sent as the chat calls send it and never appears in a result.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from briefer.config import Settings
from briefer.models import ServerLimits

PROBE_TIMEOUT = 2.0  # seconds per question: a local server answers at once
# Ollama's window for a model that sets no num_ctx, in releases that do not report the one
# they use: the smallest default it has shipped (2,048 before 0.6.x, 4,096 since).
OLLAMA_DEFAULT_WINDOW = 2_048
# A server counts tokens with its model's tokenizer, which may need more tokens than
# briefer's count for the same text: a learnt window is planned with this share of it.
SERVER_WINDOW_SHARE = 0.9


def learn_limits(settings: Settings) -> tuple[Settings, ServerLimits | None, str | None]:
    """Return ``settings`` with the window and slots the server states, what it said, a note.

    The server is asked only when given by --base-url, when no window was given, when the
    model is not a hosted one whose window is known, and never while replaying.
    """
    if (
        settings.base_url is None
        or settings.context_window is not None
        or settings.replay_path is not None
        or settings.model_info.hosted
    ):
        return settings, None, None
    key = settings.api_key.get_secret_value() if settings.api_key else ""
    limits = probe_server(settings.base_url, settings.model, key)
    if limits is None or limits.context_window is None:
        return settings, None, None
    window = int(limits.context_window * SERVER_WINDOW_SHARE)
    update: dict[str, object] = {"context_window": window}
    learnt = f"learnt from server ({limits.source})"
    origins = {**settings.origins, "context_window": learnt}
    note = f"learnt from the server ({limits.source}): context window {limits.context_window}"
    note += f" tokens; planned for {window}"
    if limits.total_slots is not None and settings.concurrency > limits.total_slots:
        update["concurrency"] = limits.total_slots
        origins["concurrency"] = learnt
        note += f", {limits.total_slots} call(s) at a time (its slots)"
    return settings.model_copy(update={**update, "origins": origins}), limits, note


def probe_server(base_url: str, model: str, api_key: str = "") -> ServerLimits | None:
    """Return the limits the server at ``base_url`` states for ``model``, or None."""
    root = _root_of(base_url)
    api = base_url.rstrip("/")
    for ask in (_llama_props, _openai_models, _lm_studio, _ollama):
        try:
            limits = ask(root, api, model, api_key)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            limits = None  # not this kind of server, or not reachable: ask the next way
        if limits is not None and limits.context_window:
            return limits
    return None


def _llama_props(root: str, api: str, model: str, key: str) -> ServerLimits | None:
    props = _get(f"{root}/props", key)
    settings = props.get("default_generation_settings") or {}
    window = _positive(settings.get("n_ctx"))
    slots = _positive(props.get("total_slots"))
    if window is None:
        return None
    return ServerLimits(source="llama.cpp /props", context_window=window, total_slots=slots)


def _openai_models(root: str, api: str, model: str, key: str) -> ServerLimits | None:
    listing = _get(f"{api}/models", key)
    entries = [e for e in listing.get("data") or [] if isinstance(e, dict)]
    named = [e for e in entries if e.get("id") == model] or entries[:1]
    for entry in named:
        window = _positive(entry.get("max_model_len"))  # vLLM
        if window is not None:
            return ServerLimits(source="/v1/models max_model_len", context_window=window)
        meta = entry.get("meta") or {}
        window = _positive(meta.get("n_ctx"))  # llama.cpp: the slot's window
        if window is not None:
            return ServerLimits(source="llama.cpp /v1/models", context_window=window)
        window = _positive(meta.get("n_ctx_train"))  # older llama.cpp: the model's own
        if window is not None:
            return ServerLimits(source="llama.cpp /v1/models n_ctx_train", context_window=window)
    return None


def _lm_studio(root: str, api: str, model: str, key: str) -> ServerLimits | None:
    entry = _get(f"{root}/api/v0/models/{urllib.parse.quote(model, safe='')}", key)
    loaded = _positive(entry.get("loaded_context_length"))
    if loaded is not None:
        return ServerLimits(source="LM Studio /api/v0/models", context_window=loaded)
    window = _positive(entry.get("max_context_length"))
    if window is None:
        return None
    return ServerLimits(source="LM Studio /api/v0/models (not loaded)", context_window=window)


def _ollama(root: str, api: str, model: str, key: str) -> ServerLimits | None:
    try:
        running = _get(f"{root}/api/ps", key).get("models") or []
    except (OSError, ValueError):
        running = []
    names = {model, f"{model}:latest"}
    for entry in running:
        if isinstance(entry, dict) and {entry.get("name"), entry.get("model")} & names:
            window = _positive(entry.get("context_length"))
            if window is not None:
                return ServerLimits(source="Ollama /api/ps", context_window=window)
    shown = _post(f"{root}/api/show", {"model": model}, key)
    info = shown.get("model_info") or {}
    trained = next(
        (
            _positive(v)
            for k, v in info.items()
            if isinstance(k, str) and k.endswith(".context_length")
        ),
        None,
    )
    asked = _num_ctx(str(shown.get("parameters") or ""))
    window = asked or OLLAMA_DEFAULT_WINDOW
    if trained is not None:
        window = min(window, trained)
    if trained is None and asked is None and "model_info" not in shown:
        return None
    how = "num_ctx" if asked else "default num_ctx"
    return ServerLimits(source=f"Ollama /api/show ({how})", context_window=window)


def _num_ctx(parameters: str) -> int | None:
    for line in parameters.splitlines():
        name, _, value = line.strip().partition(" ")
        if name == "num_ctx":
            return _positive(int(value.strip()))
    return None


def _root_of(base_url: str) -> str:
    """Return the server's root: ``http://host:8080/v1`` -> ``http://host:8080``."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _get(url: str, key: str) -> dict[str, Any]:
    return _ask(urllib.request.Request(url, headers=_headers(key)))


def _post(url: str, body: dict[str, object], key: str) -> dict[str, Any]:
    data = json.dumps(body).encode("utf-8")
    headers = {**_headers(key), "content-type": "application/json"}
    return _ask(urllib.request.Request(url, data=data, headers=headers, method="POST"))


def _headers(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"} if key else {}


def _ask(request: urllib.request.Request) -> dict[str, Any]:
    if urllib.parse.urlsplit(request.full_url).scheme not in {"http", "https"}:
        raise ValueError("not an HTTP URL")
    with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:
        answer = json.loads(response.read(1_000_000))
    if not isinstance(answer, dict):
        raise ValueError("not a JSON object")
    return answer


def _positive(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None
