"""REST API v1 views: authenticate, scope to the caller's enterprise, call a
selector or a service, shape the answer. Another enterprise's object is a 404."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import IntegrityError
from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.response import Response

from qianbiao.projects import services as project_services

from . import callbacks as callback_services
from . import selectors, services
from .errors import Conflict, IdempotencyKeyReused, PayloadTooLarge
from .export import CONTENT_TYPES, results_stream
from .idempotency import KEY_PATTERN, KeyReused, Outcome, idempotent_run
from .ingest import CSV, JSON, MAX_ROW_BYTES, MEDIA_TYPES, BodyTooLarge, BoundedBody
from .pagination import IdCursorPagination
from .serializers import (
    CallbackDeliverySerializer,
    CallbackEndpointCreatedSerializer,
    CallbackEndpointSerializer,
    ErrorSerializer,
    ItemRowSerializer,
    ItemsImportedSerializer,
    ProgressSerializer,
    ProjectSerializer,
    ProjectWriteSerializer,
    ResultRowSerializer,
    ResultsQuerySerializer,
)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid request"),
    401: OpenApiResponse(ErrorSerializer, description="No key, or an invalid or revoked key"),
    404: OpenApiResponse(ErrorSerializer, description="No such object for this enterprise"),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests for this key (see Retry-After)"),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in (401, 429, *codes)}


def max_upload_bytes() -> int:
    return int(getattr(settings, "API_MAX_UPLOAD_BYTES", 256 << 20))


class EnterpriseView(GenericAPIView):
    """Base: every request acts for ``request.user.enterprise``."""

    pagination_class = None  # list views set it

    @property
    def enterprise(self):
        return self.request.user.enterprise

    def project(self, project_id: int):
        return selectors.project_for_enterprise(enterprise=self.enterprise, project_id=project_id)


# --- projects ---------------------------------------------------------------


class ProjectListView(EnterpriseView):
    """The enterprise's dataset projects, newest first."""

    serializer_class = ProjectSerializer
    pagination_class = IdCursorPagination

    def get_queryset(self):
        return selectors.projects_for_enterprise(enterprise=self.enterprise)

    @extend_schema(
        operation_id="projects_list", responses={200: ProjectSerializer(many=True), **_errors(400)}
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ProjectSerializer(page, many=True).data)

    @extend_schema(
        operation_id="projects_create",
        request=ProjectWriteSerializer,
        responses={201: ProjectSerializer, 403: ERRORS[400], **_errors(400)},
        description="Create a dataset project. Every setting is validated, the label config too.",
    )
    def post(self, request):
        serializer = ProjectWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_services.project_create(enterprise=self.enterprise, data=serializer.validated_data)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(EnterpriseView):
    """One of the enterprise's dataset projects."""

    serializer_class = ProjectSerializer
    http_method_names = ["get", "patch", "head"]

    @extend_schema(operation_id="projects_retrieve", responses={200: ProjectSerializer, **_errors(404)})
    def get(self, request, project_id: int):
        return Response(ProjectSerializer(self.project(project_id)).data)

    @extend_schema(
        operation_id="projects_partial_update",
        request=ProjectWriteSerializer,
        responses={200: ProjectSerializer, **_errors(400, 404)},
        description="Change some settings. Task type, label config and overlap are fixed once work "
        "has been assigned; a completed project cannot be reopened.",
    )
    def patch(self, request, project_id: int):
        project = self.project(project_id)
        serializer = ProjectWriteSerializer(project, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        project = project_services.project_update(project=project, data=serializer.validated_data)
        return Response(ProjectSerializer(project).data)


# --- items ------------------------------------------------------------------


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
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        fmt = MEDIA_TYPES.get(media_type)
        if fmt is None:
            raise exceptions.UnsupportedMediaType(media_type or "none")
        key = request.headers.get("Idempotency-Key")
        if key is not None and not KEY_PATTERN.match(key):
            raise exceptions.ValidationError(
                {"Idempotency-Key": [_("1 to 255 printable ASCII characters, without spaces.")]}
            )
        limit = max_upload_bytes()
        length = request.META.get("CONTENT_LENGTH")
        if not length:
            raise LengthRequired()
        try:
            if int(length) > limit:
                raise PayloadTooLarge(_("The body may be at most %(n)d bytes.") % {"n": limit})
        except ValueError:
            raise exceptions.ParseError(_("Content-Length is not a number.")) from None

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


# --- progress and results ----------------------------------------------------


class ProgressView(EnterpriseView):
    """Where a project stands."""

    @extend_schema(
        operation_id="projects_progress",
        responses={200: ProgressSerializer, **_errors(404)},
        description="Items by state, assignments by state, results by method, agreement so far, "
        "and the estimated completion at the pace of the last 24 hours.",
    )
    def get(self, request, project_id: int):
        report = selectors.project_progress_report(project=self.project(project_id))
        return Response(ProgressSerializer(report).data)


class _IgnoreAccept(BaseContentNegotiation):
    """The results' format is chosen by ``?format=``; errors are always JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


RESULTS_DESCRIPTION = """Stream the project's accepted results, oldest change first.

`format` is `json` (an array), `jsonl` (one object per line) or `csv` (label as JSON;
columns in the order of the fields below, an empty cell for null).

Each result carries how it was decided: `method`, `agreement` (the share of
annotators who gave the label, or their mean overlap / text similarity with it),
`confidence` (the consensus method's own probability for the label; null where the
method has none) and `annotations_used`.

`status` chooses the results: `accepted` (the default) — items with a label;
`rejected` — items a reviewer found cannot be labelled (empty `label`, `method`
`review`); `all` — both, told apart by each row's `status`. Items still waiting for
more annotators or for review have no result yet (see `progress`).

For incremental pulls, pass as `since` the `X-Next-Since` header of your previous
pull: each pull covers the changes after `since` up to `X-Next-Since` (a moment
just past, so that nothing still being written is skipped), with no gap and no
overlap. A result that is decided again (after review) comes again: upsert by
`external_id`."""


class ResultsView(EnterpriseView):
    """Results (accepted by default, or rejected in review), streamed."""

    content_negotiation_class = _IgnoreAccept

    @extend_schema(
        operation_id="projects_results",
        description=RESULTS_DESCRIPTION,
        parameters=[ResultsQuerySerializer],
        responses={
            (200, "application/json"): ResultRowSerializer(many=True),
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
            **_errors(400, 404),
        },
    )
    def get(self, request, project_id: int):
        project = self.project(project_id)
        # A plain dict: DRF would read an empty "since=" from a QueryDict as absent.
        query = ResultsQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        fmt = query.validated_data.get("format", JSON)
        until = selectors.results_window_end()
        chunks = results_stream(
            project=project,
            since=query.validated_data.get("since"),
            until=until,
            fmt=fmt,
            status=query.validated_data.get("status", selectors.ACCEPTED),
        )
        response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[fmt])
        response["X-Next-Since"] = until.isoformat()
        if fmt == CSV:
            response["Content-Disposition"] = f'attachment; filename="project-{project.pk}-results.csv"'
        return response


# --- callbacks ---------------------------------------------------------------

CALLBACKS_DESCRIPTION = """Register a URL to be told when something happens:

* `project.completed` — every item of a project has an accepted result;
* `results.ready` — results changed since the last such event (pull them from
  `data.results_url`).

Qianbiao POSTs `{"id", "event", "created_at", "data"}` as JSON with the headers
`X-Qianbiao-Event`, `X-Qianbiao-Delivery` (the `id`) and
`X-Qianbiao-Signature: t=<unix time>,v1=<hex>`, where `v1` is
HMAC-SHA256(secret, `"<t>." + raw body`) in hexadecimal. Verify it over the raw
bytes, compare in constant time and refuse a `t` more than 5 minutes off. The
secret is in this answer only: store it. Answer 2xx within 10 seconds; anything
else is retried with exponential backoff (30 s doubling up to 6 h, 12 attempts,
about 20 hours). Delivery is at least once: drop repeats by `id`. Redirects are
not followed."""


class CallbackListView(EnterpriseView):
    """The enterprise's callback endpoints."""

    serializer_class = CallbackEndpointSerializer
    pagination_class = IdCursorPagination

    def get_queryset(self):
        return selectors.callback_endpoints_for_enterprise(enterprise=self.enterprise)

    @extend_schema(
        operation_id="callbacks_list",
        responses={200: CallbackEndpointSerializer(many=True), **_errors(400)},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CallbackEndpointSerializer(page, many=True).data)

    @extend_schema(
        operation_id="callbacks_create",
        request=CallbackEndpointSerializer,
        responses={201: CallbackEndpointCreatedSerializer, **_errors(400)},
        description=CALLBACKS_DESCRIPTION,
    )
    def post(self, request):
        serializer = CallbackEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint, secret = callback_services.callback_endpoint_create(
            enterprise=self.enterprise,
            url=data["url"],
            events=data["events"],
            description=data.get("description", ""),
        )
        body = CallbackEndpointCreatedSerializer(endpoint).data
        body["secret"] = secret
        return Response(body, status=status.HTTP_201_CREATED)


class CallbackDetailView(EnterpriseView):
    """One callback endpoint."""

    serializer_class = CallbackEndpointSerializer
    http_method_names = ["get", "patch", "delete", "head"]

    def endpoint(self, callback_id: int):
        return selectors.callback_endpoint_for_enterprise(enterprise=self.enterprise, callback_id=callback_id)

    @extend_schema(
        operation_id="callbacks_retrieve", responses={200: CallbackEndpointSerializer, **_errors(404)}
    )
    def get(self, request, callback_id: int):
        return Response(CallbackEndpointSerializer(self.endpoint(callback_id)).data)

    @extend_schema(
        operation_id="callbacks_partial_update",
        request=CallbackEndpointSerializer,
        responses={200: CallbackEndpointSerializer, **_errors(400, 404)},
    )
    def patch(self, request, callback_id: int):
        endpoint = self.endpoint(callback_id)
        serializer = CallbackEndpointSerializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = callback_services.callback_endpoint_update(
            endpoint=endpoint, data=serializer.validated_data
        )
        return Response(CallbackEndpointSerializer(endpoint).data)

    @extend_schema(operation_id="callbacks_destroy", responses={204: None, **_errors(404)})
    def delete(self, request, callback_id: int):
        callback_services.callback_endpoint_delete(endpoint=self.endpoint(callback_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CallbackDeliveryListView(EnterpriseView):
    """What was sent to an endpoint, newest first, with each delivery's attempts."""

    serializer_class = CallbackDeliverySerializer
    pagination_class = IdCursorPagination

    @extend_schema(
        operation_id="callbacks_deliveries_list",
        responses={200: CallbackDeliverySerializer(many=True), **_errors(400, 404)},
    )
    def get(self, request, callback_id: int):
        endpoint = selectors.callback_endpoint_for_enterprise(
            enterprise=self.enterprise, callback_id=callback_id
        )
        page = self.paginate_queryset(selectors.callback_deliveries(endpoint=endpoint))
        return self.get_paginated_response(CallbackDeliverySerializer(page, many=True).data)
