"""The command line as a user meets it: output, errors, exit codes, safe writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from briefer.cli import app
from briefer.models import Briefing
from briefer.render import render_json

ARTICLES = Path(__file__).parents[1] / "examples" / "istanbul-talks" / "articles"
runner = CliRunner()


def _run(*args: str, stdin: str | None = None, **env: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), input=stdin, env={"OPENAI_API_KEY": "", **env})


def test_brief_writes_markdown_and_says_which_engine_on_stderr() -> None:
    result = _run("brief", str(ARTICLES), "--length", "short")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("# ")
    assert "## Sources" in result.stdout
    assert "[1]" in result.stdout
    assert result.stderr.strip().splitlines()[0] == (
        "briefer: no API key configured; using the built-in offline extractive engine."
    )


def test_json_output_is_the_briefing_model_with_provenance() -> None:
    result = _run("brief", str(ARTICLES), "--format", "json", "--audience", "analyst")
    assert result.exit_code == 0, result.stderr
    briefing = Briefing.model_validate_json(result.stdout)
    assert briefing.provenance.engine == "extractive"
    assert briefing.provenance.parameters.audience == "analyst"
    assert briefing.bullets
    cited = {c.passage_id for b in briefing.bullets for c in b.citations}
    assert cited == {p.id for p in briefing.passages}


def test_html_output_escapes_and_links_sources(tmp_path: Path) -> None:
    story = tmp_path / "story.txt"
    story.write_text(
        "Talks <in Istanbul> end without a ceasefire\n\n"
        "Russian & Ukrainian delegates met in Istanbul on Monday for a second round of talks.\n"
        "The talks lasted just over an hour and ended without a ceasefire agreement.\n",
        encoding="utf-8",
    )
    result = _run("brief", str(story), "--format", "html", "--max-words", "60")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("<!doctype html>")
    assert 'href="#src1"' in result.stdout
    assert "Russian &amp; Ukrainian delegates" in result.stdout
    assert "&lt;in Istanbul&gt;" in result.stdout
    assert "<in Istanbul>" not in result.stdout


def test_stdin_is_read_with_dash() -> None:
    text = (ARTICLES / "003_5beee2cfb4e9681c.txt").read_text(encoding="utf-8")
    result = _run("brief", "-", "--max-words", "60", stdin=text)
    assert result.exit_code == 0, result.stderr
    assert "prisoners" in result.stdout or "ceasefire" in result.stdout


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda d: d / "missing.txt", "no such file"),
        (lambda d: _write(d / "empty.txt", b""), "empty"),
        (lambda d: _write(d / "blob.txt", bytes(range(256)) * 8), ""),
        (lambda d: _write(d / "table.csv", b"a,b\n1,2\n"), ".csv"),
    ],
)
def test_bad_input_is_one_line_naming_the_file(tmp_path: Path, make, problem: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    result = _run("brief", str(path))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and path.name in lines[0]
    assert problem in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_output_file_is_written_and_never_overwritten_unasked(tmp_path: Path) -> None:
    target = tmp_path / "brief.md"
    assert _run("brief", str(ARTICLES), "-o", str(target)).exit_code == 0
    first = target.read_text(encoding="utf-8")
    assert first.startswith("# ")
    target.write_text("my own notes", encoding="utf-8")
    result = _run("brief", str(ARTICLES), "-o", str(target))
    assert result.exit_code == 1
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert target.read_text(encoding="utf-8") == "my own notes"
    assert _run("brief", str(ARTICLES), "-o", str(target), "--force").exit_code == 0
    assert target.read_text(encoding="utf-8") == first
    assert [p.name for p in tmp_path.iterdir()] == ["brief.md"]  # no temp file left behind


def test_input_file_is_never_the_output(tmp_path: Path) -> None:
    article = tmp_path / "story.txt"
    original = (ARTICLES / "003_5beee2cfb4e9681c.txt").read_text(encoding="utf-8")
    article.write_text(original, encoding="utf-8")
    result = _run("brief", str(article), "-o", str(article), "--force")
    assert result.exit_code == 1
    assert "input" in result.stderr
    assert article.read_text(encoding="utf-8") == original


def test_length_and_max_words_together_is_a_usage_error() -> None:
    result = _run("brief", str(ARTICLES), "--length", "short", "--max-words", "100")
    assert result.exit_code == 2


def test_help_shows_worked_examples() -> None:
    for args in (["--help"], ["brief", "--help"], ["check", "--help"]):
        result = _run(*args)
        assert result.exit_code == 0
        assert "Example" in result.stdout and "briefer " in result.stdout


def test_schema_command_prints_the_json_schema() -> None:
    result = _run("schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "Briefing"
    assert "provenance" in schema["properties"]


def test_grounding_summary_is_printed_at_the_end_of_a_run() -> None:
    result = _run("brief", str(ARTICLES), "--length", "short")
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("briefer: grounding: ")
    assert "claims checked" in last


def test_show_rejected_appends_the_rejected_claims_with_reasons() -> None:
    # The replayed example's model replies are scripted test data with planted fabrications.
    case = ARTICLES.parents[1] / "istanbul-scripted-replay"
    args = [
        "brief",
        str(case / "articles"),
        "--replay",
        str(case / "cassette.jsonl"),
        "--model",
        "gpt-4o-mini",
        "--prompt-version",
        "brief=1,repair=1",  # the cassette answers these released versions, as case.toml pins
        "--audience",
        "analyst",
        "--no-cache",
    ]
    plain = _run(*args, BRIEFER_CITATION_SCHEMA="off")  # nor narrowed schemas
    assert plain.exit_code == 0, plain.stderr
    assert "## Rejected claims" not in plain.stdout
    shown = _run(*args, "--show-rejected", BRIEFER_CITATION_SCHEMA="off")
    assert shown.stdout.startswith(plain.stdout.rstrip("\n"))
    rejected = shown.stdout.split("## Rejected claims", 1)[1]
    assert "`quote_not_found`" in rejected
    assert "`number_not_in_evidence`" in rejected


def test_verify_passes_a_fresh_briefing_and_fails_an_edited_one(tmp_path: Path) -> None:
    path = tmp_path / "brief.json"
    assert _run("brief", str(ARTICLES), "--format", "json", "-o", str(path)).exit_code == 0
    ok = _run("verify", str(path), *[str(p) for p in sorted(ARTICLES.glob("*.txt"))])
    assert ok.exit_code == 0, ok.stdout
    briefing = Briefing.model_validate_json(path.read_text(encoding="utf-8"))
    target = next(b for b in briefing.bullets if "30-day" in b.text)
    path.write_text(render_json(_with_bullet_text(briefing, target.id, "30", "60")), "utf-8")
    broken = _run("verify", str(path))
    assert broken.exit_code == 3
    assert f"{target.id} failed" in broken.stdout
    assert "number_not_in_evidence" in broken.stdout


def _with_bullet_text(briefing: Briefing, bullet_id: str, old: str, new: str) -> Briefing:
    """Return ``briefing`` with one bullet's text edited by hand, as a user might."""
    sections = [
        s.model_copy(
            update={
                "bullets": [
                    b.model_copy(update={"text": b.text.replace(old, new)})
                    if b.id == bullet_id
                    else b
                    for b in s.bullets
                ]
            }
        )
        for s in briefing.sections
    ]
    return briefing.model_copy(update={"sections": sections})


def test_the_documented_schema_is_the_current_one() -> None:
    documented = (ARTICLES.parents[2] / "docs" / "briefing.schema.json").read_text(encoding="utf-8")
    assert _run("schema").stdout == documented, "run: briefer schema > docs/briefing.schema.json"


def test_a_single_report_is_not_marked_single_source_on_every_bullet() -> None:
    result = _run("brief", str(ARTICLES / "003_5beee2cfb4e9681c.txt"), "--length", "short")
    assert result.exit_code == 0, result.stderr
    bullets = [line for line in result.stdout.splitlines() if line.startswith("- ")]
    assert bullets
    assert not any("source)" in line or "sources)" in line for line in bullets)


def test_an_article_found_inside_a_directory_is_never_the_output(tmp_path: Path) -> None:
    article = tmp_path / "story.txt"
    original = (ARTICLES / "003_5beee2cfb4e9681c.txt").read_text(encoding="utf-8")
    article.write_text(original, encoding="utf-8")
    result = _run("brief", str(tmp_path), "-o", str(article), "--force")
    assert result.exit_code == 1
    assert "input" in result.stderr
    assert article.read_text(encoding="utf-8") == original


def test_a_directory_is_not_an_output_file(tmp_path: Path) -> None:
    result = _run("brief", str(ARTICLES), "-o", str(tmp_path))
    assert result.exit_code == 1
    assert "is a directory" in result.stderr


def test_skip_unreadable_leaves_out_bad_files_with_a_warning(tmp_path: Path) -> None:
    story = (ARTICLES / "003_5beee2cfb4e9681c.txt").read_bytes()
    _write(tmp_path / "a-story.txt", story)
    _write(tmp_path / "b-empty.html", b"<html><body><nav>Home</nav></body></html>")
    _write(tmp_path / "c-blob.txt", bytes(range(256)) * 8)
    strict = _run("brief", str(tmp_path), "--max-words", "60")
    assert strict.exit_code == 1 and "b-empty.html" in strict.stderr
    result = _run("brief", str(tmp_path), "--max-words", "60", "--skip-unreadable")
    assert result.exit_code == 0, result.stderr
    skipped = [line for line in result.stderr.splitlines() if line.startswith("briefer: skipped")]
    assert len(skipped) == 2
    assert "b-empty.html" in skipped[0] and "c-blob.txt" in skipped[1]
    assert "1 sources" in result.stdout or "1 source" in result.stdout
    assert "a-story.txt" in result.stdout and "b-empty" not in result.stdout


def test_skip_unreadable_still_fails_when_nothing_is_left(tmp_path: Path) -> None:
    _write(tmp_path / "empty.txt", b"")
    result = _run("brief", str(tmp_path), "--skip-unreadable")
    assert result.exit_code == 1
    assert "no file holds readable article text" in result.stderr
    assert "Traceback" not in result.stderr


def test_skip_unreadable_never_skips_a_path_that_does_not_exist(tmp_path: Path) -> None:
    result = _run("brief", str(ARTICLES), str(tmp_path / "typo.txt"), "--skip-unreadable")
    assert result.exit_code == 1
    assert "typo.txt: no such file or directory" in result.stderr


def test_progress_display_chooses_plain_lines_off_a_terminal_and_counts_per_stage() -> None:
    import io

    from briefer.progress import LineProgress, stage_of

    stream = io.StringIO()
    progress = LineProgress(stream)
    progress.expect("map", 2)
    progress.call_done("map S1.C1", 100)
    progress.call_done("map S1.C1 re-ask", 50)  # a re-ask counts as a call of its stage
    progress.expect("map", 1)  # a stream of chunks plans more; no second "started" line
    progress.call_done("map S2.C1", 10)
    progress.expect("reduce", 1)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "briefer: map: started (2 calls)"
    assert lines[1].startswith("briefer: map 1/2 calls, 100 tokens, ")
    assert lines[2].startswith("briefer: map 2/2 calls, 150 tokens, ")
    assert lines[3].startswith("briefer: map 3/3 calls, 160 tokens, ")
    assert lines[4] == "briefer: reduce: started (1 call)"
    assert len(lines) == 5
    assert stage_of("reduce level 1 part 2") == "reduce"
