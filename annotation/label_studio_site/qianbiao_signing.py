"""What Qianbiao and its Label Studio both derive from the one shared secret
(``LABEL_STUDIO_QIANBIAO_SECRET``): an annotator's routing key, and the signed,
single-use hand-off that opens their Label Studio session.

Standard library only: Label Studio's interpreter imports it as ``qianbiao_signing``
(this directory is on its path), ours as ``annotation.signing``. Each use of the secret
has its own purpose label, so a value made for one use is never valid for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as _secrets
from dataclasses import dataclass

ROUTE_KEY_HEX = 32  # 128 bits, as the random keys it replaces
HANDOFF_TTL_S = 60  # longest life of a hand-off token
_CLOCK_SKEW_S = 5  # tolerated difference between Qianbiao's and Label Studio's clocks


class HandoffInvalid(ValueError):
    """A hand-off token that is forged, malformed, expired or too long-lived."""


def _mac(secret: str, purpose: str, message: bytes) -> bytes:
    if not secret:
        raise ValueError("LABEL_STUDIO_QIANBIAO_SECRET is empty")
    return hmac.new(secret.encode(), purpose.encode() + message, hashlib.sha256).digest()


def route_key(ls_user_id: int, secret: str) -> str:
    """The routing key of a Label Studio user: what ``task.data.route_to`` carries for
    them and what their queue view filters on. Derivable on both sides without a lookup,
    and unguessable without the secret (views are visible to the project's members)."""
    return _mac(secret, "route:", str(int(ls_user_id)).encode()).hex()[:ROUTE_KEY_HEX]


@dataclass(frozen=True)
class Handoff:
    ls_user_id: int
    ls_project_id: int
    view_id: int
    expires_at: int  # unix seconds
    nonce: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def handoff_token(
    ls_user_id: int, ls_project_id: int, view_id: int, secret: str, now: float, ttl: int = HANDOFF_TTL_S
) -> str:
    """A token that logs ``ls_user_id`` into Label Studio once, on their queue ``view_id``
    of project ``ls_project_id``, until ``now + ttl`` (at most 60 s). POST it, never put it
    in a URL."""
    if not 0 < ttl <= HANDOFF_TTL_S:
        raise ValueError(f"a hand-off lives at most {HANDOFF_TTL_S} s")
    claims = {
        "u": int(ls_user_id),
        "p": int(ls_project_id),
        "v": int(view_id),
        "exp": int(now) + ttl,
        "n": _secrets.token_hex(16),
    }
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_b64(_mac(secret, 'handoff:', body.encode()))}"


def read_handoff(token: str, secret: str, now: float) -> Handoff:
    """The claims of a genuine, current token; raises :class:`HandoffInvalid` otherwise.
    Single use is the caller's part (it records the nonce)."""
    try:
        body, signature = token.split(".")
        genuine = hmac.compare_digest(_unb64(signature), _mac(secret, "handoff:", body.encode()))
    except (ValueError, TypeError) as error:
        raise HandoffInvalid("malformed") from error
    if not genuine:
        raise HandoffInvalid("bad signature")
    try:
        claims = json.loads(_unb64(body))
        handoff = Handoff(
            ls_user_id=int(claims["u"]),
            ls_project_id=int(claims["p"]),
            view_id=int(claims["v"]),
            expires_at=int(claims["exp"]),
            nonce=str(claims["n"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise HandoffInvalid("malformed claims") from error
    if handoff.expires_at < now:
        raise HandoffInvalid("expired")
    if handoff.expires_at > now + HANDOFF_TTL_S + _CLOCK_SKEW_S:
        raise HandoffInvalid("lives too long")
    if not 16 <= len(handoff.nonce) <= 64:
        raise HandoffInvalid("bad nonce")
    return handoff
