"""Shared fixtures. The fake OpenAI server runs once per test session on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from briefer.config import Settings

SettingsFactory = Callable[..., Settings]

TEST_KEY = "sk-test-do-not-log-0123456789"


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """Return the session's fake OpenAI-compatible server."""
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """Return the fake server with no scripted replies and no recorded requests."""
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.reset()


@pytest.fixture
def llm_settings(fake_openai: FakeOpenAI, tmp_path: Path) -> SettingsFactory:
    """Return a factory of settings pointing at the fake server, with no waits and no cache."""

    def make(**changes: object) -> Settings:
        values: dict[str, object] = {
            "base_url": fake_openai.url,
            "api_key": TEST_KEY,
            "timeout": 5.0,
            "max_retries": 2,
            "retry_wait": 0.0,
            "retry_max_wait": 0.0,
            "use_cache": False,
            "cache_dir": tmp_path / "cache",
            "concurrency": 1,
        }
        values.update(changes)
        return Settings.model_validate(values)

    return make
