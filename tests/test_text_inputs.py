"""Hostile and unusual text inputs (issue 10, "Text" and item 10): damaged UTF-8, non-Latin
scripts, deep HTML, Markdown that is only a table or code, briefer's own outputs in a folder."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from briefer.chunking import chunk_source
from briefer.engines.extractive.engine import ExtractiveEngine
from briefer.errors import SourceError
from briefer.ingest.sources import read_sources
from briefer.models import Briefing, BriefOptions, Citation, Claim, Reason, RejectedClaim
from briefer.pipeline import build_briefing
from briefer.render import OutputFormat, md_text, render
from briefer.tokens import count_tokens
from briefer.verify import rejected_markdown
from briefer.words import count_words

BRIDGE = [
    "Officials said the new bridge opened on Saturday after five years of work.",
    "The mayor said the bridge \u201cwill change the city\u201d and thanked the builders.",
    "Traffic on the old crossings fell by a third in the first week, the city reported.",
    "Residents welcomed the news, but some worried about noise near the river.",
]


def _read_with_warnings(*paths: Path) -> tuple[list[str], list[str]]:
    """Return the texts read from ``paths`` and the warnings given while reading."""
    warnings: list[str] = []
    sources = read_sources([str(p) for p in paths], warn=warnings.append)
    return [s.text for s in sources], warnings


# --- item 13: invalid UTF-8 in an otherwise UTF-8 file ----------------------------------------


def test_invalid_utf8_is_replaced_in_place_and_named_with_its_byte_offset(tmp_path: Path) -> None:
    data = "\n\n".join(BRIDGE).encode("utf-8")
    bad_at = data.index(b"Traffic") + 3
    path = tmp_path / "damaged.txt"
    path.write_bytes(data[:bad_at] + b"\xff" + data[bad_at:])

    [text], warnings = _read_with_warnings(path)

    # No mojibake: the curly quotes survive, the bad byte becomes one U+FFFD, nothing is lost.
    assert text == "\n\n".join(BRIDGE).replace("Traffic", "Tra\ufffdffic")
    assert warnings == [
        f"{path}: invalid UTF-8 at byte {bad_at}; "
        "decoded as UTF-8 with U+FFFD replacement characters"
    ]


def test_several_invalid_bytes_are_counted_in_one_warning(tmp_path: Path) -> None:
    data = "\n\n".join(BRIDGE).encode("utf-8")
    path = tmp_path / "damaged.txt"
    path.write_bytes(b"\xc3" + data + b"\n\nMore \x80\x80 text here.")

    [text], warnings = _read_with_warnings(path)

    assert text.startswith("\ufffdOfficials said") and "\u201cwill change the city\u201d" in text
    [warning] = warnings
    assert warning.startswith(f"{path}: invalid UTF-8 at byte 0 and 2 more places;")


def test_a_legacy_8_bit_file_is_still_detected_without_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes(
        "\n\n".join(BRIDGE)
        .replace("\u201c", '"')
        .replace("\u201d", '"')
        .replace("mayor", "mayor of Bogotá, José Pérez,")
        .encode("cp1252")
    )

    [text], warnings = _read_with_warnings(path)

    assert "Bogotá, José Pérez" in text and warnings == []


# --- item 10: a directory walk does not take briefer's own outputs for articles ---------------

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "istanbul-talks"


def test_the_example_folder_is_briefed_from_its_articles_not_its_goldens() -> None:
    warnings: list[str] = []
    sources = read_sources([str(EXAMPLE)], warn=warnings.append)

    assert sorted(Path(s.origin).name for s in sources) == sorted(
        p.name for p in (EXAMPLE / "articles").glob("*.txt")
    )
    assert warnings == [
        f"{EXAMPLE}: skipped 3 briefings that briefer wrote, not articles "
        "(golden/long-analyst.md, golden/short-executive.md, golden/standard-general.md); "
        "name a file to read it anyway"
    ]


@pytest.mark.parametrize("fmt", [OutputFormat.md, OutputFormat.html])
def test_a_briefing_saved_beside_the_articles_is_recognised_by_its_content(
    tmp_path: Path, fmt: OutputFormat
) -> None:
    articles = tmp_path / "news"
    articles.mkdir()
    for k, name in enumerate(["a.txt", "b.txt"]):
        (articles / name).write_text("\n\n".join(BRIDGE[k:]), encoding="utf-8")
    briefing = build_briefing(read_sources([str(articles)]), ExtractiveEngine(), BriefOptions())
    saved = articles / f"brief.{fmt.value}"
    saved.write_text(render(briefing, fmt), encoding="utf-8")

    warnings: list[str] = []
    walked = read_sources([str(articles)], warn=warnings.append)

    assert [Path(s.origin).name for s in walked] == ["a.txt", "b.txt"]
    assert len(warnings) == 1 and f"(brief.{fmt.value})" in warnings[0]


def test_a_folder_holding_only_briefings_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="holds only briefings briefer wrote, no articles"):
        read_sources([str(EXAMPLE / "golden")], warn=lambda _: None)


# --- item 11: article markup is shown as text in the Markdown output -------------------------

HOSTILE = [
    "Council approves [budget](javascript:alert(1)) plan <b>today</b>",
    "Officials said the page showed <script>alert('x')</script> to every visitor on Monday.",
    "The forum post embedded <img src=x onerror=alert(1)> in a message about the vote.",
    "Readers were urged to [click here](javascript:alert(1)) to see the full results.",
    "The council called the plan **a major step** and approved it by 7 votes to 2.",
    "The mayor's office said the budget rose by 12% to &pound;4 million, a record high.",
    "It was the year the old bridge closed, the city's engineers said.",
]


def _rendered_html(markdown: str) -> str:
    from markdown_it import MarkdownIt  # installed with typer's rich; a CommonMark renderer

    return MarkdownIt("commonmark", {"html": True}).enable("strikethrough").render(markdown)


def test_article_markup_in_bullets_titles_and_sources_is_escaped(tmp_path: Path) -> None:
    path = tmp_path / "<img src=x onerror=alert(2)>`x`.txt"
    path.write_text("\n\n".join(HOSTILE), encoding="utf-8")
    options = BriefOptions(length=None, max_words=400)
    briefing = build_briefing(read_sources([str(path)]), ExtractiveEngine(), options)
    markdown = render(briefing, OutputFormat.md)
    page = _rendered_html(markdown)

    assert len(briefing.bullets) == len(HOSTILE) - 1
    for live in ("<script", "<img", "<b>", "href=", "<strong>", '<ol start="2025"', "&pound;"):
        assert live not in page, live
    assert page.count("<em>") == 1  # the subtitle's, not the article's
    # Every bullet, the title and the source's name read back exactly as written.
    shown = html.unescape(page)
    for sentence in [HOSTILE[0], *HOSTILE[1:]]:
        assert sentence in shown, sentence
    assert path.name in shown
    # Ordinary prose is left readable in the raw Markdown.
    assert "The mayor's office said the budget rose by 12% to" in markdown
    assert "the city's engineers said." in markdown


@pytest.mark.parametrize(
    "text",
    [
        "# 1 rule",
        "> quoted",
        "- dash",
        "+ plus",
        "= equals",
        "1. first",
        "2025) year",
        "```x```",
        "| a | b |",
        "a_b and _c_ and ~~d~~",
        "x\n# y",
        "<https://example.com>",
        "\\*x*",
    ],
)
def test_markdown_escaping_shows_the_text_as_one_paragraph(text: str) -> None:
    page = _rendered_html(f"- {md_text(text)}")

    assert page == f"<ul>\n<li>{html.escape(' '.join(text.split()), quote=False)}</li>\n</ul>\n"


# --- item 14: deep HTML, Markdown that is only a table or only code ----------------------------


def test_html_nested_beyond_the_extractors_limit_is_read_as_plain_text(tmp_path: Path) -> None:
    story = "".join(f"<p>{sentence}</p>" for sentence in BRIDGE)
    path = tmp_path / "deep.html"
    path.write_text(
        "<html><head><title>x</title><script>var menu = 1;</script></head><body>"
        + "<div>" * 300
        + story
        + "</div>" * 300
        + "</body></html>",
        encoding="utf-8",
    )

    [text], warnings = _read_with_warnings(path)

    assert text == "\n\n".join(BRIDGE)
    assert warnings == [
        f"{path}: HTML nested 303 levels deep, beyond the 255 the main-text extractor reads; "
        "the page's plain text was used instead"
    ]


def test_a_page_whose_story_goes_deep_after_a_shallow_start_loses_nothing(tmp_path: Path) -> None:
    shallow = "".join(f"<p>{sentence}</p>" for sentence in BRIDGE[:2])
    deep = "".join(f"<p>{sentence}</p>" for sentence in BRIDGE[2:])
    path = tmp_path / "deep.html"
    path.write_text(
        f"<html><body><article>{shallow}"
        + "<div>" * 300
        + deep
        + "</div>" * 300
        + "</article></body></html>",
        encoding="utf-8",
    )

    [text], warnings = _read_with_warnings(path)

    assert text == "\n\n".join(BRIDGE)
    assert len(warnings) == 1 and "HTML nested 304 levels deep" in warnings[0]


def test_shallow_html_still_goes_through_the_main_text_extractor(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    story = "".join(f"<p>{sentence}</p>" for sentence in BRIDGE)
    path.write_text(f"<html><body><article>{story}</article></body></html>", encoding="utf-8")

    [text], warnings = _read_with_warnings(path)

    assert text == "\n\n".join(BRIDGE) and warnings == []


@pytest.mark.parametrize(
    ("content", "what"),
    [
        ("| City | Bridges |\n|---|---|\n| Paris | 37 |\n| Rome | 25 |\n", "a table"),
        (
            "```\nThe council said the bridge opened on Saturday after five years.\nx = 1\n```\n",
            "code",
        ),
        (
            "~~~python\nprint('The council said the bridge opened.')\n~~~\n\n| a | b |\n",
            "a table and code",
        ),
    ],
)
def test_markdown_holding_only_a_table_or_code_is_the_same_clear_error(
    tmp_path: Path, content: str, what: str
) -> None:
    path = tmp_path / "notes.md"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(SourceError) as info:
        read_sources([str(path)])

    assert str(info.value) == (
        f"{path}: no article prose found: the file holds only {what} "
        "(Markdown tables and code blocks are not briefed)"
    )


def test_a_story_with_a_table_and_code_keeps_its_prose_only(tmp_path: Path) -> None:
    path = tmp_path / "story.md"
    path.write_text(
        "\n\n".join(
            [
                BRIDGE[0],
                BRIDGE[1],
                "| City | Bridges |\n|---|---|\n| Paris | 37 |",
                "```\nThe council said the code opened on Saturday after five years.\n```",
                BRIDGE[2],
                BRIDGE[3],
            ]
        ),
        encoding="utf-8",
    )
    [source] = read_sources([str(path)])

    kept = [source.text[b.start : b.end] for b in source.blocks]
    assert kept == BRIDGE
    assert {d.reason for d in source.dropped} == {"table", "code"}


# --- item 12: non-Latin scripts are briefed, or refused by name -------------------------------

ARTICLES_IN = {
    "zh": [
        "上海港口扩建工程启动",
        "上海市政府周一宣布，洋山港第五期扩建工程正式启动，总投资约为三百二十亿元人民币。"
        "该工程预计将于2028年完工，届时港口年吞吐能力将增加六百万标准箱。",
        "市交通委员会负责人表示，新码头将采用全自动化装卸系统，并配备岸电设施，"
        "以减少船舶靠港期间的排放。他说，这是上海建设国际航运中心的重要一步。",
        "业内分析人士指出，全球航运需求正在恢复，但扩建工程仍面临环保审批和资金方面的挑战！"
        "一些环保组织呼吁政府公开更多关于海洋生态影响的评估报告。",
    ],
    "ja": [
        "大阪で新しい橋が開通",
        "大阪市は土曜日、淀川に架かる新しい橋の開通式を行った。"
        "工事には約五年かかり、総事業費は約320億円に上った。",
        "市長は「この橋は市民の生活を大きく変える。」と述べ、建設に携わった作業員に感謝した。"
        "市によると、一日あたり約4万台の車が通行する見込みだという。",
    ],
    "ar": [
        "افتتاح جسر جديد فوق نهر النيل في القاهرة",
        "افتتحت الحكومة المصرية يوم السبت جسرا جديدا فوق نهر النيل في القاهرة بعد أربع سنوات "
        "من العمل. وبلغت تكلفة المشروع نحو 12 مليار جنيه مصري.",
        "وقال وزير النقل إن الجسر سيخفف الازدحام في وسط المدينة ويختصر زمن الرحلة للسكان. "
        "هل سيحل الجسر مشكلة المرور؟ يقول الخبراء إن الأمر يتطلب طرقا جديدة أيضا.",
    ],
    "ru": [
        "В Новосибирске открыли новый мост через Обь",
        "Власти Новосибирска в субботу открыли движение по новому мосту через Обь. "
        "Строительство обошлось бюджету в 45 миллиардов рублей и заняло пять лет.",
        "Губернатор области заявил, что мост разгрузит центр города и сократит время в пути. "
        "По его словам, ежедневно по мосту будут проезжать до 90 тысяч автомобилей.",
    ],
    "el": [
        "Νέα γέφυρα άνοιξε στη Θεσσαλονίκη",
        "Οι αρχές της Θεσσαλονίκης άνοιξαν το Σάββατο τη νέα γέφυρα πάνω από τον ποταμό. "
        "Το έργο κόστισε περίπου 85 εκατομμύρια ευρώ και διήρκεσε τέσσερα χρόνια.",
        "Ο δήμαρχος δήλωσε ότι η γέφυρα θα αποσυμφορήσει το κέντρο της πόλης. Σύμφωνα με τον "
        "ίδιο, περίπου 40 χιλιάδες οχήματα θα τη διασχίζουν καθημερινά.",
    ],
    "hi": [
        "पुणे में नया पुल खुला",
        "पुणे नगर निगम ने शनिवार को मुला नदी पर बने नए पुल का उद्घाटन किया। इस परियोजना पर "
        "लगभग 250 करोड़ रुपये खर्च हुए और इसे पूरा होने में चार साल लगे।",
        "महापौर ने कहा कि पुल से शहर के केंद्र में यातायात का दबाव कम होगा। उनके अनुसार, हर दिन "
        "लगभग 50 हजार वाहन इस पुल से गुजरेंगे।",
    ],
    "ko": [
        "부산에 새 다리 개통",
        "부산시는 토요일 낙동강을 가로지르는 새 다리를 개통했다고 밝혔다. 공사에는 약 5년이 "
        "걸렸으며 총 사업비는 4천억 원이 들었다.",
        "시장은 이 다리가 도심의 교통 혼잡을 크게 줄일 것이라고 말했다. 시에 따르면 하루 약 "
        "6만 대의 차량이 다리를 이용할 것으로 예상된다.",
    ],
}
SENTENCES_IN = {
    "ko": 4,
    "hi": 4,  # । ends a sentence
    "zh": 6,  # 。 and ！ end sentences
    "ja": 4,  # 「…。」と述べ continues the sentence that reports the quote
    "ar": 5,  # ؟ ends a question
    "ru": 4,
    "el": 4,
}


def _brief_text(tmp_path: Path, name: str, paragraphs: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("language", sorted(ARTICLES_IN))
def test_an_article_in_a_non_latin_script_is_read_split_and_briefed(
    tmp_path: Path, language: str
) -> None:
    headline, *story = ARTICLES_IN[language]
    path = _brief_text(tmp_path, f"{language}.txt", ARTICLES_IN[language])

    [source] = read_sources([str(path)])
    assert source.title == headline
    assert [source.text[b.start : b.end] for b in source.blocks] == story
    passages, _ = chunk_source(source, count_tokens)
    sentences = [source.text[s.start : s.end] for p in passages for s in p.sentences]
    assert len(sentences) == SENTENCES_IN[language]
    assert "".join(sentences).replace(" ", "") == "".join(story).replace(" ", "")

    briefing = build_briefing([source], ExtractiveEngine(), BriefOptions(max_words=400))
    assert briefing.title == headline
    assert len(briefing.bullets) >= 3
    assert all(b.text in source.text for b in briefing.bullets)


def test_cjk_text_is_counted_a_word_per_character_and_kept_within_budget(tmp_path: Path) -> None:
    assert count_words("市长表示，新码头将于2028年完工。") == 13  # 12 characters and "2028"
    assert count_words("「大阪」で、") == 3
    assert count_words("The mayor said 市长表示 it.") == 8
    path = _brief_text(tmp_path, "zh.txt", ARTICLES_IN["zh"])
    briefing = build_briefing(
        read_sources([str(path)]), ExtractiveEngine(), BriefOptions(length=None, max_words=60)
    )
    assert 0 < sum(b.words for b in briefing.bullets) <= 60
    assert all(b.words == count_words(b.text) >= 10 for b in briefing.bullets)


def test_the_chinese_part_of_a_mixed_file_is_kept(tmp_path: Path) -> None:
    path = _brief_text(
        tmp_path, "mixed.txt", ["Port expansion begins", *BRIDGE[:2], *ARTICLES_IN["zh"][1:]]
    )
    [source] = read_sources([str(path)])

    kept = [source.text[b.start : b.end] for b in source.blocks]
    assert kept == [*BRIDGE[:2], *ARTICLES_IN["zh"][1:]]


def test_a_republished_chinese_report_is_a_duplicate(tmp_path: Path) -> None:
    first = _brief_text(tmp_path, "a.txt", ARTICLES_IN["zh"])
    copy = _brief_text(
        tmp_path, "b.txt", ["转载：" + ARTICLES_IN["zh"][0], *ARTICLES_IN["zh"][1:3]]
    )
    sources = read_sources([str(first), str(copy)])
    assert sources[1].duplicate_of == "S1"


def test_a_script_briefer_cannot_split_is_refused_by_name(tmp_path: Path) -> None:
    path = _brief_text(
        tmp_path,
        "th.txt",
        [
            "เปิดสะพานใหม่ข้ามแม่น้ำเจ้าพระยา",
            "กรุงเทพมหานครเปิดสะพานใหม่ข้ามแม่น้ำเจ้าพระยาเมื่อวันเสาร์ หลังจากก่อสร้างมาเป็นเวลาสี่ปี",
        ],
    )
    with pytest.raises(SourceError, match=r"th\.txt: the text is in Thai script, which briefer"):
        read_sources([str(path)])


# --- on the command line ------------------------------------------------------------------------


def test_brief_of_the_example_folder_names_the_skipped_goldens_on_stderr() -> None:
    from typer.testing import CliRunner

    from briefer.cli import app

    result = CliRunner().invoke(
        app, ["brief", str(EXAMPLE), "--length", "short"], env={"OPENAI_API_KEY": ""}
    )

    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"briefer: warning: {EXAMPLE}: skipped 3 briefings that briefer wrote, not articles "
        "(golden/long-analyst.md, golden/short-executive.md, golden/standard-general.md); "
        "name a file to read it anyway"
    )
    assert "golden" not in result.stdout and result.stdout.count("articles/") == 5


def test_rejected_claims_listed_in_markdown_are_escaped() -> None:
    claim = Claim(
        id="R1",
        text="The page said <img src=x onerror=alert(1)> and [go](javascript:alert(1)).",
        citations=[Citation(passage_id="S1.P1", quote="x")],
    )
    reason = Reason(code="quote_not_found", message='Quote "<b>x</b>" not in S1.P1.')
    briefing = Briefing.model_construct(
        rejected=[RejectedClaim(claim=claim, stage="map", reasons=[reason])]
    )

    page = _rendered_html("\n".join(rejected_markdown(briefing)))

    assert "<img" not in page and "href=" not in page and "<b>" not in page
    assert claim.text in html.unescape(page)


def test_the_furniture_of_a_chinese_news_page_is_dropped_and_its_story_kept(
    tmp_path: Path,
) -> None:
    headline, *story = ARTICLES_IN["zh"]
    page = [
        "首页 > 新闻 > 财经",
        headline,
        "2025年06月02日 10:15 来源：新华网",
        "分享到：微信 微博 QQ空间",
        *story,
        "（图片来源：新华社记者摄）",
        "责任编辑：王明",
        "相关新闻",
        "广州南沙港区四期工程通过验收，年吞吐能力达到四百九十万标准箱。",
        "深圳盐田港发布新一轮绿色港口建设计划，将在三年内完成全部码头岸电改造。",
        "©2025 新华网 版权所有",
    ]
    [source] = read_sources([str(_brief_text(tmp_path, "page.txt", page))])

    assert [source.text[b.start : b.end] for b in source.blocks] == story
    assert source.title == headline
    assert source.published is not None and source.published.isoformat() == "2025-06-02"
    reasons = {source.text[d.start : d.end]: d.reason for d in source.dropped}
    assert reasons["首页 > 新闻 > 财经"] == "breadcrumb"
    assert reasons["相关新闻"] == "related-articles"
    assert reasons["责任编辑：王明"] == "byline"
    assert reasons["（图片来源：新华社记者摄）"] == "caption"


@pytest.mark.parametrize("title", ["Vote on #", "# Title #", "C# and F# ship", "[x](y) <b>"])
def test_a_title_reads_back_exactly_as_a_heading(title: str) -> None:
    assert _rendered_html(f"# {md_text(title)}") == f"<h1>{html.escape(title, quote=False)}</h1>\n"


def test_count_words_without_cjk_counts_as_the_pattern_does() -> None:
    # The split() shortcut for text below U+3000 gives the budget pattern's count, on every
    # kind of space (\x1c-\x1f and U+0085 included) and next to CJK text, which the pattern
    # counts character by character.
    import random

    from briefer.words import _BUDGET_WORD

    spaces = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2003\u2028\u200b"
    pool = [*spaces, *"aé,.’“—", "word", "1,200", "\u2fff", "\u3000", "、", "漢", "カ", "！"]
    draw = random.Random(4)
    texts = ["", " ", *("".join(draw.choices(pool, k=draw.randint(1, 12))) for _ in range(5000))]
    assert [count_words(t) for t in texts] == [len(_BUDGET_WORD.findall(t)) for t in texts]


def test_the_utf8_shortcuts_agree_with_scanning_the_characters() -> None:
    # count_words tells text below U+3000 by its UTF-8 bytes, unsupported_script rules texts
    # out by them: both must agree with a plain look at every character, at the range edges.
    import random

    from briefer.words import _ANY_UNSUPPORTED, _NOT_E0_E1, _below_first_cjk, unsupported_script

    edges = [0x7F, 0x80, 0x7FF, 0x800, 0xDFF, 0xE00, 0x109F, 0x10A0, 0x2FFF, 0x3000]
    edges += [0xD7FF, 0xD800, 0xDFFF, 0xE000, 0xFFFF, 0x10000, 0x10FFFE]
    draw = random.Random(9)
    texts = ["", "plain", *(chr(c) for c in edges)]
    for _ in range(5000):
        k = draw.randint(1, 5)
        texts.append("".join(chr(draw.choice(edges) + draw.choice((-1, 0, 1))) for _ in range(k)))
    for text in texts:
        assert _below_first_cjk(text) == (max(text, default=" ") < "\u3000"), repr(text)
        if _ANY_UNSUPPORTED.search(text):  # never ruled out by the byte test
            assert text.encode("utf-8", "surrogatepass").translate(None, _NOT_E0_E1), repr(text)
    assert sum(bool(_ANY_UNSUPPORTED.search(t)) for t in texts) > 100
    thai = "การเจรจาสิ้นสุดลงแล้ว"
    assert unsupported_script(thai) == unsupported_script("Bangkok: " + thai) == "Thai"
    assert unsupported_script("Bangkok (กรุงเทพ) talks ended.") is None
