"""The demo's data, generated (never hand-typed): who takes part, the monitoring reports with
their duplicates, the repeat infringer, the invalid report. Seeded, so every run generates the
same references and a second `make dev` resubmits rather than adds."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from ipcoord.platform.uscc import check_character
from ipcoord.v1 import common_pb2 as common
from ipcoord.v1 import intake_pb2 as S

SEED = 2026
ACTION_ID = "SA-2026-SWORD"
ACTION_TITLE = "Joint special action against online trademark counterfeiting, Guangdong 2026"
LEAD = "ipb-gd"
# The five kinds of the circular: two IP bureaus, a protection center, market regulation,
# public security.
CENTER = "ppc-shenzhen"
POLICE = "psb-sz"
PARTICIPANTS = ("ipb-sz", CENTER, "amr-sz", POLICE)
BUREAUS = {
    "ipb-gd": "IP bureau (Guangdong), leads the special action",
    "ipb-sz": "IP bureau (Shenzhen), handles cases, follows its stream",
    "ppc-shenzhen": "IP protection center: fast-track cases for its target enterprise",
    "amr-sz": "market regulation (Shenzhen), handles cases, follows a webhook",
    "psb-sz": "public security (Shenzhen): takes a case referred as a suspected crime",
}
MONITOR = "monitor-cnipa"  # the online monitoring feed that files most reports
OPERATOR = "cnipa"  # reads right holders' inboxes (IPCOORD_OPERATORS)
HANDLERS = ("ipb-sz", "amr-sz", "ipb-gd")
# A case the handling bureau refers to public security (suspected crime).
REFERRED_REF = "DEMO-0011"
RESPONDENT_COUNT = 60
REPORT_COUNT = 300
DECIDED_CASES = 10  # first cases taken to a decision (the repeat infringer's included)
WEBHOOK_SUBSCRIPTION = "demo-repeat-infringer"
PLATFORMS = ("taobao", "jd", "pdd")


def uscc(division: str, serial: int) -> str:
    """A valid code: a company (91) in ``division``, the serial in the organisation code."""
    first17 = f"91{division}{serial:08d}X"[:17]
    return first17 + check_character(first17)


@dataclass(frozen=True)
class Party:
    uscc: str
    name: str
    shop_url: str = ""
    platform: str = ""


RIGHT_HOLDERS = (
    Party(uscc("440300", 70846113), "Shenzhen Bright Optics Co., Ltd."),
    Party(uscc("440100", 55120377), "Guangzhou Pearl Apparel Co., Ltd."),
    Party(uscc("440600", 31877420), "Foshan Porcelain Works Co., Ltd."),
)
# The protection center's target enterprise: its cases are fast-tracked.
TARGET = RIGHT_HOLDERS[0]


def respondents() -> list[Party]:
    rng = random.Random(SEED)
    parties = []
    for n in range(RESPONDENT_COUNT):
        division = rng.choice(("440300", "440100", "440600", "441900"))
        platform = PLATFORMS[n % len(PLATFORMS)]
        parties.append(
            Party(
                uscc(division, 10_000_000 + 7919 * n),
                f"Respondent Trading Co. No. {n + 1}",
                shop_url=f"https://shop{n + 1:03d}.{platform}.example.com",
                platform=platform,
            )
        )
    return parties


REPEAT_INFRINGER = respondents()[0]


@dataclass(frozen=True)
class Submission:
    submitter: str
    report: S.ReportSubmitted


def reports() -> list[Submission]:
    """REPORT_COUNT monitoring reports over RESPONDENT_COUNT shops: each shop's first report
    files a case and the others (seen again by the feed, or by a bureau) are linked to it."""
    rng = random.Random(SEED + 1)
    parties = respondents()
    out = []
    for n in range(REPORT_COUNT):
        # Every respondent once first, then repeats, more for some (a few busy counterfeiters).
        index = n if n < RESPONDENT_COUNT else min(int((rng.paretovariate(1.2) - 1) * 4), 59)
        party = parties[index]
        by_bureau = n % 5 == 4  # a fifth come from the bureau itself rather than the feed
        submitter = handler_of(index) if by_bureau else MONITOR
        out.append(Submission(submitter, _report(n, index, party, rng)))
    return out


def handler_of(index: int) -> str:
    """Who handles a shop's cases. Every sixth shop infringes the center's target enterprise
    and is reported to the center (fast-track); the others go to the bureaus in turn."""
    return CENTER if index % 6 == 3 else HANDLERS[index % len(HANDLERS)]


def _report(n: int, index: int, party: Party, rng: random.Random) -> S.ReportSubmitted:
    holder = RIGHT_HOLDERS[index % len(RIGHT_HOLDERS)]
    respondent = common.Respondent(entity=common.Entity(uscc=party.uscc, name=party.name))
    respondent.online_identifiers.add(platform=party.platform, shop_url=party.shop_url)
    return S.ReportSubmitted(
        external_ref=f"DEMO-{n + 1:04d}",
        handling_bureau=handler_of(index),
        channel=common.REPORT_CHANNEL_ONLINE_MONITORING,
        right_holder=common.Entity(uscc=holder.uscc, name=holder.name),
        respondents=[respondent],
        infringement_type=common.INFRINGEMENT_TYPE_TRADEMARK,
        division_code=party.uscc[2:8],
        title=f"Counterfeit {holder.name.split()[1].lower()} goods offered by {party.name}",
        description=f"Listing seen by the monitoring feed, sample {rng.randrange(10**6):06d}",
    )


def second_offence() -> Submission:
    """The repeat infringer again, after its first case was decided and closed: a new case."""
    party = REPEAT_INFRINGER
    report = _report(REPORT_COUNT + 1, 0, party, random.Random(SEED + 2))
    report.external_ref = "DEMO-REPEAT-2"
    report.title = f"Second offence: counterfeit goods again offered by {party.name}"
    return Submission(handler_of(0), report)


def invalid_report() -> Submission:
    """One report with a mistyped USCC (its check character): intake rejects it and says why."""
    party = respondents()[1]
    report = _report(REPORT_COUNT + 2, 1, party, random.Random(SEED + 3))
    report.external_ref = "DEMO-TYPO-1"
    wrong = "0" if party.uscc[-1] != "0" else "1"
    report.respondents[0].entity.uscc = party.uscc[:-1] + wrong
    return Submission(MONITOR, report)


def launch(now: datetime) -> S.LaunchSpecialAction:
    action = S.LaunchSpecialAction(
        action_id=ACTION_ID,
        title=ACTION_TITLE,
        participating_bureaus=PARTICIPANTS,
        criteria=S.ActionCriteria(
            infringement_types=[common.INFRINGEMENT_TYPE_TRADEMARK], division_prefixes=["44"]
        ),
    )
    action.starts_at.FromDatetime(now - timedelta(days=1))
    action.ends_at.FromDatetime(now + timedelta(days=90))
    return action
