"""Field-level validation of reports and commands (pure; the same rules on both paths)."""

from __future__ import annotations

import re
from collections.abc import Set

from ipcoord.intake import normalise
from ipcoord.platform.bureaus import BureauKind, BureauRegistry
from ipcoord.platform.errors import Violation
from ipcoord.platform.uscc import uscc_problem
from ipcoord.v1 import common_pb2, intake_pb2

MAX_EXTERNAL_REF = 128
MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_RESPONDENTS = 20
MAX_FINGERPRINTS = 20
MAX_EVIDENCE = 50
_DIVISION = re.compile(r"^\d{6}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_uscc(field: str, code: str, allow: Set[str], *, required: bool) -> list[Violation]:
    """Checked as it will be keyed: stripped and upper-cased first (``normalise_uscc``)."""
    if not code:
        return [Violation(field, "is required")] if required else []
    normalised = normalise.normalise_uscc(code)
    if not normalised:
        return [Violation(field, "is blank")]
    problem = uscc_problem(normalised, allow)
    return [Violation(field, f"invalid USCC {code!r}: {problem}")] if problem else []


def check_online_identifier(field: str, identifier: common_pb2.OnlineIdentifier) -> list[Violation]:
    """Platform and seller id come as a pair; every part given must normalise to something,
    so a valid identifier never yields a degenerate match key (``matching.online_keys``)."""
    platform, seller_id, shop_url = identifier.platform, identifier.seller_id, identifier.shop_url
    if not (platform or seller_id or shop_url):
        return [Violation(field, "needs platform + seller_id, or shop_url")]
    v = []
    if seller_id and not platform:
        v.append(Violation(f"{field}.platform", "is required with a seller_id"))
    elif platform and (problem := normalise.platform_problem(platform)):
        v.append(Violation(f"{field}.platform", problem))
    if platform and not seller_id and not shop_url:
        # A platform names where a seller id or shop lives; alone it identifies nobody.
        v.append(Violation(f"{field}.seller_id", "is required with a platform and no shop_url"))
    elif seller_id and (problem := normalise.seller_id_problem(seller_id)):
        v.append(Violation(f"{field}.seller_id", problem))
    if shop_url and (problem := normalise.shop_url_problem(shop_url)):
        v.append(Violation(f"{field}.shop_url", problem))
    return v


def _identified_online(identifier: common_pb2.OnlineIdentifier) -> bool:
    seller = normalise.normalise_platform(identifier.platform) and normalise.normalise_seller_id(
        identifier.seller_id
    )
    return bool(seller or normalise.normalise_shop_url(identifier.shop_url))


def check_evidence(field: str, evidence: common_pb2.Evidence) -> list[Violation]:
    out = []
    if not _SHA256.match(evidence.sha256):
        out.append(Violation(f"{field}.sha256", "must be 64 lower-case hex characters"))
    if evidence.kind == common_pb2.EVIDENCE_KIND_UNSPECIFIED:
        out.append(Violation(f"{field}.kind", "is required"))
    if not evidence.location:
        out.append(Violation(f"{field}.location", "is required"))
    return out


def check_known_bureau(
    field: str, bureau_id: str, registry: BureauRegistry, *, may_handle: bool = False
) -> list[Violation]:
    bureau = registry.get(bureau_id)
    if bureau is None:
        return [Violation(field, f"unknown bureau {bureau_id!r}")]
    if may_handle and bureau.kind is BureauKind.MONITORING:
        return [Violation(field, f"{bureau_id!r} is a monitoring feed and cannot handle cases")]
    if may_handle and bureau.kind is BureauKind.DEPARTMENT:
        return [
            Violation(field, f"{bureau_id!r} implements discipline measures; it handles no cases")
        ]
    return []


def validate_report(
    report: intake_pb2.ReportSubmitted,
    submitting_bureau: str,
    registry: BureauRegistry,
    allow: Set[str],
) -> list[Violation]:
    v: list[Violation] = []
    v += check_known_bureau("submitting_bureau", submitting_bureau, registry)
    if not report.external_ref:
        v.append(Violation("external_ref", "is required"))
    elif len(report.external_ref) > MAX_EXTERNAL_REF:
        v.append(Violation("external_ref", f"longer than {MAX_EXTERNAL_REF} characters"))
    if report.handling_bureau:
        v += check_known_bureau(
            "handling_bureau", report.handling_bureau, registry, may_handle=True
        )
    elif (bureau := registry.get(submitting_bureau)) and bureau.kind is BureauKind.MONITORING:
        v.append(Violation("handling_bureau", "is required when a monitoring feed submits"))
    v += check_uscc("right_holder.uscc", report.right_holder.uscc, allow, required=True)
    if not report.right_holder.name.strip():
        v.append(Violation("right_holder.name", "is required"))
    if not report.respondents:
        v.append(Violation("respondents", "at least one respondent is required"))
    if len(report.respondents) > MAX_RESPONDENTS:
        v.append(Violation("respondents", f"at most {MAX_RESPONDENTS}"))
    for i, respondent in enumerate(report.respondents):
        field = f"respondents[{i}]"
        v += check_uscc(f"{field}.entity.uscc", respondent.entity.uscc, allow, required=False)
        for j, identifier in enumerate(respondent.online_identifiers):
            v += check_online_identifier(f"{field}.online_identifiers[{j}]", identifier)
        identified_online = any(map(_identified_online, respondent.online_identifiers))
        if not normalise.normalise_uscc(respondent.entity.uscc) and not identified_online:
            v.append(
                Violation(
                    field,
                    "needs a USCC or an online identifier (platform + seller_id, or shop_url)",
                )
            )
    if report.infringement_type == common_pb2.INFRINGEMENT_TYPE_UNSPECIFIED:
        v.append(Violation("infringement_type", "is required"))
    if not _DIVISION.match(report.division_code):
        v.append(Violation("division_code", "must be a 6-digit GB/T 2260 division code"))
    if len(report.title) > MAX_TITLE:
        v.append(Violation("title", f"longer than {MAX_TITLE} characters"))
    if len(report.description) > MAX_DESCRIPTION:
        v.append(Violation("description", f"longer than {MAX_DESCRIPTION} characters"))
    if len(report.product_fingerprints) > MAX_FINGERPRINTS:
        v.append(Violation("product_fingerprints", f"at most {MAX_FINGERPRINTS}"))
    for i, fingerprint in enumerate(report.product_fingerprints):
        if problem := normalise.fingerprint_problem(fingerprint):
            v.append(Violation(f"product_fingerprints[{i}]", problem))
    if len(report.evidence) > MAX_EVIDENCE:
        v.append(Violation("evidence", f"at most {MAX_EVIDENCE} items"))
    for i, evidence in enumerate(report.evidence):
        v += check_evidence(f"evidence[{i}]", evidence)
    return v


def validate_decision(
    decision: intake_pb2.Decision, allow: Set[str], *, known_only_online: bool = False
) -> list[Violation]:
    """``known_only_online``: the case has a respondent known only by online identifiers, whom
    a decision naming no USCC is against (credit records counts it once they are identified)."""
    v: list[Violation] = []
    if decision.infringement_established:
        if decision.infringement_type == common_pb2.INFRINGEMENT_TYPE_UNSPECIFIED:
            v.append(Violation("decision.infringement_type", "is required when established"))
        v += check_uscc(
            "decision.respondent_uscc",
            decision.respondent_uscc,
            allow,
            required=not known_only_online,
        )
    else:
        v += check_uscc("decision.respondent_uscc", decision.respondent_uscc, allow, required=False)
    if decision.fine_cny < 0:
        v.append(Violation("decision.fine_cny", "must not be negative"))
    return v
