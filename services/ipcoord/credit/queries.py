"""Lookups over credit state: the point-of-decision check, an entity's profile, a listing's
feedback, a page of listings. Each reads one credit file (for a person, the files the persons
index names; for a page, the page's listings through the listing index): none scans the
table.

A lookup by person and a page of listings read every partition. Each replica answers for the
partitions it holds (``within``: whether an entity's USCC is in them), and the merges below
make one answer of the replicas' answers (platform/forwarding.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ipcoord.credit import views
from ipcoord.credit.domain.discipline import known_listing, listing_of
from ipcoord.credit.domain.records import check_uscc
from ipcoord.credit.domain.shared import Rules
from ipcoord.credit.state import (
    ACTIVE_LISTINGS,
    ALL_LISTINGS,
    CreditFile,
    CreditState,
    Listing,
    person_key,
    uscc_of_listing,
)
from ipcoord.platform import caseset, pages
from ipcoord.platform.errors import InvalidInput, Violation
from ipcoord.platform.personal_ids import KeyedHash
from ipcoord.platform.table_codec import timestamp
from ipcoord.v1 import credit_pb2 as C


def check_discipline(
    state: CreditState,
    rules: Rules,
    *,
    uscc: str = "",
    person: list[KeyedHash] | None = None,
    measure_code: str = "",
    department: str = "",
    within: Callable[[str], bool] = lambda uscc: True,
) -> C.CheckDisciplineResponse:
    """Whether a measure (or a department's measures, or any) applies to an entity or to a
    person listed with one, now: under the active listing that runs longest. ``person``: the
    hashes of the person's id number under every key held (the gRPC edge makes them)."""
    if bool(uscc) == bool(person):
        raise InvalidInput([Violation("uscc", "give either a USCC or a person's id number")])
    if uscc:
        check_uscc(uscc, rules, "uscc")
    if measure_code and measure_code not in rules.measures:
        raise InvalidInput([Violation("measure_code", f"{measure_code!r} is not a measure")])
    if department and department not in rules.bureaus:
        raise InvalidInput([Violation("department", f"unknown department {department!r}")])
    candidates = []
    for file in _files(state, uscc, person or [], within):
        for listing in file.active_listings():
            if person and not _names(listing, person):
                continue
            measures = [
                m
                for m in listing.measures
                if (not measure_code or m.code == measure_code)
                and (not department or m.implementing_department == department)
            ]
            if measures:
                candidates.append((listing, measures))
    if not candidates:
        return C.CheckDisciplineResponse(applies=False)
    listing, measures = max(candidates, key=lambda c: (c[0].expires_at, c[0].listing_id))
    return C.CheckDisciplineResponse(
        applies=True,
        listing_id=listing.listing_id,
        since=timestamp(listing.listed_at),
        until=timestamp(listing.expires_at),
        measures=measures,
    )


def strongest(answers: Sequence[C.CheckDisciplineResponse]) -> C.CheckDisciplineResponse:
    """One answer of several replicas' (each for its partitions): the applying listing that
    runs longest, as ``check_discipline`` picks among listings it holds."""
    applying = [a for a in answers if a.applies]
    if not applying:
        return C.CheckDisciplineResponse(applies=False)
    return max(applying, key=lambda a: (a.until.seconds, a.until.nanos, a.listing_id))


def credit_profile(state: CreditState, rules: Rules, uscc: str) -> C.CreditProfile:
    """Everything on record of an entity; an entity with nothing on record has an empty
    profile (that is an answer, not a missing resource)."""
    check_uscc(uscc, rules, "uscc")
    file = state.files.get(uscc) or CreditFile(uscc)
    listings = sorted(file.listings.values(), key=lambda listing: listing.listed_at)
    return C.CreditProfile(
        entity=views.entity(file),
        records=[views.record_view(file, r) for r in reversed(file.records)],
        active_listings=[views.listing_view(file, x) for x in listings if x.active],
        removed_listings=[views.removal_view(file, x) for x in listings if not x.active],
    )


def listing_feedback(state: CreditState, listing_id: str) -> C.ListingFeedback:
    _, listing = listing_of(state, listing_id)
    return views.feedback_view(listing)


def _files(
    state: CreditState, uscc: str, person: list[KeyedHash], within: Callable[[str], bool]
) -> list[CreditFile]:
    if uscc:
        file = state.files.get(uscc)
        return [file] if file else []
    usccs = sorted(
        {
            u
            for h in person
            for u in state.persons.get(person_key(h.key_id, h.digest), [])
            if within(u)
        }
    )
    return [state.files[u] for u in usccs if u in state.files]


def _names(listing: Listing, person: list[KeyedHash]) -> bool:
    wanted = {(h.key_id, h.digest) for h in person}
    return any((p.hash_key_id, p.id_number_hmac) in wanted for p in listing.related_persons)


DEFAULT_PAGE, MAX_PAGE = 50, 500


def list_listings(
    state: CreditState,
    request: C.ListListingsRequest,
    within: Callable[[str], bool] = lambda uscc: True,
) -> C.ListListingsResponse:
    """A page of listings in listing id order after the page token (all kept, or the active
    ones): it reads the page's listings from the listing index, never the whole table."""
    size = _page_size(request)
    name = ACTIVE_LISTINGS if request.active_only else ALL_LISTINGS
    page: list[C.SeriousDishonestyListed] = []
    for listing_id in caseset.ids(state.listing_index, name, after=request.page.page_token):
        if not within(uscc_of_listing(listing_id) or ""):
            continue
        if len(page) == size:
            return C.ListListingsResponse(listings=page, next_page_token=page[-1].listing_id)
        file, listing = known_listing(state, listing_id)
        if listing is not None:
            page.append(views.listing_view(file, listing))
    return C.ListListingsResponse(listings=page)


def merged_page(
    request: C.ListListingsRequest, answers: Sequence[C.ListListingsResponse]
) -> C.ListListingsResponse:
    """One page of several replicas' pages (each the first listings after the token among its
    partitions): the first ``size`` of them all are the first ``size`` overall."""
    page, token = pages.merged(
        (a.listings for a in answers),
        key=lambda x: x.listing_id,
        size=_page_size(request),
        more=any(a.next_page_token for a in answers),
    )
    return C.ListListingsResponse(listings=page, next_page_token=token)


def _page_size(request: C.ListListingsRequest) -> int:
    return min(request.page.page_size or DEFAULT_PAGE, MAX_PAGE)
