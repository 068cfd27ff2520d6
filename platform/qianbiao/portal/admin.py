"""Activation from the admin: actions on Annotator and on Facility, and the logins.

The actions are added to the workforce and programme apps' own ModelAdmins from
here (this app is installed after them), so those apps stay unaware of sign-in.
Each action answers with the printable onboarding slips, or a CSV of the codes:
the plaintext codes exist only in that one response.
"""

from __future__ import annotations

import csv
import io

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qianbiao.core.crypto import mask_middle
from qianbiao.programme.models import Facility
from qianbiao.workforce.models import Annotator, AnnotatorStatus

from .models import AnnotatorLogin
from .services import IssueOutcome, logins_issue

PERMISSION = "issue_activation_code"


def mask_name(name: str) -> str:
    """张*明, 王*: as personal data is masked elsewhere (first and last kept)."""
    return mask_middle(name, keep_start=1, keep_end=1 if len(name) > 2 else 0)


def _activation_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("portal:activate"))


def _notes(outcome: IssueOutcome) -> list[str]:
    notes = []
    if outcome.already_active:
        notes.append(
            _("Already activated, not changed (use “Reset login” to re-issue): %(who)s")
            % {"who": ", ".join(a.code for a in outcome.already_active)}
        )
    if outcome.not_employed:
        notes.append(
            _("Not employed (left or suspended), no code issued: %(who)s")
            % {"who": ", ".join(a.code for a in outcome.not_employed)}
        )
    return notes


def slips_response(request: HttpRequest, outcome: IssueOutcome, back_url: str) -> HttpResponse:
    issued = [
        {
            "annotator": i.annotator,
            "masked_name": mask_name(i.annotator.name),
            "code_display": i.code_display,
            "expires_at": i.expires_at,
        }
        for i in outcome.issued
    ]
    context = {
        "issued": issued,
        "notes": _notes(outcome),
        "activation_url": _activation_url(request),
        "back_url": back_url,
    }
    response = TemplateResponse(request, "portal/slips.html", context)
    response["Cache-Control"] = "no-store"  # the codes must not stay in any cache
    return response


def codes_csv_response(request: HttpRequest, outcome: IssueOutcome) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["工号", "姓名", "厂房", "激活码", "有效期至", "激活网址"])
    url = _activation_url(request)
    for i in outcome.issued:
        writer.writerow(
            [
                i.annotator.code,
                mask_name(i.annotator.name),
                i.annotator.facility.name,
                i.code_display,
                timezone.localtime(i.expires_at).strftime("%Y-%m-%d %H:%M"),
                url,
            ]
        )
    # A BOM so that Excel, which most facilities open it in, reads UTF-8.
    response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="activation-codes.csv"'
    response["Cache-Control"] = "no-store"
    return response


def _facility_annotator_ids(queryset) -> list[int]:
    return list(
        Annotator.objects.filter(facility__in=queryset, status=AnnotatorStatus.ACTIVE).values_list(
            "pk", flat=True
        )
    )


@admin.action(
    description=gettext_lazy("Activate for the portal: print onboarding slips"), permissions=[PERMISSION]
)
def annotators_activate(modeladmin, request, queryset):
    outcome = logins_issue(annotator_ids=queryset.values_list("pk", flat=True), issued_by=request.user)
    return slips_response(request, outcome, request.get_full_path())


@admin.action(
    description=gettext_lazy("Reset login: new activation code, old password stops working"),
    permissions=[PERMISSION],
)
def annotators_reset(modeladmin, request, queryset):
    outcome = logins_issue(
        annotator_ids=queryset.values_list("pk", flat=True), issued_by=request.user, reset=True
    )
    return slips_response(request, outcome, request.get_full_path())


@admin.action(
    description=gettext_lazy("Activate the facility's annotators: print onboarding slips"),
    permissions=[PERMISSION],
)
def facilities_activate(modeladmin, request, queryset):
    outcome = logins_issue(annotator_ids=_facility_annotator_ids(queryset), issued_by=request.user)
    return slips_response(request, outcome, request.get_full_path())


@admin.action(
    description=gettext_lazy("Activate the facility's annotators: export the codes as CSV"),
    permissions=[PERMISSION],
)
def facilities_activate_csv(modeladmin, request, queryset):
    outcome = logins_issue(annotator_ids=_facility_annotator_ids(queryset), issued_by=request.user)
    return codes_csv_response(request, outcome)


def _has_issue_permission(request: HttpRequest) -> bool:
    return request.user.has_perm(f"portal.{PERMISSION}")


def _extend(model, *actions) -> None:
    """Adds the actions to the ModelAdmin another app registered for ``model``."""
    model_admin = admin.site._registry[model]
    model_admin.actions = [*(model_admin.actions or ()), *actions]
    model_admin.has_issue_activation_code_permission = _has_issue_permission


_extend(Annotator, annotators_activate, annotators_reset)
_extend(Facility, facilities_activate, facilities_activate_csv)


@admin.register(AnnotatorLogin)
class AnnotatorLoginAdmin(admin.ModelAdmin):
    """Read-only: logins are made and reset only through the actions above."""

    list_display = ("annotator", "activated_at", "code_expires_at", "code_issued_at", "code_issued_by")
    list_filter = ("activated_at",)
    search_fields = ("annotator__code",)
    list_select_related = ("annotator", "code_issued_by")
    readonly_fields = (
        "annotator",
        "user",
        "activated_at",
        "code_expires_at",
        "code_issued_at",
        "code_issued_by",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
