"""One worker at a time per key: PostgreSQL session advisory locks.

``advisory_lock(namespace, key)`` tries ``pg_try_advisory_lock(namespace, key)``
on Django's connection and yields whether it got it; it never waits. A session
lock outlives transactions and is released on exit, or when the process (and so
its connection) dies. Each caller has its own namespace (a 32-bit int).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def advisory_lock(namespace: int, key: int) -> Iterator[bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])
