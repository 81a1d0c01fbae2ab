"""Time briefer's LLM engine against LangChain's map-reduce on one fake server (issues 3, 9).

Both systems brief the same N articles (default 100: the seed articles, the eval-dev news
documents, then eval-dev faithfulness sources; written to a temporary directory) through the
same loopback OpenAI-compatible server (``tests/fake_openai.py``), which waits a fixed latency
before every reply. The same concurrency bounds both. The stand-in model is scripted, not a
real model, and follows one rule for both systems: it restates the first sentence of each
passage or paragraph it is shown. briefer's structured requests get ``echo_model``'s
replies: one claim per passage, then one bullet per claim. LangChain's plain prompts get
plain text: the first sentence of each paragraph.

LangChain 1.x no longer ships ``load_summarize_chain`` (it moved to ``langchain-classic``),
so the LangChain side is the map-reduce recipe of its summarisation tutorial, built from its
primitives: a token-counting text splitter makes the chunks, ``ChatPromptTemplate |
ChatOpenAI | StrOutputParser`` maps each to a summary with ``.batch(max_concurrency=C)``,
summaries are collapsed in groups of at most ``token_max`` tokens until they fit (the
tutorial's ``split_list_of_docs`` loop), and one final reduce call writes the summary. It
runs twice (issue 9):

- **LangChain matched**: briefer's budgets for the same model. The articles are "stuffed"
  into one text (joined by blank lines, as the stuff chain joins documents) and split by
  ``RecursiveCharacterTextSplitter.from_tiktoken_encoder`` into chunks of briefer's map-call
  input budget; ``token_max`` is briefer's reduce budget.
- **LangChain defaults**: the tutorial's own settings: each article split on its own by
  ``CharacterTextSplitter.from_tiktoken_encoder(chunk_size=1000, chunk_overlap=0)``,
  ``token_max`` 1,000.

When every article fits the model's context, the tutorial advises "stuff" (one call) instead:
that runs as a third LangChain column.

Targets: briefer's wall time <= 1.15 x (the stage-aware latency bound, sum over sequential
stages of ceil(calls / concurrency) x latency, plus a CPU allowance: the CPU seconds this
process spent in the same run; the server runs in a process of its own) + 0.3 s; tokens sent
<= 0.8 x LangChain matched's. Each system runs ``--runs`` times (default 3), interleaved;
wall and CPU times are medians.

Usage (from the repository root; LangChain is bench-only)::

    pip install -c requirements.lock -e '.[dev,bench]'
    python bench/bench_llm.py                 # gpt-4o-mini: 128k context
    python bench/bench_llm.py --model llama3  # an 8k context
    python bench/bench_llm.py --articles 200 --latency 0.3 --concurrency 8 --runs 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import shlex
import statistics
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

from briefer.config import Budgets, Settings  # noqa: E402
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
from briefer.tokens import OFFLINE_ENCODING, count_tokens  # noqa: E402

# Targets (issue 9): wall <= WALL_FACTOR x (stage-aware latency bound + CPU allowance) +
# WALL_SLACK_S; tokens sent <= TOKENS_FACTOR x LangChain's with matched budgets.
WALL_FACTOR = 1.15
WALL_SLACK_S = 0.3
TOKENS_FACTOR = 0.8
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
    cpu_s: float = 0.0  # CPU seconds of the benchmark's own process (the client)
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
    settings = _settings(server, model, concurrency)
    server.take_requests()
    cpu_started = time.process_time()  # this process only: the server runs in its own
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
    run.cpu_s = time.process_time() - cpu_started
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


def _settings(server: ServerProcess, model: str, concurrency: int) -> Settings:
    return Settings(
        model=model,
        base_url=server.url,
        api_key=API_KEY,  # pydantic turns it into a SecretStr
        concurrency=concurrency,
        use_cache=False,
        max_retries=0,
        timeout=120.0,
    )


def _briefer_fixed_tokens(options: BriefOptions) -> dict[str, int]:
    """Return the tokens of each template rendered with no sources or claims, plus its schema."""
    values: dict[str, object] = {
        "audience": options.audience,
        "audience_guidance": audience_guidance(options),
        "max_words": options.max_words,
        "scope": "These are all the claims: write the whole briefing.",
        "passages": "",
        "claims": "",
        "claims_by_source": "",
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


@dataclass(frozen=True)
class LangChainSetup:
    """How the LangChain side packs and limits its calls."""

    label: str
    chunk_size: int  # tokens per map chunk
    token_max: int  # collapse limit: summaries are collapsed until they fit this
    join_articles: bool  # stuff the articles into one text before splitting, or split each
    recursive: bool  # RecursiveCharacterTextSplitter, else CharacterTextSplitter ("\n\n" only)

    def describe(self) -> str:
        """Return the settings in one line."""
        splitter = "RecursiveCharacterTextSplitter" if self.recursive else "CharacterTextSplitter"
        packing = "articles joined into one text" if self.join_articles else "each article split"
        return (
            f"{splitter}.from_tiktoken_encoder(chunk_size={self.chunk_size}, chunk_overlap=0), "
            f"{packing}, token_max {self.token_max}"
        )


def matched_setup(map_tokens: int, reduce_tokens: int) -> LangChainSetup:
    """Return LangChain given briefer's budgets: its map-call input and its reduce call."""
    return LangChainSetup(
        "LangChain matched", map_tokens, reduce_tokens, join_articles=True, recursive=True
    )


# The summarisation tutorial's own settings: CharacterTextSplitter.from_tiktoken_encoder(
# chunk_size=1000, chunk_overlap=0).split_documents(docs) and token_max = 1000.
TUTORIAL_SETUP = LangChainSetup(
    "LangChain defaults", 1000, 1000, join_articles=False, recursive=False
)


def run_langchain(
    texts: Sequence[str], server: ServerProcess, model: str, concurrency: int, setup: LangChainSetup
) -> Run:
    """Return what LangChain's map-reduce recipe spent summarising ``texts`` through ``server``."""
    from langchain_core.documents import Document
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnableConfig
    from langchain_openai import ChatOpenAI
    from langchain_text_splitters import CharacterTextSplitter, RecursiveCharacterTextSplitter

    run = Run(setup.label)
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
    splitter_class = RecursiveCharacterTextSplitter if setup.recursive else CharacterTextSplitter
    server.take_requests()
    cpu_started = time.process_time()
    started = time.perf_counter()
    splitter = splitter_class.from_tiktoken_encoder(
        encoding_name=OFFLINE_ENCODING, chunk_size=setup.chunk_size, chunk_overlap=0
    )
    # "Stuff" the articles into one text (the way the stuff chain joins documents), or split
    # each article on its own (the tutorial's split_documents).
    documents = ["\n\n".join(texts)] if setup.join_articles else list(texts)
    chunks = splitter.split_documents([Document(page_content=t) for t in documents])
    summaries = map_chain.batch([{"context": c.page_content} for c in chunks], config=config)
    run.stage_calls.append(("map", len(chunks)))
    level = 0
    while _length(summaries) > setup.token_max:
        level += 1
        groups = split_list_of_docs(summaries, _length, setup.token_max)
        summaries = reduce_chain.batch([{"docs": "\n\n".join(g)} for g in groups], config=config)
        run.stage_calls.append((f"collapse {level}", len(groups)))
    reduce_chain.invoke({"docs": "\n\n".join(summaries)})
    run.stage_calls.append(("reduce (final)", 1))
    run.wall_s = time.perf_counter() - started
    run.cpu_s = time.process_time() - cpu_started
    _count_langchain_requests(run, server.take_requests(), len(chunks))
    run.notes.append(f"{setup.describe()}: {len(chunks)} chunks, {level} collapse level(s)")
    return run


def run_langchain_stuff(texts: Sequence[str], server: ServerProcess, model: str) -> Run:
    """Return what LangChain's "stuff" recipe (every article in one call) spent."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    run = Run("LangChain stuff")
    llm = ChatOpenAI(
        model=model, base_url=server.url, api_key=API_KEY, temperature=0, max_retries=0
    )
    chain = (
        ChatPromptTemplate.from_messages([("system", LC_MAP_INSTRUCTION + "{context}")])
        | llm
        | StrOutputParser()
    )
    server.take_requests()
    cpu_started = time.process_time()
    started = time.perf_counter()
    chain.invoke({"context": "\n\n".join(texts)})  # create_stuff_documents_chain's join
    run.wall_s = time.perf_counter() - started
    run.cpu_s = time.process_time() - cpu_started
    run.stage_calls.append(("stuff", 1))
    _count_langchain_requests(run, server.take_requests(), 1)
    run.notes.append("one call with every article, joined by blank lines")
    return run


def _count_langchain_requests(run: Run, requests: list[dict[str, Any]], map_calls: int) -> None:
    map_fixed = count_tokens(LC_MAP_INSTRUCTION)
    reduce_fixed = count_tokens(LC_REDUCE_HEAD) + count_tokens(LC_REDUCE_TAIL)
    for number, request in enumerate(requests):
        messages, _ = _request_tokens(request)
        run.tokens_sent += messages
        run.fixed_tokens += map_fixed if number < map_calls else reduce_fixed
        if number < map_calls:
            run.source_tokens_sent += messages
    run.calls = len(requests)


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


def latency_bound(run: Run, concurrency: int, latency: float) -> float:
    """Return the stage-aware bound: sum over sequential stages of ceil(calls/C) x latency."""
    return sum(math.ceil(n / concurrency) for _, n in run.stage_calls) * latency


def wall_limit(bound: float) -> float:
    """Return the most wall time the target allows for a bound (latency bound + CPU allowance)."""
    return WALL_FACTOR * bound + WALL_SLACK_S


@dataclass
class Summary:
    """The median of one system's repeated runs (calls and tokens do not vary between runs)."""

    run: Run  # the first run: calls, stages, tokens, notes
    wall_s: float
    cpu_s: float
    latency_bound_s: float

    @property
    def bound_s(self) -> float:
        """Return the stage-aware latency bound plus the measured CPU allowance."""
        return self.latency_bound_s + self.cpu_s


def summarise(runs: Sequence[Run], concurrency: int, latency: float) -> Summary:
    """Return the median wall and CPU time of ``runs``; their calls and tokens must agree."""
    first = runs[0]
    for run in runs[1:]:
        if (run.calls, run.tokens_sent) != (first.calls, first.tokens_sent):
            raise SystemExit(f"{first.system}: calls or tokens differ between runs")
    return Summary(
        first,
        statistics.median(r.wall_s for r in runs),
        statistics.median(r.cpu_s for r in runs),
        latency_bound(first, concurrency, latency),
    )


def print_table(summaries: Sequence[Summary], source_tokens: int, runs: int) -> list[str]:
    """Print the comparison and return the FAIL lines (briefer is first, matched LangChain next)."""
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, values: Sequence[str]) -> None:
        rows.append((label, list(values)))

    matched = summaries[1].run.tokens_sent
    lower = [source_tokens + s.run.fixed_tokens for s in summaries]
    row("calls", [str(s.run.calls) for s in summaries])
    row("  by stage (run one after another)", [_stages(s.run) for s in summaries])
    row(f"wall time (median of {runs})", [f"{s.wall_s:.2f} s" for s in summaries])
    row(
        "latency bound: sum of ceil(calls/C) x latency",
        [f"{s.latency_bound_s:.2f} s" for s in summaries],
    )
    row(f"CPU allowance: client CPU s (median of {runs})", [f"{s.cpu_s:.2f} s" for s in summaries])
    row("bound = latency bound + CPU allowance", [f"{s.bound_s:.2f} s" for s in summaries])
    row("  wall / bound", [f"{s.wall_s / s.bound_s:.2f}x" for s in summaries])
    row(
        f"  wall limit: {WALL_FACTOR} x bound + {WALL_SLACK_S} s",
        [f"{wall_limit(s.bound_s):.2f} s" for s in summaries],
    )
    row("  wall / latency bound alone", [f"{s.wall_s / s.latency_bound_s:.2f}x" for s in summaries])
    row("tokens sent", [f"{s.run.tokens_sent:,}" for s in summaries])
    row("  in the first stage (the sources)", [f"{s.run.source_tokens_sent:,}" for s in summaries])
    row("  of which JSON schemas", [f"{s.run.schema_tokens:,}" for s in summaries])
    row("  vs LangChain matched", [f"{s.run.tokens_sent / matched:.2f}x" for s in summaries])
    row(
        "  vs lower bound (sources + fixed prompt per call)",
        [f"{s.run.tokens_sent / lb:.2f}x" for s, lb in zip(summaries, lower, strict=True)],
    )
    width = max(len(label) for label, _ in rows)
    columns = [
        max(len(s.run.system), *(len(v[i]) for _, v in rows)) for i, s in enumerate(summaries)
    ]
    header = " | ".join(s.run.system.ljust(w) for s, w in zip(summaries, columns, strict=True))
    print(f"| {'':{width}} | {header} |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * (w + 2) for w in columns) + "|")
    for label, values in rows:
        cells = " | ".join(v.rjust(w) for v, w in zip(values, columns, strict=True))
        print(f"| {label:{width}} | {cells} |")

    briefer = summaries[0]
    checks = [
        (
            f"briefer wall {briefer.wall_s:.2f} s <= {WALL_FACTOR} x (latency bound "
            f"{briefer.latency_bound_s:.2f} s + CPU allowance {briefer.cpu_s:.2f} s) + "
            f"{WALL_SLACK_S} s = {wall_limit(briefer.bound_s):.2f} s",
            briefer.wall_s <= wall_limit(briefer.bound_s),
        ),
        (
            f"briefer tokens sent {briefer.run.tokens_sent:,} <= {TOKENS_FACTOR} x LangChain "
            f"matched's {matched:,} = {TOKENS_FACTOR * matched:,.0f}",
            briefer.run.tokens_sent <= TOKENS_FACTOR * matched,
        ),
    ]
    print()
    failures = []
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
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each; medians shown")
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
        budgets = briefer_budgets(server, args.model)
        setups = [matched_setup(budgets.map_tokens, budgets.reduce_tokens), TUTORIAL_SETUP]
        # LangChain's tutorial advises "stuff" (one call) when the documents fit the context.
        stuff = source_tokens + count_tokens(LC_MAP_INSTRUCTION) <= budgets.reduce_tokens
        results: dict[str, list[Run]] = {}
        with tempfile.TemporaryDirectory(prefix="briefer-bench-llm-") as scratch:
            warm, folder = Path(scratch) / "warm-up", Path(scratch) / "articles"
            _write(texts[:2], warm)
            _write(texts, folder)
            # An untimed run of each on two articles with no latency, so that imports and
            # first-use set-up (tiktoken, lazily imported modules, HTTP pools) are not timed.
            server.set_latency(0.0)
            run_briefer(warm, server, args.model, args.concurrency, options)
            run_langchain(texts[:2], server, args.model, args.concurrency, TUTORIAL_SETUP)
            server.set_latency(args.latency)
            for _ in range(args.runs):  # interleaved, so load on the machine hits all alike
                timed = [run_briefer(folder, server, args.model, args.concurrency, options)]
                timed += [
                    run_langchain(texts, server, args.model, args.concurrency, setup)
                    for setup in setups
                ]
                if stuff:
                    timed.append(run_langchain_stuff(texts, server, args.model))
                for run in timed:
                    results.setdefault(run.system, []).append(run)
    finally:
        server.stop()

    print(
        f"{len(texts)} articles, {source_tokens:,} source tokens (cl100k), latency "
        f"{args.latency * 1000:.0f} ms per call, concurrency {args.concurrency}, model "
        f"{args.model} (scripted stand-in), {args.runs} timed runs of each\n"
    )
    print(
        f"Machine contention: a CPU-bound loop took {machine_contention():.2f}x its CPU time in "
        "wall time (1.00 on an idle core; CPU-bound steps stretch by about this much)\n"
    )
    summaries = [summarise(runs, args.concurrency, args.latency) for runs in results.values()]
    failures = print_table(summaries, source_tokens, args.runs)
    print()
    for summary in summaries:
        for note in summary.run.notes:
            print(f"{summary.run.system}: {note}")
    briefer = summaries[0].run
    stages = ", ".join(f"{name} {seconds:.2f}" for name, seconds in briefer.timings.items())
    print(f"{briefer.system}: seconds per stage (first run): {stages}")
    return 1 if failures and args.strict else 0


def machine_contention(cpu_seconds: float = 0.3) -> float:
    """Return wall / CPU time of a pure-Python loop: 1.0 on an idle core, more when shared."""
    cpu_started, started = time.process_time(), time.perf_counter()
    while time.process_time() - cpu_started < cpu_seconds:
        sum(range(10_000))
    return (time.perf_counter() - started) / (time.process_time() - cpu_started)


def briefer_budgets(server: ServerProcess, model: str) -> Budgets:
    """Return the budgets briefer's engine packs map and reduce calls by (no call is made)."""
    with LLMEngine(_settings(server, model, 1)) as engine:
        return engine.budgets


if __name__ == "__main__":
    raise SystemExit(main())
