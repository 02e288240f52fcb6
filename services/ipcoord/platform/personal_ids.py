"""Personal id numbers kept only as keyed hashes (HMAC-SHA256), never stored or sent in clear.

The keys come from a file (a Kubernetes Secret in production), JSON:
``{"current": "k2", "keys": {"k1": "<base64, >= 32 bytes>", "k2": "..."}}``. New hashes are made
with the current key and carry its id; a number is looked up under every key in the file, so
rotating (add a key, make it current, keep the old one while hashes made with it are in use)
loses no match. A plain hash would not do: an 18-character resident id number has few enough
possibilities to be found from its hash by trying them all."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path

_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"
MIN_KEY_BYTES = 32


@dataclass(frozen=True)
class KeyedHash:
    key_id: str
    digest: bytes  # 32 bytes


def normalise_id_number(id_number: str) -> str:
    return "".join(id_number.split()).upper()


def id_number_problem(id_number: str) -> str | None:
    """Why a resident identity card number (GB 11643-1999) is not valid, or None."""
    number = normalise_id_number(id_number)
    if not _ID_NUMBER.match(number):
        return "must be 17 digits and a check digit or X (18 characters)"
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    if _CHECK[total % 11] != number[17]:
        return "check digit does not match"
    return None


class PersonHasher:
    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"the current key {current!r} is not among the keys")
        short = sorted(k for k, secret in keys.items() if len(secret) < MIN_KEY_BYTES)
        if short:
            raise ValueError(f"keys shorter than {MIN_KEY_BYTES} bytes: {short}")
        self._keys = dict(keys)
        self.current = current

    @classmethod
    def from_file(cls, path: Path) -> PersonHasher:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            keys = {
                key_id: base64.b64decode(v, validate=True) for key_id, v in data["keys"].items()
            }
            return cls(keys, data["current"])
        except OSError as exc:
            raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise ValueError(
                f'{path}: expected {{"current": id, "keys": {{id: base64 secret}}}}: {exc}'
            ) from exc

    def hash(self, id_number: str) -> KeyedHash:
        """The hash to store, made with the current key."""
        return KeyedHash(self.current, self._digest(self.current, id_number))

    def candidates(self, id_number: str) -> list[KeyedHash]:
        """The number's hash under every key held: what a stored hash is matched against."""
        return [KeyedHash(key_id, self._digest(key_id, id_number)) for key_id in self._keys]

    def _digest(self, key_id: str, id_number: str) -> bytes:
        message = normalise_id_number(id_number).encode()
        return hmac.new(self._keys[key_id], message, hashlib.sha256).digest()
