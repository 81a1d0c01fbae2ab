"""Tests for ingest.sources: reading, decoding, HTML extraction, cleaning, near-duplicates."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

from briefer.errors import SourceError
from briefer.ingest.cleaning import clean_text
from briefer.ingest.sources import mark_duplicates, read_sources
from briefer.models import Source

# The seed articles, byte for byte as in ../shared/seeds, bundled with the example.
SEEDS = Path(__file__).parents[1] / "examples" / "istanbul-talks" / "articles"
DATA = Path(__file__).parent / "data" / "ingest"
TITLE_000 = "Second round of Russia-Ukraine peace talks end swiftly with no major breakthrough"


def _seed_paths() -> list[Path]:
    # A missing directory must fail the run, not skip it.
    assert SEEDS.is_dir(), f"seed articles not found at {SEEDS}"
    paths = sorted(SEEDS.glob("*.txt"))
    assert len(paths) == 5, f"expected five seed articles in {SEEDS}"
    return paths


@cache
def _seeds() -> dict[str, Source]:
    """The five seeds read together, keyed by their number ("000" .. "004")."""
    paths = _seed_paths()
    return {
        p.name[:3]: s for p, s in zip(paths, read_sources([str(p) for p in paths]), strict=True)
    }


def _kept(source: Source) -> list[str]:
    return [source.text[b.start : b.end] for b in source.blocks]


def _dropped(source: Source) -> dict[str, str]:
    """Dropped block text -> reason (the last reason wins for repeated lines)."""
    return {source.text[d.start : d.end]: d.reason for d in source.dropped}


# --- the seeds: the story is kept ------------------------------------------------------------

KEPT = [
    # 000: first and last story paragraphs, a short quote paragraph, one between a teaser line
    ("000", "Russian and Ukrainian delegates met in Istanbul on Monday for their second set"),
    ("000", "Zelensky insisted that Russia's offer is 'not a ceasefire.'"),
    ("000", "Russian state media agencies reported that Russia laid out two ceasefire 'options'"),
    ("000", "It is not yet clear if Ukraine's daring Sunday air raid will streamline that path"),
    (
        "000",
        "Speaking in Lithuania, Zelensky said that if Monday's meeting 'brings nothing, that "
        "clearly means strong new sanctions are urgently, urgently needed.'",
    ),
    ("001", "Russian and Ukrainian delegates met in Istanbul on Monday for their second set"),
    ("001", "These targets were “completely legitimate,” Malyuk said, stressing that Russia"),
    ("001", "The operation has provided a much-needed boost to morale in Ukraine"),
    ("001", "“We firmly believe that all key issues can only be solved at the level of leaders,”"),
    ("001", "Speaking in Lithuania, Zelensky said that if Monday’s meeting “brings nothing, that"),
    ("002", "Russian and Ukrainian delegates convened in Istanbul on Monday for their second set"),
    ("002", "It remains unclear if Ukraine must agree to both options or can select just one."),
    ("002", "Zelensky emphasized the urgent need for strong new sanctions if the latest talks"),
    ("003", "A second round of peace negotiations between Russia and Ukraine concluded without"),
    ("003", "Russia currently occupies about 20% of Ukrainian land, including Crimea"),
    ("003", "“He wants both sides to engage directly,” Leavitt stated."),
    ("003", "The Kremlin responded by accusing Trump of having an “emotional outburst.”"),
    ("004", "Ukraine and Russia gathered in Istanbul on Monday to exchange notes on a potential"),
    ("004", "Russia refused to publish its memo or give it to Ukraine before the talks."),
    ("004", "saying that such a summit can only be planned after reaching the results in talks"),
]


@pytest.mark.parametrize(("seed", "sentence"), KEPT)
def test_story_sentences_are_kept(seed: str, sentence: str) -> None:
    assert any(sentence in block for block in _kept(_seeds()[seed]))


@pytest.mark.parametrize(
    ("seed", "paragraphs"), [("000", 30), ("001", 20), ("002", 5), ("003", 23), ("004", 17)]
)
def test_every_story_paragraph_and_nothing_else_is_kept(seed: str, paragraphs: int) -> None:
    kept = _kept(_seeds()[seed])
    assert len(kept) == paragraphs
    assert all(len(block.split()) >= 5 and block.rstrip("'”’\"")[-1] in ".!?" for block in kept)


# --- the seeds: the furniture is dropped ------------------------------------------------------

DROPPED = [
    ("000", "logo", "navigation"),
    ("000", TITLE_000, "title-repeat"),
    ("000", "CNN2 days ago", "dateline"),
    ("000", "CNN —", "dateline"),
    (
        "000",
        "Related article Ukraine's wily drone strikes expose Russia's vulnerability and could "
        "shift war's narrative",
        "related-teaser",
    ),
    ("000", "Try Our AI Features", "promo"),
    ("000", "No comments yet...", "comment-prompt"),
    ("000", "Related Articles", "related-articles"),
    (
        "000",
        "Ukraine delegation visits Washington as Senate mulls Russia sanctions",
        "related-articles",
    ),
    ("000", "DOWNLOAD THE APP", "footer"),
    ("001", "Close Menu", "navigation"),
    ("001", "• Entertainment & Lifestyle", "navigation"),
    ("001", "Subscribe to our newsletter and never miss our latest news", "subscribe"),
    ("001", "What's Hot", "related-articles"),
    ("001", "BLMS Media | Breaking News, Politics, Markets & World Updates", "site-name"),
    ("001", f"Home » {TITLE_000}", "breadcrumb"),
    ("001", "BLMS MEDIABy BLMS MEDIAJune 2, 2025No Comments5 Mins Read", "byline"),
    ("001", "Share Facebook Twitter Pinterest Telegram LinkedIn Tumblr Email Copy Link", "share"),
    ("001", "Follow Us", "follow"),
    (
        "001",
        "Smoke rises after a Ukrainian drone attack in Russia's northern Murmansk region, "
        "on Sunday.",
        "caption",
    ),
    ("001", "Source link", "source-link"),
    (
        "001",
        "Next Article Why the MIND diet beats Mediterranean in protecting against dementia",
        "prev-next",
    ),
    ("001", "Related Posts", "related-articles"),
    ("001", "Leave A Reply Cancel Reply", "comment-prompt"),
    ("001", "Don't Miss", "related-articles"),
    ("001", "© 2025 blmsmedia. Designed by blmsmedia.", "footer"),
    (
        "002",
        "https://icaro.icaromediagroup.com/system/images/photos/16536900/original/"
        "open-uri20250602-55-hjeooc?1748906338",
        "image-url",
    ),
    ("002", "02/06/2025 22h51", "dateline"),
    (
        "002",
        "The views expressed in this article do not reflect the opinion of ICARO, or any of "
        "its affiliates.",
        "disclaimer",
    ),
    ("002", "Related", "related-articles"),
    ("003", "Source: BBC", "source-link"),
    ("003", "About The Author", "author-box"),
    ("003", "Leave a Reply", "comment-prompt"),
    (
        "003",
        "Your email address will not be published. Required fields are marked *",
        "comment-prompt",
    ),
    (
        "004",
        "Simply subscribe to War in Ukraine Myft Digest – it is delivered directly to your inbox.",
        "subscribe",
    ),
    ("004", "Source link", "source-link"),
]


@pytest.mark.parametrize(("seed", "line", "reason"), DROPPED)
def test_furniture_is_dropped_with_its_reason(seed: str, line: str, reason: str) -> None:
    assert _dropped(_seeds()[seed]).get(line) == reason


@pytest.mark.parametrize(
    ("seed", "absent"),
    [
        ("000", ["UPI", "Blumenthal", "Miami Herald", "Daily8", "app store", "Orange background"]),
        ("001", ["BLMS", "Glastonbury", "Chrisley", "Smoke rises", "Subscribe", "Facebook"]),
        ("002", ["ICARO", "views expressed", "https://"]),
        ("003", ["BBC", "Leave a Reply", "Record Label", "email address"]),
        ("004", ["subscribe", "ft.com", "Source link", "free updates"]),
    ],
)
def test_no_furniture_text_is_kept(seed: str, absent: list[str]) -> None:
    kept = "\n".join(_kept(_seeds()[seed]))
    assert [word for word in absent if word in kept] == []


def test_the_ft_image_url_is_dropped() -> None:
    dropped = _dropped(_seeds()["004"])
    assert [r for line, r in dropped.items() if line.startswith("https://www.ft.com/")] == [
        "image-url"
    ]


@pytest.mark.parametrize(
    ("seed", "title"),
    [
        ("000", TITLE_000),
        ("001", TITLE_000),
        ("002", "Ukraine and Russia Engage in Contentious Second Round of Peace Talks in Istanbul"),
        ("003", "Russian Ukraine Talk"),
        ("004", "004_a464b9e0773b4ffd"),  # only a subscribe box above the story: the file stem
    ],
)
def test_title_is_the_headline_or_the_file_stem(seed: str, title: str) -> None:
    assert _seeds()[seed].title == title


def test_seeds_get_ids_in_order_and_keep_their_text_and_hash() -> None:
    paths, sources = _seed_paths(), list(_seeds().values())
    assert [s.id for s in sources] == ["S1", "S2", "S3", "S4", "S5"]
    assert [s.origin for s in sources] == [str(p) for p in paths]
    assert all(s.text == p.read_text(encoding="utf-8") for p, s in zip(paths, sources, strict=True))
    assert {s.encoding for s in sources} == {"utf-8"}
    assert all(len(s.sha256) == 64 for s in sources)


def _assert_blocks_are_exact(
    text: str, blocks: list[tuple[int, int]], dropped: list[tuple[int, int]]
) -> None:
    for start, end in blocks + dropped:
        assert start < end
        assert text[start:end] == text[start:end].strip()
    assert blocks == sorted(blocks)
    spans = sorted(blocks + dropped)
    assert all(a[1] <= b[0] for a, b in pairwise(spans))  # no overlap
    covered = "".join(text[s:e] for s, e in spans)
    assert "".join(covered.split()) == "".join(text.split())  # every character accounted for


def test_block_invariants_hold_for_every_seed_and_fixture() -> None:
    texts = [p.read_text(encoding="utf-8") for p in _seed_paths()]
    texts.append((DATA / "talks.md").read_text(encoding="utf-8"))
    for text in texts:
        blocks, dropped, _ = clean_text(text)
        _assert_blocks_are_exact(
            text, [(b.start, b.end) for b in blocks], [(d.start, d.end) for d in dropped]
        )


# --- clean_text on small inputs ---------------------------------------------------------------

STORY = [
    "Russian and Ukrainian delegates met in Istanbul on Monday for their second set of direct "
    "peace talks, a day after Kyiv launched a shock drone attack on Russia's bombers.",
    "The talks began late and lasted barely over an hour.",
    "Zelensky insisted that Russia's offer is 'not a ceasefire.'",
]


def _kept_texts(text: str) -> list[str]:
    return [text[b.start : b.end] for b in clean_text(text)[0]]


def test_everything_after_a_trailer_heading_is_dropped() -> None:
    other = (
        "Senators are growing antsy to move ahead with a massive sanctions package against "
        "Russia, and the only thing standing in the way is President Donald Trump."
    )
    text = "\n\n".join([*STORY, "You May Also Like", other, "Yahoo"])
    dropped = clean_text(text)[1]
    assert _kept_texts(text) == STORY
    assert {d.reason for d in dropped} == {"related-articles"}


def test_a_trailer_heading_above_the_story_does_not_end_it() -> None:
    text = "\n\n".join(["Top Stories", "Former coach named in class action suit", *STORY])
    assert _kept_texts(text) == STORY


def test_hard_wrapped_paragraph_is_one_block() -> None:
    text = (
        "Both sides agreed to exchange all seriously wounded prisoners of war and\n"
        "those under the age of 25, Ukraine's defence minister Rustem Umerov said\n"
        "after the talks, which lasted just over an hour.\n\n" + STORY[1]
    )
    kept = _kept_texts(text)
    assert kept[0].startswith("Both sides") and kept[0].endswith("just over an hour.")
    assert kept[1] == STORY[1]


def test_lines_that_are_sentences_stay_separate_blocks() -> None:
    text = "\n".join(STORY)
    assert _kept_texts(text) == STORY


def test_lead_in_with_a_list_is_kept_but_a_menu_is_not() -> None:
    items = [
        "- a full withdrawal of Ukrainian forces from four regions Russia claims",
        "- a halt to all foreign military aid to Kyiv and new elections",
    ]
    text = "\n".join(
        [STORY[0], "", "Russia's memorandum set out two options:", *items, "", STORY[1]]
    )
    text += "\n\n- Home\n- World\n- Politics"
    assert _kept_texts(text) == [
        STORY[0],
        "Russia's memorandum set out two options:",
        *items,
        STORY[1],
    ]


def test_caption_without_period_is_dropped_but_unpunctuated_quote_is_kept() -> None:
    caption = "Ukrainian President Volodymyr Zelensky at a press conference in Vilnius"
    quote = "“This is a special moment,” Zelensky said"
    text = "\n\n".join([STORY[0], caption, quote, STORY[1]])
    assert _kept_texts(text) == [STORY[0], quote, STORY[1]]


def test_long_paragraph_without_final_period_is_kept() -> None:
    long_line = (
        "Ukraine has insisted that a 30-day ceasefire is a test of whether Russia is serious "
        "about ending its war and is likely to view the offer as a ploy to rotate its units"
    )
    text = "\n\n".join([STORY[0], long_line, STORY[1]])
    assert _kept_texts(text) == [STORY[0], long_line, STORY[1]]


def test_past_tense_sentence_ending_with_a_date_is_not_a_caption() -> None:
    line = "Russia annexed the regions during its invasion in 2022."
    text = "\n\n".join([STORY[0], line, STORY[1]])
    assert line in _kept_texts(text)


def test_text_without_a_story_keeps_nothing() -> None:
    blocks, dropped, title = clean_text("Close Menu\n  • Home\n  • World\n\nFollow Us\n")
    assert blocks == []
    assert {d.reason for d in dropped} == {"navigation", "follow"}
    assert title is None


# --- reading files ----------------------------------------------------------------------------


def test_cp1252_file_is_decoded(tmp_path: Path) -> None:
    [source] = read_sources([str(DATA / "cp1252.txt")])
    assert source.encoding in {"cp1252", "windows-1252", "latin_1", "iso8859_1"}
    assert "palace café near the Bosphorus" in source.text
    assert "“We are here to work for peace,” said the minister" in source.text
    assert source.title == "Talks resume in Istanbul"


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "\n\n".join(STORY).encode("utf-8"))
    [source] = read_sources([str(path)])
    assert source.encoding == "utf-8"
    assert source.text.startswith("Russian and Ukrainian")


def _error(paths: list[str]) -> str:
    with pytest.raises(SourceError) as info:
        read_sources(paths)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("  \n\n")
    assert _error([str(path)]) == f"{path}: no text found (the file is empty, or holds only markup)"


def test_furniture_only_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "menu.txt"
    path.write_text(
        "Close Menu\n  • Home\n  • World\n\nSubscribe to our newsletter and never miss our "
        "latest news\n\n© 2025 blmsmedia. Designed by blmsmedia.\n"
    )
    message = _error([str(path)])
    assert message.startswith(f"{path}: ") and "no article text found" in message


def test_binary_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert _error([str(path)]) == f"{path}: binary or undecodable content, not a text file"


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.txt"
    assert _error([str(path)]) == f"{path}: no such file or directory"


def test_unsupported_extension_names_the_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_text(STORY[0])
    message = _error([str(path)])
    assert message.startswith(f"{path}: unsupported file type '.pdf'")
    assert all(ext in message for ext in (".txt", ".md", ".markdown", ".html", ".htm"))


def test_directory_without_supported_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_text(STORY[0])
    assert "no supported files" in _error([str(tmp_path)])


def test_directory_is_read_recursively_in_path_order_skipping_hidden(tmp_path: Path) -> None:
    story = "\n\n".join(STORY)
    for name in ["b.txt", "a/c.md", "a/b/d.markdown", ".hidden/e.txt", "a/.f.txt", "a/g.pdf"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"{name} headline here\n\n{story}")
    sources = read_sources([str(tmp_path)])
    assert [Path(s.origin).relative_to(tmp_path).as_posix() for s in sources] == [
        "a/b/d.markdown",
        "a/c.md",
        "b.txt",
    ]
    assert [s.id for s in sources] == ["S1", "S2", "S3"]


def test_a_path_given_twice_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "story.txt"
    path.write_text("\n\n".join(STORY))
    sources = read_sources([str(path), str(tmp_path), str(tmp_path / "." / "story.txt")])
    assert [s.id for s in sources] == ["S1"]


def test_stdin_is_read_for_dash() -> None:
    text = "Peace talks end swiftly\n\n" + "\n\n".join(STORY)
    [source] = read_sources(["-"], stdin=io.StringIO(text))
    assert (source.origin, source.title, source.text) == (
        "<stdin>",
        "Peace talks end swiftly",
        text,
    )
    assert _kept(source) == STORY


def test_stdin_bytes_are_decoded_like_files() -> None:
    raw = (DATA / "cp1252.txt").read_bytes()
    [source] = read_sources(["-"], stdin=io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
    assert source.encoding == "cp1252"
    assert "palace café" in source.text


def test_stdin_html_is_extracted() -> None:
    html = (DATA / "talks.html").read_text(encoding="utf-8")
    [source] = read_sources(["-"], stdin=io.StringIO(html))
    assert "<p>" not in source.text
    assert source.title == "Peace talks in Istanbul end without ceasefire"


def test_html_file_keeps_the_article_and_drops_the_page() -> None:
    path = DATA / "talks.html"
    [source] = read_sources([str(path)])
    kept = "\n".join(_kept(source))
    assert source.title == "Peace talks in Istanbul end without ceasefire"
    assert kept.startswith("Russian and Ukrainian delegates met in Istanbul on Monday")
    assert 'Zelensky insisted that Russia\'s offer is "not a ceasefire."' in kept
    assert kept.endswith('strong new sanctions are urgently, urgently needed."')
    for furniture in ["Home", "Subscribe", "Related Articles", "Great reporting", "Privacy", "©"]:
        assert furniture not in source.text
    assert "\n\n" in source.text  # paragraphs stay blank-line separated
    assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_markdown_text_is_kept_verbatim_and_cleaned() -> None:
    path = DATA / "talks.md"
    [source] = read_sources([str(path)])
    assert source.text == path.read_text(encoding="utf-8")
    assert source.title == "Istanbul talks end without a ceasefire"
    dropped = _dropped(source)
    assert (
        dropped[
            "![Delegations at the Ciragan Palace](https://example.org/images/istanbul-talks.jpg)"
        ]
        == "image-url"
    )
    assert dropped["## What Russia wants"] == "heading"
    kept = _kept(source)
    assert kept[0] == (
        "Russian and Ukrainian delegations met in Istanbul on Monday for a second\n"
        "round of direct talks, which lasted just over an hour and ended without an\n"
        "agreement on a ceasefire."
    )
    assert kept[-1].endswith("strong new sanctions are\nurgently needed.")
    assert not any("Share on" in block or "Read more" in block for block in kept)


# --- near-duplicates --------------------------------------------------------------------------


def test_seed_republished_with_other_furniture_is_a_duplicate() -> None:
    seeds = _seeds()
    assert {k: s.duplicate_of for k, s in seeds.items()} == {
        "000": None,
        "001": "S1",
        "002": None,
        "003": None,
        "004": None,
    }


def _source(number: int, paragraphs: list[str]) -> Source:
    text = "\n\n".join(paragraphs)
    blocks, dropped, _ = clean_text(text)
    return Source(
        id=f"S{number}",
        title="t",
        origin="o",
        text=text,
        blocks=blocks,
        dropped=dropped,
        sha256="0",
    )


def test_copy_with_extra_paragraphs_is_a_duplicate_of_the_earlier_source() -> None:
    story = _kept(_seeds()["001"])
    longer = _kept(_seeds()["000"])
    marked = mark_duplicates([_source(1, story[:8]), _source(2, longer), _source(3, story)])
    assert [s.duplicate_of for s in marked] == [None, "S1", "S1"]


def test_rewrite_with_different_wording_is_not_a_duplicate() -> None:
    marked = mark_duplicates(
        [_source(1, _kept(_seeds()["000"])), _source(2, _kept(_seeds()["002"]))]
    )
    assert [s.duplicate_of for s in marked] == [None, None]


def test_short_sources_sharing_a_phrase_are_not_duplicates() -> None:
    first = _source(1, ["The talks in Istanbul ended without a ceasefire on Monday."])
    second = _source(2, ["Officials said the talks in Istanbul ended early, and left."])
    assert [s.duplicate_of for s in mark_duplicates([first, second])] == [None, None]


def test_a_directory_walk_skips_readme_and_licence_files_but_reads_them_when_named(
    tmp_path: Path,
) -> None:
    story = (SEEDS / "003_5beee2cfb4e9681c.txt").read_bytes()
    (tmp_path / "003.txt").write_bytes(story)
    notes = "# Seed articles\n\nFive real web pages, saved as plain text exactly as captured.\n"
    (tmp_path / "README.md").write_text(notes, encoding="utf-8")
    assert [Path(s.origin).name for s in read_sources([str(tmp_path)])] == ["003.txt"]
    named = read_sources([str(tmp_path / "README.md")])
    assert named[0].origin.endswith("README.md")


def test_a_copy_of_two_originals_names_the_earlier_whatever_the_hash_seed(tmp_path: Path) -> None:
    first, second = _kept(_seeds()["002"]), _kept(_seeds()["003"])
    for name, paragraphs in (("a", first), ("b", second), ("c", first + second)):
        (tmp_path / f"{name}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    script = (
        "import sys; from briefer.ingest.sources import read_sources; "
        "print([s.duplicate_of for s in read_sources([sys.argv[1]])])"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in range(4)
    }
    assert runs == {"[None, None, 'S1']"}  # c holds all of a and all of b: a came first


def test_resolving_folders_once_gives_what_resolving_each_path_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from briefer.ingest.sources import _resolved

    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (real / "a.txt").write_text("a", encoding="utf-8")
    (real / "sub" / "b.txt").write_text("b", encoding="utf-8")
    (tmp_path / "linked").symlink_to(real)  # a folder reached through a link
    (real / "c.txt").symlink_to(real / "sub" / "b.txt")  # a file that is a link
    monkeypatch.chdir(real / "sub")
    paths = [
        real / "a.txt",
        tmp_path / "linked" / "a.txt",
        tmp_path / "linked" / "sub" / ".." / "a.txt",
        real / "c.txt",
        tmp_path / "linked" / "c.txt",
        Path("b.txt"),
        Path("..") / "a.txt",
    ]
    folders: dict[Path, str] = {}
    for path in paths + paths:  # the second time from the cache
        assert _resolved(path, folders) == str(path.resolve()), path
    assert _resolved(real / "c.txt", folders) == str(real / "sub" / "b.txt")


def test_control_characters_counted_in_utf8_bytes_as_in_the_text() -> None:
    import random

    from briefer.ingest.sources import _CONTROL, _CONTROL_BYTES

    assert [c for c in range(0x110000) if _CONTROL.match(chr(c))] == list(_CONTROL_BYTES)
    pool = [
        "a",
        " ",
        "\n",
        "\t",
        "\x01",
        "\x1b",
        "\x7f",
        "\x08",
        "\x0e",
        "é",
        "€",
        "漢",
        "\U0001f600",
    ]
    draw = random.Random(5)
    for _ in range(2000):
        text = "".join(draw.choices(pool, k=draw.randint(0, 40)))
        data = text.encode("utf-8")
        assert len(data) - len(data.translate(None, _CONTROL_BYTES)) == len(_CONTROL.findall(text))


def test_a_utf8_file_with_many_control_characters_is_refused(tmp_path: Path) -> None:
    story = "The talks ended on Monday without a ceasefire, officials said. " * 5
    (tmp_path / "few.txt").write_text(story + "\x1b", encoding="utf-8")
    (tmp_path / "many.txt").write_text(story + "\x1b\x7f" * 20 + "€", encoding="utf-8")
    assert read_sources([str(tmp_path / "few.txt")])[0].text.endswith("\x1b")
    with pytest.raises(SourceError, match="binary or undecodable content"):
        read_sources([str(tmp_path / "many.txt")])


def test_a_change_in_upper_case_is_told_from_the_opening_as_from_the_whole_text() -> None:
    import random
    import sys

    from briefer.ingest.cleaning import _changes_in_upper_case

    for point in range(sys.maxunicode + 1):
        char = chr(point)
        upper = char.upper()
        assert upper == char or upper[0] != char, hex(point)
    pool = ["A", "a", "ß", "ŉ", "ǅ", "ﬀ", "Σ", " ", "1", "漢", "\u0345", "İ", "ı"]
    draw = random.Random(6)
    for _ in range(3000):
        text = "".join(draw.choices(pool, k=draw.randint(0, 60)))
        assert _changes_in_upper_case(text) == (text != text.upper()), repr(text)
    for text in ["A" * 30 + "a", "A" * 30, "A" * 23 + "ß", "A" * 24 + "ß", "", "AB 12 CD " * 9]:
        assert _changes_in_upper_case(text) == (text != text.upper()), repr(text)
