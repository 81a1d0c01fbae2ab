"""The help a new user reads: no Python type names, no blank hints, every choice listed."""

from __future__ import annotations

import re
from typing import get_args

import pytest
from typer.testing import CliRunner

from briefer.cli import app
from briefer.config import StructuredMode, describe_settings, load_settings

runner = CliRunner()
COMMANDS = [[], ["brief"], ["verify"], ["config"], ["prompts"], ["check"], ["schema"]]


def _help(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "briefer")
def test_help_shows_no_python_type_names_or_empty_hints(command: list[str]) -> None:
    text = _help(*command)
    assert "--help" in text
    for artefact in ("<bool>", "<list[", "<str]", "<Path]"):
        assert artefact not in text
    assert not re.search(r"\w \.(?:\s|$)", text), "a hint vanished and left ' .' behind"


def test_llm_options_name_their_environment_variables() -> None:
    text = _help("brief")
    for hint in ("(env BRIEFER_MODEL)", "(env OPENAI_BASE_URL)", "env BRIEFER_API_KEY_ENV"):
        assert hint in text


def test_every_structured_mode_is_a_listed_choice() -> None:
    text = _help("brief")
    line = next(x for x in text.splitlines() if "--structured" in x)
    for mode in get_args(StructuredMode):
        assert mode in line
    rejected = runner.invoke(app, ["brief", "-", "--structured", "xml"], input="")
    assert rejected.exit_code == 2


def test_config_says_when_the_context_window_is_only_assumed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BRIEFER_CONTEXT_WINDOW", raising=False)

    def window(model: str) -> str:
        rows = describe_settings(load_settings({"model": model}, env_file=None))
        return next(origin for name, _, origin in rows if name == "model context window")

    assert window("gpt-4o-mini-2024-07-18") == "known models table: gpt-4o-mini"
    unknown = window("smollm2-135m-instruct")
    assert "known models table" in unknown and unknown.startswith("assumed: model not in")
    assert "--context-window" in unknown
