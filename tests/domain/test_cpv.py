import pytest

from app.domain import cpv
from app.domain.text import fold


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("45000000", "division"),
        ("03000000", "division"),
        ("45200000", "group"),
        ("45210000", "class"),
        ("45212000", "category"),
        ("45212100", "subcategory"),
        ("45212230", "subcategory"),
        ("09310000", "class"),
    ],
)
def test_level_follows_from_significant_digits(code, level):
    assert cpv.level_of(code) == level


def test_prefix_and_code_of_prefix_round_trip():
    assert cpv.prefix("09310000", "class") == "0931"
    assert cpv.prefix("09310000", "division") == "09"
    assert cpv.code_of_prefix("0931") == "09310000"
    with pytest.raises(ValueError):
        cpv.prefix("09310000", "family")


@pytest.mark.parametrize("raw", ["09310000", "09310000-5", " 09310000 - 5 "])
def test_parse_code_accepts_with_or_without_check_digit(raw):
    assert cpv.parse_code(raw).code == "09310000"


@pytest.mark.parametrize("raw", ["", "0931", "0931000A", "09310000-55", None])
def test_parse_code_refuses_malformed(raw):
    with pytest.raises(cpv.InvalidCpvCode):
        cpv.parse_code(raw)


def test_works_are_division_45():
    assert cpv.is_works("45212230")
    assert not cpv.is_works("09310000")


def test_is_within_hierarchy():
    assert cpv.is_within("09310000", "09300000")
    assert not cpv.is_within("09310000", "09100000")


def test_fold_removes_accents_case_and_spaces():
    assert fold("  Électricité   VERTE ") == "electricite verte"
