"""Secrets come from the environment. Only the embedded development default may
generate its own, once, into a file under ``var/`` that git ignores."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def _generate(kind: str) -> str:
    if kind == "fernet":
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(48)


def require_secret(name: str, *, embedded: bool, var_dir: Path, kind: str = "token") -> str:
    value = os.environ.get(name)
    if value:
        return value
    if not embedded:
        raise ImproperlyConfigured(f"Environment variable {name} must be set outside embedded mode.")
    store = var_dir / "secrets.json"
    store.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(store.read_text()) if store.exists() else {}
    if name not in known:
        known[name] = _generate(kind)
        tmp = store.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=2))
        tmp.chmod(0o600)
        tmp.replace(store)
    return known[name]
