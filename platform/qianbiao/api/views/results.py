"""Where a project stands, and its results streamed as JSON, JSON Lines or CSV."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response

from .. import selectors
from ..export import CONTENT_TYPES, results_stream
from ..ingest import CSV, JSON
from ..serializers import ProgressSerializer, ResultRowSerializer, ResultsQuerySerializer
from .base import EnterpriseView, _errors


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
