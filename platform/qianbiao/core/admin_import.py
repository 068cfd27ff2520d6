"""An "Import" page on a model's admin changelist, backed by ``core.tabular``."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qianbiao.core.tabular import ImportResult, TabularImporter, imported_message, tabular_import

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class TabularUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("CSV (UTF-8 or GB18030) or Excel .xlsx; the first row names the columns."),
    )
    dry_run = forms.BooleanField(
        label=gettext_lazy("Check only"),
        required=False,
        help_text=gettext_lazy("Check every row and report errors without importing anything."),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                gettext_lazy("The file is larger than %(mb)d MB: split it into several files."),
                params={"mb": MAX_UPLOAD_BYTES // (1024 * 1024)},
                code="too_large",
            )
        return upload


class ImportAdminMixin:
    """Mix into a ModelAdmin and set ``importer_class``."""

    importer_class: ClassVar[type[TabularImporter]]
    change_list_template = "admin/import_change_list.html"
    import_template = "admin/tabular_import.html"

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta  # type: ignore[attr-defined]
        # Before the inherited patterns: "<path:object_id>/" would swallow "import/".
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),  # type: ignore[attr-defined]
                name=f"{opts.app_label}_{opts.model_name}_import",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        opts = self.model._meta  # type: ignore[attr-defined]
        importer = self.importer_class()
        result: ImportResult | None = None
        if request.method == "POST":
            form = TabularUploadForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                result = tabular_import(
                    importer=importer,
                    content=upload.read(),
                    filename=upload.name,
                    dry_run=form.cleaned_data["dry_run"],
                )
                if result.ok and not result.dry_run:
                    messages.success(request, imported_message(importer, result.count))
                    return HttpResponseRedirect(
                        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
                    )
        else:
            form = TabularUploadForm()
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": _("Import %(records)s") % {"records": opts.verbose_name_plural},
            "opts": opts,
            "form": form,
            "result": result,
            "column_rows": [
                (column, column in importer.required_columns, importer.column_help.get(column, ""))
                for column in importer.columns
            ],
        }
        return TemplateResponse(request, self.import_template, context)
