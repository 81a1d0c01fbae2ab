"""Start-up: the offline path imports only what it uses (issue 9).

Each command runs in a fresh interpreter, the way a user starts briefer, and reports which
modules it imported; an import left at a module's top would show up here.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import briefer

EXAMPLE = Path(__file__).parents[1] / "examples" / "istanbul-talks"
# Run one command of the CLI in this interpreter, then print the names of the modules loaded.
_PROBE = """
import sys
from briefer.cli import app
sys.argv = ["briefer", *sys.argv[1:]]
try:
    app()
except SystemExit as stop:
    code = stop.code
print("\\nMODULES " + " ".join(sorted(sys.modules)), file=sys.stderr)
"""
# Loaded only when a model is configured (or by no command at all).
_MODEL_ONLY = ("openai", "briefer.engines.llm", "sklearn", "scipy")


def _modules_after(*args: str, cwd: Path) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BRIEFER_"))}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )
    marker = result.stderr.rfind("MODULES ")
    assert marker >= 0, result.stderr
    return set(result.stderr[marker + len("MODULES ") :].split())


def _model_only(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in _MODEL_ONLY or m in _MODEL_ONLY)


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("brief", str(EXAMPLE / "articles")),
        ("brief", str(EXAMPLE / "articles"), "--format", "html"),
        ("check", str(EXAMPLE)),
        ("schema",),
    ],
    ids=["help", "brief", "brief-html", "check", "schema"],
)
def test_the_offline_path_imports_neither_the_llm_engine_nor_openai(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    modules = _modules_after(*args, cwd=tmp_path)
    assert "briefer.cli" in modules
    assert _model_only(modules) == []
    assert not [m for m in modules if m.startswith("briefer.engines.llm")]


def test_verify_without_a_model_imports_neither_the_llm_engine_nor_openai(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from briefer.cli import app

    brief = tmp_path / "brief.json"
    made = CliRunner().invoke(
        app,
        ["brief", str(EXAMPLE / "articles"), "--format", "json", "-o", str(brief)],
        env={"OPENAI_API_KEY": ""},
    )
    assert made.exit_code == 0, made.stderr
    assert json.loads(brief.read_text(encoding="utf-8"))["sections"]
    modules = _modules_after("verify", str(brief), cwd=tmp_path)
    assert "briefer.verify" in modules
    assert _model_only(modules) == []


def test_help_builds_no_pydantic_model(tmp_path: Path) -> None:
    modules = _modules_after("--help", cwd=tmp_path)
    assert "briefer.models" not in modules
    assert "pydantic" not in modules


def test_import_briefer_looks_up_no_package_metadata_and_the_version_is_true() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys, briefer; print('importlib.metadata' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"
    assert briefer.__version__ == importlib.metadata.version("briefer")


def test_briefing_the_five_seed_articles_imports_only_what_it_uses(tmp_path: Path) -> None:
    modules = _modules_after("brief", str(EXAMPLE / "articles"), cwd=tmp_path)
    assert "briefer.tokens" in modules
    # Their few hundred texts are counted by tokens.PythonBpe (the same counts, checked in
    # tests/test_tokens.py); building tiktoken's encoder would cost 0.2-0.3 s of CPU.
    assert not [m for m in modules if m.split(".")[0] == "tiktoken"]
    # UTF-8 files need no charset detection; with no .env file there is nothing to parse.
    assert not [m for m in modules if m.split(".")[0] in ("charset_normalizer", "dotenv")]


_HELP_PROBE = """
import sys
if sys.argv[1] == "typer-first":
    import typer.rich_utils  # typer's help module as typer imports it, nothing stood in
from briefer.cli import app
sys.argv = ["briefer", *sys.argv[2:], "--help"]
try:
    app()
except SystemExit:
    pass
"""


@pytest.mark.parametrize("command", [[], ["brief"], ["verify"]], ids=["briefer", "brief", "verify"])
def test_help_is_the_same_without_rich_markdown_and_traceback(
    command: list[str], tmp_path: Path
) -> None:
    def help_text(order: str) -> str:
        env = {**os.environ, "COLUMNS": "120", "FORCE_COLOR": "1"}
        return subprocess.run(
            [sys.executable, "-c", _HELP_PROBE, order, *command],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            check=True,
        ).stdout

    ours = help_text("briefer-first")
    assert "\x1b[" in ours and "Show this message and exit." in ours
    assert ours == help_text("typer-first")
    modules = _modules_after(*command, "--help", cwd=tmp_path)
    assert "typer.rich_utils" in modules
    left = {"rich.markdown", "rich.traceback", "rich.syntax", "markdown_it", "pygments"} & modules
    assert left == set()


def test_the_help_stand_ins_load_the_real_rich_classes_when_used() -> None:
    probe = """
import sys
from briefer.cli import _import_help_renderer
_import_help_renderer()
import typer.rich_utils as help_module
assert "rich.markdown" not in sys.modules and "rich.traceback" not in sys.modules
import rich.markdown, rich.traceback
assert type(help_module.Markdown("# title")) is rich.markdown.Markdown
try:
    raise ValueError("boom")
except ValueError as error:
    shown = help_module.Traceback.from_exception(type(error), error, error.__traceback__)
assert type(shown) is rich.traceback.Traceback
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_help_without_typers_rich_help_module_leaves_no_stand_in_behind() -> None:
    probe = """
import sys

class NoRichHelp:
    def find_spec(self, name, path=None, target=None):
        if name == "typer.rich_utils":
            raise ImportError("no rich help here")
        return None

sys.meta_path.insert(0, NoRichHelp())
from briefer.cli import _import_help_renderer
_import_help_renderer()
assert "rich.markdown" not in sys.modules and "rich.traceback" not in sys.modules
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_the_cli_collects_as_usual_once_a_briefs_stages_are_imported(tmp_path: Path) -> None:
    probe = """
import gc, sys
default = gc.get_threshold()
from briefer.cli import main
sys.argv = ["briefer", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("GC", gc.get_threshold() == default, gc.get_freeze_count() > 0, file=sys.stderr)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BRIEFER_"))}
    result = subprocess.run(
        [sys.executable, "-c", probe, "brief", str(EXAMPLE / "articles")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert result.stderr.splitlines()[-1] == "GC True True", result.stderr
    assert result.stdout.startswith("# ")


def test_running_the_app_in_another_process_leaves_its_collector_alone() -> None:
    import gc

    from typer.testing import CliRunner

    from briefer.cli import app

    before = (gc.get_threshold(), gc.get_freeze_count())
    result = CliRunner().invoke(
        app, ["brief", str(EXAMPLE / "articles")], env={"OPENAI_API_KEY": ""}
    )
    assert result.exit_code == 0, result.stderr
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
