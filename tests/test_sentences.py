"""The fast sentence splitter keeps syntok's decisions (pinned here on the cases that matter)."""

from __future__ import annotations

import pytest

from briefer.sentences import sentence_starts


def sentences(text: str) -> list[str]:
    starts = sentence_starts(text)
    return [text[a:b].strip() for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Officials met in the U.S. on Monday. They agreed.",
            ["Officials met in the U.S. on Monday.", "They agreed."],
        ),
        (
            "The deal was signed on Feb. 24 in Istanbul. Talks resumed.",
            ["The deal was signed on Feb. 24 in Istanbul.", "Talks resumed."],
        ),
        (
            "It was read by J. R. R. Tolkien Jr. at the embassy. Sen. John Kennedy spoke.",
            ["It was read by J. R. R. Tolkien Jr. at the embassy.", "Sen. John Kennedy spoke."],
        ),
        (
            'He said: "We will return." Then he left.',
            ['He said: "We will return."', "Then he left."],
        ),
        (
            "He said \u201cwe will return.\u201d The talks ended.",
            ["He said \u201cwe will return.\u201d", "The talks ended."],
        ),
        (
            "It was shown by (A. Author et al.) a few months ago. It held.",
            ["It was shown by (A. Author et al.) a few months ago.", "It held."],
        ),
        (
            "Prices rose by 3.5 per cent. In 2024. 2025 looks better.",
            ["Prices rose by 3.5 per cent.", "In 2024. 2025 looks better."],
        ),
        (
            "They agreed; The rest failed; it was late.",
            ["They agreed;", "The rest failed; it was late."],
        ),
        (
            "World War II. Officials said so. World War II. The end.",
            ["World War II. Officials said so.", "World War II.", "The end."],
        ),
        (
            "1. The first point. 2. The second point.",
            ["1. The first point.", "2. The second point."],
        ),
        (
            "A paragraph without a mark\n\nSecond paragraph. Two sentences.",
            ["A paragraph without a mark", "Second paragraph.", "Two sentences."],
        ),
        (
            "What now? Nobody knows! Maybe tomorrow...",
            ["What now?", "Nobody knows!", "Maybe tomorrow..."],
        ),
        ("It was no. 5 in the list. It fell.", ["It was no. 5 in the list.", "It fell."]),
        (
            "Why? \u201cWho are these people?\u201d. Although it was late, they stayed.",
            [
                "Why?",
                "\u201cWho are these people?\u201d.",
                "Although it was late, they stayed.",
            ],
        ),
        (
            '"Who are they? Why am I here?".\' Although late',
            ['"Who are they?', "Why am I here?\".' Although late"],
        ),
        ("the end.The start", ["the end.", "The start"]),
        ("? J. went home", ["? J. went home"]),
    ],
    ids=[
        "us",
        "month-and-day",
        "initials-and-titles",
        "straight-quote",
        "curly-quote",
        "short-bracket-passed-over",
        "numbers",
        "semicolon-before-a-starter",
        "roman-numeral",
        "list-number",
        "blank-line",
        "question-exclamation-ellipsis",
        "no-number",
        "quote-and-mark-after-question",
        "marks-after-a-question-stay-with-it",
        "no-space",
        "a-mark-opening-a-paragraph",
    ],
)
def test_sentences_follow_syntoks_rules(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_starts_are_ordered_and_on_text() -> None:
    text = "  One. Two (three. four) five.\n\n  Six?  \n"
    starts = sentence_starts(text)
    assert starts == sorted(set(starts))
    assert all(not text[s].isspace() for s in starts)
    assert sentences(text) == ["One.", "Two (three. four) five.", "Six?"]


def test_blank_text_has_no_sentence() -> None:
    assert sentence_starts("") == []
    assert sentence_starts(" \n\n\t ") == []
