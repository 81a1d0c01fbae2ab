"""The CLI against the fake OpenAI-compatible server on loopback (real client, real HTTP).

The model's replies here come from ``echo_model``: scripted test data, not a real model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import TEST_KEY
from fake_openai import FakeOpenAI, Reply, echo_model
from typer.testing import CliRunner

from briefer.cli import app
from briefer.models import Briefing

ARTICLES = Path(__file__).parents[1] / "examples" / "istanbul-talks" / "articles"
runner = CliRunner()


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": TEST_KEY,
        "BRIEFER_CACHE_DIR": str(tmp_path / "cache"),
        "BRIEFER_RETRY_WAIT": "0",
        "BRIEFER_MAX_RETRIES": "1",
    }


def test_brief_with_a_model_server_cites_and_reports_usage(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.responder = echo_model
    args = ["brief", str(ARTICLES), "--base-url", fake_openai.url, "--model", "gpt-4o-mini"]
    result = runner.invoke(app, [*args, "--format", "json"], env=_env(tmp_path))
    assert result.exit_code == 0, result.stderr
    briefing = Briefing.model_validate_json(result.stdout)
    assert briefing.provenance.engine == "llm"
    assert briefing.provenance.model == "gpt-4o-mini"
    assert {p.name for p in briefing.provenance.prompts} >= {"brief"}
    assert briefing.bullets
    passages = {p.id: p for p in briefing.passages}
    for bullet in briefing.bullets:
        for citation in bullet.citations:
            assert citation.quote.lower() in passages[citation.passage_id].text.lower()
    assert fake_openai.requests, "the client never reached the server"
    assert "model calls" in result.stderr
    assert TEST_KEY not in result.stdout + result.stderr

    # A second run is served from the cache: no new request reaches the server.
    served = len(fake_openai.requests)
    again = runner.invoke(app, [*args, "--format", "json"], env=_env(tmp_path))
    assert again.exit_code == 0, again.stderr
    assert len(fake_openai.requests) == served
    assert Briefing.model_validate_json(again.stdout).bullets == briefing.bullets


def test_wrong_key_is_one_clear_line(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(Reply.fail(401, "invalid api key"))
    result = runner.invoke(
        app,
        ["brief", str(ARTICLES), "--base-url", fake_openai.url, "--no-cache"],
        env=_env(tmp_path),
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: authentication failed")
    assert "OPENAI_API_KEY" in lines[-1]
    assert TEST_KEY not in result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_calls_nothing(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["brief", str(ARTICLES), "--base-url", fake_openai.url, "--dry-run"],
        env=_env(tmp_path),
    )
    assert result.exit_code == 0, result.stderr
    assert "calls" in result.stdout and "tokens in" in result.stdout
    assert fake_openai.requests == []


def test_forcing_the_llm_without_a_key_says_how_to_fix_it(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["brief", str(ARTICLES), "--engine", "llm"], env={"OPENAI_API_KEY": ""}
    )
    assert result.exit_code == 1
    assert "no API key found. Set OPENAI_API_KEY" in result.stderr


def test_config_masks_the_key(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config"], env=_env(tmp_path))
    assert result.exit_code == 0
    assert "api_key" in result.stdout
    assert TEST_KEY not in result.stdout


def _refuse_first_bullet(request: dict[str, Any]) -> Reply:
    """Scripted test data: echo_model for briefing calls; at verify, refuse the first bullet."""
    schema = (request.get("response_format") or {}).get("json_schema", {})
    if schema.get("name") != "VerifyOutput":
        return echo_model(request)
    user = str(request["messages"][-1]["content"])
    ids = [line.split(" ", 1)[0] for line in user.splitlines() if line.startswith("B")]
    verdicts = [
        {"id": bid, "supported": n > 0, "reason": "" if n else "The evidence says no such thing."}
        for n, bid in enumerate(ids)
    ]
    return Reply.json({"verdicts": verdicts})


def test_verify_llm_drops_what_the_model_judges_unsupported(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.responder = _refuse_first_bullet
    base = ["brief", str(ARTICLES), "--base-url", fake_openai.url, "--format", "json"]
    plain = Briefing.model_validate_json(runner.invoke(app, base, env=_env(tmp_path)).stdout)
    result = runner.invoke(app, [*base, "--verify", "llm", "--no-cache"], env=_env(tmp_path))
    assert result.exit_code == 0, result.stderr
    checked = Briefing.model_validate_json(result.stdout)
    assert [b.text for b in checked.bullets] == [b.text for b in plain.bullets][1:]
    refused = [r for r in checked.rejected if r.stage == "verify"]
    assert [r.claim.text for r in refused] == [plain.bullets[0].text]
    assert refused[0].reasons[0].code == "llm_unsupported"
    assert checked.grounding is not None
    assert len(checked.grounding.verdicts) == len(plain.bullets)
    assert "grounding:" in result.stderr


def test_verify_llm_without_a_model_is_a_clear_error() -> None:
    result = runner.invoke(
        app, ["brief", str(ARTICLES), "--verify", "llm"], env={"OPENAI_API_KEY": ""}
    )
    assert result.exit_code == 1
    assert "--verify llm needs a model" in result.stderr


def test_record_never_overwrites_an_existing_file_unasked(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.responder = echo_model
    cassette = tmp_path / "run.jsonl"
    cassette.write_text("my notes\n", encoding="utf-8")
    args = ["brief", str(ARTICLES), "--base-url", fake_openai.url, "--record", str(cassette)]
    refused = runner.invoke(app, args, env=_env(tmp_path))
    assert refused.exit_code == 1
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert cassette.read_text(encoding="utf-8") == "my notes\n"
    assert fake_openai.requests == []
    recorded = runner.invoke(app, [*args, "--force", "--no-cache"], env=_env(tmp_path))
    assert recorded.exit_code == 0, recorded.stderr
    assert cassette.read_text(encoding="utf-8").startswith("{")


def test_progress_goes_to_stderr_as_plain_lines_and_stdout_holds_only_the_briefing(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.responder = echo_model
    args = ["brief", str(ARTICLES), "--base-url", fake_openai.url, "--model", "llama3"]
    # Map-reduce, whose stages each report progress (llama3's window holds the five articles
    # in one grounded call).
    env = _env(tmp_path) | {"BRIEFER_SINGLE_CALL": "false"}
    result = runner.invoke(app, [*args, "--format", "json"], env=env)
    assert result.exit_code == 0, result.stderr
    Briefing.model_validate_json(result.stdout)  # stdout is the briefing and nothing else
    lines = result.stderr.splitlines()
    assert lines[0].startswith("briefer: map: started (")
    map_lines = [line for line in lines if line.startswith("briefer: map ")]
    n_map = sum(1 for r in fake_openai.requests if "MapOutput" in str(r.get("response_format")))
    assert n_map > 1 and len(map_lines) == n_map
    done, total = map_lines[-1].split()[2].split("/")
    assert done == total == str(n_map)
    assert map_lines[-1].endswith(" s") and " tokens, " in map_lines[-1]
    assert any(line.startswith("briefer: reduce: started (1 call)") for line in lines)
    assert any(line.startswith("briefer: reduce 1/1 calls") for line in lines)
    assert "\x1b[" not in result.stderr  # no terminal control codes off a terminal
