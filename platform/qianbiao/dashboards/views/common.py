"""What every dashboard page shares: CSV and folded-table answers, rendering."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from ..access import project_manager_required
from ..panels import Panel
from ..selectors.headcount import SnapshotWindow
from ..tables import table_csv_response, table_fragment_response, table_html


def query_url(request: HttpRequest, **params: str) -> str:
    query = request.GET.copy()
    for name, value in params.items():
        query[name] = value
    return f"{request.path}?{query.urlencode()}"


def respond(request: HttpRequest, template: str, context: dict[str, Any], *, page: str) -> HttpResponse:
    """Render the page, or answer ``?csv=<table>`` / ``?table=<table>`` for one of its tables."""
    panels: list[Panel] = context.get("panels", [])
    empty = _("None")
    answers = {
        "csv": lambda table: table_csv_response(table, page=page),
        "table": lambda table: table_fragment_response(table, empty=empty),
    }
    for param, answer in answers.items():
        wanted = request.GET.get(param)
        if wanted:
            for panel in panels:
                for table in panel.tables:
                    if table.key == wanted:
                        return answer(table)
            raise Http404("no such table")
    show, download = _("Show the numbers"), _("Download CSV")
    for panel in panels:
        panel.rendered = [
            (
                table,
                table_html(
                    table,
                    csv_url=query_url(request, csv=table.key),
                    fragment_url=query_url(request, table=table.key),
                    show_numbers=show,
                    download=download,
                    empty=empty,
                ),
            )
            for table in panel.tables
        ]
    return render(request, template, context)


def no_snapshots(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboards/empty.html", {"section": "headcount"})


def snapshot_context(window: SnapshotWindow) -> dict[str, Any]:
    return {"window": window, "taken_at": timezone.localtime(window.taken_at)}


@project_manager_required
def about(request: HttpRequest) -> HttpResponse:
    """How every figure is computed. Also the benchmark's trivial page: the same
    login, role check and layout as the dashboards, with no figures."""
    return render(
        request, "dashboards/about.html", {"section": "about", "title": _("How the figures are computed")}
    )
