"""Golden examples: `briefer check` passes on the bundled goldens and catches drift."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from briefer.cli import app
from briefer.models import Briefing

EXAMPLES = Path(__file__).parents[1] / "examples"
REPLAY = EXAMPLES / "istanbul-scripted-replay"
runner = CliRunner()


def test_bundled_goldens_have_not_drifted() -> None:
    result = runner.invoke(app, ["check", str(EXAMPLES)])
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert all(line.startswith("ok") for line in lines[:-1])
    assert lines[-1].endswith(" 0 failed")
    assert len(lines) >= 4  # short/executive, long/analyst and more


def test_check_reports_drift_with_a_diff_and_update_rewrites(tmp_path: Path) -> None:
    case = tmp_path / "istanbul-talks"
    shutil.copytree(EXAMPLES / "istanbul-talks", case)
    golden = case / "golden" / "short-executive.md"
    good = golden.read_text(encoding="utf-8")
    golden.write_text(good.replace("## Sources", "## Sourcez"), encoding="utf-8")

    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "drift    istanbul-talks/short-executive" in result.stdout
    assert "-## Sourcez" in result.stdout and "+## Sources" in result.stdout

    result = runner.invoke(app, ["check", str(tmp_path), "--update"])
    assert result.exit_code == 0
    assert golden.read_text(encoding="utf-8") == good
    assert runner.invoke(app, ["check", str(tmp_path)]).exit_code == 0


def test_check_without_examples_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "no golden examples" in result.stderr


def test_replayed_example_rejects_its_scripted_fabrications_with_reasons(tmp_path: Path) -> None:
    cassette = REPLAY / "cassette.jsonl"
    lines = cassette.read_text(encoding="utf-8").splitlines()
    assert lines and all(json.loads(line)["scripted"] is True for line in lines)

    args = ["brief", str(REPLAY / "articles"), "--replay", str(cassette), "--model", "gpt-4o-mini"]
    # What the cassette answers, as case.toml pins: released prompts, the generic schema.
    args += ["--prompt-version", "brief=1,repair=1"]
    result = runner.invoke(
        app,
        [*args, "--audience", "analyst", "--format", "json"],
        env={
            "BRIEFER_CACHE_DIR": str(tmp_path),
            "OPENAI_BASE_URL": "",
            "OPENAI_API_KEY": "",
            "BRIEFER_CITATION_SCHEMA": "off",
        },
    )
    assert result.exit_code == 0, result.stderr
    briefing = Briefing.model_validate_json(result.stdout)
    codes = {reason.code for r in briefing.rejected for reason in r.reasons}
    assert {"quote_not_found", "number_not_in_evidence", "unknown_claim"} <= codes
    rejected_ids = {r.claim.id for r in briefing.rejected}
    passages = {p.id: p.text for p in briefing.passages}
    for bullet in briefing.bullets:
        assert not set(bullet.claim_ids) & rejected_ids
        assert all(c.quote in passages[c.passage_id] for c in bullet.citations)
    # The CLI replays what the golden holds.
    golden = Briefing.model_validate_json((REPLAY / "golden" / "standard-analyst.json").read_text())
    assert briefing.rejected == golden.rejected
    assert briefing.sections == golden.sections


def test_a_replay_case_without_a_cassette_is_a_clear_error(tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(REPLAY, case)
    toml = (case / "case.toml").read_text(encoding="utf-8")
    (case / "case.toml").write_text(toml.replace('cassette = "cassette.jsonl"\n', ""))
    result = runner.invoke(app, ["check", str(case)])
    assert result.exit_code == 1
    assert "the llm-replay engine needs a cassette" in result.stderr
