"""The one reading of identifiers that validation and matching share.

Each ``normalise_*`` returns the canonical form of a value, or ``""`` when nothing usable is
left: validation refuses such a value (``*_problem`` says why) and matching never builds a key
from it, so a report that validates can only yield keys with something after the prefix.
Text is NFKC-folded first, so full-width letters and digits typed with a Chinese input method
read as the ASCII they stand for, and stripped of any Unicode whitespace (U+3000 included).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from urllib.parse import urlsplit

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_PLATFORM = re.compile(r"^[a-z0-9][a-z0-9._-]*$")  # no ':' - it separates the parts of a key
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_WEB_SCHEMES = frozenset({"http", "https"})
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_MAX_HOST = 253
_SAME_SITE_PREFIXES = ("www.", "m.")  # the desktop and mobile faces of one shop


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _identifying(value: str) -> str:
    """``value``, or '' when it has no letter or digit ('-', ':', '...' identify no one)."""
    return value if any(c.isalnum() for c in value) else ""


def _identifying_problem(value: str) -> str | None:
    if not _clean(value):
        return "is blank"
    if not _identifying(value):
        return f"{value!r} has no letter or digit"
    return None


def normalise_platform(platform: str) -> str:
    """' Taobao' -> 'taobao'; '' unless the result is a slug (letters, digits, '.', '_', '-')."""
    slug = _clean(platform).lower()
    return slug if _PLATFORM.match(slug) else ""


def platform_problem(platform: str) -> str | None:
    if not _clean(platform):
        return "is blank"
    if not normalise_platform(platform):
        return f"{platform!r} is not a platform slug (letters, digits, '.', '_', '-')"
    return None


def normalise_seller_id(seller_id: str) -> str:
    """Seller ids compare without case or surrounding whitespace; '' without a letter or digit."""
    return _identifying(_clean(seller_id).lower())


def seller_id_problem(seller_id: str) -> str | None:
    return _identifying_problem(seller_id)


@functools.lru_cache(maxsize=65_536)  # read about ten times per report, by every rule
def normalise_uscc(uscc: str) -> str:
    """Upper-cased and stripped; whether it is a valid USCC is ``uscc_problem``'s question."""
    return _clean(uscc).upper()


def normalise_fingerprint(fingerprint: str) -> str:
    """Fingerprints compare without case or surrounding whitespace; '' without a letter or
    digit."""
    return _identifying(_clean(fingerprint).lower())


def fingerprint_problem(fingerprint: str) -> str | None:
    return _identifying_problem(fingerprint)


def normalise_shop_url(url: str) -> str:
    """Same shop, same value: no scheme, port, user, query, fragment or trailing slash, host
    lower-case (IDNA for non-ASCII) without 'www.'/'m.', repeated slashes folded.
    'HTTPS://www.Shop.example/s/1/?ref=x' -> 'shop.example/s/1'; '' when there is no valid
    host ('https://', '/', '?x=1', 'localhost')."""
    return _read_shop_url(url)[0]


def shop_url_problem(url: str) -> str | None:
    return _read_shop_url(url)[1]


def _read_shop_url(url: str) -> tuple[str, str | None]:
    """(normalised, None), or ("", why not)."""
    raw = _clean(url)
    if not raw:
        return "", "has no host"
    if scheme := _SCHEME.match(raw):
        if scheme.group(0)[:-3].lower() not in _WEB_SCHEMES:
            return "", "must be an http or https URL"
    elif not raw.startswith("//"):
        raw = "//" + raw  # 'shop.example/s/1': without it the host would be read as a path
    try:
        parts = urlsplit(raw)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return "", "is not a URL"
    if not host:
        return "", "has no host"
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return "", f"host {host!r} is not a host name"
    labels = ascii_host.split(".")
    if len(labels) < 2:
        return "", f"host {host!r} is not a domain name (no dot)"
    if len(ascii_host) > _MAX_HOST or not all(_LABEL.match(label) for label in labels):
        return "", f"host {host!r} has characters a host name cannot have"
    for prefix in _SAME_SITE_PREFIXES:
        rest = ascii_host.removeprefix(prefix)
        if rest != ascii_host and "." in rest:
            ascii_host = rest
            break
    path = re.sub(r"/+", "/", parts.path).rstrip("/")
    return f"{ascii_host}{path}", None


def with_normalised_usccs(message: Message) -> Message:
    """A copy of a command in which every USCC field (named ``uscc`` or ``*_uscc``, at any
    depth) is normalised, so that the same entity typed in lower case is the same target, the
    same listed entity and the same match key. Other fields are left as the sender wrote them."""
    copy = type(message)()
    copy.CopyFrom(message)
    _normalise_usccs_in_place(copy)
    return copy


def _normalise_usccs_in_place(message: Message) -> None:
    for field, holds_message in _uscc_fields(message.DESCRIPTOR):
        value = getattr(message, field.name)
        if holds_message:
            if field.is_repeated:
                for item in value:
                    _normalise_usccs_in_place(item)
            elif message.HasField(field.name):
                _normalise_usccs_in_place(value)
        elif field.is_repeated:
            value[:] = [normalise_uscc(v) for v in value]
        elif value:
            setattr(message, field.name, normalise_uscc(value))


def _is_uscc_field(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_STRING and (
        field.name == "uscc" or field.name.endswith("_uscc")
    )


@functools.cache
def _uscc_fields(descriptor: Descriptor) -> tuple[tuple[FieldDescriptor, bool], ...]:
    """The fields of a message type worth visiting: USCC fields (False) and message fields
    whose type holds one at any depth (True). Computed once per type: walking every field of
    every report twice per command was a tenth of the processor's time."""
    return tuple(
        (field, field.type == FieldDescriptor.TYPE_MESSAGE)
        for field in descriptor.fields
        if _is_uscc_field(field)
        or (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and not field.message_type.GetOptions().map_entry  # no map of ours holds USCCs
            and _holds_usccs(field.message_type, frozenset({descriptor.full_name}))
        )
    )


def _holds_usccs(descriptor: Descriptor, seen: frozenset[str]) -> bool:
    if descriptor.full_name in seen:  # a recursive type (google.protobuf.Struct): no USCC
        return False
    seen = seen | {descriptor.full_name}
    return any(
        _is_uscc_field(field)
        or (field.type == FieldDescriptor.TYPE_MESSAGE and _holds_usccs(field.message_type, seen))
        for field in descriptor.fields
    )
