"""Throttling per API key: each key has its own budget, whatever its address."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Rate by ``view.throttle_scope`` (default ``api_key``), counted per key.

    Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` at request time
    (DRF's own class reads them once at import). Counts live in the default cache:
    set ``CACHE_URL`` to a Redis URL so that all web workers share them."""

    default_scope = "api_key"

    def __init__(self):  # scope depends on the view: resolved in allow_request
        pass

    def allow_request(self, request, view):
        self.scope = getattr(view, "throttle_scope", None) or self.default_scope
        self.rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        if request.auth is None or not hasattr(request.auth, "pk"):
            return None  # unauthenticated requests are refused before this
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
