"""One reading of identifiers for validation and matching: what normalises to nothing is refused
with its field path, and a report that validates never yields a degenerate match key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from ipcoord.intake import matching, normalise
from ipcoord.intake.validation import validate_report
from ipcoord.platform.bureaus import BureauRegistry
from ipcoord.v1 import common_pb2, intake_pb2
from support.reports import report, uscc
from support.stores import each_store, fresh  # noqa: F401  (each test once per store)

_AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

REGISTRY = BureauRegistry.parse("ipb-sz:ipa:440300")
IDENTIFIERS = "respondents[0].online_identifiers"


def violations(r, allow=frozenset()) -> dict[str, str]:
    return {v.field: v.description for v in validate_report(r, "ipb-sz", REGISTRY, allow)}


def with_identifier(**identifier) -> intake_pb2.ReportSubmitted:
    """A valid report whose respondent has a good seller id first and ``identifier`` second."""
    r = report("R", seller="good-seller")
    r.respondents[0].online_identifiers.add(**identifier)
    return r


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        # The reported pair: filed, then linked to each other through the key 'shop:'.
        (
            {"platform": "taobao", "shop_url": "https://"},
            {"shop_url": "has no host"},
        ),
        (
            {"platform": "jd", "shop_url": "/"},
            {"shop_url": "has no host"},
        ),
        ({"shop_url": "?x=1"}, {"shop_url": "has no host"}),
        ({"shop_url": "   "}, {"shop_url": "has no host"}),
        ({"shop_url": "\u3000"}, {"shop_url": "has no host"}),  # ideographic space
        ({"platform": "taobao", "seller_id": "   "}, {"seller_id": "is blank"}),
        ({"platform": "   ", "seller_id": "s1"}, {"platform": "is blank"}),
        ({"seller_id": "s1"}, {"platform": "is required with a seller_id"}),
        ({"platform": "taobao"}, {"seller_id": "is required with a platform"}),
        ({"platform": "a:b", "seller_id": "c"}, {"platform": "is not a platform slug"}),
        ({"platform": "taobao", "seller_id": ":"}, {"seller_id": "has no letter or digit"}),
        ({"shop_url": "localhost/s/1"}, {"shop_url": "no dot"}),
        ({"shop_url": "https://shop_1.example"}, {"shop_url": "characters a host name"}),
        ({"shop_url": "https://sh op.example"}, {"shop_url": "characters a host name"}),
        ({"shop_url": "shop..example"}, {"shop_url": "is not a host name"}),
        ({"shop_url": "ftp://shop.example"}, {"shop_url": "http or https"}),
        ({"shop_url": "https://[::1"}, {"shop_url": "is not a URL"}),
        ({}, {"": "needs platform + seller_id, or shop_url"}),
    ],
)
def test_an_identifier_that_normalises_to_nothing_is_refused_with_its_path(identifier, expected):
    found = violations(with_identifier(**identifier))
    field = f"{IDENTIFIERS}[1]"
    assert set(found) == {f"{field}.{part}" if part else field for part in expected}
    for part, reason in expected.items():
        assert reason in found[f"{field}.{part}" if part else field]


def test_the_reported_pair_yields_no_shared_key_and_is_refused():
    first = report("A", shop="https://")
    first.respondents[0].online_identifiers[0].platform = "taobao"
    second = report("B", shop="/")
    second.respondents[0].online_identifiers[0].platform = "jd"
    for r in (first, second):
        assert matching.report_keys(r) == []  # facts logged before the fix replay keyless
        found = violations(r)
        assert found[f"{IDENTIFIERS}[0].shop_url"] == "has no host"
        assert "respondents[0]" in found  # no USCC and no usable identifier


def test_blank_values_elsewhere_are_refused_with_their_paths():
    r = report("R", respondent_uscc="   ")
    r.product_fingerprints.extend(["PH:1", "   ", "", "--"])
    found = violations(r)
    assert found["respondents[0].entity.uscc"] == "is blank"
    assert found["product_fingerprints[1]"] == found["product_fingerprints[2]"] == "is blank"
    assert found["product_fingerprints[3]"] == "'--' has no letter or digit"
    assert "product_fingerprints[0]" not in found
    assert "respondents[0]" in found  # a blank USCC identifies no one


@pytest.mark.parametrize("platform", [" Taobao", "TAOBAO", "taobao", "\uff54aobao "])
@pytest.mark.parametrize("seller", ["Shop-1", " shop-1 "])
def test_platform_and_seller_id_key_alike_in_any_case_and_spacing(platform, seller):
    identifier = common_pb2.OnlineIdentifier(platform=platform, seller_id=seller)
    assert matching.online_keys(identifier) == ["seller:taobao:shop-1"]
    assert violations(with_identifier(platform=platform, seller_id=seller)) == {}


@pytest.mark.parametrize(
    "url",
    [
        "HTTPS://www.Shop.example/s/1/?ref=x",
        "shop.example/s/1",
        "http://m.shop.example:8080//s//1#top",
        "  //user@SHOP.example./s/1/  ",
    ],
)
def test_shop_urls_of_one_shop_key_alike(url):
    assert normalise.normalise_shop_url(url) == "shop.example/s/1"
    identifier = common_pb2.OnlineIdentifier(shop_url=url)
    assert matching.online_keys(identifier) == ["shop:shop.example/s/1"]
    assert violations(with_identifier(shop_url=url)) == {}


def test_www_and_m_are_only_dropped_when_a_domain_is_left():
    assert normalise.normalise_shop_url("https://www.example") == "www.example"
    assert normalise.normalise_shop_url("https://www.taobao.com/shop") == "taobao.com/shop"


def test_a_lower_case_uscc_is_accepted_and_keyed_upper_case():
    code = uscc(7)
    assert any(c.isalpha() for c in code)  # the case actually differs
    upper, lower = report("U", respondent_uscc=code), report("L", respondent_uscc=code.lower())
    padded = report("P", respondent_uscc=f" {code.lower()} ")
    for r in (upper, lower, padded):
        assert violations(r) == {}
        assert matching.report_keys(r) == [f"uscc:{code}"]
    assert matching.uscc_key(code.lower()) == f"uscc:{code}"
    holder = report("H", respondent_uscc=code)
    holder.right_holder.uscc = holder.right_holder.uscc.lower()
    assert violations(holder) == {}


def test_a_lower_case_uscc_is_still_checked():
    bad = uscc(7)[:-1] + ("0" if uscc(7)[-1] != "0" else "1")
    found = violations(report("B", respondent_uscc=bad.lower()))
    assert "check character" in found["respondents[0].entity.uscc"]


def test_fingerprints_key_without_case_or_spacing():
    a, b = report("A", fingerprint="PH:ABC"), report("B", fingerprint="  ph:abc ")
    assert matching.report_keys(a)[-1] == matching.report_keys(b)[-1] == "fp:ph:abc"


# Each part is mostly a value that is fine, else one that normalises to nothing or arbitrary
# text, so that the property sees plenty of reports that validate and of ones that do not.
def _mostly(good: list[str], bad: list[str], text_size: int) -> st.SearchStrategy[str]:
    choices = [*good * 4, *bad, None]  # None: arbitrary text
    return st.sampled_from(choices).flatmap(
        lambda value: st.text(max_size=text_size) if value is None else st.just(value)
    )


_GOOD_PLATFORMS = st.sampled_from(["taobao", " Taobao", "JD", "pdd", "\uff54aobao"])
_PLATFORMS = _mostly(["", "taobao", " Taobao", "JD"], [" ", "a:b", "\u3000"], 6)
_SELLERS = _mostly(["s1", " S1 ", "s1:", "Shop 1"], ["", "   ", ":", "\u3000"], 6)
_SHOPS = _mostly(
    ["", "shop.example", "HTTPS://www.Shop.example/s/1/?ref=x", "https://m.example/", "a.b//c/"],
    ["https://", "/", "?x=1", "   ", "localhost", "www.example", "ftp://a.b"],
    20,
)
_USCCS = _mostly(["", uscc(1), uscc(2).lower(), f" {uscc(3)} "], ["   ", "x"], 18)
_FINGERPRINTS = _mostly(["PH:ABC", "ph:abc ", "ph:"], ["", "  ", ":"], 6)
_IDENTIFIERS = st.one_of(
    st.builds(
        common_pb2.OnlineIdentifier,
        platform=_GOOD_PLATFORMS,
        seller_id=_SELLERS,
        shop_url=st.just("") | _SHOPS,
    ),
    st.builds(common_pb2.OnlineIdentifier, shop_url=_SHOPS),
    st.builds(
        common_pb2.OnlineIdentifier, platform=_PLATFORMS, seller_id=_SELLERS, shop_url=_SHOPS
    ),
)
_RESPONDENTS = st.builds(
    lambda code, ids: common_pb2.Respondent(entity={"uscc": code}, online_identifiers=ids),
    _USCCS,
    st.lists(_IDENTIFIERS, max_size=2),
)


@settings(max_examples=300)
@given(
    respondents=st.lists(_RESPONDENTS, min_size=1, max_size=2),
    fingerprints=st.lists(_FINGERPRINTS, max_size=2),
)
def test_a_report_that_validates_yields_no_degenerate_key(respondents, fingerprints):
    r = report("P")
    r.ClearField("respondents")
    r.respondents.extend(respondents)
    r.product_fingerprints.extend(fingerprints)
    if validate_report(r, "ipb-sz", REGISTRY, frozenset()):
        event("refused")
        return
    event("valid")
    for key in matching.report_keys(r):
        prefix, _, value = key.partition(":")
        # No key is its bare prefix ('shop:', 'seller:taobao:', 'fp:'): every part of it is
        # there, stripped, with a letter or digit. (A part may itself end in ':', as 'ph:' does.)
        parts = value.split(":", 1) if prefix == "seller" else [value]
        assert prefix in {"uscc", "seller", "shop", "fp"}, key
        assert len(parts) == (2 if prefix == "seller" else 1), key
        for part in parts:
            assert part == part.strip() and any(c.isalnum() for c in part), key
        if prefix == "shop":
            assert "." in value.split("/", 1)[0], key
    for respondent in r.respondents:  # every respondent can be traced by something
        single = report("S")
        single.respondents[0].CopyFrom(respondent)
        assert matching.report_keys(single)


@given(st.text(max_size=30))
def test_normalised_values_are_fixed_points(text):
    for fn in (
        normalise.normalise_platform,
        normalise.normalise_seller_id,
        normalise.normalise_uscc,
        normalise.normalise_fingerprint,
        normalise.normalise_shop_url,
    ):
        once = fn(text)
        assert fn(once) == once


def test_a_lower_case_uscc_is_the_same_entity_in_every_rule():
    """Filed with a lower-case respondent, found again by its upper-case USCC; a lower-case
    target enterprise is the right holder typed in upper case."""
    from ipcoord.intake.domain import Command, Meta, Rules, decide, evolve, known_submission
    from ipcoord.platform.bureaus import BureauRegistry
    from support.reports import RIGHT_HOLDER

    rules = Rules(bureaus=BureauRegistry.demo())
    state = fresh()

    def run(body, actor: str, n: int) -> list:
        facts = decide(Command(body, actor, f"cmd-{n}", _AT), state, rules)
        for i, fact in enumerate(facts):
            evolve(state, fact, Meta(f"cmd-{n}/{i}", _AT, actor))
        return facts

    target = intake_pb2.RegisterTargetEnterprise(
        enterprise=common_pb2.Entity(uscc=RIGHT_HOLDER.lower(), name="Right Holder Ltd.")
    )
    assert run(target, "ppc-shenzhen", 1)[0].enterprise.uscc == RIGHT_HOLDER
    first = report("LC-1", respondent_uscc=uscc(7).lower(), handling="ppc-shenzhen")
    filed = run(first, "ppc-shenzhen", 2)
    assert filed[0].report.respondents[0].entity.uscc == uscc(7)
    assert any(isinstance(f, intake_pb2.CaseFastTracked) for f in filed)
    [linked] = run(report("LC-2", respondent_uscc=uscc(7)), "ipb-sz", 3)
    assert isinstance(linked, intake_pb2.ReportLinked) and linked.match_key == f"uscc:{uscc(7)}"
    # The same report again, as typed the first time: a duplicate, not a different report.
    assert known_submission(state, "ppc-shenzhen", first) == filed[0].case_id
    assert run(first, "ppc-shenzhen", 4) == []
