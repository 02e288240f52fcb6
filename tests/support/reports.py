"""Test data builders: valid USCCs are computed, never hand-typed."""

from __future__ import annotations

from ipcoord.platform.uscc import check_character
from ipcoord.v1 import common_pb2, intake_pb2

RIGHT_HOLDER = "91440300708461136T"  # a known valid code (DOMAIN.md)


def make_uscc(prefix17: str) -> str:
    """Complete 17 characters with their check character."""
    return prefix17 + check_character(prefix17)


def uscc(n: int, division: str = "440300") -> str:
    return make_uscc(f"91{division}{n:08d}X"[:17])


def report(
    ref: str,
    *,
    respondent_uscc: str = "",
    seller: str = "",
    shop: str = "",
    fingerprint: str = "",
    holder: str = RIGHT_HOLDER,
    division: str = "440300",
    kind: int = common_pb2.INFRINGEMENT_TYPE_TRADEMARK,
    handling: str = "",
    action: str = "",
) -> intake_pb2.ReportSubmitted:
    respondent = common_pb2.Respondent(
        entity=common_pb2.Entity(uscc=respondent_uscc, name="Respondent Co.")
    )
    if seller or shop:
        respondent.online_identifiers.add(
            platform="taobao" if seller else "", seller_id=seller, shop_url=shop
        )
    return intake_pb2.ReportSubmitted(
        external_ref=ref,
        handling_bureau=handling,
        channel=common_pb2.REPORT_CHANNEL_ONLINE_MONITORING,
        right_holder=common_pb2.Entity(uscc=holder, name="Right Holder Ltd."),
        respondents=[respondent],
        infringement_type=kind,
        division_code=division,
        title=f"report {ref}",
        product_fingerprints=[fingerprint] if fingerprint else [],
        special_action_id=action,
    )
