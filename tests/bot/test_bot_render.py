"""Telegram HTML for answers: escaping, Thai dates, splitting, and short callback data."""

from __future__ import annotations

import pytest

from bot import render, texts
from index import Answer, Chunk, Hit
from tests.support.entities import parse_html


def chunk(n: int = 0, **fields: str) -> Chunk:
    values = {
        "title": f"บทความที่ {n}",
        "date": "2020-12-03",
        "url": f"https://example.go.th/news/{n}?a=1&b=2",
        "text": f"ข้อความตอนที่ {n} ที่ยาวพอจะเป็นประโยคคำตอบได้โดยไม่ถูกแทนด้วยย่อหน้า",
        **fields,
    }
    return Chunk(f"a{n}#0", f"a{n}", start=0, end=len(values["text"]), **values)


def answer(*chunks: Chunk, found: bool = True, sentence: str | None = None) -> Answer:
    hits = [Hit(c, 1.0 - i / 10, 0.9, 1.0) for i, c in enumerate(chunks)]
    top = chunks[0].text if found else ""
    said = top if sentence is None else sentence
    return Answer("คำถาม", found, top, said if found else "", 0.99 if found else 0.2, hits)


def test_everything_from_the_corpus_and_the_user_is_escaped() -> None:
    evil = chunk(title="<b>หัวข้อ</b> & <script>", text="ผล <i>x</i> & y " * 5, url="https://x/?a<b")
    said = "ประโยค <u>คำตอบ</u> & ที่ยาวพอจะไม่ถูกแทนด้วยย่อหน้าของมันเอง"
    markup = render.answer_html(answer(evil, sentence=said), notes=["คำถาม <tg-spoiler>"])
    text, entities = parse_html(markup)  # raises if Telegram would reject it
    assert text.startswith(said) and "<b>หัวข้อ</b> & <script>" in text
    assert "ผล <i>x</i> & y" in text and "https://x/?a<b" in text
    assert "คำถาม <tg-spoiler>" in text
    assert {e["type"] for e in entities} == {"bold", "blockquote", "italic"}
    not_found = render.not_found_html("<b>x</b> & <script>")
    assert "“<b>x</b> & <script>”" in parse_html(not_found)[0]


def test_answer_puts_the_sentence_first_then_passage_then_source() -> None:
    sentence = "ประโยคที่ตอบคำถามนี้โดยตรงและยาวเกินสี่สิบตัวอักษรแน่นอน"
    passage = f"บริบทก่อนหน้า {sentence} บริบทหลัง"
    text, entities = parse_html(render.answer_html(answer(chunk(text=passage), sentence=sentence)))
    assert text.startswith(sentence)
    assert entities[0] == {"type": "bold", "offset": 0, "length": len(sentence)}
    assert text.index(passage) < text.index("📰 ที่มา: บทความที่ 0")
    assert "📅 3 ธันวาคม 2563" in text and "🔗 https://example.go.th/news/0?a=1&b=2" in text


def test_a_fragment_sentence_is_replaced_by_its_passage() -> None:
    passage = "กรมพัฒนาธุรกิจการค้า (กรมพัฒน์ฯ/DBD) เป็นหนึ่งในหน่วยงานที่ได้รับรางวัล"
    markup = render.answer_html(answer(chunk(text=passage), sentence="กรมพัฒนาธุรกิจการค้า"))
    text, _ = parse_html(markup)
    assert text.startswith(passage) and text.count(passage) == 1


def test_low_confidence_is_hedged_and_not_found_never_looks_like_an_answer() -> None:
    weak = answer(chunk())
    weak.confidence = 0.55
    assert texts.HEDGE in parse_html(render.answer_html(weak))[0]
    with pytest.raises(ValueError, match="found answer"):
        render.answer_html(answer(chunk(), found=False))
    text, _ = parse_html(render.not_found_html("สูตรต้มยำกุ้ง"))
    assert text.startswith("ขออภัย ไม่พบคำตอบ") and "🔗" not in text


def test_more_sources_lists_the_other_passages() -> None:
    assert render.more_html(answer(chunk(0))) is None
    text, _ = parse_html(render.more_html(answer(chunk(0), chunk(1), chunk(2))))
    assert text.startswith(texts.MORE_TITLE)
    assert "บทความที่ 0" not in text and "บทความที่ 1" in text and "บทความที่ 2" in text


@pytest.mark.parametrize(
    ("iso", "thai"),
    [
        ("2020-12-03", "3 ธันวาคม 2563"),
        ("2019-01-31", "31 มกราคม 2562"),
        ("2025-11-17", "17 พฤศจิกายน 2568"),
        ("not a date", "not a date"),
        ("2020-13-01", "2020-13-01"),
    ],
)
def test_thai_dates_use_the_buddhist_era(iso: str, thai: str) -> None:
    assert render.thai_date(iso) == thai


def test_years_are_shown_as_buddhist_era_runs() -> None:
    assert render.years_text([2019, 2017, 2018, 2021, 2023, 2024]) == "2560–2562, 2564, 2566–2567"


def thai_sentences(count: int) -> str:
    """Thai puts spaces between sentences, not between words."""
    return " ".join(f"ประโยคที่{n}กล่าวถึงรางวัลรัฐบาลดิจิทัล&ผลงานจบแล้ว" for n in range(count))


def test_long_messages_split_at_sentence_ends_and_stay_valid() -> None:
    body = thai_sentences(400)
    markup = f"<b>หัวเรื่อง</b>\n\n<blockquote>{render.esc(body)}</blockquote>\n🔗 ลิงก์"
    parts = render.split_html(markup)
    assert len(parts) > 2
    plain = []
    for part in parts:
        assert render.utf16_len(part) <= render.MESSAGE_LIMIT
        text, entities = parse_html(part)
        plain.append(text.strip())
        assert any(e["type"] == "blockquote" for e in entities)  # reopened in every part
    assert all(p.endswith("จบแล้ว") for p in plain[:-1])
    assert " ".join(plain).replace("\n\n", "\n") == parse_html(markup)[0].replace("\n\n", "\n")


def test_split_never_cuts_an_entity_and_counts_utf16() -> None:
    assert render.utf16_len("😀ก") == 3
    markup = "&amp;" * 3000 + "😀" * 3000
    parts = render.split_html(markup, limit=1000)
    for part in parts:
        assert render.utf16_len(part) <= 1000
        parse_html(part)
    assert "".join(parse_html(p)[0] for p in parts) == "&" * 3000 + "😀" * 3000


def test_short_messages_are_left_whole() -> None:
    assert render.split_html("<b>สั้น</b>") == ["<b>สั้น</b>"]


def test_callback_data_stays_within_64_bytes() -> None:
    keyboards = [render.examples_keyboard(), render.answer_keyboard("A" * 8, more=True)]
    data = [b.callback_data for k in keyboards for row in k.inline_keyboard for b in row]
    assert data and all(len(d.encode()) <= render.CALLBACK_LIMIT for d in data)
    assert all(
        render.EXAMPLE_DATA.match(d) or render.MORE_DATA.match(d) or render.VOTE_DATA.match(d)
        for d in data
    )
    with pytest.raises(ValueError, match="64 bytes"):
        render.callback_data(render.MORE, "ก" * 30)


def test_an_overview_passage_shows_when_it_was_updated_and_the_articles_other_pages() -> None:
    top = chunk(
        updated="2025-11-17",
        url="https://example.go.th/2568",
        sources=("https://example.go.th/2568",),
        more_sources=("https://example.go.th/2562", "https://example.go.th/2563"),
    )
    text, _ = parse_html(render.answer_html(answer(top)))
    assert "📅 ข้อมูล ณ 17 พฤศจิกายน 2568" in text and "3 ธันวาคม 2563" not in text
    assert "🔗 https://example.go.th/2568" in text and "2562" not in text
    # The article's other pages wait behind "more sources", even with no other passage.
    assert render.has_more(answer(top))
    more, _ = parse_html(render.more_html(answer(top)))
    assert "🔗 https://example.go.th/2562\n🔗 https://example.go.th/2563" in more
    assert not render.has_more(answer(chunk())) and render.more_html(answer(chunk())) is None


def test_a_known_gap_says_not_in_the_sources_and_links_where_to_look() -> None:
    gap = "รายชื่อผู้ได้รับรางวัลครบทุกหน่วยงานของปี 2563 ไม่มีในแหล่งข้อมูลที่รวบรวมไว้"
    said = answer(chunk(text=gap, url="https://example.go.th/list"), found=False)
    said.sentence, said.unknown = gap, True
    text, entities = parse_html(render.unknown_html(said))
    assert "ไม่มีในแหล่งข้อมูลที่บอตใช้" in text and gap in text
    assert text.endswith("ตรวจสอบเพิ่มเติมได้ที่ 🔗 https://example.go.th/list")
    assert {e["type"] for e in entities} == {"blockquote"}


def test_a_relative_year_is_said_as_the_buddhist_year_it_was_read_as() -> None:
    latest = answer(chunk())
    assert render.year_notes(latest) == ()
    latest.relative_year = 2025
    assert render.year_notes(latest) == (texts.RELATIVE_YEAR.format(year=2568),)


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        ("รางวัลปี 2563 ดูที่ https://evil.example/login ด่วน", "รางวัลปี 2563 ดูที่ … ด่วน"),
        ("ติดต่อ @fake_dga_support หรือ www.evil-dga.com/x", "ติดต่อ … หรือ …"),
        ("ลิงก์ t.me/joinchat/abc และ evil.co.th", "ลิงก์ … และ …"),
        ("สพร. ให้รางวัล DG Awards 2020 กี่หน่วยงาน", "สพร. ให้รางวัล DG Awards 2020 กี่หน่วยงาน"),
        ("อีเมล a@b.com", "อีเมล a@…"),
    ],
)
def test_echoes_drop_links_and_handles(said, shown) -> None:
    assert render.echo(said) == shown
    text, entities = parse_html(render.not_found_html(said))
    assert f"“{shown}”" in text and not any(e["type"] in ("url", "mention") for e in entities)


def test_echoes_are_short() -> None:
    assert render.echo("ก" * 1000) == "ก" * 200 + "…"


def test_an_overview_with_dozens_of_pages_lists_a_screenful_then_a_count() -> None:
    pages = tuple(f"https://example.go.th/{n}" for n in range(30))
    more, _ = parse_html(render.more_html(answer(chunk(more_sources=pages))))
    assert more.count("🔗 ") == render.MORE_LINKS
    assert texts.MORE_LINKS.format(count=30 - render.MORE_LINKS) in more
