"""Activation codes: random, short enough to type from a paper slip, stored only as
a keyed hash.

Ten characters from an alphabet without look-alikes (no 0/O, 1/I/L) carry about 49 bits:
with axes' lockout after a few failures per employee number and IP, and a 14-day
life, guessing one is out of reach. A keyed HMAC rather than Django's slow password
hashers: the code is random (nothing to stretch against a dictionary), the key
(SECRET_KEY) never sits in the database, and a facility's thousand slips are issued
in one request instead of several minutes of PBKDF2.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

from django.utils.crypto import salted_hmac

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 10
LIFETIME = dt.timedelta(days=14)
_SALT = "qianbiao.portal.activation-code"


def code_generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def code_normalize(raw: str) -> str:
    """What the annotator typed, as issued: case, spaces and dashes do not matter."""
    return "".join(ch for ch in raw.upper() if ch not in " -\t")


def code_display(code: str) -> str:
    """Two groups of five, easier to read aloud and to type."""
    return f"{code[:5]}-{code[5:]}"


def code_digest(code: str) -> str:
    return salted_hmac(_SALT, code_normalize(code), algorithm="sha256").hexdigest()


def code_matches(code: str, digest: str) -> bool:
    return bool(digest) and hmac.compare_digest(code_digest(code), digest)
