"""Tests for briefer.engines.llm.prompts and the released prompt lock."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from briefer.engines.llm.prompts import (
    DEFAULT_VERSIONS,
    bundled_prompts_dir,
    describe_prompts,
    list_prompts,
    load_prompt,
    read_template,
    render_prompt,
)
from briefer.errors import PromptError

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"

TEMPLATE = """---
name: greet
version: 1
description: A test template.
---
[system]
You summarise news for $audience.
[user]
Passages:
$passages
Costs are in $$ (US dollars).
"""


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_released_prompts_match_the_lock() -> None:
    """A released template is never edited: add a new version instead."""
    lock = json.loads((PROMPTS / "LOCK.json").read_text(encoding="utf-8"))
    for name, digest in lock.items():
        actual = hashlib.sha256((PROMPTS / name).read_bytes()).hexdigest()
        assert actual == digest, f"{name} was edited after release: add a new version instead"


def test_every_prompt_file_is_locked() -> None:
    lock = json.loads((PROMPTS / "LOCK.json").read_text(encoding="utf-8"))
    unlocked = sorted(p.name for p in PROMPTS.glob("*.md") if p.name not in lock)
    assert not unlocked, f"add the sha256 of {unlocked} to prompts/LOCK.json when releasing"


def test_bundled_templates_load_with_headers() -> None:
    # Editable installs read the checkout's prompts/; a wheel ships the same files as
    # briefer/_prompts. Either way the bundled files are byte-identical to the checkout's.
    bundled = bundled_prompts_dir()
    shipped = {p.name: p.read_bytes() for p in bundled.glob("*.md")}
    assert shipped == {p.name: p.read_bytes() for p in PROMPTS.glob("*.md")}
    names = {(t.name, t.version) for t in list_prompts()}
    assert {(n, v) for n, v in DEFAULT_VERSIONS.items()} <= names
    for template in list_prompts():
        assert template.description
        assert template.ref.sha256 == hashlib.sha256(template.path.read_bytes()).hexdigest()


def test_render_substitutes_and_splits_roles(tmp_path: Path) -> None:
    template = read_template(_write(tmp_path, "greet.v1.md", TEMPLATE))
    messages = render_prompt(
        template, {"audience": "executives", "passages": "[S1.P1] Talks cost $5."}
    )
    assert messages == [
        {"role": "system", "content": "You summarise news for executives."},
        {
            "role": "user",
            "content": "Passages:\n[S1.P1] Talks cost $5.\nCosts are in $ (US dollars).",
        },
    ]


def test_missing_variables_are_all_listed(tmp_path: Path) -> None:
    template = read_template(_write(tmp_path, "greet.v1.md", TEMPLATE))
    with pytest.raises(PromptError, match="needs audience, passages"):
        render_prompt(template, {})


def test_unknown_template_and_version(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="unknown prompt template 'summarise'"):
        load_prompt("summarise")
    with pytest.raises(PromptError, match="no version 9"):
        load_prompt("map", 9)


def test_user_directory_overrides_and_adds_versions(tmp_path: Path) -> None:
    default = DEFAULT_VERSIONS["map"]
    bundled = (PROMPTS / f"map.v{default}.md").read_text(encoding="utf-8")
    _write(tmp_path, f"map.v{default}.md", bundled.replace("[user]", "[user]\nOverridden."))
    _write(tmp_path, "map.v8.md", bundled.replace(f"version: {default}", "version: 8"))
    overridden = load_prompt("map", None, tmp_path)
    assert overridden.path == tmp_path / f"map.v{default}.md"
    assert overridden.sha256 != load_prompt("map").sha256
    assert load_prompt("map", 8, tmp_path).version == 8


def test_header_must_match_the_file_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "greet.v2.md", TEMPLATE)
    with pytest.raises(PromptError, match="file name does not match"):
        read_template(path)


def test_missing_front_matter_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "greet.v1.md", "[user]\nHello $name\n")
    with pytest.raises(PromptError, match="front-matter"):
        read_template(path)


def test_missing_user_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="does not exist"):
        list_prompts(tmp_path / "nope")


def test_bundled_templates_render_with_the_engine_variables() -> None:
    variables = {
        "audience": "analyst",
        "audience_guidance": "Analysts: figures.",
        "passages": "[S1.P1] The talks began late.",
        "sources": "S1: Talks",
        "claims": "K1 [S1] The talks began late.",
        "claims_by_source": "[S1] Talks\nK1 The talks began late.",
        "scope": "These are all the claims.",
        "max_words": 120,
    }
    for name in DEFAULT_VERSIONS:
        messages = render_prompt(load_prompt(name), variables)
        assert [m["role"] for m in messages] == ["system", "user"]
        assert "$" not in "".join(m["content"] for m in messages)


def test_describe_prompts_marks_default_selected_and_user(tmp_path: Path) -> None:
    bundled = (PROMPTS / "reduce.v1.md").read_text(encoding="utf-8")
    _write(tmp_path, "reduce.v8.md", bundled.replace("version: 1", "version: 8"))
    rows = {(r[0], r[1]): r for r in describe_prompts(tmp_path, {"reduce": 8})}
    map_default = f"v{DEFAULT_VERSIONS['map']}"
    assert rows[("map", map_default)][2] == "default"
    assert rows[("map", "v1")][2] == ""
    assert rows[("reduce", "v1")][2] == ""
    assert rows[("reduce", "v8")][2] == "selected (user)"
    assert (
        rows[("map", "v1")][3] == hashlib.sha256((PROMPTS / "map.v1.md").read_bytes()).hexdigest()
    )
