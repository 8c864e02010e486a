"""Every bad file is reported with its path and problem; a good corpus loads whole."""

from __future__ import annotations

import pytest

from index.build.builder import load_articles
from index.corpus.articles import CorpusError, load_corpus, parse_article
from index.corpus.coverage import check
from tests.support.paths import REPO

GOOD = """---
id: {id}
title: "ชื่อข่าว"
date: 2020-12-03
sources:
  - https://example.org/news/1
---
เนื้อข่าวภาษาไทย
"""


def _write(folder, name, text):
    (folder / name).write_bytes(text.encode("utf-8") if isinstance(text, str) else text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no front matter here", "no front matter"),
        ("---\ntitle: x\n", "not closed"),
        ("---\n[unclosed\n---\nbody", "not valid YAML"),
        (GOOD.format(id="a").replace('title: "ชื่อข่าว"', "title: ''"), "missing title"),
        (GOOD.format(id="a").replace("2020-12-03", "2020-13-45"), "bad date"),
        (GOOD.format(id="a").replace("เนื้อข่าวภาษาไทย", "   "), "empty body"),
        (GOOD.format(id="a").replace("https://example.org/news/1", "not a url"), "not a URL"),
        (GOOD.format(id="Bad Id"), "bad id"),
        (GOOD.format(id="a").replace('"ชื่อข่าว"', "[ชื่อ, ข่าว]"), "title must be text, not a list"),
        (GOOD.format(id="a").replace('"ชื่อข่าว"', "{th: ชื่อข่าว}"), "title must be text, not a map"),
        ("---\n!!python/object/apply:os.system ['true']\n---\nbody", "not valid YAML"),
        ("---\nid: a\x00\n---\nbody", "not valid YAML"),
        ("---\n- id\n- title\n---\nbody", "must be a YAML mapping"),
        (GOOD.format(id="a").replace("ภาษาไทย", "\x00\x01PNG"), "binary data"),
        (GOOD.format(id="a").replace("ภาษาไทย", "\x1b[31m"), r"control character '\\x1b'"),
    ],
)
def test_parse_errors_name_the_problem(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_article(text)


def test_windows_line_ends_and_a_byte_order_mark_are_plain_text():
    unix = parse_article(GOOD.format(id="a"))
    windows = parse_article("\ufeff" + GOOD.format(id="a").replace("\n", "\r\n"))
    assert windows == unix and "\r" not in windows.body


def test_every_bad_file_is_reported(tmp_path):
    _write(tmp_path, "ok.md", GOOD.format(id="ok"))
    _write(tmp_path, "dup.md", GOOD.format(id="ok"))
    _write(tmp_path, "latin1.md", b"---\nid: l1\ntitle: caf\xe9\n---\nbody\n")
    _write(tmp_path, "nofm.md", "just text")
    result = load_corpus(tmp_path)
    problems = {p.path.rsplit("/", 1)[-1]: p.message for p in result.problems}
    assert [a.id for a in result.articles] == ["ok"]
    assert "duplicate id 'ok'" in problems["ok.md"] or "duplicate id 'ok'" in problems["dup.md"]
    assert problems["latin1.md"] == "not UTF-8 text"
    assert "no front matter" in problems["nofm.md"]
    with pytest.raises(CorpusError, match="3 bad corpus file"):
        load_articles(tmp_path)
    articles, skipped = load_articles(tmp_path, skip_bad=True)
    assert [a.id for a in articles] == ["ok"] and len(skipped) == 3


def test_empty_folder_is_an_error(tmp_path):
    assert load_corpus(tmp_path).problems[0].message.startswith("no articles")


def test_bundled_corpus_is_clean():
    result = load_corpus(REPO / "corpus")
    assert result.problems == []
    assert len(result.articles) >= 3
    assert any("กรมพัฒนาธุรกิจการค้า" in a.body and a.date.year == 2020 for a in result.articles)


SOURCED = """---
id: sourced
title: "ชื่อข่าว"
date: 2020-12-03
sources:
  - https://example.org/one
  - https://example.org/two
  - https://example.org/three
---
ย่อหน้าแรกจากแหล่งที่สอง [2]

ย่อหน้าที่สอง
บรรทัดต่อกัน [1, 2]

ย่อหน้าที่ไม่มีแหล่ง
"""


def test_markers_leave_the_body_and_give_each_paragraph_its_sources():
    article = parse_article(SOURCED)
    assert article.body == "ย่อหน้าแรกจากแหล่งที่สอง\n\nย่อหน้าที่สอง\nบรรทัดต่อกัน\n\nย่อหน้าที่ไม่มีแหล่ง"
    second = article.body.index("บรรทัดต่อกัน")
    assert article.sources_at(0) == ("https://example.org/two",)
    assert article.sources_at(second) == ("https://example.org/one", "https://example.org/two")
    # A paragraph without a marker is backed, as far as anyone knows, by all of them.
    assert article.sources_at(len(article.body) - 1) == article.sources
    assert [c.line for c in article.cites] == [10, 12, 15]


def test_a_marker_pointing_nowhere_names_its_line():
    with pytest.raises(ValueError, match=r"line 13: source marker \[4\] points nowhere"):
        parse_article(SOURCED.replace("[1, 2]", "[1, 4]"))


def test_brackets_inside_a_paragraph_are_text():
    article = parse_article(SOURCED.replace("ย่อหน้าแรกจาก", "ย่อหน้า [1] แรกจาก"))
    assert article.body.startswith("ย่อหน้า [1] แรกจาก")
    assert article.sources_at(0) == ("https://example.org/two",)


def test_check_reports_unsourced_paragraphs_and_uncited_sources_with_file_and_line(tmp_path):
    _write(tmp_path, "sourced.md", SOURCED)
    report = check(tmp_path)
    where = str(tmp_path / "sourced.md")
    assert [str(p) for p in report.problems] == [
        f"{where}:15: paragraph without a source marker ([n] at its end)",
        f"{where}: source 3 is never cited: https://example.org/three",
    ]
    _write(tmp_path, "sourced.md", SOURCED.replace("ไม่มีแหล่ง", "ไม่มีแหล่ง [3]"))
    assert check(tmp_path).problems == []


def test_bundled_corpus_sources_every_paragraph():
    """The link shown with a passage must be a page that backs it: every paragraph says which."""
    report = check(REPO / "corpus")
    assert report.problems == []


def test_a_yaml_alias_bomb_in_a_list_field_is_refused_small():
    """Nine levels of aliased lists, a few hundred bytes, once printed item by item were
    megabytes of "tags"; only plain items are accepted."""
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    levels += [
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)
    ]
    bomb = "\n".join(levels) + "\ntags: *i\n"
    text = GOOD.format(id="a").replace("sources:", bomb + "sources:")
    assert len(text) < 1000
    with pytest.raises(ValueError, match="tags must list plain text items"):
        parse_article(text)
