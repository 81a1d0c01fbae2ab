"""Record a golden case's cassette from its scripted replies (test data, not model output).

Usage: ``python tests/record_scripted_cassette.py examples/<case>``, then
``briefer check examples/<case> --update`` and read the diff.

The case folder holds ``scripted-replies.json``: ``{"label": ..., "replies": [{"kind",
"match", "reply"}]}``. Each golden of the case runs through the real LLM engine and openai
client against the fake server on loopback, which answers a request with the first reply of
its output kind (``BriefOutput``, ``MapOutput``, ``RepairOutput``, ``ReduceOutput``) whose
``match`` (if any) occurs in the request's messages. Every exchange is written to the case's
cassette, each line marked ``"scripted": true``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from fake_openai import FakeOpenAI, Reply, Responder

from briefer.engines.base import Engine
from briefer.engines.llm.engine import LLMEngine
from briefer.golden import case_settings, run_goldens


def scripted_responder(replies: list[dict[str, Any]]) -> Responder:
    """Return a fake-server responder serving ``replies``; an unscripted request is an error."""

    def respond(request: dict[str, Any]) -> Reply:
        # The engine asks for a strict JSON schema named after its output model.
        kind = (request.get("response_format") or {}).get("json_schema", {}).get("name")
        text = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
        for entry in replies:
            if entry["kind"] == kind and (entry.get("match") is None or entry["match"] in text):
                # No usage in the reply: briefer then counts tokens itself, with tiktoken.
                return Reply.json(entry["reply"], usage=False)
        return Reply.fail(400, f"no scripted {kind} reply matches this request")

    return respond


def record_case(case: Path) -> Path:
    """Write ``case``'s cassette from its scripted replies and return its path."""
    spec = tomllib.loads((case / "case.toml").read_text(encoding="utf-8"))
    scripted = json.loads((case / "scripted-replies.json").read_text(encoding="utf-8"))
    server = FakeOpenAI().start()
    server.responder = scripted_responder(scripted["replies"])
    recordings: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch:

        def recording_engine(golden: dict[str, Any], _: Path) -> Engine:
            path = Path(scratch) / f"{len(recordings)}.jsonl"
            recordings.append(path)
            settings = case_settings(
                golden, base_url=server.url, api_key="scripted", record_path=path, max_retries=0
            )
            return LLMEngine(settings)

        try:
            run_goldens(case, engines={spec.get("engine", "llm-replay"): recording_engine})
        finally:
            server.stop()
        lines: dict[str, str] = {}
        for path in recordings:
            for line in path.read_text(encoding="utf-8").splitlines():
                if "parameters" in json.loads(line):
                    continue  # the case's settings come from case.toml, not the recording
                entry = {"scripted": True, **json.loads(line)}  # first, so a reader sees it
                lines.setdefault(entry["key"], json.dumps(entry, ensure_ascii=False))
    target = case / str(spec["cassette"])
    target.write_text("".join(f"{line}\n" for line in lines.values()), encoding="utf-8")
    return target


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        print(f"recorded {record_case(Path(argument))}")
