"""The Thai calendar, in one place: Buddhist-era years, month names, Thai digits.

Citizens write 2563 for 2020, "3 ธ.ค. 63" for a date and sometimes ๒๕๖๓ for the year; articles,
the bot's messages and the ingest of news pages all need the same three facts, so each is said
once, here.
"""

from __future__ import annotations

import re

BE_OFFSET = 543  # Buddhist-era year = Christian-era year + 543
THAI_MONTHS = (
    *("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน"),
    *("กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม"),
)
THAI_MONTH_ABBREVIATIONS = (
    *("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย."),
    *("ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค."),
)
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def arabic_digits(text: str) -> str:
    """``text`` with Thai digits written as 0-9 ("๒๕๖๓" → "2563")."""
    return text.translate(_THAI_DIGITS)


def thai_date(iso: str) -> str:
    """``2020-12-03`` → ``3 ธันวาคม 2563``: the way Thai readers write dates (Buddhist era);
    anything else is returned as it is."""
    match = _ISO.fullmatch(iso)
    if not match or not 1 <= int(match.group(2)) <= 12:
        return iso
    year, month, day = (int(part) for part in match.groups())
    return f"{day} {THAI_MONTHS[month - 1]} {year + BE_OFFSET}"
