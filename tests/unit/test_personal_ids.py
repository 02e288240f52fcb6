"""Personal id numbers as keyed hashes: validated, normalised, never recoverable from what is
kept, and still matched after the key is rotated."""

from __future__ import annotations

import base64
import json

import pytest
from ipcoord.platform.personal_ids import PersonHasher, id_number_problem

VALID = "11010519491231002X"


def test_resident_id_numbers_are_checked_with_the_reason():
    assert id_number_problem(VALID) is None
    assert id_number_problem(" 11010519491231002x ") is None  # lower-case x, spaces
    assert "check digit" in id_number_problem("110105194912310021")
    assert "18 characters" in id_number_problem("1101051949")


def test_the_hash_is_keyed_normalised_and_carries_its_key_id():
    hasher = PersonHasher({"k1": b"a" * 32}, "k1")
    kept = hasher.hash(VALID)
    assert kept.key_id == "k1" and len(kept.digest) == 32
    assert hasher.hash("11010519491231002x").digest == kept.digest
    assert PersonHasher({"k1": b"b" * 32}, "k1").hash(VALID).digest != kept.digest
    assert VALID.encode() not in kept.digest


def test_a_rotated_key_keeps_matching_hashes_made_with_the_old_one():
    old = PersonHasher({"k1": b"a" * 32}, "k1").hash(VALID)
    rotated = PersonHasher({"k1": b"a" * 32, "k2": b"c" * 32}, "k2")
    assert rotated.hash(VALID).key_id == "k2"
    assert old in rotated.candidates(VALID)


def test_keys_come_from_a_file_and_a_bad_file_says_what_it_expects(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps({"current": "k1", "keys": {"k1": base64.b64encode(b"z" * 32).decode()}})
    )
    assert PersonHasher.from_file(path).current == "k1"
    path.write_text(
        json.dumps({"current": "k9", "keys": {"k1": base64.b64encode(b"z" * 32).decode()}})
    )
    with pytest.raises(ValueError, match="current key 'k9'"):
        PersonHasher.from_file(path)
    path.write_text(
        json.dumps({"current": "k1", "keys": {"k1": base64.b64encode(b"short").decode()}})
    )
    with pytest.raises(ValueError, match="shorter than 32 bytes"):
        PersonHasher.from_file(path)
    path.write_text("not json")
    with pytest.raises(ValueError, match="expected"):
        PersonHasher.from_file(path)


def test_credit_refuses_the_development_key_when_tls_is_configured(tmp_path):
    from ipcoord.credit.main import hasher_from
    from ipcoord.platform.settings import Settings

    with pytest.raises(ValueError, match="IPCOORD_PERSON_HASH_KEYS is unset but TLS"):
        hasher_from(Settings(tls_cert_file=tmp_path / "cert.pem", bureaus="cnipa:ipa:100000"))
    assert hasher_from(Settings()).current == "dev"
