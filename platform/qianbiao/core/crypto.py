"""Field-level protection of personal data (PIPL).

Values are encrypted with Fernet (AES-128-CBC + HMAC) under keys from the
environment; several keys may be configured so that they can be rotated. A keyed
HMAC digest beside the ciphertext keeps a value unique and findable by its exact
value without ever storing it readable.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@lru_cache(maxsize=1)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def pii_encrypt(value: str) -> str:
    return _fernet(tuple(settings.PII_ENCRYPTION_KEYS)).encrypt(value.encode()).decode()


def pii_decrypt(token: str) -> str:
    try:
        return _fernet(tuple(settings.PII_ENCRYPTION_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("personal data could not be decrypted with the configured keys") from exc


def pii_digest(value: str) -> str:
    """Keyed hash for exact-match lookup and uniqueness (a plain hash of an
    18-digit ID number could be brute-forced; a keyed one cannot without the key)."""
    return hmac.new(settings.PII_LOOKUP_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """Stores ciphertext, exposes plaintext in Python. Not filterable by value:
    pair it with a digest field where lookups are needed."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return pii_decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return pii_encrypt(value)


def mask_middle(value: str | None, *, keep_start: int, keep_end: int) -> str:
    if not value:
        return ""
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    hidden = len(value) - keep_start - keep_end
    return value[:keep_start] + "*" * hidden + (value[-keep_end:] if keep_end else "")


def mask_id_card(value: str | None) -> str:
    return mask_middle(value, keep_start=4, keep_end=4)


def mask_phone(value: str | None) -> str:
    return mask_middle(value, keep_start=3, keep_end=4)
