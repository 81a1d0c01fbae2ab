"""Cross-source synthesis: disagreements, and a figure that changed between dated reports."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from briefer.engines.extractive.engine import ExtractiveEngine
from briefer.engines.extractive.synthesis import (
    centroid_similarity,
    content_stems,
    disagreement,
    quantities,
    similarity_rows,
    vectorize,
)
from briefer.ingest.sources import read_sources
from briefer.models import BriefOptions
from briefer.pipeline import build_briefing
from briefer.render import render_markdown

EARLY = """Russia to hand over bodies of soldiers

By Staff Writer, June 2, 2025

Russia and Ukraine agreed in Istanbul on Monday to exchange the bodies of killed soldiers.
Medinsky said Russia would return the bodies of 6,000 Ukrainian soldiers in the coming week.
Ukraine said it would hand over the bodies of Russian soldiers in return, but gave no timeframe.
The talks lasted just over an hour and produced no ceasefire.
"""

LATER = """Bodies of soldiers returned to Ukraine

By Staff Writer, June 12, 2025

Russia and Ukraine carried out the exchange of the bodies of soldiers agreed in Istanbul.
Ukrainian officials said Russia returned the bodies of 1,212 Ukrainian soldiers on Wednesday.
Ukraine said it would hand over the bodies of Russian soldiers in return within days.
The exchange was the only concrete result of the talks, which produced no ceasefire.
"""


def _brief(tmp_path: Path, early: str, later: str) -> str:
    (tmp_path / "a.txt").write_text(early, encoding="utf-8")
    (tmp_path / "b.txt").write_text(later, encoding="utf-8")
    sources = read_sources([str(tmp_path)])
    options = BriefOptions(length=None, max_words=300, audience="general")
    return render_markdown(build_briefing(sources, ExtractiveEngine(), options))


def test_quantities_name_what_is_counted() -> None:
    found = quantities("Russia would return the bodies of 6,000 Ukrainian soldiers.")
    assert found["soldier"] == frozenset({"6000"})
    assert quantities("The war began in February 2022.") == {}


def test_different_counts_of_one_thing_disagree_and_equal_ones_do_not() -> None:
    a = "Russia would return the bodies of 6,000 Ukrainian soldiers."
    assert disagreement(a, "Russia returned the bodies of 1,212 Ukrainian soldiers.") == "soldiers"
    assert disagreement(a, "Moscow will hand back 6,000 soldiers' bodies.") is None
    assert disagreement(a, "The talks lasted just over an hour.") is None


def test_a_current_title_against_former_disagrees() -> None:
    former = "Erdogan suggested a summit that includes former U.S. President Donald Trump."
    current = "Leaders such as US President Donald Trump could also take part."
    assert disagreement(former, current) == "Donald Trump"
    assert disagreement(current, "Former Senator Jane Doe attended.") is None


def test_a_figure_that_changed_between_dated_reports_is_told_apart(tmp_path: Path) -> None:
    text = _brief(tmp_path, EARLY, LATER)
    assert "## Where sources differ" in text
    part = text.split("## Where sources differ", 1)[1]
    assert "reported differently over time (earliest first)" in part
    assert part.index("6,000") < part.index("1,212")
    assert "(2025-06-02)" in part and "(2025-06-12)" in part


def test_without_dates_the_same_figures_are_a_disagreement(tmp_path: Path) -> None:
    undated = [
        t.replace("June 2, 2025", "Staff").replace("June 12, 2025", "Staff") for t in (EARLY, LATER)
    ]
    text = _brief(tmp_path, *undated)
    part = text.split("## Where sources differ", 1)[1]
    assert "the sources differ" in part
    assert "over time" not in part


def test_dates_are_not_counts_and_labels_are_words_as_written() -> None:
    assert (
        disagreement(
            "Vallely, 24, will be sentenced on 8 December.",
            "The two teams meet again on Saturday, 17 December.",
        )
        is None
    )
    assert (
        disagreement(
            "Russia said it downed 41 aircraft overnight.",
            "Russia's defence ministry said it downed 35 aircraft.",
        )
        == "aircraft"
    )
    assert (
        disagreement(
            "Ukraine said 6,000 bodies would be returned.",
            "Kyiv said 5,000 bodies would be returned.",
        )
        == "bodies"
    )


def test_tfidf_weights_are_sublinear_tf_times_smoothed_idf_on_unit_rows() -> None:
    # The maths scikit-learn's TfidfVectorizer(sublinear_tf=True, norm="l2") used to do here:
    # tf = 1 + ln(count), idf = 1 + ln((1 + n) / (1 + df)), rows scaled to unit length.
    matrix = vectorize(["Zebra zebra kiwi.", "Kiwi apple.", "The and of."])
    assert matrix.shape == (3, 3)  # columns: appl, kiwi, zebra (alphabetical)
    rare = 1 + math.log(4 / 2)  # idf of a stem in one of three texts
    common = 1 + math.log(4 / 3)  # in two of three
    first = {"zebra": (1 + math.log(2)) * rare, "kiwi": common}
    second = {"kiwi": common, "appl": rare}

    def norm(row: dict[str, float]) -> float:
        return math.sqrt(sum(v * v for v in row.values()))

    rows = [matrix.data[matrix.indptr[i] : matrix.indptr[i + 1]].tolist() for i in range(3)]
    assert sorted(rows[0]) == pytest.approx(sorted(v / norm(first) for v in first.values()))
    assert sorted(rows[1]) == pytest.approx(sorted(v / norm(second) for v in second.values()))
    assert rows[2] == []
    similar = similarity_rows(matrix, [0, 1])
    cosine = common * common / (norm(first) * norm(second))
    assert similar[0].tolist() == pytest.approx([1.0, cosine, 0.0])
    assert similar[1].tolist() == pytest.approx([cosine, 1.0, 0.0])
    assert similar.dtype == np.float32


def test_vectorize_of_texts_without_content_words_is_all_zero() -> None:
    matrix = vectorize(["The and of.", "It is."])
    assert similarity_rows(matrix, [0, 1]).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert centroid_similarity(matrix, ["a", "b"]).tolist() == [0.0, 0.0]


def test_centroid_similarity_is_the_mean_of_unit_group_sums_bit_for_bit() -> None:
    # The reference: the dense groups x columns matrix the centroid was once averaged from.
    rng = random.Random(7)
    words = ["".join(rng.choice("abcdefghij") for _ in range(5)) for _ in range(300)]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(400)]
    groups = [f"S{rng.randint(1, 40)}" for _ in texts]
    matrix = vectorize(texts)
    labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
    dense = np.zeros((len(labels), matrix.shape[1]), dtype=np.float32)
    for g in range(len(labels)):
        total = matrix.column_sums(np.flatnonzero(inverse == g))
        if float(np.linalg.norm(total)) > 0:
            dense[g] = total / float(np.linalg.norm(total))
    centroid = dense.mean(axis=0)
    expected = matrix.dot(centroid / float(np.linalg.norm(centroid)))

    assert np.array_equal(centroid_similarity(matrix, groups), expected)


def _pile_with_repeats() -> tuple[list[str], list[str]]:
    rng = random.Random(3)
    words = ["".join(rng.choice("abcdefgh") for _ in range(5)) for _ in range(60)]
    base = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 10))) for _ in range(40)]
    texts = [rng.choice(base) for _ in range(300)]
    return texts, [f"S{rng.randint(1, 25)}" for _ in texts]


def test_repeated_texts_share_one_stored_row_weighted_as_in_the_full_matrix() -> None:
    # The reference: each row on its own, with document frequencies counted over every row
    # (repeats included), the norm's squares added in the row's entry order.
    texts, _ = _pile_with_repeats()
    matrix = vectorize(texts)
    rows = [Counter(content_stems(text)) for text in texts]
    df = Counter(term for row in rows for term in row)
    idf = np.float32(len(texts) + 1) / np.asarray([df[t] + 1 for t in sorted(df)], np.float32)
    idf = np.log(idf) + np.float32(1.0)
    assert len(matrix.indptr) - 1 == len(set(texts)) < len(texts)  # each text stored once
    term_of = sorted(df)  # columns are numbered alphabetically
    for r, row in enumerate(rows):
        stored = int(matrix.row_text[r])
        span = slice(int(matrix.indptr[stored]), int(matrix.indptr[stored + 1]))
        columns = matrix.indices[span]
        assert sorted(term_of[c] for c in columns.tolist()) == sorted(row)
        counts = np.asarray([row[term_of[c]] for c in columns.tolist()], dtype=np.float32)
        weights = (np.log(counts) + np.float32(1.0)) * idf[columns]
        norm = math.sqrt(sum(float(w * w) for w in weights))  # in storage order, in float64
        expected = [float(np.float32(float(w) / norm)) for w in weights]
        assert matrix.data[span].tolist() == expected


def test_column_sums_add_the_rows_one_after_another_bit_for_bit() -> None:
    texts, groups = _pile_with_repeats()
    matrix = vectorize(texts)
    for group in sorted(set(groups)):
        rows = np.flatnonzero(np.asarray(groups) == group)
        expected = np.zeros(matrix.shape[1], dtype=np.float32)
        for row in rows.tolist():
            stored = int(matrix.row_text[row])
            span = slice(int(matrix.indptr[stored]), int(matrix.indptr[stored + 1]))
            expected[matrix.indices[span]] += matrix.data[span]
        assert np.array_equal(matrix.column_sums(rows), expected)


def test_similarities_of_repeated_texts_are_copies_of_their_stored_row() -> None:
    texts, _ = _pile_with_repeats()
    matrix = vectorize(texts)
    first = {text: n for n, text in reversed(list(enumerate(texts)))}
    similar = similarity_rows(matrix, [0, 1, 2])
    for r, text in enumerate(texts):
        assert similar[:, r].tolist() == similar[:, first[text]].tolist()
    assert similar[0, 0] == pytest.approx(1.0)


def test_content_stems_of_an_ascii_text_are_those_of_the_word_by_word_path() -> None:
    # " é" makes the text non-ASCII (the word-by-word path) and adds only a one-letter word.
    for text in [
        "The Ministers' SIGNED deals: O'Brien's 1,200 U.S. troops_Withdraw",
        "It's Kyiv's don't-stop x9y ABC d'Artagnan",
    ]:
        assert content_stems(text) == content_stems(text + " é")
        assert content_stems(text)


def test_names_are_the_capitalised_words_between_word_boundaries() -> None:
    import re

    from briefer.engines.extractive.synthesis import names_in

    reference = re.compile(r"\b[A-Z][a-zà-ÿ]{3,}\b")
    for text in [
        "Zelensky met Erdoğan in Istanbul; ÉParis aParis _Abcd 9Abcd Abcde_ Ábcd",
        "x÷Paris÷x Abcd, Kyiv-Luhansk (Donetsk) Moscowé Москва Zürich",
    ]:
        assert names_in(text) == set(reference.findall(text))
        assert names_in(text)
