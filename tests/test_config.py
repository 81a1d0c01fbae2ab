"""Tests for briefer.config: precedence, secrets, model-derived budgets, cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from briefer.config import (
    UNKNOWN_MODEL,
    Settings,
    budgets_for,
    describe_settings,
    estimate_cost,
    load_settings,
    lookup_model,
    parse_prompt_versions,
)
from briefer.errors import ConfigError

SECRET = "sk-proj-secret-value-123456"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove every variable briefer reads, so the developer's shell cannot leak in."""
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "BRIEFER_MODEL",
        "BRIEFER_CONCURRENCY",
        "BRIEFER_API_KEY_ENV",
        "BRIEFER_CONTEXT_WINDOW",
        "BRIEFER_TEMPERATURE",
        "BRIEFER_PROMPT_VERSION",
        "BRIEFER_CACHE",
        "OTHER_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_without_env_or_dotenv(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = load_settings(env_file=tmp_path / "missing.env")
    assert settings.model == "gpt-4o-mini"
    assert settings.concurrency == 4
    assert settings.temperature == 0
    assert settings.repair_rounds == 1
    assert settings.api_key is None
    assert settings.llm_enabled is False
    assert settings.origins == {}


def test_precedence_flag_over_env_over_dotenv(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "BRIEFER_MODEL=from-dotenv\nBRIEFER_CONCURRENCY=2\nBRIEFER_TEMPERATURE=0.5\n",
        encoding="utf-8",
    )
    clean_env.setenv("BRIEFER_MODEL", "from-env")
    clean_env.setenv("BRIEFER_CONCURRENCY", "3")
    settings = load_settings({"model": "from-flag", "concurrency": None}, env_file=dotenv)
    assert settings.model == "from-flag"  # flag beats environment
    assert settings.concurrency == 3  # None means the flag was not given: environment wins
    assert settings.temperature == 0.5  # only in .env
    assert settings.origins == {
        "model": "flag",
        "concurrency": "environment",
        "temperature": ".env",
    }


def test_dotenv_is_not_copied_into_the_environment(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import os

    dotenv = tmp_path / ".env"
    dotenv.write_text(f"OPENAI_API_KEY={SECRET}\n", encoding="utf-8")
    settings = load_settings(env_file=dotenv)
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == SECRET
    assert "OPENAI_API_KEY" not in os.environ


def test_api_key_is_read_from_the_named_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", "sk-wrong")
    clean_env.setenv("OTHER_KEY", SECRET)
    settings = load_settings({"api_key_env": "OTHER_KEY"}, env_file=None)
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == SECRET
    assert settings.llm_enabled is True


def test_base_url_alone_enables_the_llm(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    assert load_settings(env_file=None).llm_enabled is True


def test_secret_never_in_repr_str_or_description(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", SECRET)
    settings = load_settings(env_file=None)
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    rows = describe_settings(settings)
    assert all(SECRET not in cell for row in rows for cell in row)
    key_row = next(r for r in rows if r[0] == "api_key")
    assert key_row == ("api_key", "****** (set)", "environment (OPENAI_API_KEY)")


def test_description_shows_where_each_value_came_from(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BRIEFER_CONCURRENCY", "8")
    rows = {r[0]: r for r in describe_settings(load_settings({"model": "gpt-4o"}, env_file=None))}
    assert rows["model"] == ("model", "gpt-4o", "flag")
    assert rows["concurrency"] == ("concurrency", "8", "environment")
    assert rows["temperature"] == ("temperature", "0.0", "default")
    assert rows["model context window"][1] == "128000 tokens"


def test_invalid_value_names_its_variable_without_echoing_it(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BRIEFER_CONCURRENCY", "lots")
    with pytest.raises(ConfigError, match=r"BRIEFER_CONCURRENCY \(environment\)"):
        load_settings(env_file=None)


def test_invalid_flag_is_named_as_a_flag(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="--concurrency"):
        load_settings({"concurrency": 0}, env_file=None)


def test_unknown_override_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({"modle": "gpt-4o"}, env_file=None)


def test_prompt_versions_parse() -> None:
    assert parse_prompt_versions("map=2, reduce=v1") == {"map": 2, "reduce": 1}
    assert parse_prompt_versions("2") == {"*": 2}
    with pytest.raises(ConfigError, match="NAME=N"):
        parse_prompt_versions("map=two")


def test_prompt_versions_from_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BRIEFER_PROMPT_VERSION", "map=2")
    assert load_settings(env_file=None).prompt_versions == {"map": 2}


def test_known_models_match_by_longest_prefix() -> None:
    assert lookup_model("gpt-4o-mini-2024-07-18").context_window == 128_000
    assert lookup_model("gpt-4.1-mini").context_window == 1_047_576
    assert lookup_model("openai/gpt-4o").max_output == 16_384
    assert lookup_model("llama3.1:8b").context_window == 8_192
    assert lookup_model("some-local-model") == UNKNOWN_MODEL


def test_budgets_follow_the_context_window() -> None:
    small = budgets_for(Settings(model="llama3.1:8b"))
    large = budgets_for(Settings(model="gpt-4o-mini"))
    assert small.map_tokens < large.map_tokens
    assert small.reduce_tokens < large.reduce_tokens
    for budgets in (small, large):
        used = budgets.map_tokens + budgets.output_tokens + budgets.prompt_overhead
        assert used <= budgets.context_window


def test_one_call_budget_leaves_room_for_a_one_page_reply() -> None:
    settings = Settings(model="gpt-4o-mini")
    standard, long = budgets_for(settings, 900), budgets_for(settings, 900, max_words=500)
    assert standard.brief_tokens < long.brief_tokens <= lookup_model("gpt-4o-mini").max_output
    for budgets in (standard, long):
        # One grounded call may hold far more than a map call: its reply is not its input.
        assert budgets.single_call_tokens > 4 * budgets.map_tokens
        used = budgets.single_call_tokens + budgets.brief_tokens + budgets.prompt_overhead
        assert used == budgets.context_window
    capped = budgets_for(Settings(model="gpt-4o-mini", max_output_tokens=1000), 900)
    assert capped.brief_tokens == 1000
    rows = {r[0]: r[1] for r in describe_settings(settings)}
    assert rows["one-call source tokens"] == str(budgets_for(settings).single_call_tokens)


def test_context_window_override_changes_budgets(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BRIEFER_CONTEXT_WINDOW", "4096")
    settings = load_settings({"model": "gpt-4o-mini"}, env_file=None)
    budgets = budgets_for(settings)
    assert budgets.context_window == 4096
    assert budgets.map_tokens + budgets.output_tokens + budgets.prompt_overhead <= 4096


def test_cost_uses_the_price_table() -> None:
    settings = Settings(model="gpt-4o-mini-2024-07-18")
    assert estimate_cost(settings, 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert estimate_cost(Settings(model="llama3.1:8b"), 1000, 1000) is None
