"""Known gaps: a passage saying the sources do not know is said as such, never as an answer."""

from __future__ import annotations

from index import Answer, Chunk, Hit
from index.search.answer import Threshold, known_gap

GAP = "ชื่อผู้ได้รับรางวัลผู้นำ ปี 2563 ไม่มีในแหล่งข้อมูลที่บอตรวบรวมไว้"
FACT = "ปี 2563 สพร. สำรวจหน่วยงานรวม 1,926 แห่ง ครอบคลุม 76 จังหวัดทั่วประเทศไทย"
SURE = Threshold(min_score=1.5)


def _answer(text: str, *, found: bool, score: float = 1.9, year_ok: bool = True) -> Answer:
    chunk = Chunk("a#0", "a", "หัวข้อ", "2020-12-03", "https://example.go.th/a", text, 0, len(text))
    hit = Hit(chunk, score, 0.9, 0.5, year_ok=year_ok)
    sentence = text if found else ""
    return Answer("ใครได้รางวัลผู้นำปี 2563", found, text if found else "", sentence, 0.4, [hit])


def test_a_refused_question_whose_best_passage_states_the_gap_gets_the_gap():
    said = known_gap(_answer(f"{FACT} {GAP}", found=False), SURE)
    assert (said.found, said.unknown, said.sentence) == (False, True, GAP)


def test_a_found_sentence_that_is_itself_the_gap_is_not_an_answer():
    said = known_gap(_answer(GAP, found=True), SURE)
    assert not said.found and said.unknown and said.span == ""


def test_a_fact_found_beside_a_gap_keeps_its_answer():
    answer = _answer(FACT, found=True)
    answer.text = f"{FACT} {GAP}"
    assert known_gap(answer, SURE) is answer


def test_an_unsure_or_other_year_passage_is_no_known_gap():
    for weak in (_answer(GAP, found=False, score=1.2), _answer(GAP, found=False, year_ok=False)):
        said = known_gap(weak, SURE)
        assert not said.found and not said.unknown and said.sentence == ""


def test_a_passage_without_a_gap_changes_nothing():
    answer = _answer(FACT, found=False)
    assert known_gap(answer, SURE) is answer


def test_a_found_sentence_stating_a_gap_of_another_year_is_not_found():
    other_year = "แหล่งข้อมูลไม่ได้ระบุว่า 33 รางวัลของปี 2564 แบ่งเป็นประเภทละกี่รางวัลบ้าง"
    answer = _answer(other_year, found=True)
    answer.question = "ปี 2568 มอบรางวัลทั้งหมดกี่รางวัล"
    said = known_gap(answer, SURE)
    assert not said.found and not said.unknown and said.sentence == ""
