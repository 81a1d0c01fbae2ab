"""Measure briefer's support checks on human-labelled (source, claim) pairs (issue 4).

Every pair of ``faithfulness/dev.jsonl`` is one claim written by a summarisation model and
the news article it summarises, labelled by people as supported (1) or not (0). The claims
carry no quotes, so this measures the support checks on their own: the article is the one
passage the claim cites, and the claim counts as flagged "unsupported" when
``grounding.support.check_support`` returns any reason. No rule of the checker mentions any
example; its constants are fixed in ``briefer/support.py``.

Beside it, a plain word-overlap baseline: the share of the claim's words (lowercased) that
occur in the article, flagged unsupported below a threshold. The threshold is chosen
honestly by two-fold cross-validation: the pairs are split in two halves by a hash of their
id, the threshold with the best balanced accuracy on one half is applied to the other, and
the out-of-half predictions are scored together.

Usage (from the repository root)::

    python bench/bench_faithfulness.py
    python bench/bench_faithfulness.py --eval-dir ../shared/eval-dev --show-errors 10
    python bench/bench_faithfulness.py --tune   # also: the constants re-picked by 2-fold CV

``--tune`` checks the fixed constants honestly: it re-picks ``COVERAGE_MIN`` and
``BINDING_MIN`` on one half (best balanced accuracy there), applies them to the other half,
and scores the out-of-half predictions together, as for the baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # lets a checkout run the bench without `pip install -e .`
    sys.path.insert(0, str(REPO_ROOT))

import briefer.grounding.support as support_module  # noqa: E402
from briefer.grounding.support import check_support  # noqa: E402

_WORD = re.compile(r"\w+")
# Values --tune tries for the support checks' two shares (fixed values in briefer/support.py).
_COVERAGE_GRID = (0.6, 0.7, 0.8, 0.9)
_BINDING_GRID = (0.4, 0.5, 0.6, 0.7)


@dataclass(frozen=True)
class Pair:
    """One labelled pair: ``supported`` is the human label."""

    id: str
    source: str
    claim: str
    supported: bool
    origin: str
    fold: int


@dataclass(frozen=True)
class Scores:
    """Detection scores, with "unsupported" as the positive class."""

    n: int
    precision: float
    recall: float
    f1: float
    balanced_accuracy: float
    supported_precision: float
    supported_recall: float


def load_pairs(eval_dir: Path) -> list[Pair]:
    """Return the pairs of ``eval_dir/faithfulness/dev.jsonl``, each assigned a fold (0/1)."""
    pairs = []
    with (eval_dir / "faithfulness" / "dev.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            row = json.loads(line)
            digest = hashlib.sha256(row["id"].encode("utf-8")).digest()
            pairs.append(
                Pair(
                    id=row["id"],
                    source=row["source"],
                    claim=row["claim"],
                    supported=row["label"] == 1,
                    origin=row["origin"].split(" ", 1)[0],
                    fold=digest[0] % 2,
                )
            )
    return pairs


def score(truth: Sequence[bool], flagged: Sequence[bool]) -> Scores:
    """Return detection scores; ``truth`` is "supported", ``flagged`` is "called unsupported"."""
    tp = sum(f and not t for t, f in zip(truth, flagged, strict=True))
    fp = sum(f and t for t, f in zip(truth, flagged, strict=True))
    fn = sum(not f and not t for t, f in zip(truth, flagged, strict=True))
    tn = sum(not f and t for t, f in zip(truth, flagged, strict=True))
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    supported_precision, supported_recall = _ratio(tn, tn + fn), _ratio(tn, tn + fp)
    return Scores(
        n=len(truth),
        precision=precision,
        recall=recall,
        f1=_ratio(2 * precision * recall, precision + recall),
        balanced_accuracy=(recall + supported_recall) / 2,
        supported_precision=supported_precision,
        supported_recall=supported_recall,
    )


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def word_overlap(claim: str, source: str) -> float:
    """Return the share of the claim's lowercased words that occur in the source."""
    words = _WORD.findall(claim.lower())
    vocabulary = set(_WORD.findall(source.lower()))
    return sum(w in vocabulary for w in words) / len(words) if words else 1.0


def cross_validated_flags(
    pairs: Sequence[Pair], values: Sequence[float]
) -> tuple[list[bool], list[float]]:
    """Flag ``value < threshold``, the threshold picked on the other fold (best BA there).

    Returns the flags and the threshold applied to fold 0 and to fold 1.
    """
    flags = [False] * len(pairs)
    thresholds = []
    for fold in (0, 1):
        train = [(v, p.supported) for v, p in zip(values, pairs, strict=True) if p.fold != fold]
        threshold = _best_threshold(train)
        thresholds.append(threshold)
        for i, (value, pair) in enumerate(zip(values, pairs, strict=True)):
            if pair.fold == fold:
                flags[i] = value < threshold
    return flags, thresholds


def _best_threshold(train: Sequence[tuple[float, bool]]) -> float:
    candidates = sorted({v for v, _ in train} | {1.01})
    truth = [t for _, t in train]

    def accuracy(threshold: float) -> float:
        return score(truth, [v < threshold for v, _ in train]).balanced_accuracy

    return max(candidates, key=accuracy)


def _table(rows: Sequence[tuple[str, Scores]]) -> list[str]:
    lines = [
        "| system | n | unsup. P | unsup. R | unsup. F1 | bal. acc. | sup. P | sup. R |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in rows:
        lines.append(
            f"| {name} | {s.n} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | "
            f"{s.balanced_accuracy:.3f} | {s.supported_precision:.3f} | "
            f"{s.supported_recall:.3f} |"
        )
    return lines


def _by(
    pairs: Sequence[Pair], systems: dict[str, list[bool]], key: Callable[[Pair], str]
) -> list[str]:
    lines = [
        "| origin | n | system | unsup. P | unsup. R | bal. acc. | sup. P | sup. R |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for group in sorted({key(p) for p in pairs}):
        index = [i for i, p in enumerate(pairs) if key(p) == group]
        truth = [pairs[i].supported for i in index]
        for name, flags in systems.items():
            s = score(truth, [flags[i] for i in index])
            lines.append(
                f"| {group} | {s.n} | {name} | {s.precision:.3f} | {s.recall:.3f} | "
                f"{s.balanced_accuracy:.3f} | {s.supported_precision:.3f} | "
                f"{s.supported_recall:.3f} |"
            )
    return lines


def _codes(pairs: Sequence[Pair], reasons: Sequence[list[str]]) -> list[str]:
    fired: Counter[tuple[str, bool]] = Counter()
    for pair, codes in zip(pairs, reasons, strict=True):
        for code in set(codes):
            fired[(code, pair.supported)] += 1
    n_bad = sum(not p.supported for p in pairs)
    n_good = len(pairs) - n_bad
    lines = [
        f"| reason code | fires on unsupported (of {n_bad}) | fires on supported (of {n_good}) |",
        "|---|---:|---:|",
    ]
    for code in sorted({c for c, _ in fired}, key=lambda c: -fired[(c, False)]):
        lines.append(f"| {code} | {fired[(code, False)]} | {fired[(code, True)]} |")
    return lines


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    shared = REPO_ROOT.parent / "shared"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--eval-dir", type=Path, default=shared / "eval-dev")
    parser.add_argument(
        "--show-errors", type=int, default=0, metavar="N", help="print N errors of each kind"
    )
    parser.add_argument(
        "--tune", action="store_true", help="also score the constants re-picked by 2-fold CV"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench and print its tables; return the exit code."""
    args = _parse_args(argv)
    print("$ python bench/bench_faithfulness.py " + shlex.join(argv or sys.argv[1:]))
    pairs = load_pairs(args.eval_dir)
    started = time.perf_counter()
    reasons = [[r.code for r in check_support(p.claim, [p.source])] for p in pairs]
    seconds = time.perf_counter() - started
    checker = [bool(codes) for codes in reasons]
    overlap = [word_overlap(p.claim, p.source) for p in pairs]
    baseline, thresholds = cross_validated_flags(pairs, overlap)
    truth = [p.supported for p in pairs]
    systems = {"briefer support checks": checker, "word overlap (2-fold CV)": baseline}

    folds = [sum(p.fold == f for p in pairs) for f in (0, 1)]
    print(f"\n{len(pairs)} pairs, {sum(truth)} supported; checker {seconds:.1f} s")
    print(
        f"word-overlap thresholds (picked on the other half): {thresholds[0]:.3f} for half 0 "
        f"({folds[0]} pairs), {thresholds[1]:.3f} for half 1 ({folds[1]} pairs)\n"
    )
    print("\n".join(_table([(name, score(truth, flags)) for name, flags in systems.items()])))
    print()
    print("\n".join(_by(pairs, systems, lambda p: p.origin)))
    print()
    print("\n".join(_codes(pairs, reasons)))
    if args.tune:
        _tune(pairs, truth)
    if args.show_errors:
        _show_errors(pairs, reasons, args.show_errors)
    return 0


def _tune(pairs: Sequence[Pair], truth: Sequence[bool]) -> None:
    """Print the checker's scores with its two shares re-picked on the other half."""
    fixed = (support_module.COVERAGE_MIN, support_module.BINDING_MIN)
    runs: dict[tuple[float, float], list[bool]] = {}
    try:
        for coverage in _COVERAGE_GRID:
            for binding in _BINDING_GRID:
                support_module.COVERAGE_MIN, support_module.BINDING_MIN = (
                    coverage,
                    binding,
                )
                runs[(coverage, binding)] = [
                    bool(check_support(p.claim, [p.source])) for p in pairs
                ]
    finally:
        support_module.COVERAGE_MIN, support_module.BINDING_MIN = fixed
    flags = [False] * len(pairs)
    print(f"\n--tune: COVERAGE_MIN in {_COVERAGE_GRID}, BINDING_MIN in {_BINDING_GRID}")
    for fold in (0, 1):
        train = [i for i, p in enumerate(pairs) if p.fold != fold]

        def accuracy(key: tuple[float, float], train: list[int] = train) -> float:
            return score([truth[i] for i in train], [runs[key][i] for i in train]).balanced_accuracy

        picked = max(runs, key=accuracy)
        print(
            f"picked on the other half for half {fold}: COVERAGE_MIN {picked[0]}, "
            f"BINDING_MIN {picked[1]}"
        )
        for i, pair in enumerate(pairs):
            if pair.fold == fold:
                flags[i] = runs[picked][i]
    best = max(runs, key=lambda key: score(truth, runs[key]).balanced_accuracy)
    print(
        f"(best on all pairs, in-sample: {best}, "
        f"bal. acc. {score(truth, runs[best]).balanced_accuracy:.3f})\n"
    )
    rows = [
        (f"fixed constants {fixed}", score(truth, runs.get(fixed) or [])),
        ("re-picked by 2-fold CV", score(truth, flags)),
    ]
    print("\n".join(_table(rows)))


def _show_errors(pairs: Sequence[Pair], reasons: Sequence[list[str]], limit: int) -> None:
    missed = [(p, r) for p, r in zip(pairs, reasons, strict=True) if not p.supported and not r]
    wrong = [(p, r) for p, r in zip(pairs, reasons, strict=True) if p.supported and r]
    for title, items in (("missed (unsupported, passed)", missed), ("rejected good", wrong)):
        print(f"\n## {title}: {len(items)}")
        for pair, codes in items[:limit]:
            print(f"- [{pair.origin}] {', '.join(codes) or '-'}: {pair.claim[:300]}")


if __name__ == "__main__":
    sys.exit(main())
