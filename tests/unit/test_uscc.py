import pytest
from ipcoord.platform.uscc import uscc_problem
from support.reports import make_uscc


@pytest.mark.parametrize(
    "code", ["91350100M000100Y43", "91440300708461136T", "9144030071526726XG", "91110000600037341L"]
)
def test_known_valid_codes(code):
    assert uscc_problem(code) is None


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("9144030070846113", "18 characters"),
        ("91440300708461136TT", "18 characters"),
        ("9144030070846113IT", "position 17"),
        ("91440300708461136X", "check character is 'X', expected 'T'"),
        ("914403O0708461136T", "position 7"),
        ("91ABCDEF708461136T", "division code"),
    ],
)
def test_invalid_codes_say_why(code, fragment):
    assert fragment in uscc_problem(code)


def test_allow_list_and_generator():
    assert uscc_problem("91440300708461136X", {"91440300708461136X"}) is None
    assert uscc_problem(make_uscc("91440300708461136")) is None
