"""Raw articles become valid corpus files; every input ends in an outcome a person can read."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path

import pytest

from index import atomic
from index.atomic import write_atomic
from index.corpus import ingest as ing
from index.corpus.articles import Article, load_corpus, parse_article
from index.corpus.ingest import Status, ingest, parse_thai_date, render_article
from tests.support.paths import shared_path

SEED = "seed/000_47ff4314a870869f.txt"
DGA = "data/thaigov/dga"
NEWS = "data/thaigov/news.jsonl.gz"
INNNEWS = "https://www.innnews.co.th/news/news_5182/"
PREFIX = "รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-"
THAI_MONTHS = [
    *("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน"),
    *("กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม"),
]
# Read off the files by hand: the dateline (line 3) and the last "ที่มา" line.
KNOWN = [
    ("dga-000.txt", dt.date(2017, 7, 14), "http://www.thaigov.go.th/news/contents/details/5203"),
    ("dga-033.txt", dt.date(2019, 10, 30), "https://www.thaigov.go.th/news/contents/details/24149"),
    ("dga-039.txt", dt.date(2019, 7, 30), "https://www.thaigov.go.th/news/contents/details/21862"),
    ("dga-046.txt", dt.date(2020, 6, 15), "https://www.thaigov.go.th/news/contents/details/32337"),
    ("dga-062.txt", dt.date(2020, 4, 16), "https://www.thaigov.go.th/news/contents/details/29205"),
]


def _by_source(report: ing.IngestReport) -> dict[str, Article]:
    """Input file name → the article written (or found unchanged) for it."""
    return {
        Path(o.source).name: parse_article(Path(o.target).read_text(encoding="utf-8"))
        for o in report.outcomes
        if o.target
    }


def _dateline_by_hand(line: str) -> dt.date:
    """An independent reading of 'วันพุธที่ 30 ตุลาคม 2562'-style lines (Arabic digits, B.E.)."""
    day, month, year = re.search(r"(\d{1,2}) (\S+) (\d{4})", line).groups()
    return dt.date(int(year) - 543, THAI_MONTHS.index(month) + 1, int(day))


@pytest.fixture(scope="module")
def dga_dir() -> Path:
    return shared_path(DGA)


@pytest.fixture(scope="module")
def dga_files(dga_dir) -> list[Path]:
    return sorted(dga_dir.glob("dga-*.txt"))


@pytest.fixture
def dga_corpus(tmp_path, dga_files) -> tuple[Path, ing.IngestReport]:
    out = tmp_path / "corpus"
    return out, ingest(dga_files, out=out)


# ---- dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("วันพุธที่ 30 ตุลาคม 2562", dt.date(2019, 10, 30)),
        ("30 ตุลาคม 2562", dt.date(2019, 10, 30)),
        ("วันพฤหัสบดีที่ ๑๓ กรกฎาคม ๒๕๖๐ เวลา ๑๐.๐๐ น.", dt.date(2017, 7, 13)),
        ("3 ธ.ค. 2563", dt.date(2020, 12, 3)),
        ("3 ธ.ค. 63", dt.date(2020, 12, 3)),
        ("3 ธค 63", dt.date(2020, 12, 3)),
        ("๓ ธ.ค. ๖๓", dt.date(2020, 12, 3)),
        ("1 มี.ค. 2563", dt.date(2020, 3, 1)),
        ("1 มิ.ย. 2563", dt.date(2020, 6, 1)),
        ("3 ธันวาคม พ.ศ. 2563", dt.date(2020, 12, 3)),
        ("3 ธันวาคม ค.ศ. 2020", dt.date(2020, 12, 3)),
        ("3 ธันวาคม 2020", dt.date(2020, 12, 3)),
        ("29 กุมภาพันธ์ 2563", dt.date(2020, 2, 29)),
        ("เมื่อวันที่ 21 ธันวาคม 2561 ณ ทำเนียบรัฐบาล", dt.date(2018, 12, 21)),
        ("31 ก.พ. 2563 แล้วจึง 1 เม.ย. 2563", dt.date(2020, 4, 1)),  # impossible first date
        ("ในปี 2563", None),
        ("15 ต.ค. 10.00 น.", None),  # a time, not a two-digit year
        ("ไม่มีวันที่", None),
        ("", None),
    ],
)
def test_parse_thai_date(text, expected):
    assert parse_thai_date(text) == expected


# ---- the seed page -----------------------------------------------------------------------------


def test_seed_page_names_no_url_or_date_so_it_is_refused(tmp_path):
    """The seed page states neither its URL nor a date: it cannot be cited, nothing is written."""
    seed = shared_path(SEED)
    out = tmp_path / "corpus"
    report = ingest([seed], out=out)
    [outcome] = report.outcomes
    assert outcome.status is Status.ERROR
    assert seed.name in str(outcome)
    assert "no source URL" in outcome.message and "no date" in outcome.message
    assert not report.ok
    assert list(out.iterdir()) == []


def test_seed_page_with_the_callers_url_and_date(tmp_path):
    seed = shared_path(SEED)
    lines = seed.read_text(encoding="utf-8").splitlines()
    when = dt.date(
        2020, 12, 3
    )  # the caller's date (the DG Awards 2020 ceremony): the page has none
    report = ingest([seed], out=tmp_path, url=INNNEWS, date=when)
    [outcome] = report.outcomes
    assert outcome.status is Status.WRITTEN, outcome
    article = _by_source(report)[seed.name]
    assert article.title == lines[5]  # after fbpx, Home, |, ข่าว and a blank line
    assert article.date == when
    assert any("innnews.co.th/news/news_5182" in s for s in article.sources)
    assert article.id.startswith("web-") and article.tags == ("ingested",)
    for chrome in ("fbpx", "Home", "Featured Image", "Tiktok", "Youtube", "•"):
        assert chrome not in article.body
    assert "|" not in article.body.splitlines() and "ข่าว" not in article.body.splitlines()
    assert article.body == lines[9]  # the one paragraph, after "Featured Image"
    assert "DG Awards 2020" in article.body
    assert article.title not in article.body


def test_text_page_finds_its_own_url_and_date():
    page = (
        "fbpx\nHome\n|\nข่าว\n\nสพร. มอบรางวัลรัฐบาลดิจิทัล\n\n3 ธ.ค. 2563 10:15 น.\n"
        "Featured Image\n\nเนื้อข่าวย่อหน้าแรก\n\n\n\nย่อหน้าที่สอง\n"
        "ที่มา : https://news.example.org/a/1\n  • Tiktok\n  • Youtube\n"
    )
    [article] = ing.parse_text(page)
    assert article.title == "สพร. มอบรางวัลรัฐบาลดิจิทัล"
    assert article.date == dt.date(2020, 12, 3)
    assert article.sources == ("https://news.example.org/a/1",)
    assert article.body == "เนื้อข่าวย่อหน้าแรก\n\nย่อหน้าที่สอง"


# ---- thaigov.go.th files -----------------------------------------------------------------------


def test_all_dga_files_ingest_with_title_date_and_url(dga_dir, dga_files, dga_corpus):
    out, report = dga_corpus
    assert len(dga_files) == 63
    assert report.count(Status.WRITTEN) == 63 and report.ok, report.lines()
    articles = _by_source(report)
    manifest = json.loads((dga_dir / "MANIFEST.json").read_text(encoding="utf-8"))
    for entry in manifest:
        article = articles[entry["file"]]
        assert article.title == " ".join(entry["title"].removeprefix(PREFIX).split())
        assert not article.title.startswith("รัฐบาลไทย-")
        assert article.sources[0] == entry["url"]
        assert article.id == "thaigov-" + entry["url"].rsplit("/", 1)[1]
        dateline = (dga_dir / entry["file"]).read_text(encoding="utf-8").splitlines()[2]
        assert article.date == _dateline_by_hand(dateline), entry["file"]
        assert article.body.splitlines()[0] != article.title  # the headline is not repeated
        assert "ที่มา : http" not in article.body.splitlines()[-1]
    loaded = load_corpus(out)
    assert not loaded.problems and len(loaded.articles) == 63


@pytest.mark.parametrize(("name", "date", "url"), KNOWN)
def test_known_dga_files(dga_dir, name, date, url):
    [article] = ing.parse_thaigov((dga_dir / name).read_text(encoding="utf-8"))
    assert (article.date, article.url) == (date, url)


def test_thaigov_variants():
    cabinet = (
        "รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-สรุปข่าวการประชุมคณะรัฐมนตรี  21 มีนาคม 2560\n\n\n\n"
        "        วันอังคารที่ 21 มีนาคม 2560      \n\nพิมพ์\nวาระที่หนึ่ง\n\n"
        "ที่มา : http://www.thaigov.go.th/news/contents/details/2531\n"
    )
    [article] = ing.parse_thaigov(cabinet)
    assert article.title == "สรุปข่าวการประชุมคณะรัฐมนตรี 21 มีนาคม 2560"
    assert (article.date, article.id, article.body) == (
        dt.date(2017, 3, 21),
        "thaigov-2531",
        "วาระที่หนึ่ง",
    )
    short_prefix = (
        "รัฐบาลไทย-\u200b“พาณิชย์” เปิดบริการใหม่ [กระทรวงพาณิชย์]\n\nวันศุกร์ที่ 1 พ.ค. 2563\nพิมพ์\n"
        "“พาณิชย์” เปิดบริการใหม่\nเนื้อข่าว\nที่มา : http://www.dpim.go.th/news?id=7970\n\n"
        "ที่มา : https://www.thaigov.go.th/news/contents/details/6253\n"
    )
    [article] = ing.parse_thaigov(short_prefix)
    assert (article.title, article.date, article.body) == (
        "“พาณิชย์” เปิดบริการใหม่ [กระทรวงพาณิชย์]",
        dt.date(2020, 5, 1),
        "เนื้อข่าว",
    )
    assert article.sources == (
        "https://www.thaigov.go.th/news/contents/details/6253",  # the page itself: the id
        "http://www.dpim.go.th/news?id=7970",
    )
    undated = "รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-ข่าวหนึ่ง\n\nเนื้อข่าว\n"
    with pytest.raises(ValueError, match=r"no date.*no source URL"):
        ing.parse_thaigov(undated)


def test_ingest_twice_is_unchanged_and_a_edited_file_is_a_conflict(tmp_path, dga_files, dga_corpus):
    out, first = dga_corpus
    again = ingest(dga_files, out=out)
    assert again.count(Status.UNCHANGED) == 63 and again.ok

    edited = Path(first.outcomes[5].target)
    hand_made = edited.read_text(encoding="utf-8") + "\nแก้ไขด้วยมือ\n"
    edited.write_text(hand_made, encoding="utf-8")
    clash = ingest(dga_files, out=out)
    [conflict] = [o for o in clash.outcomes if o.status is Status.CONFLICT]
    assert conflict.target == str(edited) and "--force" in conflict.message
    assert clash.count(Status.UNCHANGED) == 62 and not clash.ok
    assert edited.read_text(encoding="utf-8") == hand_made

    forced = ingest(dga_files, out=out, force=True)
    assert [o.target for o in forced.outcomes if o.status is Status.REPLACED] == [str(edited)]
    assert "แก้ไขด้วยมือ" not in edited.read_text(encoding="utf-8")


def test_same_article_from_news_jsonl_gz_is_recognised(tmp_path, dga_dir, dga_corpus):
    """The dataset's records hold the very same raw files: same ids, byte-identical output."""
    out, _ = dga_corpus
    manifest = json.loads((dga_dir / "MANIFEST.json").read_text(encoding="utf-8"))
    wanted = {m["source_path"] for m in manifest}
    with gzip.open(shared_path(NEWS), "rt", encoding="utf-8") as f:
        records = [line for line in f if json.loads(line)["source_path"] in wanted]
    subset = tmp_path / "dga.jsonl.gz"
    subset.write_bytes(gzip.compress("".join(records).encode("utf-8")))
    report = ingest([subset], out=out)
    assert report.count(Status.UNCHANGED) == 63, report.lines()


def test_the_same_article_twice_in_one_run_is_a_duplicate(tmp_path, dga_files):
    copy = tmp_path / "copy-of-033.txt"
    copy.write_bytes(dga_files[33].read_bytes())
    report = ingest([dga_files[33], copy], out=tmp_path / "corpus")
    assert [o.status for o in report.outcomes] == [Status.WRITTEN, Status.DUPLICATE]
    assert str(dga_files[33]) in report.outcomes[1].message
    assert report.lines()[-1].startswith("2 article(s): 1 written, 0 unchanged")


# ---- bad inputs --------------------------------------------------------------------------------


def test_unusable_files_are_errors_naming_the_file(tmp_path):
    bad = {
        "cp874.txt": "รัฐบาลไทย-ข่าว".encode("cp874"),
        "empty.txt": b"  \n\n",
        "binary.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "broken.jsonl.gz": b"\x1f\x8b not really gzip",
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    out = tmp_path / "corpus"
    report = ingest([*(tmp_path / n for n in bad), tmp_path / "missing.txt"], out=out)
    reasons = {Path(o.source).name: o.message for o in report.outcomes}
    assert all(o.status is Status.ERROR for o in report.outcomes)
    assert "not UTF-8" in reasons["cp874.txt"]
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "cannot read" in reasons["broken.jsonl.gz"]
    assert "not found" in reasons["missing.txt"]
    assert all(name in line for name, line in zip(reasons, report.lines(), strict=False))
    assert list(out.iterdir()) == []


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        ingest([], fmt="pdf", out=tmp_path)


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "a.md"
    target.write_text("old", encoding="utf-8")

    def crash(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, lambda fh: fh.write(b"new"))
    assert [p.name for p in tmp_path.iterdir()] == ["a.md"]
    assert target.read_text(encoding="utf-8") == "old"


# ---- HTML --------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="th"><head><meta charset="utf-8">
<title>สพร. มอบรางวัลรัฐบาลดิจิทัล 2563 | ข่าวดิจิทัลไทย</title>
<meta property="og:title" content="สพร. มอบรางวัลรัฐบาลดิจิทัล 2563">
<meta property="og:url" content="https://news.example.org/digital/dg-awards-2563">
{canonical}{published}
</head><body>
<header><div class="logo">ข่าวดิจิทัลไทย</div>
<nav><ul><li><a href="/">หน้าแรก</a></li><li><a href="/politics">การเมือง</a></li>
<li><a href="/digital">ดิจิทัล</a></li><li><a href="/contact">ติดต่อเรา</a></li></ul></nav>
</header>
<main><article>
<h1>สพร. มอบรางวัลรัฐบาลดิจิทัล 2563</h1>
<div class="byline">โดย กองบรรณาธิการ</div>
<p>เมื่อวันที่ 4 ธ.ค. 2563 สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน) หรือ สพร. มอบรางวัลรัฐบาลดิจิทัล
ประจำปี 2563 ให้แก่หน่วยงานภาครัฐที่ปรับเปลี่ยนองค์กรสู่การเป็นรัฐบาลดิจิทัลได้ดีเด่น</p>
<p>ปีนี้หน่วยงานระดับกรมได้รับโล่รางวัลสิบแห่ง และหน่วยงานระดับจังหวัดได้รับประกาศนียบัตรห้าแห่ง
โดยพิจารณาจากผลสำรวจระดับความพร้อมรัฐบาลดิจิทัลของหน่วยงานภาครัฐทั่วประเทศ</p>
<p>ผู้แทนหน่วยงานที่ได้รับรางวัลกล่าวว่า รางวัลนี้เป็นกำลังใจให้บุคลากรพัฒนาบริการดิจิทัลต่อไป</p>
</article>
<aside class="related"><h3>ข่าวที่เกี่ยวข้อง</h3><ul><li><a href="/x">ข่าวอื่นที่น่าสนใจ</a></li></ul>
</aside></main>
<footer><p>© 2563 ข่าวดิจิทัลไทย สงวนลิขสิทธิ์</p><p>ติดตามเราได้ที่ Facebook | Youtube</p></footer>
</body></html>
"""
CANONICAL = '<link rel="canonical" href="https://news.example.org/digital/dg-awards-2563/">'
PUBLISHED = '<meta property="article:published_time" content="2020-12-03T18:30:00+07:00">'


def test_html_main_text_without_nav_or_footer(tmp_path):
    page = tmp_path / "dg.html"
    page.write_text(PAGE.format(canonical=CANONICAL, published=PUBLISHED), encoding="utf-8")
    report = ingest([page], out=tmp_path / "corpus")
    assert report.count(Status.WRITTEN) == 1, report.lines()
    article = _by_source(report)["dg.html"]
    assert article.title == "สพร. มอบรางวัลรัฐบาลดิจิทัล 2563"
    assert article.date == dt.date(2020, 12, 3)  # published_time wins over a date in the text
    assert article.sources == ("https://news.example.org/digital/dg-awards-2563/",)
    assert article.body.startswith("เมื่อวันที่ 4 ธ.ค. 2563 สำนักงานพัฒนารัฐบาลดิจิทัล")
    assert "ผู้แทนหน่วยงานที่ได้รับรางวัล" in article.body
    for chrome in ("หน้าแรก", "ติดต่อเรา", "การเมือง", "สงวนลิขสิทธิ์", "ข่าวที่เกี่ยวข้อง", "Youtube"):
        assert chrome not in article.body


def test_html_falls_back_to_og_url_and_a_thai_date_in_the_text(tmp_path):
    page = tmp_path / "saved-page.txt"  # content, not extension, says HTML
    page.write_text(PAGE.format(canonical="", published=""), encoding="utf-8")
    [outcome] = ingest([page], out=tmp_path).outcomes
    article = parse_article(Path(outcome.target).read_text(encoding="utf-8"))
    assert article.url == "https://news.example.org/digital/dg-awards-2563"
    assert article.date == dt.date(2020, 12, 4)
    # The canonical link's trailing slash names the same page: the same id.
    assert article.id == ing.article_id("https://news.example.org/digital/dg-awards-2563/")


# ---- JSON Lines --------------------------------------------------------------------------------

RECORDS = [
    {
        "title": "ข่าวแรก",
        "date": "2020-12-03",
        "url": "https://example.org/1",
        "text": "ย่อหน้าหนึ่ง\nย่อหน้าสอง",
    },
    {"title": "ข่าวสอง", "date": "๓ ธ.ค. ๒๕๖๓", "url": "https://example.org/2", "text": "เนื้อข่าว"},
]


@pytest.mark.parametrize("name", ["news.jsonl", "news.jsonl.gz"])
def test_jsonl_records_and_a_bad_line(tmp_path, name):
    lines = [json.dumps(r, ensure_ascii=False) for r in RECORDS]
    lines.insert(1, '{"title": "ไม่มีลิงก์", "date": "2020-12-03", "text": "x"}')
    lines.append("not json")
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    report = ingest([path], out=tmp_path / "corpus")
    statuses = [(Path(o.source).name, o.status) for o in report.outcomes]
    assert statuses == [
        (f"{name}:1", Status.WRITTEN),
        (f"{name}:2", Status.ERROR),
        (f"{name}:3", Status.WRITTEN),
        (f"{name}:4", Status.ERROR),
    ]
    assert "no source URL" in report.outcomes[1].message
    assert "not JSON" in report.outcomes[3].message
    first, second = (_by_source(report)[f"{name}:{n}"] for n in (1, 3))
    assert (first.title, first.date, first.body) == (
        "ข่าวแรก",
        dt.date(2020, 12, 3),
        "ย่อหน้าหนึ่ง\nย่อหน้าสอง",
    )
    assert second.date == dt.date(2020, 12, 3) and second.url == "https://example.org/2"


def test_parse_jsonl_names_the_first_bad_line():
    text = json.dumps(RECORDS[0]) + "\n[1, 2]\n"
    with pytest.raises(ValueError, match="line:2: not a JSON object"):
        ing.parse_jsonl(text)
    assert [a.title for a in ing.parse_jsonl(json.dumps(RECORDS[0]))] == ["ข่าวแรก"]


def test_a_json_array_is_one_error_not_one_per_line(tmp_path):
    path = tmp_path / "MANIFEST.json"
    path.write_text(json.dumps(RECORDS, indent=1), encoding="utf-8")
    [outcome] = ingest([path], out=tmp_path / "corpus").outcomes
    assert outcome.status is Status.ERROR and "JSON array" in outcome.message


# ---- ids, formats, rendering -------------------------------------------------------------------


def test_ids_are_stable_for_the_same_page():
    assert ing.article_id("http://www.thaigov.go.th/news/contents/details/24149") == (
        "thaigov-24149"
    )
    assert ing.article_id("https://thaigov.go.th/news/contents/details/24149") == "thaigov-24149"
    same = {
        ing.article_id(u)
        for u in (INNNEWS, "http://innnews.co.th/news/news_5182", f"{INNNEWS}#top")
    }
    assert len(same) == 1 and re.fullmatch(r"web-[0-9a-f]{10}", same.pop())
    assert ing.article_id("https://example.org/a?id=1") != ing.article_id(
        "https://example.org/a?id=2"
    )


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("a.txt", "รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-หัวข้อ\n", "thaigov"),
        ("a.txt", "<!DOCTYPE html><html><body><p>x</p></body></html>", "html"),
        ("a.htm", "no tags at all", "html"),
        ("a.jsonl.gz", "", "jsonl"),
        ("a.txt", '{"title": "x"}\n', "jsonl"),
        ("a.txt", "fbpx\nHome\nหัวข้อข่าว\nเนื้อข่าว", "text"),
    ],
)
def test_detect_format(name, text, kind):
    assert ing.detect_format(Path(name), text) == kind


def test_render_article_round_trips():
    article = Article(
        id="web-0123456789",
        title="ชื่อ: ข่าว 'ทดสอบ' #1",
        date=dt.date(2020, 12, 3),
        sources=("https://example.org/a", "https://example.org/b?x=1&y=2"),
        body="ย่อหน้าแรก\n\n---\nย่อหน้าที่สอง",
        agency="สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน)",
        tags=("ingested",),
        facts=("2563-06",),
    )
    text = render_article(article)
    parsed = parse_article(text)
    assert parsed.body == article.body
    assert parse_article(render_article(parsed)) == parsed
    # A page taken whole backs every paragraph: each cites all the article's sources.
    assert "ย่อหน้าแรก [1, 2]\n\n---\nย่อหน้าที่สอง [1, 2]\n" in text
    assert [parsed.sources_at(c.start) for c in parsed.cites] == [article.sources] * 2
    assert "tags: [ingested]\nlang: th\n" in text
    assert "sources:\n- https://example.org/a\n" in text


def test_ingested_thaigov_article_round_trips(dga_files):
    [article] = ing.parse_thaigov(dga_files[0].read_text(encoding="utf-8"))
    assert parse_article(render_article(article)) == article


def test_control_characters_in_a_page_are_refused_not_written(tmp_path):
    page = tmp_path / "terminal-dump.txt"
    page.write_bytes(
        "สพร. มอบรางวัลรัฐบาลดิจิทัล\n4 ธันวาคม 2563\n\x1b[1mเนื้อข่าว\x1b[0m\x07\n"
        "https://example.org/news/1\n".encode()
    )
    out = tmp_path / "corpus"
    (outcome,) = ingest([page], out=out).outcomes
    assert outcome.status is Status.ERROR
    assert "binary data" in outcome.message and "'\\x1b'" in outcome.message
    assert list(out.iterdir()) == []


def test_a_page_claiming_a_thaigov_address_is_not_taken_for_one(tmp_path):
    """The canonical link is the page's own claim: it never earns the thaigov id on its own."""
    claim = '<link rel="canonical" href="https://www.thaigov.go.th/news/contents/details/24149">'
    page = tmp_path / "claim.html"
    page.write_text(PAGE.format(canonical=claim, published=PUBLISHED), encoding="utf-8")
    [outcome] = ingest([page], out=tmp_path / "corpus").outcomes
    article = parse_article(Path(outcome.target).read_text(encoding="utf-8"))
    assert article.id.startswith("web-") and not (tmp_path / "corpus/thaigov-24149.md").exists()
    # With the operator's --url, that is the page; a claim on another host is dropped.
    [outcome] = ingest([page], out=tmp_path / "c2", url="https://news.example.org/a/1").outcomes
    article = parse_article(Path(outcome.target).read_text(encoding="utf-8"))
    assert article.sources == ("https://news.example.org/a/1",)


@pytest.mark.parametrize("name", ["big.jsonl", "bomb.jsonl.gz"])
def test_an_input_over_the_size_limit_is_refused_whole(tmp_path, monkeypatch, name):
    monkeypatch.setattr(ing, "MAX_INPUT_BYTES", 1 << 20)
    line = json.dumps(RECORDS[0], ensure_ascii=False).encode() + b"\n"
    data = line * ((2 << 20) // len(line))  # 2 MiB of good records
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    report = ingest([path], out=tmp_path / "corpus")
    [outcome] = report.outcomes
    assert outcome.status is Status.ERROR and "over 1 MiB" in outcome.message
    assert not (tmp_path / "corpus").exists() or not any((tmp_path / "corpus").iterdir())
