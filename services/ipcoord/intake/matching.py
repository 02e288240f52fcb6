"""Source tracing keys: what makes two reports point at the same source."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ipcoord.v1 import common_pb2, intake_pb2

USCC = intake_pb2.LINK_BASIS_USCC
ONLINE = intake_pb2.LINK_BASIS_ONLINE_IDENTIFIER
FINGERPRINT = intake_pb2.LINK_BASIS_PRODUCT_FINGERPRINT


def normalise_shop_url(url: str) -> str:
    """Same shop, same key: no scheme, no 'www.'/'m.', lower-case host, no query or fragment,
    no trailing slash. 'HTTPS://www.Shop.example/s/1/?ref=x' -> 'shop.example/s/1'."""
    raw = url.strip()
    if "//" not in raw:
        raw = "//" + raw
    parts = urlsplit(raw)
    host = (parts.hostname or "").lower()
    host = re.sub(r"^(www|m)\.", "", host)
    path = re.sub(r"/+", "/", parts.path).rstrip("/")
    return f"{host}{path}"


def online_keys(identifier: common_pb2.OnlineIdentifier) -> list[str]:
    keys = []
    if identifier.platform and identifier.seller_id:
        keys.append(f"seller:{identifier.platform.lower()}:{identifier.seller_id.strip().lower()}")
    if identifier.shop_url:
        keys.append(f"shop:{normalise_shop_url(identifier.shop_url)}")
    return keys


def uscc_key(uscc: str) -> str:
    return f"uscc:{uscc}"


def basis_of(key: str) -> int:
    if key.startswith("uscc:"):
        return USCC
    if key.startswith("fp:"):
        return FINGERPRINT
    return ONLINE


def report_keys(report: intake_pb2.ReportSubmitted) -> list[str]:
    """Every key a report can match on, most specific first (USCC, online ids, fingerprints)."""
    keys: list[str] = []
    for respondent in report.respondents:
        if respondent.entity.uscc:
            keys.append(uscc_key(respondent.entity.uscc))
    for respondent in report.respondents:
        for identifier in respondent.online_identifiers:
            keys.extend(online_keys(identifier))
    keys.extend(f"fp:{fp.strip().lower()}" for fp in report.product_fingerprints if fp.strip())
    return list(dict.fromkeys(keys))
