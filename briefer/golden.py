"""Golden examples: re-run each expected briefing under ``examples/`` and report drift.

Each case is a folder holding ``case.toml``::

    articles = "articles"            # folder of source articles, relative to the case

    [[golden]]
    name = "short-executive"
    expected = "golden/short-executive.md"
    length = "short"                 # or max_words = 150
    audience = "executive"
    format = "md"                    # or "json" (provenance timings dropped: they vary)

A case replayed from a cassette of model replies uses the ``llm-replay`` engine::

    engine = "llm-replay"
    cassette = "cassette.jsonl"      # relative to the case
    model = "gpt-4o-mini"            # must match the recording; so must the prompts
    prompts = "brief=1"              # prompt versions, as --prompt-version takes them
    citation_schema = "off"          # also context_window, max_output_tokens, structured...

The replay settings are built here, never read from the environment or ``.env``, so a
golden gives the same result on every machine and never reaches a network.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from briefer.config import Settings
from briefer.engines.base import Engine
from briefer.engines.extractive.engine import ExtractiveEngine
from briefer.errors import BrieferError
from briefer.ingest.sources import read_sources
from briefer.models import LENGTH_WORDS, Briefing, BriefOptions, Length
from briefer.pipeline import build_briefing
from briefer.render import OutputFormat, render

EngineFactory = Callable[[dict[str, Any], Path], Engine]


@dataclass(frozen=True)
class GoldenResult:
    name: str
    status: str  # "ok", "drift", "updated", "new"
    diff: str = ""


def _extractive(_: dict[str, Any], __: Path) -> Engine:
    return ExtractiveEngine()


# Settings a replay case may pin in case.toml (a golden or the case's top level).
_REPLAY_FIELDS = (
    "model",
    "context_window",
    "max_output_tokens",
    "structured",
    "citation_schema",
    "single_call",
    "repair_rounds",
)


def case_settings(spec: dict[str, Any], **changes: Any) -> Settings:
    """Return LLM settings from a golden's ``spec`` plus ``changes``; reads no environment."""
    values: dict[str, Any] = {k: spec[k] for k in _REPLAY_FIELDS if k in spec}
    if "prompts" in spec:
        values["prompt_versions"] = spec["prompts"]
    return Settings.model_validate({**values, "use_cache": False, "concurrency": 1, **changes})


def _llm_replay(spec: dict[str, Any], case: Path) -> Engine:
    if "cassette" not in spec:
        raise BrieferError(f"{case / 'case.toml'}: the llm-replay engine needs a cassette")
    from briefer.engines.llm.engine import LLMEngine  # only for cases replaying a model

    return LLMEngine(case_settings(spec, replay_path=case / spec["cassette"]))


ENGINES: dict[str, EngineFactory] = {"extractive": _extractive, "llm-replay": _llm_replay}


def find_cases(directory: Path) -> list[Path]:
    """Return the case folders (those holding ``case.toml``) under ``directory``, sorted."""
    if (directory / "case.toml").is_file():
        return [directory]
    return sorted(p.parent for p in directory.glob("*/case.toml"))


def run_goldens(
    directory: Path, update: bool = False, engines: Mapping[str, EngineFactory] | None = None
) -> list[GoldenResult]:
    """Re-run every golden briefing under ``directory``; rewrite them when ``update``.

    ``engines`` replaces factories of ``ENGINES`` by name (a recorder uses this to run the
    cases against a model server instead of their cassettes).
    """
    cases = find_cases(directory)
    if not cases:
        raise BrieferError(f"{directory}: no golden examples found (no */case.toml)")
    factories = {**ENGINES, **(engines or {})}
    results: list[GoldenResult] = []
    for case in cases:
        results += _run_case(case, update, factories)
    return results


def _run_case(
    case: Path, update: bool, factories: Mapping[str, EngineFactory]
) -> list[GoldenResult]:
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
        if engine_name not in factories:
            raise BrieferError(f"{case / 'case.toml'}: unknown engine {engine_name!r}")
        engine = factories[engine_name]({**spec, **golden}, case)
        options = _options(golden)
        budgets = getattr(engine, "budgets", None)
        if budgets is not None:  # as the CLI does: a chunk never exceeds one map call
            options = options.model_copy(
                update={"chunk_tokens": min(options.chunk_tokens, budgets.map_tokens)}
            )
        try:
            briefing = build_briefing(sources, engine, options)
        finally:
            close = getattr(engine, "close", None)  # an LLM engine holds connections
            if callable(close):
                close()
        actual = _render(briefing, OutputFormat(golden.get("format", "md")))
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


def _render(briefing: Briefing, fmt: OutputFormat) -> str:
    if fmt is OutputFormat.json:
        # Timings differ on every run; everything else in the JSON is reproducible.
        provenance = briefing.provenance.model_copy(update={"timings": {}})
        briefing = briefing.model_copy(update={"provenance": provenance})
    return render(briefing, fmt)


def _options(golden: dict[str, Any]) -> BriefOptions:
    length = Length(golden["length"]) if "length" in golden else None
    max_words = golden.get("max_words") or LENGTH_WORDS[length or Length.standard]
    return BriefOptions(
        length=length if "max_words" not in golden else None,
        max_words=max_words,
        audience=golden.get("audience", "general"),
    )
