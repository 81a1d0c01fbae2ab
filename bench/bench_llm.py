"""Time briefer's LLM engine and LangChain's map-reduce summarisation on one fake server (issue 3).

Both systems brief the same N articles (default 100: the seed articles, the eval-dev news
documents, then eval-dev faithfulness sources; written to a temporary directory) through the
same loopback OpenAI-compatible server (``tests/fake_openai.py``), which waits a fixed latency
before every reply. The same concurrency bounds both. The stand-in model is scripted, not a
real model, and follows one rule for both systems: it restates the first sentence of each
passage or paragraph it is shown. briefer's structured requests get ``echo_model``'s
replies: one claim per passage, then one bullet per claim. LangChain's plain prompts get
plain text: the first sentence of each paragraph.

LangChain 1.x no longer ships ``load_summarize_chain`` (it moved to ``langchain-classic``),
so the LangChain side is the map-reduce recipe of its summarisation tutorial, built from
its primitives. ``RecursiveCharacterTextSplitter`` splits the documents into chunks of 1,000
tokens. ``ChatPromptTemplate | ChatOpenAI | StrOutputParser`` maps each chunk to a summary
with ``.batch(max_concurrency=C)``. Summaries are collapsed in groups of at most
``token_max`` tokens until they fit, the tutorial's ``split_list_of_docs`` loop. One final
reduce call writes the summary.

Usage (from the repository root; LangChain is bench-only)::

    pip install langchain langchain-openai langchain-text-splitters
    python bench/bench_llm.py
    python bench/bench_llm.py --articles 200 --latency 0.3 --concurrency 8 --model llama3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
for _path in (REPO_ROOT, REPO_ROOT / "tests"):  # a checkout runs without `pip install -e .`
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from fake_openai import FakeOpenAI, Reply, Responder, echo_model  # noqa: E402

from briefer.config import Settings  # noqa: E402
from briefer.engines.llm.client import schema_of  # noqa: E402
from briefer.engines.llm.engine import LLMEngine  # noqa: E402
from briefer.engines.llm.io import (  # noqa: E402
    BriefOutput,
    MapOutput,
    ReduceOutput,
    RepairOutput,
    audience_guidance,
)
from briefer.engines.llm.prompts import load_prompt, render_prompt  # noqa: E402
from briefer.ingest.sources import read_sources  # noqa: E402
from briefer.models import BriefOptions  # noqa: E402
from briefer.pipeline import build_briefing  # noqa: E402
from briefer.tokens import count_tokens  # noqa: E402

WALL_TARGET = 1.2
TOKENS_TARGET = 1.3
API_KEY = "bench-not-a-key"

# The prompts of LangChain's summarisation tutorial (map: "rlm/map-prompt"; reduce as given).
LC_MAP_INSTRUCTION = "Write a concise summary of the following:\n\n"
LC_REDUCE_HEAD = "\nThe following is a set of summaries:\n"
LC_REDUCE_TAIL = (
    "\nTake these and distill it into a final, consolidated summary\nof the main themes.\n"
)
_LC_FIXED = (LC_MAP_INSTRUCTION, LC_REDUCE_HEAD, LC_REDUCE_TAIL)
_KINDS = {
    "MapOutput": "map",
    "RepairOutput": "repair",
    "ReduceOutput": "reduce",
    "BriefOutput": "brief",
}


@dataclass
class Run:
    """What one system spent on one pile of articles."""

    system: str
    wall_s: float = 0.0
    calls: int = 0
    stage_calls: list[tuple[str, int]] = field(default_factory=list)  # sequential stages
    tokens_sent: int = 0
    schema_tokens: int = 0  # part of tokens_sent: briefer's response_format schemas
    source_tokens_sent: int = 0  # part of tokens_sent: the first stage (the sources)
    fixed_tokens: int = 0  # fixed prompt text of all calls (the lower bound's second term)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    notes: list[str] = field(default_factory=list)


class ServerProcess:
    """The fake server in a process of its own, as a real model server would be.

    In the benchmark's own process its request handling would take turns with the timed
    client for Python's interpreter lock; a real server never does.
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        self.url: str = self._conn.recv()

    def set_latency(self, latency: float) -> None:
        """Answer every later request with the stand-in model after ``latency`` seconds."""
        self._ask("latency", latency)

    def take_requests(self) -> list[dict[str, Any]]:
        """Return the request bodies received since the last call, and forget them."""
        requests: list[dict[str, Any]] = self._ask("requests", None)
        return requests

    def stop(self) -> None:
        """Stop the server process."""
        self._ask("stop", None)
        self._process.join(timeout=10)

    def _ask(self, command: str, value: object) -> Any:
        self._conn.send((command, value))
        return self._conn.recv()


def _serve(conn: Connection) -> None:
    server = FakeOpenAI().start()
    conn.send(server.url)
    while True:
        command, value = conn.recv()
        if command == "latency":
            server.responder = stand_in_model(float(value))
            conn.send(None)
        elif command == "requests":
            conn.send(list(server.requests))
            server.requests.clear()
        else:
            server.stop()
            conn.send(None)
            return


def load_articles(seeds_dir: Path, eval_dir: Path, n: int) -> list[str]:
    """Return ``n`` distinct real articles: seeds, eval-dev news documents, faithfulness sources."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(seeds_dir.glob("*.txt"))]
    with (eval_dir / "mds" / "dev.jsonl").open(encoding="utf-8") as lines:
        texts += [doc["text"] for line in lines for doc in json.loads(line)["docs"]]
    with (eval_dir / "faithfulness" / "dev.jsonl").open(encoding="utf-8") as lines:
        texts += [json.loads(line)["source"] for line in lines]
    unique = list(dict.fromkeys(t for t in texts if t.strip()))
    if len(unique) < n:
        raise SystemExit(f"only {len(unique)} distinct articles available; ask for fewer")
    return unique[:n]


def stand_in_model(latency: float) -> Responder:
    """Return the fake server's model: echo_model for briefer, first sentences for LangChain."""

    def respond(request: dict[str, Any]) -> Reply:
        if request.get("response_format"):
            reply = echo_model(request)
        else:
            shown = "\n\n".join(str(m.get("content", "")) for m in request["messages"])
            for fixed in _LC_FIXED:
                shown = shown.replace(fixed.strip(), "")
            reply = Reply(content=_first_sentences(shown))
        return dataclasses.replace(reply, delay=latency)

    return respond


def _first_sentences(text: str) -> str:
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    return " ".join(p.split(". ")[0].rstrip(".") + "." for p in paragraphs)


def _request_tokens(request: dict[str, Any]) -> tuple[int, int]:
    """Return the tokens of a request's messages and of its response_format schema."""
    messages = sum(count_tokens(str(m.get("content", ""))) for m in request["messages"])
    schema = (request.get("response_format") or {}).get("json_schema", {}).get("schema")
    return messages, count_tokens(json.dumps(schema)) if schema else 0


def run_briefer(
    folder: Path, server: ServerProcess, model: str, concurrency: int, options: BriefOptions
) -> Run:
    """Return what briefer's LLM engine spent briefing ``folder`` through ``server``."""
    run = Run("briefer LLM engine")
    settings = Settings(
        model=model,
        base_url=server.url,
        api_key=API_KEY,  # pydantic turns it into a SecretStr
        concurrency=concurrency,
        use_cache=False,
        max_retries=0,
        timeout=120.0,
    )
    server.take_requests()
    started = time.perf_counter()
    sources = read_sources([str(folder)])
    read_s = round(time.perf_counter() - started, 4)
    with LLMEngine(settings) as engine:
        fitted = options.model_copy(
            update={"chunk_tokens": min(options.chunk_tokens, engine.budgets.map_tokens)}
        )
        briefing = build_briefing(sources, engine, fitted)
        run.notes += engine.all_notes()
    run.wall_s = time.perf_counter() - started
    run.timings = {"read_sources": read_s, **briefing.provenance.timings}
    fixed = _briefer_fixed_tokens(options)
    stages: dict[str, int] = {}
    requests = server.take_requests()
    for request in requests:
        kind = _KINDS.get(request["response_format"]["json_schema"]["name"], "other")
        if kind == "reduce":  # the final call's scope line says so (briefer.engines.llm.reduce)
            kind = "reduce (final)" if "These are all the claims" in str(request) else "reduce"
        stages[kind] = stages.get(kind, 0) + 1
        messages, schema = _request_tokens(request)
        run.tokens_sent += messages + schema
        run.schema_tokens += schema
        run.fixed_tokens += fixed.get(kind.split(" ")[0], 0)
        if kind in {"map", "brief"}:
            run.source_tokens_sent += messages + schema
    order = ["brief", "map", "repair", "reduce", "reduce (final)"]
    run.stage_calls = [(k, stages[k]) for k in order if k in stages]
    run.calls = len(requests)
    run.notes.append(
        f"{len(sources)} sources, {len(briefing.bullets)} bullets, "
        f"{len(briefing.rejected)} rejected; budgets: {engine.budgets.map_tokens} map tokens "
        f"per call, {engine.budgets.reduce_tokens} reduce tokens per call, "
        f"{engine.budgets.single_call_tokens} source tokens in one grounded call"
    )
    return run


def _briefer_fixed_tokens(options: BriefOptions) -> dict[str, int]:
    """Return the tokens of each template rendered with no sources or claims, plus its schema."""
    values: dict[str, object] = {
        "audience": options.audience,
        "audience_guidance": audience_guidance(options),
        "max_words": options.max_words,
        "scope": "These are all the claims: write the whole briefing.",
        "passages": "",
        "claims": "",
        "sources": "",
    }
    outputs = {
        "map": MapOutput,
        "reduce": ReduceOutput,
        "repair": RepairOutput,
        "brief": BriefOutput,
    }
    fixed: dict[str, int] = {}
    for name in ("map", "reduce", "repair", "brief"):
        template = load_prompt(name)
        messages = render_prompt(template, {k: values[k] for k in template.variables})
        text = sum(count_tokens(m["content"]) for m in messages)
        fixed[name] = text + count_tokens(json.dumps(schema_of(outputs[name])))
    return fixed


def run_langchain(
    texts: Sequence[str],
    server: ServerProcess,
    model: str,
    concurrency: int,
    chunk_size: int,
    token_max: int,
) -> Run:
    """Return what LangChain's map-reduce recipe spent summarising ``texts`` through ``server``."""
    from langchain_core.documents import Document
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableConfig
    from langchain_openai import ChatOpenAI
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    run = Run("LangChain map-reduce")
    llm = ChatOpenAI(
        model=model,
        base_url=server.url,
        api_key=API_KEY,
        temperature=0,
        max_retries=0,
        timeout=120,
    )
    map_chain = (
        ChatPromptTemplate.from_messages([("system", LC_MAP_INSTRUCTION + "{context}")])
        | llm
        | StrOutputParser()
    )
    reduce_chain = (
        ChatPromptTemplate([("human", LC_REDUCE_HEAD + "{docs}" + LC_REDUCE_TAIL)])
        | llm
        | StrOutputParser()
    )
    config: RunnableConfig = {"max_concurrency": concurrency}
    server.take_requests()
    started = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=0, length_function=count_tokens
    )
    chunks = splitter.split_documents([Document(page_content=t) for t in texts])
    summaries = map_chain.batch([{"context": c.page_content} for c in chunks], config=config)
    run.stage_calls.append(("map", len(chunks)))
    level = 0
    while _length(summaries) > token_max:
        level += 1
        groups = split_list_of_docs(summaries, _length, token_max)
        summaries = reduce_chain.batch([{"docs": "\n\n".join(g)} for g in groups], config=config)
        run.stage_calls.append((f"collapse {level}", len(groups)))
    reduce_chain.invoke({"docs": "\n\n".join(summaries)})
    run.stage_calls.append(("reduce (final)", 1))
    run.wall_s = time.perf_counter() - started
    map_fixed = count_tokens(LC_MAP_INSTRUCTION)
    reduce_fixed = count_tokens(LC_REDUCE_HEAD) + count_tokens(LC_REDUCE_TAIL)
    requests = server.take_requests()
    for number, request in enumerate(requests):
        messages, _ = _request_tokens(request)
        run.tokens_sent += messages
        run.fixed_tokens += map_fixed if number < len(chunks) else reduce_fixed
        if number < len(chunks):
            run.source_tokens_sent += messages
    run.calls = len(requests)
    run.notes.append(
        f"{len(chunks)} chunks of at most {chunk_size} tokens, token_max {token_max}, "
        f"{level} collapse level(s)"
    )
    return run


def split_list_of_docs(
    docs: Sequence[str], length: Callable[[Sequence[str]], int], token_max: int
) -> list[list[str]]:
    """Return ``docs`` in consecutive groups of at most ``token_max`` (LangChain's rule)."""
    groups: list[list[str]] = []
    current: list[str] = []
    for doc in docs:
        current.append(doc)
        if length(current) > token_max:
            if len(current) == 1:
                raise ValueError("a single summary is longer than token_max")
            groups.append(current[:-1])
            current = current[-1:]
    groups.append(current)
    return groups


def _length(docs: Sequence[str]) -> int:
    return sum(count_tokens(d) for d in docs)


def _bounds(run: Run, concurrency: int, latency: float) -> tuple[float, float]:
    """Return the issue's bound (calls/concurrency x latency) and the stage-aware one."""
    flat = run.calls / concurrency * latency
    staged = sum(math.ceil(n / concurrency) for _, n in run.stage_calls) * latency
    return flat, staged


def print_table(
    runs: Sequence[Run], source_tokens: int, concurrency: int, latency: float
) -> list[str]:
    """Print the comparison and return the FAIL lines."""
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, values: Sequence[str]) -> None:
        rows.append((label, list(values)))

    bounds = [_bounds(r, concurrency, latency) for r in runs]
    lower = [source_tokens + r.fixed_tokens for r in runs]
    row("calls", [str(r.calls) for r in runs])
    row("  by stage (run one after another)", [_stages(r) for r in runs])
    row("wall time", [f"{r.wall_s:.2f} s" for r in runs])
    row("calls / concurrency x latency", [f"{b[0]:.2f} s" for b in bounds])
    row(
        "  wall / that (target <= 1.2)",
        [f"{r.wall_s / b[0]:.2f}x" for r, b in zip(runs, bounds, strict=True)],
    )
    row("stage-aware bound: sum of ceil(calls/C) x latency", [f"{b[1]:.2f} s" for b in bounds])
    row("  wall / that", [f"{r.wall_s / b[1]:.2f}x" for r, b in zip(runs, bounds, strict=True)])
    row("tokens sent", [f"{r.tokens_sent:,}" for r in runs])
    row("  in the first stage (the sources)", [f"{r.source_tokens_sent:,}" for r in runs])
    row("  of which JSON schemas", [f"{r.schema_tokens:,}" for r in runs])
    row("lower bound: source + fixed prompt per call", [f"{lb:,}" for lb in lower])
    row(
        "  sent / lower bound (target <= 1.3)",
        [f"{r.tokens_sent / lb:.2f}x" for r, lb in zip(runs, lower, strict=True)],
    )
    row(
        "  first stage / lower bound",
        [f"{r.source_tokens_sent / lb:.2f}x" for r, lb in zip(runs, lower, strict=True)],
    )
    width = max(len(label) for label, _ in rows)
    columns = [max(len(r.system), *(len(v[i]) for _, v in rows)) for i, r in enumerate(runs)]
    header = " | ".join(r.system.ljust(w) for r, w in zip(runs, columns, strict=True))
    print(f"| {'':{width}} | {header} |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * (w + 2) for w in columns) + "|")
    for label, values in rows:
        cells = " | ".join(v.rjust(w) for v, w in zip(values, columns, strict=True))
        print(f"| {label:{width}} | {cells} |")

    failures = []
    briefer, langchain = runs
    checks = [
        (
            f"briefer wall time within {WALL_TARGET}x of calls/concurrency x latency",
            briefer.wall_s <= WALL_TARGET * bounds[0][0],
        ),
        (
            f"briefer tokens sent within {TOKENS_TARGET}x of the lower bound",
            briefer.tokens_sent <= TOKENS_TARGET * lower[0],
        ),
        (
            "briefer tokens sent no more than LangChain's",
            briefer.tokens_sent <= langchain.tokens_sent,
        ),
    ]
    print()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
        if not ok:
            failures.append(text)
    return failures


def _write(texts: Sequence[str], folder: Path) -> None:
    folder.mkdir(parents=True)
    for number, text in enumerate(texts):
        (folder / f"{number:04d}.txt").write_text(text, encoding="utf-8")


def _stages(run: Run) -> str:
    return ", ".join(f"{name} {n}" for name, n in run.stage_calls)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return 1 on a FAIL under --strict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per call")
    parser.add_argument("--concurrency", type=int, default=4, help="for both systems")
    parser.add_argument("--model", default="gpt-4o-mini", help="sets briefer's budgets")
    parser.add_argument("--chunk-size", type=int, default=1000, help="LangChain's, in tokens")
    parser.add_argument("--token-max", type=int, default=1000, help="LangChain's collapse limit")
    parser.add_argument("--seeds-dir", type=Path, default=REPO_ROOT.parent / "shared" / "seeds")
    parser.add_argument("--eval-dir", type=Path, default=REPO_ROOT.parent / "shared" / "eval-dev")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a FAIL")
    args = parser.parse_args(argv)
    print("$ python " + shlex.join(["bench/bench_llm.py", *(argv or sys.argv[1:])]))
    for variable in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2"):
        os.environ.pop(variable, None)  # never send traces anywhere

    texts = load_articles(args.seeds_dir, args.eval_dir, args.articles)
    source_tokens = sum(count_tokens(t) for t in texts)
    options = BriefOptions()
    server = ServerProcess()
    try:
        with tempfile.TemporaryDirectory(prefix="briefer-bench-llm-") as scratch:
            warm, folder = Path(scratch) / "warm-up", Path(scratch) / "articles"
            _write(texts[:2], warm)
            _write(texts, folder)
            # An untimed run of each on two articles with no latency, so that imports and
            # first-use set-up (tiktoken, lazily imported modules, HTTP pools) are not timed.
            server.set_latency(0.0)
            run_briefer(warm, server, args.model, args.concurrency, options)
            run_langchain(texts[:2], server, args.model, args.concurrency, args.chunk_size, 10**9)
            server.set_latency(args.latency)
            briefer = run_briefer(folder, server, args.model, args.concurrency, options)
        langchain = run_langchain(
            texts, server, args.model, args.concurrency, args.chunk_size, args.token_max
        )
    finally:
        server.stop()

    print(
        f"{len(texts)} articles, {source_tokens:,} source tokens (cl100k), latency "
        f"{args.latency * 1000:.0f} ms per call, concurrency {args.concurrency}, model "
        f"{args.model} (scripted stand-in)\n"
    )
    failures = print_table([briefer, langchain], source_tokens, args.concurrency, args.latency)
    print()
    for run in (briefer, langchain):
        for note in run.notes:
            print(f"{run.system}: {note}")
    stages = ", ".join(f"{name} {seconds:.2f}" for name, seconds in briefer.timings.items())
    print(f"{briefer.system}: seconds per stage: {stages}")
    return 1 if failures and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
