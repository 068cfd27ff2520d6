"""One error shape for the whole API.

Every error answers ``{"error": {"code": …, "message": …}}``, plus ``fields``
(field → messages) for invalid input and ``rows`` (row, field, message) for an
import that was refused. ``code`` is stable and meant for programs; ``message``
is for people and follows ``Accept-Language`` (Chinese by default).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

API_PREFIX = "/api/"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = gettext_lazy("The request body is larger than this endpoint accepts.")


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = gettext_lazy(
        "This Idempotency-Key was already used for a different request; use a new key."
    )


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = gettext_lazy("The request conflicts with another one in progress; retry it.")


class InvalidRows(exceptions.APIException):
    """An import refused because of bad rows: nothing was imported."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_rows"
    default_detail = gettext_lazy("Some rows are invalid; nothing was imported.")

    def __init__(self, rows: list[dict[str, Any]], *, truncated: bool = False):
        super().__init__()
        self.rows = rows
        self.truncated = truncated


_CODES = {"invalid": "validation_error", "error": "error"}


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(value) for value in detail]
    return str(detail)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def exception_handler(exc: Exception, context: dict[str, Any]):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: handler500 answers, and Django logs it

    assert isinstance(exc, exceptions.APIException)
    extra: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        code = "validation_error"
        message = _("The request is invalid.")
        detail = _flatten(exc.detail)
        extra["fields"] = detail if isinstance(detail, dict) else {"non_field_errors": detail}
    elif isinstance(exc, InvalidRows):
        code = exc.default_code
        message = str(exc.detail)
        extra["rows"] = exc.rows
        extra["truncated"] = exc.truncated
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        code = _CODES.get(code, code)
        message = str(exc.detail) if not isinstance(exc.detail, list | dict) else str(exc.default_detail)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            extra["retry_after"] = int(exc.wait + 0.999)
    response.data = error_body(code, message, **extra)
    return response


def not_found(request, exception=None):
    """handler404: JSON under /api/, Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body("not_found", _("No such endpoint.")), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: JSON under /api/, Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            error_body("server_error", _("Something went wrong on our side; it has been logged.")),
            status=500,
        )
    return defaults.server_error(request)
