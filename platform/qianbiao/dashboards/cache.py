"""Rendered dashboard pages, cached until the figures under them change.

A page shows snapshots, which change only when the snapshot task or a back-fill
writes them: the key carries the time of the latest write, so a new snapshot is
a new key. What else a page shows — targets, names of units and enterprises —
bumps a reference version when saved (signals below). That bump reaches every
web process at once: they share one Redis (CACHE_URL); an entry lives at most
``QIANBIAO_DASHBOARD_CACHE_SECONDS`` (default 300) in any case. Pages are the same
for every project manager (no user name, no CSRF token), so one entry serves all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language

from .selectors.headcount import snapshot_window

VERSION_KEY = "dashboards:reference-version"


def cache_seconds() -> int:
    return int(getattr(settings, "QIANBIAO_DASHBOARD_CACHE_SECONDS", 300))


def reference_version() -> str:
    return str(cache.get_or_set(VERSION_KEY, lambda: time.time_ns(), timeout=None))


def reference_changed(**kwargs: Any) -> None:
    """Signal receiver: targets or names changed, pages must be rebuilt."""
    cache.set(VERSION_KEY, time.time_ns(), timeout=None)


def cached_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve a dashboard page from the cache while its snapshots and reference
    data are unchanged. CSV and folded-table requests are computed each time."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        seconds = cache_seconds()
        if seconds <= 0 or request.method != "GET" or "csv" in request.GET or "table" in request.GET:
            return view(request, *args, **kwargs)
        window = snapshot_window()
        stamp = window.taken_at.timestamp() if window else "none"
        key = f"dashboards:page:{stamp}:{reference_version()}:{get_language()}:{request.get_full_path()}"
        hit = cache.get(key)
        if hit is not None:
            content, content_type = hit
            return HttpResponse(content, content_type=content_type)
        response = view(request, *args, **kwargs)
        if response.status_code == 200 and not response.streaming:
            cache.set(key, (response.content, response["Content-Type"]), timeout=seconds)
        return response

    return wrapped
