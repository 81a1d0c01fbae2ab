"""Compare briefer's offline engine with classic extractive summarisers on eval-dev (issues 5, 11).

Every cluster of ``mds/dev.jsonl`` and ``mds/dev-2doc.jsonl`` (56 in all) is summarised by
briefer (each document written to a ``.txt`` file and read with ``read_sources``, so ingest
and cleaning are included), by a lead baseline (round-robin first sentences of each document)
and by sumy's LexRank, TextRank and LSA. Every output is cut to the same number of whole words
(the reference's length, or a fixed budget) and scored against the human reference with
rouge-score (stemming on).

NLTK data cannot be downloaded here, so the peers get their sentences from pysbd and their
words from NLTK's data-free Treebank tokenizer, filtered the way sumy's own tokenizer does.

The clusters are split once, up front, into a development part (the only one looked at while
changing the engine) and a confirmation part (see ``split_parts``). Figures are printed for
each file, each part and all 56, with per-cluster win counts against the best peer and a
bootstrap confidence interval for the mean difference.

Usage (from the repository root, with the bench extra installed)::

    python bench/bench_rouge.py
    python bench/bench_rouge.py --budget 100
    python bench/bench_rouge.py --part dev       # only the development part
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

import nltk  # type: ignore[import-untyped]
import pysbd  # type: ignore[import-untyped]
from rouge_score.rouge_scorer import RougeScorer  # type: ignore[import-untyped]
from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence  # type: ignore[import-untyped]
from sumy.nlp.stemmers import Stemmer  # type: ignore[import-untyped]
from sumy.summarizers.lex_rank import LexRankSummarizer  # type: ignore[import-untyped]
from sumy.summarizers.lsa import LsaSummarizer  # type: ignore[import-untyped]
from sumy.summarizers.text_rank import TextRankSummarizer  # type: ignore[import-untyped]
from sumy.utils import get_stop_words  # type: ignore[import-untyped]

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # lets a checkout run the bench without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT))

from briefer.engines.extractive.engine import ExtractiveEngine  # noqa: E402
from briefer.errors import BrieferError  # noqa: E402
from briefer.ingest.sources import read_sources  # noqa: E402
from briefer.models import BriefOptions  # noqa: E402
from briefer.pipeline import build_briefing  # noqa: E402

LANGUAGE = "english"
METRICS = ("rouge1", "rouge2", "rougeL")
SYSTEMS = ("briefer", "lead", "lexrank", "textrank", "lsa")
PEERS = SYSTEMS[1:]
FILES = ("dev.jsonl", "dev-2doc.jsonl")
SPLIT_SEED = 11  # fixed before any engine change of issue 11; never re-drawn
BOOTSTRAP_SAMPLES = 10_000
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")

Summarize = Callable[[list[list[list[str]]], int], str]


@dataclass
class Cluster:
    """One eval-dev cluster: its documents and the human reference."""

    id: str
    docs: list[str]
    reference: str
    file: str = "dev.jsonl"
    part: str = "dev"


@dataclass
class SystemRun:
    """One system's scores over all clusters of one budget."""

    name: str
    scores: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in METRICS})
    words: list[int] = field(default_factory=list)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


class _WordTokenizer:
    """sumy's default word tokenizer minus the punkt step, which needs downloaded NLTK data."""

    _WORD = re.compile(r"^[^\W\d_](?:[^\W\d_]|['-])*$")  # sumy's Tokenizer._WORD_PATTERN

    def to_words(self, sentence: str) -> tuple[str, ...]:
        tokens = nltk.tokenize.word_tokenize(sentence, preserve_line=True)
        return tuple(t for t in tokens if self._WORD.match(t))


class _SortedLsaSummarizer(LsaSummarizer):  # type: ignore[misc]
    """sumy's LSA with its vocabulary rows in sorted order instead of set order.

    sumy numbers the rows in ``frozenset`` order, which changes with the string hash seed
    and so moved LSA's scores by a few tenths between runs; the order means nothing else.
    """

    def _create_dictionary(self, document: Any) -> dict[str, int]:
        words = (self.normalize_word(w) for w in document.words)
        unique = sorted({self.stem_word(w) for w in words if w not in self._stop_words})
        return {w: i for i, w in enumerate(unique)}


def load_clusters(eval_dir: Path) -> list[Cluster]:
    """Return the clusters of both eval-dev files, in file order, each tagged with its part."""
    clusters: list[Cluster] = []
    for name in FILES:
        with (eval_dir / "mds" / name).open(encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines if line.strip()]
        clusters += [
            Cluster(
                id=r["id"],
                docs=[d["text"] for d in r["docs"]],
                reference=r["references"][0],
                file=name,
            )
            for r in rows
        ]
    split_parts(clusters)
    return clusters


def split_parts(clusters: Sequence[Cluster]) -> None:
    """Tag each cluster "dev" or "confirm": half of each file, drawn with a fixed seed.

    Within each file the clusters are ordered by the SHA-256 of their id, shuffled with
    ``random.Random(SPLIT_SEED)`` and the first ceil(n/2) go to the development part, so the
    split does not depend on file order and never changes between runs.
    """
    for name in FILES:
        members = sorted(
            (c for c in clusters if c.file == name),
            key=lambda c: hashlib.sha256(c.id.encode()).hexdigest(),
        )
        random.Random(SPLIT_SEED).shuffle(members)
        half = (len(members) + 1) // 2
        for i, cluster in enumerate(members):
            cluster.part = "dev" if i < half else "confirm"


def cut_words(text: str, budget: int) -> str:
    """Return the first ``budget`` whole words of ``text``."""
    return " ".join(text.split()[:budget])


def split_document(text: str, segmenter: Any) -> list[list[str]]:
    """Return the document's paragraphs, each a list of sentences (pysbd)."""
    paragraphs = []
    for block in _PARAGRAPH_BREAK.split(text):
        sentences = [s.strip() for s in segmenter.segment(block) if s.strip()]
        if sentences:
            paragraphs.append(sentences)
    return paragraphs


def summarize_lead(docs: list[list[list[str]]], budget: int) -> str:
    """Return first sentences taken round-robin across documents until the budget is met."""
    queues = [[s for paragraph in doc for s in paragraph] for doc in docs]
    chosen: list[str] = []
    words = 0
    for depth in range(max(map(len, queues), default=0)):
        for queue in queues:
            if depth < len(queue) and words < budget:
                chosen.append(queue[depth])
                words += len(queue[depth].split())
    return " ".join(chosen)


def _make_sumy(summarizer_class: Any) -> Summarize:
    """Return a summarize function running one sumy summarizer over the whole cluster."""
    summarizer = summarizer_class(Stemmer(LANGUAGE))
    summarizer.stop_words = get_stop_words(LANGUAGE)
    tokenizer = _WordTokenizer()

    def summarize(docs: list[list[list[str]]], budget: int) -> str:
        document = ObjectDocumentModel(
            [
                Paragraph([Sentence(s, tokenizer) for s in paragraph])
                for doc in docs
                for paragraph in doc
            ]
        )

        def best_until_budget(ranked: list[Any]) -> list[Any]:
            # sumy hands over its sentences best-rated first; keep them until the budget is met
            kept, words = [], 0
            for info in ranked:
                if words >= budget:
                    break
                kept.append(info)
                words += len(str(info.sentence).split())
            return kept

        return " ".join(str(s) for s in summarizer(document, best_until_budget))

    return summarize


def summarize_briefer(cluster: Cluster, budget: int, workdir: Path) -> str:
    """Return briefer's bullet texts for the cluster, read from files like a user's pile."""
    folder = workdir / cluster.id
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, text in enumerate(cluster.docs):
        path = folder / f"doc{number:02d}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    options = BriefOptions(length=None, max_words=budget, audience="general")
    briefing = build_briefing(read_sources(paths), ExtractiveEngine(), options)
    return " ".join(b.text for b in briefing.bullets)


def evaluate(
    clusters: Sequence[Cluster],
    budget_spec: str,
    workdir: Path,
    dumped: dict[str, dict[str, dict[str, str]]] | None = None,
) -> list[SystemRun]:
    """Return every system's scores over ``clusters`` for one budget (``reference`` or N)."""
    scorer = RougeScorer(list(METRICS), use_stemmer=True)
    segmenter = pysbd.Segmenter(language="en", clean=False)
    peers: dict[str, Summarize] = {
        "lead": summarize_lead,
        "lexrank": _make_sumy(LexRankSummarizer),
        "textrank": _make_sumy(TextRankSummarizer),
        "lsa": _make_sumy(_SortedLsaSummarizer),
    }
    runs = {name: SystemRun(name) for name in SYSTEMS}
    for cluster in clusters:
        budget = _budget(budget_spec, cluster)
        outputs: dict[str, str] = {}
        clock = time.perf_counter()
        try:
            outputs["briefer"] = summarize_briefer(cluster, budget, workdir / budget_spec)
        except BrieferError as error:  # scored as empty, reported under the table
            outputs["briefer"] = ""
            runs["briefer"].failures.append(f"{cluster.id}: {error}")
        runs["briefer"].seconds += time.perf_counter() - clock

        clock = time.perf_counter()
        docs = [split_document(text, segmenter) for text in cluster.docs]
        split_seconds = time.perf_counter() - clock
        for name, summarize in peers.items():
            clock = time.perf_counter()
            outputs[name] = summarize(docs, budget)
            runs[name].seconds += time.perf_counter() - clock + split_seconds

        if dumped is not None:
            dumped.setdefault(budget_spec, {})[cluster.id] = {
                "reference": cluster.reference,
                **{name: cut_words(text, budget) for name, text in outputs.items()},
            }
        for name, text in outputs.items():
            cut = cut_words(text, budget)
            score = scorer.score(cluster.reference, cut)
            for metric in METRICS:
                runs[name].scores[metric].append(100 * score[metric].fmeasure)
            runs[name].words.append(len(cut.split()))
    return [runs[name] for name in SYSTEMS]


def _budget(spec: str, cluster: Cluster) -> int:
    return len(cluster.reference.split()) if spec == "reference" else int(spec)


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def bootstrap_interval(diffs: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """Return the 95% percentile bootstrap interval of the mean of ``diffs`` (by cluster)."""
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(
        math.fsum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(BOOTSTRAP_SAMPLES)
    )
    return means[int(0.025 * BOOTSTRAP_SAMPLES)], means[int(0.975 * BOOTSTRAP_SAMPLES) - 1]


def _group_report(
    title: str, members: Sequence[int], clusters: Sequence[Cluster], runs: Sequence[SystemRun]
) -> list[str]:
    """Return the table, win counts, intervals and target checks for one group of clusters."""
    by_name = {r.name: r for r in runs}

    def avg(name: str, metric: str) -> float:
        return mean(by_name[name].scores[metric][i] for i in members)

    rows: list[tuple[str, ...]] = [("system", "R-1", "R-2", "R-L", "words")]
    rows += [
        (
            r.name,
            *(f"{avg(r.name, m):.1f}" for m in METRICS),
            f"{mean(r.words[i] for i in members):.0f}",
        )
        for r in runs
    ]
    lines = [f"{title} ({len(members)} clusters)", _table(rows)]
    for metric, label in (("rouge2", "R-2"), ("rougeL", "R-L")):
        best = max(PEERS, key=lambda name: avg(name, metric))
        ours = by_name["briefer"].scores[metric]
        theirs = by_name[best].scores[metric]
        diffs = [ours[i] - theirs[i] for i in members]
        low, high = bootstrap_interval(diffs)
        wins = sum(d > 0 for d in diffs)
        ties = sum(d == 0 for d in diffs)
        lines.append(
            f"{label}: briefer - {best} (best peer) = {mean(diffs):+.2f}, 95% bootstrap CI "
            f"[{low:+.2f}, {high:+.2f}]; briefer ahead on {wins}, level on {ties}, behind on "
            f"{len(members) - wins - ties} of {len(members)}"
        )
    margin = avg("briefer", "rouge2") - avg("lexrank", "rouge2")
    best_rl = max(avg(name, "rougeL") for name in PEERS)
    lines.append(
        f"targets: R-2 >= LexRank + 1.0: {'PASS' if margin >= 1.0 else 'FAIL'} ({margin:+.2f}); "
        f"R-L >= best peer: {'PASS' if avg('briefer', 'rougeL') >= best_rl else 'FAIL'} "
        f"({avg('briefer', 'rougeL') - best_rl:+.2f})"
    )
    return lines


def format_report(
    clusters: Sequence[Cluster], runs: Sequence[SystemRun], budget: str, per_cluster: bool
) -> str:
    """Return one block per group of clusters (all, each file, each part) for one budget."""
    label = "the reference's length" if budget == "reference" else f"{budget} words"
    parts = [
        f"=== Budget: {label}; mean F1 x 100 (rouge-score, stemmed) ===",
        "time: " + ", ".join(f"{r.name} {r.seconds:.1f} s" for r in runs),
    ]
    everything = list(range(len(clusters)))
    groups = [(f"all {len(clusters)}", everything)]
    groups += [
        (f"file {name}", [i for i in everything if clusters[i].file == name]) for name in FILES
    ]
    groups += [
        (f"{part} part", [i for i in everything if clusters[i].part == part])
        for part in ("dev", "confirm")
    ]
    for title, members in groups:
        if members and (len(members) < len(clusters) or title.startswith("all")):
            parts += ["", *_group_report(title, members, clusters, runs)]
    if per_cluster:
        by_name = {r.name: r for r in runs}
        rows: list[tuple[str, ...]] = [
            ("cluster", "part", "docs", "budget", "R-2 ours", "lexrank", "R-L ours", "lexrank")
        ]
        for i, cluster in enumerate(clusters):
            rows.append(
                (
                    cluster.id,
                    cluster.part,
                    str(len(cluster.docs)),
                    str(_budget(budget, cluster)),
                    f"{by_name['briefer'].scores['rouge2'][i]:.1f}",
                    f"{by_name['lexrank'].scores['rouge2'][i]:.1f}",
                    f"{by_name['briefer'].scores['rougeL'][i]:.1f}",
                    f"{by_name['lexrank'].scores['rougeL'][i]:.1f}",
                )
            )
        parts += ["", _table(rows)]
    parts += [f"briefer failed on {failure}" for failure in by_name_failures(runs)]
    return "\n".join(parts)


def by_name_failures(runs: Sequence[SystemRun]) -> list[str]:
    """Return briefer's failures (clusters it could not brief, scored as empty)."""
    return next(r for r in runs if r.name == "briefer").failures


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--eval-dir", type=Path, default=REPO_ROOT.parent / "shared" / "eval-dev")
    parser.add_argument(
        "--budget",
        action="append",
        help="'reference' (each reference's word count) or a number of words; repeatable "
        "(default: reference, then 100)",
    )
    parser.add_argument(
        "--part",
        choices=("all", "dev", "confirm"),
        default="all",
        help="which part of the fixed split to run (default: all, reported by file and part)",
    )
    parser.add_argument(
        "--per-cluster", action="store_true", help="also print every cluster's R-2 and R-L"
    )
    parser.add_argument(
        "--dump", type=Path, help="write every system's summary per cluster to this JSON file"
    )
    args = parser.parse_args(argv)
    args.budget = args.budget or ["reference", "100"]
    for spec in args.budget:
        if spec != "reference" and not (spec.isdigit() and int(spec) > 0):
            parser.error(f"--budget must be 'reference' or a positive number, not {spec!r}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every system at every requested budget and print the tables."""
    args = _parse_args(argv)
    clusters = load_clusters(args.eval_dir)
    if args.part != "all":
        clusters = [c for c in clusters if c.part == args.part]
    print(f"command: {shlex.join(sys.orig_argv)}")
    start = time.perf_counter()
    dumped: dict[str, dict[str, dict[str, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="briefer-rouge-") as tmp:
        for budget in args.budget:
            runs = evaluate(clusters, budget, Path(tmp), dumped)
            print()
            print(format_report(clusters, runs, budget, args.per_cluster))
    if args.dump:
        args.dump.write_text(json.dumps(dumped, indent=1), encoding="utf-8")
    print(f"\ntotal time: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
