"""API keys: issue (shown once), revoke, authenticate.

A key reads ``qb_<prefix>_<secret>``: the prefix (10 hex characters) finds the
row, the secret (43 URL-safe characters, 256 bits) is what proves possession.
Only SHA-256 of the whole key is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from qianbiao.enterprises.models import Enterprise

from .models import ApiKey

KEY_SCHEME = "qb"
_PREFIX = re.compile(r"^[0-9a-f]{10}$")
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    plaintext: str  # shown once, never stored


def api_key_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _split(plaintext: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or not _PREFIX.match(parts[1]) or len(parts[2]) < 32:
        return None
    return parts[1]


@transaction.atomic
def api_key_issue(*, enterprise: Enterprise, name: str, created_by=None) -> IssuedKey:
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("A key needs a name.")})
    if ApiKey.objects.filter(enterprise=enterprise, name=name, revoked_at__isnull=True).exists():
        raise ValidationError({"name": _("This enterprise already has a live key with this name.")})
    prefix = secrets.token_hex(5)
    while ApiKey.objects.filter(prefix=prefix).exists():  # pragma: no cover - 1 in 10^12
        prefix = secrets.token_hex(5)
    plaintext = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        enterprise=enterprise,
        name=name,
        prefix=prefix,
        key_hash=api_key_digest(plaintext),
        created_by=created_by,
    )
    return IssuedKey(api_key=api_key, plaintext=plaintext)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key at once; revoking twice keeps the first time."""
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now)
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_authenticate(*, plaintext: str) -> ApiKey | None:
    """The live key matching ``plaintext`` (with its enterprise loaded), or None."""
    prefix = _split(plaintext)
    if prefix is None:
        return None
    api_key = (
        ApiKey.objects.select_related("enterprise").filter(prefix=prefix, revoked_at__isnull=True).first()
    )
    if api_key is None or not hmac.compare_digest(api_key.key_hash, api_key_digest(plaintext)):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        # At most one write a minute per key, not one per request.
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
