"""Routing keys and hand-off tokens, exactly as Label Studio's side checks them.

One implementation for both interpreters: it lives in ``label_studio_site`` (which
Label Studio imports as ``qianbiao_signing``); this module is the adapter's face of it.
"""

from __future__ import annotations

from annotation.label_studio_site.qianbiao_signing import (
    HANDOFF_TTL_S,
    Handoff,
    HandoffInvalid,
    handoff_token,
    read_handoff,
    route_key,
)

HANDOFF_PATH = "/qianbiao/handoff/"


def route_key_for(ls_user_id: int, secret: str) -> str:
    """The routing key of Label Studio user ``ls_user_id`` (``task.data.route_to``)."""
    return route_key(ls_user_id, secret)


__all__ = [
    "HANDOFF_PATH",
    "HANDOFF_TTL_S",
    "Handoff",
    "HandoffInvalid",
    "handoff_token",
    "read_handoff",
    "route_key_for",
]
