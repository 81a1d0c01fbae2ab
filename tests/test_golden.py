"""Golden examples: `briefer check` passes on the bundled goldens and catches drift."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from briefer.cli import app

EXAMPLES = Path(__file__).parents[1] / "examples"
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
