"""Source tracing keys: what makes two reports point at the same source.

Keys are built only from values read by ``normalise``, the module validation reads them with,
and only when something is left after normalising: no key is ever just its prefix.
"""

from __future__ import annotations

from ipcoord.intake.normalise import (
    normalise_fingerprint,
    normalise_platform,
    normalise_seller_id,
    normalise_shop_url,
    normalise_uscc,
)
from ipcoord.v1 import common_pb2, intake_pb2

USCC = intake_pb2.LINK_BASIS_USCC
ONLINE = intake_pb2.LINK_BASIS_ONLINE_IDENTIFIER
FINGERPRINT = intake_pb2.LINK_BASIS_PRODUCT_FINGERPRINT


def online_keys(identifier: common_pb2.OnlineIdentifier) -> list[str]:
    """``seller:<platform>:<seller id>`` when both are there, then ``shop:<host/path>``."""
    keys = []
    platform = normalise_platform(identifier.platform)
    seller_id = normalise_seller_id(identifier.seller_id)
    if platform and seller_id:
        keys.append(f"seller:{platform}:{seller_id}")
    if shop := normalise_shop_url(identifier.shop_url):
        keys.append(f"shop:{shop}")
    return keys


def uscc_key(uscc: str) -> str:
    """The key of a USCC in either case. Callers check the USCC first (``check_uscc``): a blank
    one gives the bare prefix, under which nothing is ever indexed."""
    return f"uscc:{normalise_uscc(uscc)}"


def basis_of(key: str) -> int:
    if key.startswith("uscc:"):
        return USCC
    if key.startswith("fp:"):
        return FINGERPRINT
    return ONLINE


def report_keys(report: intake_pb2.ReportSubmitted) -> list[str]:
    """Every key a report can match on, most specific first (USCC, online ids, fingerprints).
    Values that normalise to nothing give no key (validation refuses them; facts logged before
    it did are replayed without them)."""
    keys: list[str] = []
    for respondent in report.respondents:
        if normalise_uscc(respondent.entity.uscc):
            keys.append(uscc_key(respondent.entity.uscc))
    for respondent in report.respondents:
        for identifier in respondent.online_identifiers:
            keys.extend(online_keys(identifier))
    for fingerprint in report.product_fingerprints:
        if normalised := normalise_fingerprint(fingerprint):
            keys.append(f"fp:{normalised}")
    return list(dict.fromkeys(keys))
