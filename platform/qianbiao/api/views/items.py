"""Item uploads: JSON, JSON Lines or CSV, read as a bounded stream, all or none,
and safe to retry under an Idempotency-Key."""

from __future__ import annotations

import hashlib

from django.db import IntegrityError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.response import Response

from .. import services
from ..errors import Conflict, IdempotencyKeyReused, PayloadTooLarge
from ..idempotency import KEY_PATTERN, KeyReused, Outcome, idempotent_run
from ..ingest import MAX_ROW_BYTES, MEDIA_TYPES, BodyTooLarge, BoundedBody
from ..serializers import ErrorSerializer, ItemRowSerializer, ItemsImportedSerializer
from .base import EnterpriseView, _errors, max_upload_bytes


class _StreamedBody(BaseParser):
    """Declares a media type the view reads itself, row by row (never parsed whole)."""

    def parse(self, stream, media_type=None, parser_context=None):  # pragma: no cover - never called
        raise exceptions.ParseError()


class _JsonLinesBody(_StreamedBody):
    media_type = "application/x-ndjson"


class _JsonLinesAltBody(_StreamedBody):
    media_type = "application/jsonl"


class _CsvBody(_StreamedBody):
    media_type = "text/csv"


UPLOAD_DESCRIPTION = f"""Import items into the project, all or none.

The body is chosen by `Content-Type`:

* `application/json` — an array of items, or an object `{{"items": [...]}}`;
* `application/x-ndjson` (or `application/jsonl`) — one item object per line;
* `text/csv` — a header row, then one item per row: columns `external_id`, optional
  `is_gold` (true/false) and `gold_answer` (JSON); every other column goes into
  `data` as a string.

An item is `{{"external_id": "…", "data": {{…}}, "is_gold": false, "gold_answer": null}}`.
The body is read as a stream, so its size is limited only by the documented maximum:
**{max_upload_bytes() >> 20} MiB** (413 beyond it); one JSONL line or CSV record at most
{MAX_ROW_BYTES >> 20} MiB. Rows are numbered from 1 in the order sent (blank lines and
the CSV header are not rows).

If any row is bad, nothing is imported and the 400 answer lists every bad row
(`rows`: row, field, message; at most 1,000). An `external_id` already in the
project, or repeated in the upload, is a bad row.

Send an `Idempotency-Key` header (any printable ASCII, up to 255 characters) to make
retries safe: the same key with the same body returns the first answer (with
`Idempotent-Replayed: true`) and imports nothing again; the same key with another
body is refused with 422. Keys are remembered 24 hours per enterprise; a request
that failed leaves no record, so it may be fixed and retried under the same key."""


class LengthRequired(exceptions.APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_code = "length_required"
    default_detail = gettext_lazy("Send Content-Length: chunked uploads are not supported.")


def _upload_format(request) -> tuple[str, str]:
    """The body's media type and its import format; 415 for any other type."""
    media_type = (request.content_type or "").split(";")[0].strip().lower()
    fmt = MEDIA_TYPES.get(media_type)
    if fmt is None:
        raise exceptions.UnsupportedMediaType(media_type or "none")
    return media_type, fmt


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not KEY_PATTERN.match(key):
        raise exceptions.ValidationError(
            {"Idempotency-Key": [_("1 to 255 printable ASCII characters, without spaces.")]}
        )
    return key


def _check_content_length(request, *, limit: int) -> None:
    """Refuse early what the stream would refuse later: no length, or too long."""
    length = request.META.get("CONTENT_LENGTH")
    if not length:
        raise LengthRequired()
    try:
        if int(length) > limit:
            raise PayloadTooLarge(_("The body may be at most %(n)d bytes.") % {"n": limit})
    except ValueError:
        raise exceptions.ParseError(_("Content-Length is not a number.")) from None


class ItemsUploadView(EnterpriseView):
    """Item uploads, streamed."""

    throttle_scope = "api_import"
    parser_classes = [JSONParser, _JsonLinesBody, _JsonLinesAltBody, _CsvBody]

    @extend_schema(
        operation_id="projects_items_import",
        description=UPLOAD_DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="Makes retries safe: see above.",
            )
        ],
        request={
            "application/json": ItemRowSerializer(many=True, min_length=1),
            "application/x-ndjson": OpenApiTypes.STR,
            "application/jsonl": OpenApiTypes.STR,
            "text/csv": OpenApiTypes.STR,
        },
        responses={
            201: ItemsImportedSerializer,
            409: OpenApiResponse(ErrorSerializer, description="A concurrent upload holds the same ids"),
            411: OpenApiResponse(ErrorSerializer, description="Content-Length is required"),
            413: OpenApiResponse(ErrorSerializer, description="Body larger than the maximum"),
            415: OpenApiResponse(ErrorSerializer, description="Unsupported Content-Type"),
            422: OpenApiResponse(ErrorSerializer, description="Idempotency-Key reused for another body"),
            **_errors(400, 404),
        },
        examples=[
            OpenApiExample(
                "JSON",
                value={"external_id": "img-1", "data": {"image": "https://example.com/1.jpg"}},
                media_type="application/json",
                request_only=True,
            )
        ],
    )
    def post(self, request, project_id: int):
        project = self.project(project_id)
        # Checked in this order: 415, then 400 for the key, then 411 / 413.
        media_type, fmt = _upload_format(request)
        key = _idempotency_key(request)
        limit = max_upload_bytes()
        _check_content_length(request, limit=limit)

        digest = hashlib.sha256(f"POST {request.path}\n{media_type}\n".encode())
        stream = request.stream
        body = BoundedBody(stream.read if stream is not None else (lambda n: b""), limit=limit, digest=digest)

        def work() -> tuple[int, dict]:
            return status.HTTP_201_CREATED, services.items_upload(project=project, body=body, fmt=fmt)

        def request_digest() -> str:
            body.drain()
            return digest.hexdigest()

        try:
            if key is None:
                outcome = Outcome(*work())
            else:
                outcome = idempotent_run(
                    enterprise=self.enterprise,
                    key=key,
                    work=work,
                    request_digest=request_digest,
                    drain=body.drain,
                )
        except BodyTooLarge:
            raise PayloadTooLarge(_("The body may be at most %(n)d bytes.") % {"n": limit}) from None
        except KeyReused:
            raise IdempotencyKeyReused() from None
        except IntegrityError:
            # Another upload committed the same external ids while this one ran.
            raise Conflict() from None
        response = Response(outcome.body, status=outcome.status_code)
        if outcome.replayed:
            response["Idempotent-Replayed"] = "true"
        return response
