"""Label Studio's WSGI application as ``annotation.server`` serves it under gunicorn (and
the compose image, ``Dockerfile`` beside this file): SQLite made fit for concurrent
requests, Qianbiao's lock-down and hand-off, and SSRF protection with exactly one
exception, Qianbiao's webhook receiver.

This directory is put on Label Studio's ``PYTHONPATH`` (its own virtualenv and Django),
never on ours.

* SQLite: as shipped, Label Studio opens it with a rollback journal and deferred
  transactions: two requests writing at once (say an import while an account signs up)
  fail with "database is locked" — seen here as 500s. Write-ahead logging lets readers go
  on while one request writes, and immediate transactions queue writers on the busy
  timeout instead of failing when a read turns into a write.
* Lock-down (``qianbiao_lockdown``): on unless ``QIANBIAO_LABEL_STUDIO_LOCKDOWN=off``
  (for tests that show what it prevents). It needs ``LABEL_STUDIO_QIANBIAO_SECRET``:
  without it Label Studio refuses to start.
* Webhooks (``QIANBIAO_WEBHOOK_ORIGIN``, e.g. ``http://127.0.0.1:8000``; several: commas): Label Studio's
  SSRF guard bans loopback and private networks, where Qianbiao lives in the embedded and
  the compose setups. Rather than turning the guard off, or unbanning loopback for every
  outgoing request (imports from URLs, storages), only URLs of exactly that origin skip it,
  for webhooks alone — and under the lock-down only superusers can create webhooks.
"""

import os
from urllib.parse import urlsplit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "label_studio.core.settings.label_studio")

from django.conf import settings  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.db import connections  # noqa: E402

LOCKDOWN = os.environ.get("QIANBIAO_LABEL_STUDIO_LOCKDOWN", "on").strip().lower() not in {"off", "0", "false"}
QIANBIAO_SECRET = os.environ.get("LABEL_STUDIO_QIANBIAO_SECRET", "")
# Exact origins (scheme://host:port), comma-separated: Qianbiao's webhook receiver.
_ORIGINS = os.environ.get("QIANBIAO_WEBHOOK_ORIGIN", "").split(",")
WEBHOOK_ORIGINS = frozenset(part.strip().rstrip("/") for part in _ORIGINS if part.strip())
MIN_SECRET_LENGTH = 16

if LOCKDOWN and len(QIANBIAO_SECRET) < MIN_SECRET_LENGTH:
    raise ImproperlyConfigured(
        "LABEL_STUDIO_QIANBIAO_SECRET must be set (at least 16 characters): Qianbiao's lock-down "
        "and hand-off are signed with it"
    )

_database = settings.DATABASES["default"]
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # Before any connection exists: the connection handler reads these on first use.
    _database["OPTIONS"] = {
        **_database.get("OPTIONS", {}),
        "transaction_mode": "IMMEDIATE",
        "timeout": 60,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    assert connections["default"].settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"

if LOCKDOWN:
    # Last: after the session, authentication and JWT middlewares have set request.user.
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "qianbiao_lockdown.LockdownMiddleware"]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()


def _trust_webhook_origins(origins: frozenset[str]) -> None:
    """Webhooks to exactly these origins pass Label Studio's SSRF guard; all else is checked."""
    import webhooks.serializers
    import webhooks.utils
    from core.utils.io import ssrf_safe_session

    def trusted(url: str) -> bool:
        parts = urlsplit(str(url))
        return f"{parts.scheme}://{parts.netloc}" in origins

    checked_post = webhooks.utils.ssrf_safe_post
    checked_validate = webhooks.serializers.validate_url_for_ssrf

    def post(url, *args, **kwargs):
        if not trusted(url):
            return checked_post(url, *args, **kwargs)
        # A redirect away from the trusted origin would go through the guarded adapter.
        parts = urlsplit(str(url))
        with ssrf_safe_session(trusted_origin=f"{parts.scheme}://{parts.netloc}") as session:
            return session.post(url, *args, allow_redirects=False, **kwargs)

    def validate(url, block_local_urls=True):
        if not trusted(url):
            checked_validate(url, block_local_urls=block_local_urls)

    webhooks.utils.ssrf_safe_post = post
    webhooks.serializers.validate_url_for_ssrf = validate


if WEBHOOK_ORIGINS:
    _trust_webhook_origins(WEBHOOK_ORIGINS)

if LOCKDOWN:
    from qianbiao_handoff import ensure_nonce_table  # noqa: E402

    ensure_nonce_table()
    connections.close_all()  # made in the loading thread; each request thread opens its own
