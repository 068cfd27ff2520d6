"""The programme page: reward thresholds (免申即享) and 数据标注工匠 candidates."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from qianbiao.quality import selectors as quality_selectors

from ..access import project_manager_required
from ..cache import cached_page
from ..panels import Kpi, Panel
from ..selectors import programme as programme_selectors
from ..selectors.headcount import snapshot_window
from ..tables import Column, Table
from .common import respond, snapshot_context


def _thresholds_table(firms: list) -> Table:
    return Table(
        key="thresholds",
        title=_("Enterprises and reward thresholds"),
        columns=[
            Column("name", _("Enterprise")),
            Column("credit_code", _("Unified social credit code")),
            Column("headcount", _("Headcount"), "int"),
            Column("threshold", _("Threshold reached"), "int"),
            Column("crossed_on", _("First reached on"), "date"),
            Column("eligible", _("Granted without application"), "bool"),
            Column("next_threshold", _("Next threshold"), "int"),
            Column("to_next", _("Still to hire for it"), "int"),
        ],
        rows=[
            {
                "code": f.credit_code,
                "name": f.name,
                "credit_code": f.credit_code,
                "headcount": f.headcount,
                "threshold": f.threshold,
                "crossed_on": f.crossed_on,
                "eligible": f.eligible,
                "next_threshold": f.next_threshold,
                "to_next": f.to_next,
            }
            for f in firms
        ],
    )


def _thresholds_panel(firms: list, thresholds) -> Panel:
    shown = firms[:30]
    return Panel(
        key="thresholds",
        title=_("Enterprises by headcount against the reward thresholds"),
        chart={
            "type": "bars",
            "categories": [f.name for f in shown],
            "series": [{"name": _("Headcount"), "data": [f.headcount for f in shown]}],
            "marks": [{"name": f"{t:,}", "value": t} for t in thresholds],
        },
        tables=[_thresholds_table(firms)],
        wide=True,
        note=_(
            "Headcount is the employer's staff in all its facilities. An enterprise that has "
            "reached a threshold is eligible for the reward without applying (免申即享)."
        ),
    )


def _craftsmen_panel(candidates: list) -> Panel:
    table = Table(
        key="craftsmen",
        title=_("Candidates"),
        columns=[
            Column("annotator", _("Annotator number")),
            Column("name", pgettext("person", "Name")),
            Column("score", _("Quality score"), "pct"),
            Column("annotations", _("Annotations"), "int"),
            Column("gold_answered", _("Gold answers"), "int"),
            Column("gold_accuracy", _("Gold accuracy"), "pct"),
            # xgettext:no-python-format
            Column("gold_low", _("Gold accuracy, 95% low"), "pct"),
        ],
        rows=[
            {
                "code": c.code,
                "annotator": c.code,
                "name": c.name,
                "score": c.score * 100,
                "annotations": c.annotations,
                "gold_answered": c.gold_answered,
                "gold_accuracy": c.gold_correct * 100 / c.gold_answered if c.gold_answered else None,
                "gold_low": c.gold_low * 100,
            }
            for c in candidates
        ],
    )
    return Panel(
        key="craftsmen",
        title=_("Candidates for the 数据标注工匠 honour"),
        tables=[table],
        wide=True,
        note=_(  # xgettext:no-python-format
            "Chosen by quality control: a high quality score over a large volume of work, gold "
            "accuracy high even at the low end of its 95% interval, and paused in no project."
        ),
    )


def _kpis(firms: list, thresholds, candidates: list) -> list[Kpi]:
    kpis = [
        Kpi(
            f"threshold-{t}",
            _("Enterprises with %(n)s+ staff") % {"n": f"{t:,}"},
            sum(1 for f in firms if f.headcount >= t),
            str(sum(1 for f in firms if f.headcount >= t)),
            "lead" if i == 0 else "",
        )
        for i, t in enumerate(thresholds)
    ]
    kpis.append(Kpi("craftsmen", _("Craftsman candidates"), len(candidates), str(len(candidates))))
    return kpis


@project_manager_required
@cached_page
def programme(request: HttpRequest) -> HttpResponse:
    window = snapshot_window()
    today = window.today if window else timezone.localdate()
    # Read at request time (not as default arguments) so that settings and
    # tests can change them.
    thresholds = programme_selectors.REWARD_HEADCOUNT_THRESHOLDS
    firms = programme_selectors.enterprise_thresholds(day=today, thresholds=thresholds) if window else []
    # Quality control owns the honour's criteria; settings may tune them
    # (QIANBIAO_CRAFTSMAN_CRITERIA: keyword arguments of its selector).
    candidates = quality_selectors.craftsman_candidates(
        **getattr(settings, "QIANBIAO_CRAFTSMAN_CRITERIA", {})
    )
    panels = [_thresholds_panel(firms, thresholds), _craftsmen_panel(candidates)]
    context = {
        "section": "programme",
        "title": _("Programme"),
        "kpis": _kpis(firms, thresholds, candidates),
        "panels": panels,
    }
    if window:
        context.update(snapshot_context(window))
    return respond(request, "dashboards/programme.html", context, page="programme")
