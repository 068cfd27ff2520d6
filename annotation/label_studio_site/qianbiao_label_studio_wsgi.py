"""Label Studio's WSGI application as ``annotation.server`` serves it under gunicorn, with
its SQLite database made fit for concurrent requests.

This directory is put on Label Studio's ``PYTHONPATH`` (its own virtualenv and Django),
never on ours. As shipped, Label Studio opens SQLite with a rollback journal and deferred
transactions: two requests writing at once (say an import while an account signs up)
fail with "database is locked" — seen here as 500s. Write-ahead logging lets readers go
on while one request writes, and immediate transactions queue writers on the busy
timeout instead of failing when a read turns into a write.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "label_studio.core.settings.label_studio")

from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402

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

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
