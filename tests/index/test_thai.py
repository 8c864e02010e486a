from index.text import thai


def test_normalize_strips_invisible_and_maps_thai_digits():
    assert thai.normalize("ปี\u200b ๒๕๖๓") == "ปี 2563"


def test_tokens_match_buddhist_and_christian_years():
    assert "2020" in thai.tokens("ปี 2563") and "2020" in thai.tokens("ปี ๒๕๖๓")
    assert thai.tokens("ปี 2563")[-1] == thai.tokens("ปี 2020")[-1]


def test_tokens_keep_domain_abbreviations_whole():
    assert "สพร" in thai.tokens("จัดโดยสพร.")
    assert thai.tokens("สพร. (DGA)") == thai.tokens("สพร DGA") == ["สพร", "dga"]
    assert thai.tokens("แผนปี 2563–2565") == thai.tokens("แผนปี 2563 2565")
    assert "e-government" in thai.tokens('"E-Government"')
    assert thai.tokens("กรมพัฒนาธุรกิจการค้า") == ["กรม", "พัฒนา", "ธุรกิจ", "การค้า"]


def test_sentence_spans_point_into_the_text_and_never_cross_lines():
    text = "ย่อหน้าแรก มีสองประโยค. ประโยคที่สอง\n\nย่อหน้าที่สอง ๑๒๓ คำ"
    spans = thai.sentence_spans(text)
    assert spans, "no sentences"
    for start, end in spans:
        piece = text[start:end]
        assert piece == piece.strip() and piece
        assert "\n" not in piece
    covered = "".join(text[a:b] for a, b in spans).replace(" ", "")
    assert covered == text.replace(" ", "").replace("\n", "")


def test_unusual_spaces_separate_words_like_a_plain_space():
    plain = thai.tokens("รางวัล ดิจิทัล DG Awards")
    for space in ("\u00a0", "\u2009", "\u202f", "\u3000"):
        assert thai.tokens(f"รางวัล{space}ดิจิทัล DG{space}Awards") == plain


def test_relative_years_resolve_against_the_reference_year_in_both_eras():
    from index.text.query import names_latest, names_relative_year, understand

    assert names_relative_year("DG Awards ครั้งล่าสุดจัดวันไหน")
    assert names_relative_year("ปีที่แล้วใครได้รางวัล") and names_relative_year("Latest DG Awards?")
    assert not names_relative_year("DG Awards ปี 2566 จัดวันไหน")
    assert names_latest("งานครั้งล่าสุด") and not names_latest("ปีที่แล้วใครได้รางวัล")
    # "ล่าสุด" steers towards the newest year without requiring it: the newest plan or
    # ranking need not be of the newest award year.
    latest = understand("งานล่าสุดจัดที่ไหน", 2025)
    assert latest.years == frozenset() and "2568" in latest.dense_text
    assert understand("ปีที่แล้วใครได้รางวัล", 2025).years == frozenset({"2024"})
    assert "2567" in understand("ปีที่แล้วใครได้รางวัล", 2025).dense_text
    # Without a reference year nothing is guessed.
    assert understand("ปีที่แล้วใครได้รางวัล").years == frozenset()


def test_the_reader_is_given_relative_years_written_out():
    from index.text.query import with_years_written

    assert with_years_written("ปีที่แล้วงานจัดที่ไหน", 2025) == "ปี 2567 งานจัดที่ไหน"
    assert with_years_written("แล้วปีก่อนหน้านั้นล่ะ", 2020) == "แล้ว ปี 2562 ล่ะ"
    assert with_years_written("ปีหน้าจะจัดไหม", 2025) == "ปี 2569 จะจัดไหม"
    # "ล่าสุด" only steers, and without a reference year nothing is guessed.
    assert with_years_written("งานล่าสุดจัดที่ไหน", 2025) == "งานล่าสุดจัดที่ไหน"
    assert with_years_written("ปีที่แล้วงานจัดที่ไหน", None) == "ปีที่แล้วงานจัดที่ไหน"


def test_english_questions_are_told_from_thai_ones():
    from index.text.query import written_in_english

    assert written_in_english("DBD won which award in 2020?")
    assert not written_in_english("กรมพัฒน์ฯ ได้รางวัล DG Awards ปี 2020 ไหม")
    assert not written_in_english("สพร. คืออะไร")
