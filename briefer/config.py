"""Settings: the one place that reads ``os.environ`` and ``.env``.

Precedence for every field is flag (an explicit override) > environment > ``.env`` > default.
``Settings`` remembers where each value came from so ``briefer config`` can show it. The API
key is a ``SecretStr``: it never appears in ``repr``, ``str``, logs, the cache or errors; a
base URL is only ever shown masked (``briefer.redact.mask_url``).

Trust: a ``.env`` in the working directory is the configuration of whoever wrote that
directory, not necessarily the user's. It may choose the model, the server and its own key,
but it may never pair a key from the user's environment with a server it names, nor choose
which environment variable is sent as the key (``untrusted_pairing``). ``${VAR}`` references
in a ``.env`` are not expanded, so a value there can never copy an environment variable.

Budgets follow the model: ``budgets_for`` derives the map chunk size, the reduce budget and
how much source text one grounded call may hold from the model's context window
(``KNOWN_MODELS``, overridable with ``context_window``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from platformdirs import user_cache_dir
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from briefer.errors import ConfigError
from briefer.models import LENGTH_WORDS, Length
from briefer.redact import mask_url

StructuredMode = Literal["auto", "json_schema", "json_object", "none"]
# How far a request's JSON schema narrows what a reply may cite (engines/llm/schemas.py):
# "grammar" also pins quotes to the passages' sentences and bounds lengths (servers that turn
# schemas into grammars), "ids" lists the passage and claim ids only, "off" sends the generic
# schema; "auto" is "grammar" with --base-url (a local server) and "ids" otherwise.
CitationSchema = Literal["auto", "grammar", "ids", "off"]


class ModelInfo(BaseModel):
    """What briefer knows about a model: its context window and output limit."""

    model_config = ConfigDict(frozen=True)

    context_window: int
    max_output: int
    fixed_temperature: bool = False  # reasoning models reject any temperature but the default
    hosted: bool = False  # served only by its maker, at this window: nothing to ask a server


class Price(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(frozen=True)

    input: float
    output: float


# Matched by longest prefix, so dated snapshots ("gpt-4o-mini-2024-07-18") and local tags
# ("llama3.1:8b") find their family. Local servers often run a smaller context than the
# model supports (Ollama's num_ctx), so local families are listed conservatively.
KNOWN_MODELS: dict[str, ModelInfo] = {
    "gpt-4o-mini": ModelInfo(context_window=128_000, max_output=16_384, hosted=True),
    "gpt-4o": ModelInfo(context_window=128_000, max_output=16_384, hosted=True),
    "gpt-4.1": ModelInfo(context_window=1_047_576, max_output=32_768, hosted=True),
    "gpt-4-turbo": ModelInfo(context_window=128_000, max_output=4_096, hosted=True),
    "gpt-3.5-turbo": ModelInfo(context_window=16_385, max_output=4_096, hosted=True),
    "gpt-5": ModelInfo(
        context_window=400_000, max_output=128_000, fixed_temperature=True, hosted=True
    ),
    "o1": ModelInfo(
        context_window=200_000, max_output=100_000, fixed_temperature=True, hosted=True
    ),
    "o3": ModelInfo(
        context_window=200_000, max_output=100_000, fixed_temperature=True, hosted=True
    ),
    "o4-mini": ModelInfo(
        context_window=200_000, max_output=100_000, fixed_temperature=True, hosted=True
    ),
    "llama3": ModelInfo(context_window=8_192, max_output=2_048),
    "qwen2.5": ModelInfo(context_window=32_768, max_output=8_192),
    "mistral": ModelInfo(context_window=32_768, max_output=8_192),
}
UNKNOWN_MODEL = ModelInfo(context_window=8_192, max_output=2_048)

DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(input=0.15, output=0.60),
    "gpt-4o": Price(input=2.50, output=10.00),
    "gpt-4.1-nano": Price(input=0.10, output=0.40),
    "gpt-4.1-mini": Price(input=0.40, output=1.60),
    "gpt-4.1": Price(input=2.00, output=8.00),
    "gpt-3.5-turbo": Price(input=0.50, output=1.50),
    "o3-mini": Price(input=1.10, output=4.40),
    "o4-mini": Price(input=1.10, output=4.40),
}

# Field -> environment variable. ``api_key`` is read from the variable named by api_key_env.
ENV_VARS: dict[str, str] = {
    "model": "BRIEFER_MODEL",
    "base_url": "OPENAI_BASE_URL",
    "api_key_env": "BRIEFER_API_KEY_ENV",
    "concurrency": "BRIEFER_CONCURRENCY",
    "temperature": "BRIEFER_TEMPERATURE",
    "context_window": "BRIEFER_CONTEXT_WINDOW",
    "max_output_tokens": "BRIEFER_MAX_OUTPUT_TOKENS",
    "structured": "BRIEFER_STRUCTURED",
    "citation_schema": "BRIEFER_CITATION_SCHEMA",
    "timeout": "BRIEFER_TIMEOUT",
    "first_token_timeout": "BRIEFER_FIRST_TOKEN_TIMEOUT",
    "stall_timeout": "BRIEFER_STALL_TIMEOUT",
    "stream": "BRIEFER_STREAM",
    "max_retries": "BRIEFER_MAX_RETRIES",
    "retry_wait": "BRIEFER_RETRY_WAIT",
    "repair_rounds": "BRIEFER_REPAIR_ROUNDS",
    "single_call": "BRIEFER_SINGLE_CALL",
    "cache_dir": "BRIEFER_CACHE_DIR",
    "use_cache": "BRIEFER_CACHE",
    "record_path": "BRIEFER_RECORD",
    "replay_path": "BRIEFER_REPLAY",
    "trace_dir": "BRIEFER_TRACE",
    "prompts_dir": "BRIEFER_PROMPTS_DIR",
    "prompt_versions": "BRIEFER_PROMPT_VERSION",
}
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"

# The one grounded call's reply is the briefing plus the claims its bullets cite, each with a
# verbatim quote: a bullet word comes with its claims from every source that reports it, so
# the reply is budgeted generously per briefing word (plus the JSON around it).
BRIEF_TOKENS_PER_WORD = 16
BRIEF_REPLY_FIXED = 1_024


class Settings(BaseModel):
    """Everything the LLM engine needs, resolved once and passed down as an argument."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = "gpt-4o-mini"
    base_url: str | None = Field(default=None, repr=False)  # may hold user:password@
    api_key: SecretStr | None = None
    api_key_env: str = DEFAULT_API_KEY_ENV
    concurrency: int = Field(default=4, ge=1, le=64)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    context_window: int | None = Field(default=None, ge=512)
    max_output_tokens: int | None = Field(default=None, ge=16)
    structured: StructuredMode = "auto"
    citation_schema: CitationSchema = "auto"
    # Per call, sized for local models; time queued behind briefer's own calls never counts.
    timeout: float = Field(default=600.0, gt=0)  # the whole reply
    first_token_timeout: float = Field(default=300.0, gt=0)  # prompt processing included
    stall_timeout: float = Field(default=60.0, gt=0)  # between two tokens of a reply
    stream: bool = True  # stream replies, so a stalled server is seen at once
    max_retries: int = Field(default=4, ge=0)
    retry_wait: float = Field(default=1.0, ge=0)
    retry_max_wait: float = Field(default=60.0, ge=0)
    repair_rounds: int = Field(default=1, ge=0)
    single_call: bool = True
    cache_dir: Path = Field(default_factory=lambda: Path(user_cache_dir("briefer")) / "llm")
    use_cache: bool = True
    record_path: Path | None = None
    replay_path: Path | None = None
    trace_dir: Path | None = None
    prompts_dir: Path | None = None
    prompt_versions: dict[str, int] = Field(default_factory=dict)
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    origins: dict[str, str] = Field(default_factory=dict, repr=False)
    # Why the key was not loaded (a .env asked to send it somewhere the user did not choose).
    refused: str | None = None

    @field_validator("prompt_versions", mode="before")
    @classmethod
    def _parse_versions(cls, value: object) -> object:
        return parse_prompt_versions(value) if isinstance(value, str) else value

    @field_validator("base_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        # Checked here so a bad URL is one line naming its setting, never the URL (it may hold
        # a password) nor a traceback from the HTTP library.
        if value is None:
            return None
        try:
            parts = urlsplit(value.strip())
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number
        except ValueError:
            raise ValueError("is not a valid URL (check the host and port)") from None
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL, like http://localhost:11434/v1")
        return value.strip()

    @property
    def llm_enabled(self) -> bool:
        """Return whether an LLM is configured: an API key, a base URL or a cassette to replay.

        A refused key counts: the run must stop with ``refused`` rather than quietly work
        offline or call the server without the key the user expected to be used.
        """
        has_key = self.api_key is not None and bool(self.api_key.get_secret_value())
        configured = self.base_url is not None or self.replay_path is not None
        return has_key or configured or self.refused is not None

    @property
    def shown_base_url(self) -> str:
        """Return the server as it may be shown anywhere: credentials masked."""
        return mask_url(self.base_url) if self.base_url else "the OpenAI API"

    @property
    def schema_narrowing(self) -> CitationSchema:
        """Return the citation schema in force: ``auto`` resolved by whether a server is named."""
        if self.citation_schema != "auto":
            return self.citation_schema
        return "grammar" if self.base_url is not None else "ids"

    @property
    def model_info(self) -> ModelInfo:
        """Return the known limits of ``model``, with ``context_window`` applied."""
        info = lookup_model(self.model)
        if self.context_window is not None:
            info = info.model_copy(update={"context_window": self.context_window})
        return info


class Budgets(BaseModel):
    """Token budgets of one run, all derived from the model's context window."""

    model_config = ConfigDict(frozen=True)

    context_window: int
    output_tokens: int  # reserved for the reply of every call
    prompt_overhead: int  # reserved for the fixed template text of every call
    map_tokens: int  # source text per map call (also the chunker's chunk size)
    reduce_tokens: int  # claim text per reduce call
    brief_tokens: int  # reserved for the reply of the one grounded call (a one-page briefing)
    single_call_tokens: int  # source text one grounded call may hold (window - prompt - reply)


def parse_prompt_versions(text: object) -> dict[str, int]:
    """Return ``{name: version}`` from ``"map=2,reduce=1"``; a bare ``"2"`` means every template."""
    if not isinstance(text, str):
        raise ConfigError(f"prompt versions must be text like 'map=2', not {text!r}")
    versions: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, number = part.rpartition("=")
        try:
            versions[name.strip() or "*"] = int(number.lstrip("v"))
        except ValueError:
            raise ConfigError(
                f"cannot read prompt version {part!r}: write NAME=N (map=2) or a bare N"
            ) from None
    return versions


def lookup_model(model: str) -> ModelInfo:
    """Return what ``KNOWN_MODELS`` says about ``model`` (longest prefix match), else a default."""
    family = known_family(model)
    return KNOWN_MODELS[family] if family is not None else UNKNOWN_MODEL


def known_family(model: str) -> str | None:
    """Return the ``KNOWN_MODELS`` entry ``model`` belongs to (longest prefix), or None."""
    name = model.lower().rsplit("/", 1)[-1]  # "openai/gpt-4o" as some proxies spell it
    matches = [prefix for prefix in KNOWN_MODELS if name.startswith(prefix)]
    return max(matches, key=len) if matches else None


# Where a context window came from, as ``briefer config`` and the provenance say it.
_WINDOW_ORIGINS = {
    "flag": "flag (--context-window)",
    "environment": "environment (BRIEFER_CONTEXT_WINDOW)",
    ".env": ".env (BRIEFER_CONTEXT_WINDOW)",
}


def window_origin(settings: Settings) -> str:
    """Return where the context window of ``settings`` came from, in words.

    Given (flag, environment, .env), learnt from the server or from a cassette, the known
    models table, or only assumed.
    """
    origin = settings.origins.get("context_window")
    if settings.context_window is not None:
        return _WINDOW_ORIGINS.get(origin, origin) if origin else "context_window, set"
    family = known_family(settings.model)
    if family is not None:
        return f"known models table: {family}"
    return "assumed: model not in the known models table; set --context-window"


def lookup_price(settings: Settings) -> Price | None:
    """Return the price of ``settings.model`` (longest prefix match), or None when unknown."""
    name = settings.model.lower().rsplit("/", 1)[-1]
    matches = [prefix for prefix in settings.prices if name.startswith(prefix)]
    return settings.prices[max(matches, key=len)] if matches else None


def estimate_cost(settings: Settings, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Return the cost in US dollars of the given tokens, or None when the price is unknown."""
    price = lookup_price(settings)
    if price is None:
        return None
    return (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000


def budgets_for(
    settings: Settings,
    prompt_overhead: int = 1_024,
    max_words: int = LENGTH_WORDS[Length.standard],
) -> Budgets:
    """Return the token budgets of a run (briefings of ``max_words``) from the context window."""
    info = settings.model_info
    window = info.context_window
    output = min(settings.max_output_tokens or info.max_output, window // 4)
    room = window - output - prompt_overhead
    if room < 256:
        raise ConfigError(
            f"a context window of {window} tokens leaves no room for sources after the prompt "
            f"({prompt_overhead} tokens) and the reply ({output}): set --context-window higher"
        )
    # A map reply restates the facts of its input with verbatim quotes, so it runs about as
    # long as the input: a map call's input is held to the reply budget, or replies would be
    # cut off (finish_reason "length") and have to be redone in halves.
    # The one grounded call's reply is bounded by the briefing, not by its input, so that call
    # may fill the whole window but for its prompt and a one-page reply.
    brief = min(settings.max_output_tokens or info.max_output, brief_reply_tokens(max_words))
    return Budgets(
        context_window=window,
        output_tokens=output,
        prompt_overhead=prompt_overhead,
        map_tokens=min(room, output),
        reduce_tokens=room,
        brief_tokens=brief,
        single_call_tokens=max(0, window - prompt_overhead - brief),
    )


def brief_reply_tokens(max_words: int) -> int:
    """Return the reply budget of one grounded call writing a briefing of ``max_words`` words."""
    return max_words * BRIEF_TOKENS_PER_WORD + BRIEF_REPLY_FIXED


def load_settings(
    overrides: Mapping[str, object] | None = None,
    env_file: str | Path | None = ".env",
) -> Settings:
    """Return the effective settings: overrides (None = not given) > environment > .env > default.

    Raises:
        ConfigError: a value cannot be used; the message names it and where it came from.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(given) - set(Settings.model_fields) - {"origins", "refused"})
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    dotenv = _read_dotenv(env_file)
    values: dict[str, object] = {}
    origins: dict[str, str] = {}
    for name, variable in ENV_VARS.items():
        _resolve(name, variable, given, dotenv, values, origins)
    for name in set(given) - set(ENV_VARS):
        values[name], origins[name] = given[name], "flag"
    key_env = str(values.get("api_key_env") or DEFAULT_API_KEY_ENV)
    if "api_key" not in given:
        _resolve("api_key", key_env, given, dotenv, values, origins)
    refused = untrusted_pairing(origins, key_env, values.get("base_url"), env_file)
    if refused is not None:
        del values["api_key"]  # never held, so it cannot be sent by mistake
    try:
        return Settings.model_validate({**values, "origins": origins, "refused": refused})
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origins, key_env)) from None


def untrusted_pairing(
    origins: Mapping[str, str], key_env: str, base_url: object, env_file: str | Path | None
) -> str | None:
    """Return why a key from the environment must not be used as configured, or None.

    A key from the environment goes only to a server chosen by a flag, the environment or the
    default (the OpenAI API), and only from a variable the user chose; a key written in the
    ``.env`` itself may go wherever that ``.env`` says (it can only leak its own key).
    """
    if origins.get("api_key") != "environment":
        return None
    offline = "or run offline with --engine extractive"
    if origins.get("api_key_env") == ".env" and key_env != DEFAULT_API_KEY_ENV:
        return (
            f"{env_file} sets BRIEFER_API_KEY_ENV={key_env}, which would send that variable "
            f"from your environment as the API key; a .env file may not choose it. If you "
            f"meant it, pass --api-key-env {key_env} or export BRIEFER_API_KEY_ENV; else delete "
            f"the line, {offline}"
        )
    if origins.get("base_url") == ".env":
        server = mask_url(str(base_url))
        return (
            f"{env_file} sets OPENAI_BASE_URL={server}, which would receive the API key from "
            f"your environment ({key_env}); a .env file may not choose where that key goes. If "
            f"you trust the server, pass --base-url or export OPENAI_BASE_URL (or put its key in "
            f"the same .env); else delete the line, {offline}"
        )
    return None


def describe_settings(settings: Settings) -> list[tuple[str, str, str]]:
    """Return ``(name, value, origin)`` rows for ``briefer config``; the API key is masked."""
    rows: list[tuple[str, str, str]] = []
    for name in Settings.model_fields:
        if name in {"origins", "prices", "refused"}:
            continue
        value = getattr(settings, name)
        if name == "api_key":
            shown = "****** (set)" if value is not None else "(not set)"
            if settings.refused is not None:
                shown = "(refused: not used)"
            origin = settings.origins.get(name, "not set")
            if origin in {"environment", ".env"}:
                origin = f"{origin} ({settings.api_key_env})"
        else:
            shown = mask_url(value) if name == "base_url" and value else _show(value)
            origin = settings.origins.get(name, "default")
        rows.append((name, shown, origin))
    info, budgets = settings.model_info, budgets_for(settings)
    rows.append(("model context window", f"{info.context_window} tokens", window_origin(settings)))
    rows.append(("map tokens per call", str(budgets.map_tokens), "derived"))
    rows.append(("reduce tokens per call", str(budgets.reduce_tokens), "derived"))
    rows.append(("one-call reply tokens", str(budgets.brief_tokens), "derived, standard length"))
    rows.append(("one-call source tokens", str(budgets.single_call_tokens), "derived"))
    price = lookup_price(settings)
    shown_price = f"${price.input}/${price.output} per 1M in/out" if price else "unknown"
    rows.append(("price", shown_price, "prices table"))
    return rows


def _resolve(
    name: str,
    variable: str,
    given: Mapping[str, object],
    dotenv: Mapping[str, str | None],
    values: dict[str, object],
    origins: dict[str, str],
) -> None:
    if name in given:
        values[name], origins[name] = given[name], "flag"
    elif os.environ.get(variable, "") != "":
        values[name], origins[name] = os.environ[variable], "environment"
    elif dotenv.get(variable):
        values[name], origins[name] = dotenv[variable], ".env"


def _read_dotenv(env_file: str | Path | None) -> dict[str, str | None]:
    if env_file is None or not Path(env_file).is_file():
        return {}
    # Imported only when there is a file to read: python-dotenv and the logging it imports
    # cost 10 ms of every start-up otherwise.
    from dotenv import dotenv_values

    try:
        # No ${VAR} expansion: a value there must not be able to copy an environment variable.
        return dotenv_values(env_file, interpolate=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {env_file}: {exc}; fix or remove the file") from None


def _explain(exc: ValidationError, origins: Mapping[str, str], key_env: str) -> str:
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "settings"
        variable = key_env if name == "api_key" else ENV_VARS.get(name, name)
        origin = origins.get(name, "default")
        where = f"--{name.replace('_', '-')}" if origin == "flag" else f"{variable} ({origin})"
        # Never echo the rejected value: it may be the key.
        message = str(error["msg"])
        if error["type"] == "value_error":  # our own validators' words, as written
            message = message.removeprefix("Value error, ")
        problems.append(f"{where}: {message[:1].lower()}{message[1:]}")
    return "invalid setting " + "; ".join(problems) + "; fix the value and run again"


def _show(value: object) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "(defaults)"
    return str(value)
