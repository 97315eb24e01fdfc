"""Chinese resident identity numbers (居民身份证号码, GB 11643-1999).

Staff records carry the worker's ID number because every eligibility rule the counties wrote is
phrased in terms it already contains: age limits (SS-2 "25-55 周岁", GL-2 "40 周岁以下") are checked
against the birth date inside the number, and the number is how a town proves a person is who the
roster says. So the platform validates the number once, at the door, and derives birth date, sex and
region from it instead of asking clerks to type them again (and get them out of step).

Layout of the 18 characters::

    RRRRRR YYYYMMDD SSS C
    region birth    |   check character (0-9 or X), ISO 7064 MOD 11-2
                    order code; its last digit is odd for men and even for women

Decisions worth knowing:

* **15-digit numbers** (first-generation cards, issued until 2004, ``RRRRRR YYMMDD SSS``) are
  *converted* to 18 digits the way the Ministry of Public Security did when it reissued cards:
  insert ``19`` before the two-digit year and append the computed check character. Every such
  card was issued to someone born in the 1900s, so the century is never a guess. Storing one
  form keeps duplicate detection and masking simple; the original 15 digits are not kept.
* Input is forgiving about *typing* (surrounding or inner spaces, full-width digits from
  Chinese input methods, a lowercase ``x``) and strict about *content*: wrong length, a letter
  in the middle, an impossible or future birth date and a wrong check character are all
  rejected with a Chinese message a town clerk can act on. The message never echoes the
  expected check character: that would turn a typo into a plausible, wrong number.
* The region code is only checked for a plausible province prefix (GB/T 2260 codes, plus
  ``8x`` for Hong Kong, Macao and Taiwan residence permits and a leading ``9`` for the 2023
  foreigners' permanent residence card, which share the layout). Region codes are renamed and
  merged over the years, so checking the full six digits against a table would reject genuine
  old numbers.
* Age is counted in full years (周岁) and goes up *on* the birthday; someone born on 29 February
  turns a year older on 1 March in common years.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from app.core import clock

__all__ = [
    "CHECK_CHARS",
    "WEIGHTS",
    "IdInfo",
    "IdNumberError",
    "age_on",
    "check_digit",
    "make_id_number",
    "mask_id_number",
    "parse_id_number",
]

#: Weight of each of the first 17 digits: 2**(17 - i) mod 11 (ISO 7064 MOD 11-2).
WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
#: Check character for each remainder of the weighted sum modulo 11.
CHECK_CHARS = "10X98765432"

MALE = "男"
FEMALE = "女"

#: The earliest birth date accepted. Nobody on a roster was born before it, and a 19th-century
#: date almost always means a mistyped year.
MIN_BIRTH_DATE = date(1900, 1, 1)

# Province-level prefixes (first two digits) of GB/T 2260, plus 81/82/83 (HK, Macao, Taiwan
# residence permits). Numbers starting with 9 (foreigners' permanent residence) are let through.
_PROVINCES = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37"}
    | {"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65"}
    | {"71", "81", "82", "83"}
)

_WHITESPACE = re.compile(r"\s+")
_DIGITS = re.compile(r"[0-9]+")


class IdNumberError(ValueError):
    """An ID number that cannot be right. ``message`` is Chinese and safe to show to the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class IdInfo:
    """What a valid ID number tells us. ``number`` is the normalized 18-character form."""

    number: str
    birth_date: date
    sex: str  # "男" or "女"
    region_code: str

    @property
    def is_male(self) -> bool:
        return self.sex == MALE


def check_digit(first17: str) -> str:
    """The check character (``0``-``9`` or ``X``) for the first 17 digits of an ID number."""
    if len(first17) != 17 or not _DIGITS.fullmatch(first17):
        raise ValueError(f"check_digit needs exactly 17 ASCII digits, got {first17!r}")
    total = sum(int(ch) * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def _normalize(text: str) -> str:
    # NFKC turns full-width digits and letters (１２Ｘ) into ASCII; then drop every kind of space.
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", text)).upper()


def _birth_date(digits: str, today: date) -> date:
    """Parse YYYYMMDD and check it is a real date, not before 1900 and not after ``today``."""
    try:
        born = date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise IdNumberError(
            f"身份证号码中的出生日期 {digits[0:4]}-{digits[4:6]}-{digits[6:8]} 不是有效日期"
        ) from None
    if born < MIN_BIRTH_DATE:
        raise IdNumberError(f"身份证号码中的出生日期 {born.isoformat()} 早于1900年，请核对")
    if born > today:
        raise IdNumberError(f"身份证号码中的出生日期 {born.isoformat()} 晚于今天，请核对")
    return born


def parse_id_number(text: str, *, today: date | None = None) -> IdInfo:
    """Validate an ID number and return its normalized form with birth date, sex and region.

    Accepts 18-character numbers and 15-digit first-generation numbers (converted to 18).
    ``today`` bounds the birth date from above; it defaults to the current date.
    Raises :class:`IdNumberError` with a Chinese message on any problem.
    """
    if text is None:
        raise IdNumberError("身份证号码不能为空")
    if not isinstance(text, str):
        raise IdNumberError("身份证号码必须以文本形式填写（表格中请设为文本格式，以免末位或X丢失）")
    number = _normalize(text)
    if not number:
        raise IdNumberError("身份证号码不能为空")
    if len(number) not in (15, 18):
        raise IdNumberError(f"身份证号码应为18位（旧版15位），现为{len(number)}位")

    body = number if len(number) == 15 else number[:17]
    for pos, ch in enumerate(body, start=1):
        if not ("0" <= ch <= "9"):
            raise IdNumberError(f"身份证号码第{pos}位“{ch}”不是数字")
    if len(number) == 18 and not ("0" <= number[17] <= "9" or number[17] == "X"):
        raise IdNumberError(f"身份证号码第18位“{number[17]}”无效，只能是数字或X")

    if number[0] != "9" and number[:2] not in _PROVINCES:
        raise IdNumberError(f"身份证号码前两位“{number[:2]}”不是有效的省级地区码")

    today = today or clock.server_today()
    if len(number) == 15:
        born = _birth_date("19" + number[6:12], today)
        first17 = number[:6] + "19" + number[6:15]
        number = first17 + check_digit(first17)
    else:
        born = _birth_date(number[6:14], today)
        if check_digit(number[:17]) != number[17]:
            raise IdNumberError("身份证号码校验位错误，请逐位核对号码")

    return IdInfo(
        number=number,
        birth_date=born,
        sex=MALE if int(number[16]) % 2 == 1 else FEMALE,
        region_code=number[:6],
    )


def mask_id_number(number: str | None) -> str:
    """Hide the middle of an ID number for lists: ``3505**********1234``.

    Birth date and order code are what identify a person, so they are always hidden. Numbers
    of 12 characters or more keep their first and last four; anything shorter (a fragment, a
    typo) is masked completely, since four plus four would reveal most of it. ``None`` and
    blank input give ``""``. Input is not validated: masking must never fail on bad data.
    """
    if not number:
        return ""
    text = _normalize(str(number))
    n = len(text)
    if n >= 12:
        return text[:4] + "*" * (n - 8) + text[-4:]
    return "*" * n


def age_on(birth_date: date, on_date: date) -> int:
    """Age in full years (周岁) on ``on_date``; it goes up on the birthday itself."""
    if on_date < birth_date:
        raise ValueError(f"on_date {on_date} is before birth_date {birth_date}")
    had_birthday = (on_date.month, on_date.day) >= (birth_date.month, birth_date.day)
    return on_date.year - birth_date.year - (0 if had_birthday else 1)


def make_id_number(region_code: str, birth_date: date, seq: int, male: bool) -> str:
    """Build a valid 18-character ID number (for data generators and tests).

    ``seq`` (0-499) numbers the people of one sex born on that day in that region; the order
    code is ``2 * seq + 1`` for men and ``2 * seq`` for women, so distinct
    ``(region_code, birth_date, seq, male)`` give distinct numbers. The birth date is not
    checked against today, so tests can build future-dated numbers to see them rejected.
    """
    if len(region_code) != 6 or not _DIGITS.fullmatch(region_code):
        raise ValueError(f"region_code must be 6 digits, got {region_code!r}")
    if not 0 <= seq <= 499:
        raise ValueError(f"seq must be in 0..499, got {seq}")
    if not 1000 <= birth_date.year <= 9999:
        raise ValueError(f"birth year must have 4 digits, got {birth_date.year}")
    first17 = f"{region_code}{birth_date:%Y%m%d}{2 * seq + (1 if male else 0):03d}"
    return first17 + check_digit(first17)
