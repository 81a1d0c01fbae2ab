"""Golden examples: re-run each expected briefing under ``examples/`` and report drift.

Each case is a folder holding ``case.toml``::

    articles = "articles"            # folder of source articles, relative to the case

    [[golden]]
    name = "short-executive"
    expected = "golden/short-executive.md"
    length = "short"                 # or max_words = 150
    audience = "executive"
    format = "md"
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from briefer.engine import Engine
from briefer.errors import BrieferError
from briefer.extractive import ExtractiveEngine
from briefer.models import LENGTH_WORDS, BriefOptions, Length
from briefer.pipeline import build_briefing
from briefer.render import OutputFormat, render
from briefer.sources import read_sources

EngineFactory = Callable[[dict[str, Any], Path], Engine]


@dataclass(frozen=True)
class GoldenResult:
    name: str
    status: str  # "ok", "drift", "updated", "new"
    diff: str = ""


def _extractive(_: dict[str, Any], __: Path) -> Engine:
    return ExtractiveEngine()


ENGINES: dict[str, EngineFactory] = {"extractive": _extractive}


def find_cases(directory: Path) -> list[Path]:
    """Return the case folders (those holding ``case.toml``) under ``directory``, sorted."""
    if (directory / "case.toml").is_file():
        return [directory]
    return sorted(p.parent for p in directory.glob("*/case.toml"))


def run_goldens(directory: Path, update: bool = False) -> list[GoldenResult]:
    """Re-run every golden briefing under ``directory``; rewrite them when ``update``."""
    cases = find_cases(directory)
    if not cases:
        raise BrieferError(f"{directory}: no golden examples found (no */case.toml)")
    results: list[GoldenResult] = []
    for case in cases:
        results += _run_case(case, update)
    return results


def _run_case(case: Path, update: bool) -> list[GoldenResult]:
    try:
        spec = tomllib.loads((case / "case.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BrieferError(f"{case / 'case.toml'}: cannot be read ({exc})") from exc
    sources = [  # origins relative to the case, so a golden does not depend on where it runs
        s.model_copy(update={"origin": Path(os.path.relpath(s.origin, case)).as_posix()})
        for s in read_sources([str(case / spec.get("articles", "articles"))])
    ]
    results = []
    for golden in spec.get("golden", []):
        name = f"{case.name}/{golden['name']}"
        engine_name = golden.get("engine", spec.get("engine", "extractive"))
        if engine_name not in ENGINES:
            raise BrieferError(f"{case / 'case.toml'}: unknown engine {engine_name!r}")
        engine = ENGINES[engine_name](golden, case)
        briefing = build_briefing(sources, engine, _options(golden))
        actual = render(briefing, OutputFormat(golden.get("format", "md")))
        expected_path = case / golden["expected"]
        expected = expected_path.read_text(encoding="utf-8") if expected_path.exists() else None
        if actual == expected:
            results.append(GoldenResult(name, "ok"))
        elif update:
            expected_path.parent.mkdir(parents=True, exist_ok=True)
            expected_path.write_text(actual, encoding="utf-8")
            results.append(GoldenResult(name, "new" if expected is None else "updated"))
        else:
            diff = "".join(
                difflib.unified_diff(
                    (expected or "").splitlines(keepends=True),
                    actual.splitlines(keepends=True),
                    fromfile=str(expected_path),
                    tofile="actual",
                )
            )
            results.append(GoldenResult(name, "drift", diff))
    return results


def _options(golden: dict[str, Any]) -> BriefOptions:
    length = Length(golden["length"]) if "length" in golden else None
    max_words = golden.get("max_words") or LENGTH_WORDS[length or Length.standard]
    return BriefOptions(
        length=length if "max_words" not in golden else None,
        max_words=max_words,
        audience=golden.get("audience", "general"),
    )
