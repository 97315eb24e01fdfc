"""Resident ID numbers (GB 11643-1999): validation, derivation, masking (DOMAIN §9)."""

from __future__ import annotations

import datetime as dt
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.idcard import (
    IdInfo,
    IdNumberError,
    age_on,
    check_digit,
    make_id_number,
    mask_id_number,
    parse_id_number,
)

# The sample printed in GB 11643-1999 and in countless textbooks: born 1949-12-31, a woman.
SAMPLE = "11010519491231002X"
SAMPLE_15 = "110105491231002"
TODAY = date(2025, 6, 1)


def iso7064_check(first17: str) -> str:
    """ISO 7064 MOD 11-2 written from the standard's definition, not from the module's tables:
    weight of position i (1-based, from the left) is 2**(18 - i) mod 11, and the check value v
    satisfies (sum + v) % 11 == 1 for a weight-1 check position."""
    total = sum(int(d) * pow(2, 18 - i, 11) for i, d in enumerate(first17, start=1))
    v = (12 - total % 11) % 11
    return "X" if v == 10 else str(v)


def with_check(first17: str) -> str:
    return first17 + iso7064_check(first17)


# --- check digit ---------------------------------------------------------------------------------


def test_sample_check_character_is_x():
    assert iso7064_check(SAMPLE[:17]) == "X"  # the helper agrees with the published sample
    assert check_digit(SAMPLE[:17]) == "X"


@pytest.mark.parametrize(
    "first17, expected",
    # worked by hand: weighted sums 242 and 194, remainders 0 and 7
    [("35058119900101002", "1"), ("52042420000229001", "5"), ("35058119700312031", "3")],
)
def test_check_digit_hand_computed_values(first17, expected):
    assert check_digit(first17) == expected


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_digit_matches_iso7064_definition(first17):
    assert check_digit(first17) == iso7064_check(first17)


@pytest.mark.parametrize("bad", ["", "1234", "1101051949123100", "110105194912310021", "1101051949123100a"])
def test_check_digit_rejects_malformed_input(bad):
    with pytest.raises(ValueError):
        check_digit(bad)


# --- parsing valid numbers -----------------------------------------------------------------------


def test_parse_valid_sample():
    info = parse_id_number(SAMPLE, today=TODAY)
    assert info == IdInfo(number=SAMPLE, birth_date=date(1949, 12, 31), sex="女", region_code="110105")


def test_idinfo_is_frozen():
    info = parse_id_number(SAMPLE, today=TODAY)
    with pytest.raises(AttributeError):
        info.number = "x"  # type: ignore[misc]


def test_lowercase_x_and_spaces_are_normalized():
    assert parse_id_number("  110105 19491231 002x\t", today=TODAY).number == SAMPLE


def test_full_width_digits_are_normalized():
    full_width = "１１０１０５１９４９１２３１００２ｘ"
    assert parse_id_number(full_width, today=TODAY).number == SAMPLE


@pytest.mark.parametrize("order, sex", [("001", "男"), ("013", "男"), ("999", "男"), ("002", "女"), ("010", "女")])
def test_sex_comes_from_the_17th_digit(order, sex):
    number = with_check("350581" + "19850615" + order)
    info = parse_id_number(number, today=TODAY)
    assert info.sex == sex
    assert info.is_male is (sex == "男")


def test_leap_day_birth_is_valid():
    info = parse_id_number(with_check("52042420000229001"), today=TODAY)
    assert info.birth_date == date(2000, 2, 29)


def test_birth_today_is_accepted():
    number = with_check("350581" + TODAY.strftime("%Y%m%d") + "002")
    assert parse_id_number(number, today=TODAY).birth_date == TODAY


# --- 15-digit first-generation numbers -----------------------------------------------------------


def test_fifteen_digits_are_converted_to_eighteen():
    info = parse_id_number(SAMPLE_15, today=TODAY)
    assert info.number == SAMPLE
    assert info.birth_date == date(1949, 12, 31)
    assert info.sex == "女"
    assert info.region_code == "110105"


def test_fifteen_digit_male_conversion_computes_check_character():
    info = parse_id_number("350581700312031", today=TODAY)
    assert info.number == with_check("35058119700312031")
    assert info.birth_date == date(1970, 3, 12)
    assert info.sex == "男"


def test_fifteen_digit_impossible_date_is_rejected():
    with pytest.raises(IdNumberError, match="不是有效日期"):
        parse_id_number("350581900230031", today=TODAY)  # 1990-02-30


def test_fifteen_digit_with_letter_is_rejected():
    with pytest.raises(IdNumberError, match="第15位"):
        parse_id_number("11010549123100X", today=TODAY)


# --- rejections ----------------------------------------------------------------------------------


@pytest.mark.parametrize("last", sorted(set("0123456789X") - {"X"}))
def test_every_wrong_check_character_is_rejected(last):
    with pytest.raises(IdNumberError, match="校验位错误") as exc:
        parse_id_number(SAMPLE[:17] + last, today=TODAY)
    assert exc.value.message == str(exc.value)


def test_single_digit_typo_is_caught():
    typo = SAMPLE[:9] + ("5" if SAMPLE[9] != "5" else "6") + SAMPLE[10:]
    with pytest.raises(IdNumberError, match="校验位错误"):
        parse_id_number(typo, today=TODAY)


def test_error_does_not_reveal_expected_check_character():
    with pytest.raises(IdNumberError) as exc:
        parse_id_number(SAMPLE[:17] + "1", today=TODAY)
    assert "X" not in exc.value.message


@pytest.mark.parametrize(
    "birth, fragment",
    [("19900230", "不是有效日期"), ("19901301", "不是有效日期"), ("19900000", "不是有效日期"),
     ("19010229", "不是有效日期"), ("18991231", "早于1900年"), ("20250602", "晚于今天")],
)
def test_bad_birth_dates_are_rejected_even_with_a_correct_check_character(birth, fragment):
    number = with_check("350581" + birth + "002")
    with pytest.raises(IdNumberError, match=fragment):
        parse_id_number(number, today=TODAY)


def test_future_is_measured_from_the_clock_by_default(time_machine):
    time_machine.move_to(dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC), tick=False)
    parse_id_number(with_check("350581" + "20250601" + "002"))  # born today: accepted
    with pytest.raises(IdNumberError, match="晚于今天"):
        parse_id_number(with_check("350581" + "20250602" + "002"))


@pytest.mark.parametrize("text, length", [("1101051949123100", 16), ("11010519491231002X1", 19), ("1234", 4)])
def test_wrong_length_is_rejected(text, length):
    with pytest.raises(IdNumberError, match=f"现为{length}位"):
        parse_id_number(text, today=TODAY)


@pytest.mark.parametrize(
    "text, fragment",
    [("1101051949123100AX", "第17位“A”不是数字"), ("11010519491231X02X", "第15位“X”不是数字"),
     ("11010519491231002Y", "第18位“Y”无效"), ("11O10519491231002X", "第3位“O”不是数字")],
)
def test_non_digits_are_rejected_with_their_position(text, fragment):
    with pytest.raises(IdNumberError, match=fragment):
        parse_id_number(text, today=TODAY)


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_input_is_rejected(text):
    with pytest.raises(IdNumberError, match="不能为空"):
        parse_id_number(text, today=TODAY)


def test_number_from_a_spreadsheet_cell_is_rejected_as_not_text():
    with pytest.raises(IdNumberError, match="文本"):
        parse_id_number(110105194912310021, today=TODAY)  # type: ignore[arg-type]


def test_unknown_province_prefix_is_rejected():
    with pytest.raises(IdNumberError, match="省级地区码"):
        parse_id_number(with_check("00010519491231002"), today=TODAY)


def test_error_is_a_value_error():
    assert issubclass(IdNumberError, ValueError)


# --- masking -------------------------------------------------------------------------------------


def test_mask_keeps_first_and_last_four():
    assert mask_id_number("35058119850615123X") == "3505**********123X"
    assert mask_id_number(SAMPLE) == "1101**********002X"


def test_mask_normalizes_lowercase_and_spaces():
    assert mask_id_number(" 11010519491231002x ") == "1101**********002X"


def test_mask_never_shows_the_birth_date():
    masked = mask_id_number(SAMPLE)
    assert "1949" not in masked and "1231" not in masked
    assert len(masked) == 18


def test_mask_fifteen_digits():
    assert mask_id_number(SAMPLE_15) == "1101*******1002"


@pytest.mark.parametrize("value, expected", [(None, ""), ("", ""), ("12345", "*****"), ("12345678901", "*" * 11)])
def test_mask_short_or_missing_input(value, expected):
    assert mask_id_number(value) == expected


# --- age -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "on, age",
    [(date(1990, 6, 15), 0), (date(2015, 6, 14), 24), (date(2015, 6, 15), 25), (date(2045, 6, 14), 54),
     (date(2045, 6, 15), 55), (date(2046, 6, 14), 55), (date(2046, 6, 15), 56)],
)
def test_age_in_full_years_goes_up_on_the_birthday(on, age):
    assert age_on(date(1990, 6, 15), on) == age


def test_age_of_leap_day_birth_goes_up_on_first_of_march_in_common_years():
    born = date(2000, 2, 29)
    assert age_on(born, date(2023, 2, 28)) == 22
    assert age_on(born, date(2023, 3, 1)) == 23
    assert age_on(born, date(2024, 2, 29)) == 24


def test_age_before_birth_is_an_error():
    with pytest.raises(ValueError):
        age_on(date(1990, 6, 15), date(1990, 6, 14))


def test_age_from_a_parsed_number():
    assert age_on(parse_id_number(SAMPLE, today=TODAY).birth_date, date(2024, 12, 31)) == 75
    assert age_on(parse_id_number(SAMPLE, today=TODAY).birth_date, date(2024, 12, 30)) == 74


# --- building numbers ----------------------------------------------------------------------------


def test_make_id_number_builds_the_sample():
    assert make_id_number("110105", date(1949, 12, 31), 1, male=False) == SAMPLE


@pytest.mark.parametrize("male", [True, False])
def test_make_id_number_round_trips(male):
    number = make_id_number("520424", date(1988, 8, 8), 37, male=male)
    info = parse_id_number(number, today=TODAY)
    assert info.number == number
    assert info.birth_date == date(1988, 8, 8)
    assert info.region_code == "520424"
    assert info.sex == ("男" if male else "女")
    assert number[-1] == iso7064_check(number[:17])


def test_make_id_number_is_unique_per_seq_and_sex():
    numbers = {make_id_number("350581", date(1980, 1, 1), seq, male) for seq in range(500) for male in (True, False)}
    assert len(numbers) == 1000


@pytest.mark.parametrize("region, seq", [("35058", 0), ("35058a", 0), ("350581", -1), ("350581", 500)])
def test_make_id_number_rejects_bad_arguments(region, seq):
    with pytest.raises(ValueError):
        make_id_number(region, date(1980, 1, 1), seq, male=True)
